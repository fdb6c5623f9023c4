"""The cardinality guard: a client inventing component names cannot grow what is kept per component."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from resilience.store import known_components, locks, rollups
from resilience.store.migrations import default_directory, migrate
from tests.conftest import Api, run_together, signal_event


def limited(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    from resilience import settings

    monkeypatch.setenv("MAX_COMPONENTS", str(limit))
    settings.reload()


def report(api: Api, *components: str) -> Any:
    events = [signal_event("retry_success", component=c, id=str(uuid.uuid4())) for c in components]
    return api.post("/v1/telemetry", {"events": events}, token=None)


def stored_components(db: psycopg.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT DISTINCT component FROM resilience_metrics")}


def test_a_new_component_beyond_the_limit_is_rejected_naming_the_field_while_known_ones_flow(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited(monkeypatch, 2)
    assert report(api, "Checkout", "Search").body["accepted"] == 2
    answer = report(api, "Checkout", "Invented-1", "Search")
    assert answer.status == 200
    assert answer.body["accepted"] == 2
    [rejection] = answer.body["rejected"]
    assert rejection["index"] == 1
    [error] = rejection["errors"]
    assert error["field"] == "component"
    assert "limit of 2 known components" in error["reason"]
    assert "MAX_COMPONENTS" in error["reason"]
    assert report(api, "Invented-2").status == 422  # every event rejected
    assert stored_components(db) == {"Checkout", "Search"}


def test_rejections_are_counted_in_a_metric(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    limited(monkeypatch, 1)
    report(api, "Checkout")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    report(api, "Checkout", "Invented-1", "Invented-2")
    published = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "CloudWatchMetrics" in line]
    assert [m.get("EventsRejectedComponentLimit") for m in published] == [[2.0]]


def test_a_flood_of_new_names_leaves_the_components_list_and_rollups_at_the_limit(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited(monkeypatch, 5)
    for n in range(20):
        report(api, *(f"Flood-{n}-{k}" for k in range(25)))
    assert known_components.count(db) == 5
    assert len(stored_components(db)) == 5
    rollups.refresh(db)
    hourly = db.execute("SELECT count(DISTINCT component) FROM resilience_rollup_hourly").fetchone()
    assert hourly == (5,)
    listed = api.get("/v1/components").body["components"]
    assert len(listed) == 5
    # The names that made it in keep flowing; the rest never will until room is made.
    assert report(api, listed[0]["component"]).body["accepted"] == 1


def test_a_component_name_longer_than_the_limit_is_rejected(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    monkeypatch.setenv("MAX_COMPONENT_LENGTH", "10")
    settings.reload()
    answer = report(api, "Short", "A" * 11)
    assert answer.body["accepted"] == 1
    assert answer.body["rejected"] == [
        {"index": 1, "errors": [{"field": "component", "reason": "is longer than 10 characters"}]}
    ]


def admit_at_once(database_url: str, limit: int, clients: int, names_each: int) -> list[set[str]]:
    """Clients registering names of their own, all at the same moment."""
    counter = iter(range(clients))
    lock = threading.Lock()

    def one_client() -> set[str]:
        with lock:
            me = next(counter)
        with psycopg.connect(database_url, autocommit=True) as conn:
            names = [f"C{me}-{k}" for k in range(names_each)]
            return set(known_components.admit(conn, names, limit, seen_on=date.today()).admitted)

    return run_together(one_client, clients)


def test_concurrent_ingests_cannot_overshoot_the_limit(db: psycopg.Connection, database_url: str) -> None:
    admitted = admit_at_once(database_url, limit=10, clients=8, names_each=3)
    assert known_components.count(db) == 10
    assert sum(len(a) for a in admitted) == 10


def test_without_the_registration_lock_concurrent_ingests_overshoot(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Barrier(8)
    monkeypatch.setattr(locks, "wait_for", lambda conn, key: gate.wait(timeout=30))
    admit_at_once(database_url, limit=10, clients=8, names_each=3)
    # Every client counted the registry before any wrote to it: what the test above forbids.
    assert known_components.count(db) > 10


def test_the_migration_makes_every_stored_component_known(empty_database: str, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for sql in default_directory().glob("*.sql"):
        if sql.name < "008_components.sql":
            shutil.copy(sql, before / sql.name)
    migrate(empty_database, before)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO resilience_metrics (id, ts, user_id, session_id, component, signal, data)"
            " VALUES (gen_random_uuid(), now(), NULL, 's', 'Legacy', 'retry_success', '{}')"
        )
        migrate(empty_database)
        assert [r[0] for r in conn.execute("SELECT component FROM resilience_components")] == ["Legacy"]


def test_one_request_registers_at_most_its_share_of_new_components_and_says_which_were_refused(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    monkeypatch.setenv("MAX_NEW_COMPONENTS_PER_REQUEST", "3")
    settings.reload()
    answer = report(api, *(f"New-{k}" for k in range(5)))
    assert answer.body["accepted"] == 3
    assert [r["index"] for r in answer.body["rejected"]] == [3, 4]
    reasons = {e["reason"] for r in answer.body["rejected"] for e in r["errors"]}
    assert len(reasons) == 1
    assert "MAX_NEW_COMPONENTS_PER_REQUEST" in reasons.pop()
    assert report(api, "New-3", "New-4").body["accepted"] == 2, "a later request registers the rest"


def test_the_limit_heals_components_unseen_for_the_retention_period_are_forgotten_by_the_cleanup(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience.jobs import cleanup
    from resilience.settings import RetentionSettings

    limited(monkeypatch, 6)
    assert report(api, "Steady").body["accepted"] == 1
    for n in range(2):
        report(api, *(f"Junk-{n}-{k}" for k in range(10)))
    assert known_components.count(db) == 6
    assert report(api, "Checkout").status == 422, "the registry is full of junk"

    retention = RetentionSettings(retention_days=30)
    today = datetime.now(UTC)
    # Steady keeps reporting; the junk names were sent once.
    known_components.admit(db, ["Steady"], 6, seen_on=(today + timedelta(days=30)).date())
    report_of = cleanup.run(db, retention, today + timedelta(days=32), max_components=6)

    assert report_of.components_forgotten == 5
    assert {r[0] for r in db.execute("SELECT component FROM resilience_components")} == {"Steady"}
    assert report(api, "Checkout").body["accepted"] == 1, "real components flow again"
    assert report(api, "Steady").body["accepted"] == 1
