"""The Postgres connection: opened lazily, reused across invocations, reopened after a failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psycopg

# What store functions take; code outside the store names the type through here, not the driver.
Connection = psycopg.Connection


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or dropped the connection."""


# What Postgres reports as the session's zone when it is UTC.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"})


def connect(
    conninfo: str, *, connect_timeout: int = 5, application_name: str = "resilience-telemetry"
) -> psycopg.Connection:
    """An autocommit connection whose session runs in UTC, fit to go through a transaction-pooling proxy.

    RDS Proxy refuses startup options (`options=-c ...`) and pins a session to one server connection
    for any SET or prepared statement, so: no prepared statements, and the time zone is set only when
    the server's own default (which it reports on connecting) is not UTC already.
    """
    conn = psycopg.connect(
        conninfo,
        autocommit=True,
        connect_timeout=connect_timeout,
        application_name=application_name,
        prepare_threshold=None,
    )
    if conn.info.parameter_status("TimeZone") not in _UTC_ZONES:
        conn.execute("SET TIME ZONE 'UTC'")
    return conn


def conninfo(url: str = "", **parts: str) -> str:
    """A libpq connection string: the URL (or key=value string) with these parts added or replaced."""
    return psycopg.conninfo.make_conninfo(url, **parts)


class Database:
    """One connection per process, as a Lambda container handles one request at a time.

    The lock makes it safe where a local server runs handlers on several threads.
    """

    def __init__(self, conninfo: str | Callable[[], str], connect_timeout: int = 5) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection | None = None
        self._lock = threading.RLock()

    def _connect(self) -> psycopg.Connection:
        conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
        try:
            return connect(conninfo, connect_timeout=self._connect_timeout)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc

    def connect(self) -> psycopg.Connection:
        """A new connection of its own, beside the shared one, for work that runs at the same time."""
        return self._connect()

    def connection(self) -> psycopg.Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = self._connect()
        return conn

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """The shared connection, in autocommit: callers open their own transactions.

        On a connection failure the connection is dropped, and the next call reconnects.
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
