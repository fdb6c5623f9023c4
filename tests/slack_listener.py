"""A stand-in for Slack's incoming webhook: a real HTTP server that records posts and answers as scripted."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.http_peer import Handler, serving


@dataclass
class SlackListener:
    """Answers each POST with the next scripted (status, headers, body), then 200 "ok" once the script ends.

    A scripted answer may hang first (delay seconds), as Slack does when it is slow or stuck.
    """

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    # The posts answered 200: what Slack would show in the channel.
    accepted: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        self.script.append((status, headers or {}, body, delay))

    def received(self, body: dict[str, Any]) -> tuple[int, dict[str, str], str, float]:
        """Records a post; returns the scripted answer to it."""
        with self._lock:
            self.posts.append(body)
            answer = self.script.pop(0) if self.script else (200, {}, "ok", 0.0)
            if answer[0] == 200 and not answer[3]:
                self.accepted.append(body)
            return answer

    @property
    def texts(self) -> list[str]:
        return [p.get("text", "") for p in self.posts]


@contextmanager
def slack_listener() -> Iterator[SlackListener]:
    listener = SlackListener()

    class Webhook(Handler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status, headers, text, delay = listener.received(body)
            if delay:
                time.sleep(delay)  # the client has given up by then: nothing it reads counts
            # A client that stopped waiting has closed its end.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.answer(status, text.encode(), "text/plain", headers)

    with serving(Webhook) as base:
        listener.url = f"{base}/services/T000/B000/XXXX"
        yield listener
