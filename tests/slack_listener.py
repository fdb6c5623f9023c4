"""A stand-in for Slack's incoming webhook: a real HTTP server that records posts and answers as scripted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.http_peer import Handler, serving


@dataclass
class SlackListener:
    """Answers each POST with the next scripted (status, headers, body), then 200 "ok" once the script ends."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        self.script.append((status, headers or {}, body))

    def received(self, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        """Records a post; returns the scripted answer to it."""
        with self._lock:
            self.posts.append(body)
            return self.script.pop(0) if self.script else (200, {}, "ok")

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
            status, headers, text = listener.received(body)
            self.answer(status, text.encode(), "text/plain", headers)

    with serving(Webhook) as base:
        listener.url = f"{base}/services/T000/B000/XXXX"
        yield listener
