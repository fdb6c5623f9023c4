"""The admin API's reads on a reader (DATABASE_READER_URL / DATABASE_READER_HOST): a real physical standby
streaming from the writer, where the refresh's unlogged member sets have no rows."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from resilience.store import rollups
from tests.conftest import Api, empty_tables, signal_event

Invoke = Callable[[str, dict[str, Any]], Any]


@pytest.fixture
def writer_and_reader(
    replicated: tuple[str, str], lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    """The functions' environment with DATABASE_URL the writer and DATABASE_READER_URL its standby;
    yields a connection to each. The writer's tables are emptied afterwards."""
    from resilience import settings

    writer_url, reader_url = replicated
    monkeypatch.setenv("DATABASE_URL", writer_url)
    monkeypatch.setenv("DATABASE_READER_URL", reader_url)
    settings.reload()
    with (
        psycopg.connect(writer_url, autocommit=True, options="-c timezone=UTC") as writer,
        psycopg.connect(reader_url, autocommit=True, options="-c timezone=UTC") as reader,
    ):
        try:
            yield writer, reader
        finally:
            reader.execute("SELECT pg_wal_replay_resume()")
            empty_tables(writer)


def caught_up(writer: psycopg.Connection, reader: psycopg.Connection) -> None:
    """Waits until the reader has replayed everything the writer committed so far."""
    row = writer.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    deadline = time.monotonic() + 30
    while reader.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)).fetchone() != (True,):
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.05)


def report(api: Api, n: int, ts: datetime, component: str = "Checkout") -> None:
    events = [
        signal_event(signal, component=component, id=str(uuid.uuid4()), ts=ts.isoformat(), user_id=str(uuid.uuid4()))
        for signal in ("optimistic_action_start", "optimistic_action_rollback")
        for _ in range(n)
    ]
    assert api.post("/v1/telemetry", {"events": events}, token=None).status == 200


def test_the_reader_is_a_standby_that_cannot_take_writes(
    writer_and_reader: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    _, reader = writer_and_reader
    assert reader.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.execute("INSERT INTO resilience_components (component) VALUES ('x')")


def test_metrics_components_series_and_events_are_read_from_the_reader(
    writer_and_reader: tuple[psycopg.Connection, psycopg.Connection], api_offline: Api
) -> None:
    writer, reader = writer_and_reader
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    report(api_offline, 3, hour_ago)
    caught_up(writer, reader)
    # The standby stops replaying: what the writer stores from now on, only the writer has.
    reader.execute("SELECT pg_wal_replay_pause()")
    report(api_offline, 5, hour_ago, component="Search")
    listed = api_offline.get("/v1/telemetry", query={"limit": 100}).body["events"]
    assert len(listed) == 6, "events are listed from the reader, which has the first batch only"
    assert [c["component"] for c in api_offline.get("/v1/components").body["components"]] == ["Checkout"]
    rates = {m["metric"]: m for m in api_offline.get("/v1/metrics").body["metrics"]}
    assert rates["rollback_rate"]["denominator"] == 3
    points = api_offline.get("/v1/metrics/series", query={"granularity": "hour"}).body["series"]
    assert {p["component"] for p in points} == {"Checkout"}
    # Writes, and the reads that must see them at once (alerts, silences, health), stay on the writer.
    assert writer.execute("SELECT count(*) FROM resilience_metrics").fetchone() == (16,)
    assert api_offline.get("/v1/alerts").status == 200
    reader.execute("SELECT pg_wal_replay_resume()")
    caught_up(writer, reader)
    assert len(api_offline.get("/v1/telemetry", query={"limit": 100}).body["events"]) == 16


def test_series_on_the_reader_recompute_what_the_writers_unlogged_sets_hold(
    writer_and_reader: tuple[psycopg.Connection, psycopg.Connection], api_offline: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    writer, reader = writer_and_reader
    now = datetime.now(UTC).replace(minute=30)
    report(api_offline, 4, now - timedelta(hours=2))
    rollups.refresh(writer)
    # New rows after the refresh: the writer adds them through its member sets, which the standby lacks.
    report(api_offline, 3, now - timedelta(hours=2))
    report(api_offline, 2, now - timedelta(hours=1), component="Search")
    caught_up(writer, reader)
    query = {"granularity": "hour", "from": (now - timedelta(hours=4)).isoformat()}
    from_reader = api_offline.get("/v1/metrics/series", query=query).body
    monkeypatch.delenv("DATABASE_READER_URL")
    settings.reload()
    from_writer = api_offline.get("/v1/metrics/series", query=query).body
    assert from_reader["series"] == from_writer["series"]
    totals = {(p["component"], p["signal"]): (p["count"], p["unique_users"]) for p in from_reader["series"]}
    assert totals[("Checkout", "optimistic_action_start")] == (7, 7)
    assert totals[("Search", "optimistic_action_rollback")] == (2, 2)


def test_a_reader_host_signs_in_with_the_databases_own_secret(
    secrets_manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings
    from resilience_lambda.secrets import database_conninfo, reader_conninfo

    document = {"username": "app", "password": "s3cret", "host": "db.cluster-abc.rds.amazonaws.com", "port": 5432}
    arn = secrets_manager.create_secret(Name="db", SecretString=json.dumps(document))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    monkeypatch.setenv("DATABASE_NAME", "telemetry")
    monkeypatch.setenv("DATABASE_READER_HOST", "db.cluster-ro-abc.rds.amazonaws.com")
    settings.reload()
    writer, reader = (psycopg.conninfo.conninfo_to_dict(c) for c in (database_conninfo(), reader_conninfo()))
    assert writer["host"] == "db.cluster-abc.rds.amazonaws.com"
    assert reader["host"] == "db.cluster-ro-abc.rds.amazonaws.com"
    assert {k: v for k, v in reader.items() if k != "host"} == {k: v for k, v in writer.items() if k != "host"}
    assert reader["dbname"] == "telemetry"
    assert reader["password"] == "s3cret"


def test_without_a_reader_reads_go_to_the_writer(lambda_env: dict[str, str]) -> None:
    from resilience_lambda.database import database, reads

    assert reads() is database
