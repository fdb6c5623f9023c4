"""A database that is resuming, stood in for by a TCP relay to the real Postgres that can be paused."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg

CHUNK = 65536


class ResumingServer:
    """Relays 127.0.0.1:<port> to a Postgres server, except while paused, as an Aurora cluster resuming.

    pause(seconds, refuse_for=...): for refuse_for seconds a new connection is reset at once (the
    server not up yet); after that, until `seconds` have passed, a new connection is taken but left
    unanswered, and served when the pause ends. cut() drops every relayed connection, as a restart
    or a network fault would. The counts say what the clients met.
    """

    def __init__(self, upstream_url: str) -> None:
        parts = psycopg.conninfo.conninfo_to_dict(upstream_url)
        host, port = str(parts.get("host") or "localhost"), int(str(parts.get("port") or 5432))
        # A host that is a directory is a Unix socket's, named by libpq's convention.
        self._upstream: str | tuple[str, int] = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        # accept() wakes up this often to see whether the relay is closing.
        self._listener.settimeout(0.1)
        self.url = psycopg.conninfo.make_conninfo(
            upstream_url, host="127.0.0.1", port=str(self._listener.getsockname()[1])
        )
        self._state = threading.Condition()
        self._refuse_until = self._up_at = 0.0
        self._open: set[socket.socket] = set()
        self.refused = self.held = self.served = 0
        self._closing = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def pause(self, seconds: float, *, refuse_for: float = 0) -> None:
        now = time.monotonic()
        with self._state:
            self._refuse_until, self._up_at = now + refuse_for, now + seconds

    def resume(self) -> None:
        with self._state:
            self._refuse_until = self._up_at = 0.0
            self._state.notify_all()

    def cut(self) -> None:
        with self._state:
            dropped, self._open = self._open, set()
        for sock in dropped:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closing = True
        self.resume()
        self._acceptor.join(timeout=5)
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._state:
            if time.monotonic() < self._refuse_until:
                self.refused += 1
                # Linger 0: the close is a reset, as from a port that nothing listens on yet.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
                return
            if time.monotonic() < self._up_at:
                self.held += 1
                while (left := self._up_at - time.monotonic()) > 0:
                    self._state.wait(left)
            self.served += 1
        try:
            upstream = self._dial()
        except OSError:
            client.close()
            return
        with self._state:
            self._open |= {client, upstream}
        self._relay(client, upstream)

    def _dial(self) -> socket.socket:
        if isinstance(self._upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._upstream)
            return sock
        return socket.create_connection(self._upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peer:
                selector.register(sock, selectors.EVENT_READ)
            try:
                while client in self._open:
                    for key, _ in selector.select(timeout=0.5):
                        data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                        if not data:
                            return
                        peer[key.fileobj].sendall(data)  # type: ignore[index]
            except (OSError, ValueError):
                return  # cut, or closed by either end
            finally:
                with self._state:
                    self._open -= {client, upstream}
                client.close()
                upstream.close()


@contextmanager
def resuming_server(upstream_url: str) -> Iterator[ResumingServer]:
    server = ResumingServer(upstream_url)
    try:
        yield server
    finally:
        server.close()
