"""A stand-in for Slack's incoming webhook: a real HTTP server that records posts and answers as scripted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status, headers, text = listener.received(body)
            payload = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    listener.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    # A short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
