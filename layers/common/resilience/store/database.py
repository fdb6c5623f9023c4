"""The Postgres connection: opened lazily, reused across invocations, reopened after a failure."""

from __future__ import annotations

import math
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psycopg

# What store functions take; code outside the store names the type through here, not the driver.
Connection = psycopg.Connection


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or dropped the connection."""


class AuthenticationFailed(DatabaseUnavailable):
    """The server refused the credentials: after a rotation, until the new password is read."""


# What Postgres reports as the session's zone when it is UTC.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"})

# A failed connection carries no SQLSTATE (libpq returns no result for it), only the server's message;
# these are the ones no wait cures. Servers speak English unless lc_messages says otherwise, as on RDS.
_REFUSED_CREDENTIALS = ("authentication failed",)
_PERMANENT = ("does not exist", "no pg_hba.conf entry", "permission denied")
# The first pause between attempts, and the longest: a resuming server is polled, not hammered.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.25, 2.0
# libpq rounds a shorter connect_timeout up to this.
_SHORTEST_ATTEMPT = 2


def connect(conninfo: str, *, wait: float = 5, application_name: str = "resilience-telemetry") -> psycopg.Connection:
    """An autocommit connection whose session runs in UTC, fit to go through a transaction-pooling proxy.

    Connecting waits up to `wait` seconds for a database that is resuming or restarting: an attempt
    the server holds open waits that long, and one it refuses is tried again until then. Refused
    credentials raise AuthenticationFailed at once, other failures DatabaseUnavailable.

    RDS Proxy refuses startup options (`options=-c ...`) and pins a session to one server connection
    for any SET or prepared statement, so: no prepared statements, and the time zone is set only when
    the server's own default (which it reports on connecting) is not UTC already.
    """
    deadline = time.monotonic() + wait
    pause = _FIRST_PAUSE
    while True:
        left = deadline - time.monotonic()
        try:
            conn = psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=max(_SHORTEST_ATTEMPT, math.ceil(left)),
                application_name=application_name,
                prepare_threshold=None,
            )
        except psycopg.OperationalError as exc:
            message = str(exc)
            if any(words in message for words in _REFUSED_CREDENTIALS):
                raise AuthenticationFailed(f"the database refused the credentials: {exc}") from exc
            if any(words in message for words in _PERMANENT) or deadline - time.monotonic() <= pause:
                raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
            continue
        if conn.info.parameter_status("TimeZone") not in _UTC_ZONES:
            conn.execute("SET TIME ZONE 'UTC'")
        return conn


def conninfo(url: str = "", **parts: str) -> str:
    """A libpq connection string: the URL (or key=value string) with these parts added or replaced."""
    return psycopg.conninfo.make_conninfo(url, **parts)


class Database:
    """One connection per process, as a Lambda container handles one request at a time.

    Connecting waits `wait` seconds (a number, or a function giving it) for a resuming database.
    When the server refuses the credentials, `reauthenticate` (if given) reads them again, as a
    rotation changes the password under a warm process, and connecting is tried once more with them.
    The lock makes it safe where a local server runs handlers on several threads.
    """

    def __init__(
        self,
        conninfo: str | Callable[[], str],
        wait: float | Callable[[], float] = 5,
        reauthenticate: Callable[[], str] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._wait = wait
        self._reauthenticate = reauthenticate
        self._conn: psycopg.Connection | None = None
        self._lock = threading.RLock()

    def _connect(self) -> psycopg.Connection:
        wait = self._wait() if callable(self._wait) else self._wait
        deadline = time.monotonic() + wait
        try:
            conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
            return connect(conninfo, wait=wait)
        except AuthenticationFailed:
            if self._reauthenticate is None:
                raise
            return connect(self._reauthenticate(), wait=max(0.0, deadline - time.monotonic()))

    def connect(self) -> psycopg.Connection:
        """A new connection of its own, beside the shared one, for work that runs at the same time."""
        return self._connect()

    def connection(self) -> psycopg.Connection:
        conn = self._conn
        if conn is not None and not _still_open(conn):
            self.close()
            conn = None
        if conn is None:
            conn = self._conn = self._connect()
        return conn

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """The shared connection, in autocommit: callers open their own transactions.

        A connection the server dropped while it sat idle (a restart, a proxy's idle timeout, an
        administrator's pg_terminate_backend) is replaced before it is handed out. On a failure
        during the work the connection is dropped, and the next call reconnects.
        """
        with self._lock:
            conn = self.connection()
            try:
                yield conn
            except psycopg.OperationalError as exc:
                self.close()
                raise DatabaseUnavailable(f"database connection failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction on the shared connection."""
        with self.session() as conn, conn.transaction():
            yield conn

    def ping(self) -> bool:
        try:
            with self.transaction() as conn:
                conn.execute("SELECT 1")
            return True
        except DatabaseUnavailable:
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()


def _still_open(conn: psycopg.Connection) -> bool:
    """Whether an idle connection is still good; a round trip is spent only when it looks dropped.

    An idle session has nothing to read: a readable socket means the server spoke unasked, which it
    does only to say it is closing the connection (or has closed it).
    """
    if conn.closed or conn.broken:
        return False
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return True  # in use by the caller's own transaction (a nested session): not this check's to judge
    with selectors.DefaultSelector() as selector:
        selector.register(conn.fileno(), selectors.EVENT_READ)
        if not selector.select(timeout=0):
            return True
    try:
        conn.execute("")
    except psycopg.Error:
        return False
    return True
