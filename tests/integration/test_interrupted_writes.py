"""A write cut short stores nothing: a connection dropped in the middle of a COPY, a statement timeout."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from resilience import settings
from resilience.store.telemetry import InsertResult, insert_events
from tests.conftest import Api, signal_event
from tests.integration.test_telemetry_store import count, stored

# Large enough that the COPY is still streaming when it is cut.
ROWS = 60_000


def test_a_connection_dropped_mid_copy_stores_nothing_and_the_retry_stores_everything_once(
    database_url: str, db: psycopg.Connection
) -> None:
    now = datetime.now(UTC)
    events = [stored(now) for _ in range(ROWS)]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True, application_name="copy-to-cut") as conn:
                insert_events(conn, events)
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 30
    cut = False
    while not cut and time.monotonic() < deadline and writer.is_alive():
        row = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'copy-to-cut' AND state = 'active' AND query LIKE 'COPY%'"
        ).fetchone()
        cut = bool(row and row[0])
    writer.join(60)
    assert cut, "the COPY was seen and cut while it ran"
    assert len(errors) == 1
    assert isinstance(errors[0], psycopg.OperationalError)
    assert count(db) == 0, "nothing half-written"

    with psycopg.connect(database_url, autocommit=True) as conn:
        assert insert_events(conn, events) == InsertResult(accepted=ROWS, duplicates=0)
    assert count(db) == ROWS


def test_a_statement_timeout_stores_nothing(database_url: str, db: psycopg.Connection) -> None:
    events = [stored(datetime.now(UTC)) for _ in range(ROWS)]
    with (
        psycopg.connect(database_url, autocommit=True, options="-c statement_timeout=20") as conn,
        pytest.raises(psycopg.errors.QueryCanceled),
    ):
        insert_events(conn, events)
    assert count(db) == 0


def test_through_the_api_a_statement_timeout_is_503_with_retry_after_and_stores_nothing(
    api: Api, db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience_lambda.database import database

    monkeypatch.setenv("DATABASE_URL", psycopg.conninfo.make_conninfo(database_url, options="-c statement_timeout=1"))
    settings.reload()
    database.close()
    events = [signal_event("retry_success", session_id=f"s{n}", data={"pad": "x" * 1500}) for n in range(500)]
    answer = api.post("/v1/telemetry", {"events": events}, token=None)
    assert answer.status == 503
    assert int(answer.headers["retry-after"]) > 0
    assert count(db) == 0
