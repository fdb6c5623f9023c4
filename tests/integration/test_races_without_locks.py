"""The concurrency tests can fail: with the lock each one tests taken away, their races show the double effect.

Each lock is replaced by a gate that lets every run through together, so the runs overlap where
the lock would have kept them apart; the invariant the real test asserts must then break.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from resilience.store import lease, locks
from resilience.store.migrations import default_directory, load, migrate
from tests.integration.test_alert_evaluation import evaluate_at_once, notifications, traffic
from tests.integration.test_alert_evaluation import minutes as evaluation_minutes
from tests.integration.test_queued_ingest import one_event_in_two_messages_at_two_writers
from tests.integration.test_rollups import NOW, assert_rollups_match_raw_rows, refresh
from tests.rollup_data import ingest, random_events


def open_gate(monkeypatch: pytest.MonkeyPatch, runs: int) -> None:
    """Every advisory lock becomes a gate that opens once all runs reach it: none waits for another to finish."""
    gate = threading.Barrier(runs)

    def pass_together(conn: psycopg.Connection, key: Any) -> bool:
        gate.wait(timeout=30)
        return True

    @contextmanager
    def held_by_everyone(conn: psycopg.Connection, key: Any) -> Iterator[None]:
        gate.wait(timeout=30)
        yield

    monkeypatch.setattr(locks, "wait_for", pass_together)
    monkeypatch.setattr(locks, "try_take", pass_together)
    monkeypatch.setattr(locks, "held", held_by_everyone)


def outcome(attempt: Any) -> tuple[Any, BaseException | None]:
    try:
        return attempt(), None
    except BaseException as exc:  # the race surfacing as an error is a broken invariant too
        return None, exc


def test_without_the_lease_simultaneous_evaluations_notify_more_than_once(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic(db, evaluation_minutes(0), rollbacks=10, successes=10)
    gate = threading.Barrier(4)

    def no_lease(conn: psycopg.Connection, now: Any) -> None:
        # Both halves of the lease go: the advisory lock and the lease row's FOR UPDATE, which alone
        # would still make the evaluations take turns.
        gate.wait(timeout=30)

    monkeypatch.setattr(lease, "acquire", no_lease)
    results, error = outcome(lambda: evaluate_at_once(database_url, 4))
    # What test_four_evaluations_at_once_produce_one_notification asserts no longer holds.
    assert error is not None or len(notifications(db)) > 1 or sum(r.notifications for r in results) > 1


def test_without_the_lock_simultaneous_migrations_collide(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import run_together

    open_gate(monkeypatch, 2)
    results, error = outcome(lambda: run_together(lambda: migrate(empty_database), times=2))
    # test_two_runners_at_once_apply_each_migration_once expects [0, all]: one runner applies everything.
    assert error is not None or sorted(len(r) for r in results) != [0, len(load(default_directory()))]


def test_without_the_advisory_lock_simultaneous_refreshes_break_the_rollups(fresh_database_url: str) -> None:
    """The refresh takes its lock in SQL (resilience_rollup_lock(), migrations/006): replaced by a no-op here,
    four refreshes at once no longer take turns, and what test_concurrent_refreshes_neither_corrupt_nor_double_anything
    asserts (one did the work, the rollups equal the raw rows) no longer holds."""
    from tests.conftest import run_together

    with psycopg.connect(fresh_database_url, autocommit=True) as db:
        ingest(db, random_events(random.Random(4), 400, NOW - timedelta(days=3), NOW))
        db.execute("CREATE OR REPLACE FUNCTION resilience_rollup_lock() RETURNS void LANGUAGE sql AS 'SELECT NULL'")
        results, error = outcome(lambda: run_together(lambda: refresh(fresh_database_url), times=4))
        if error is None:
            _, inexact = outcome(lambda: assert_rollups_match_raw_rows(db))
            assert inexact is not None or sum(1 for r in results if r.hours > 0) > 1


def test_without_the_writers_lock_one_event_in_two_messages_is_stored_twice(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_gate(monkeypatch, 2)
    stored, (distinct, rows) = one_event_in_two_messages_at_two_writers(database_url, db)
    assert stored == [distinct, distinct]
    assert rows == 2 * distinct
