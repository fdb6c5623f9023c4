"""The raw event store: a batch is written whole, a repeated id is stored once, reads page newest first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from resilience.store.telemetry import CursorError, EventQuery, InsertResult, decode_cursor, insert_events, query_events
from resilience.telemetry import StoredEvent
from resilience.windows import Window


def stored(
    ts: datetime,
    *,
    event_id: uuid.UUID | None = None,
    component: str = "Checkout",
    signal: str = "retry_success",
    session_id: str = "s1",
) -> StoredEvent:
    return StoredEvent(str(event_id or uuid.uuid4()), ts, None, session_id, component, signal, '{"n": 1}')


def count(db: psycopg.Connection) -> int:
    return db.execute("SELECT count(*) FROM resilience_metrics").fetchone()[0]  # type: ignore[index]


def test_a_batch_is_stored_and_counted(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    with db.transaction():
        result = insert_events(db, [stored(now), stored(now)])
    assert (result.accepted, result.duplicates) == (2, 0)
    assert count(db) == 2


def test_a_repeated_id_is_stored_once_even_without_the_same_ts(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    with db.transaction():
        insert_events(db, [stored(now, event_id=event_id)])
    with db.transaction():
        again = insert_events(
            db, [stored(now, event_id=event_id), stored(now + timedelta(seconds=3), event_id=event_id)]
        )
    assert (again.accepted, again.duplicates) == (0, 2)
    assert count(db) == 1


def test_the_same_id_twice_in_one_batch_is_stored_once(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    with db.transaction():
        result = insert_events(db, [stored(now, event_id=event_id), stored(now, event_id=event_id)])
    assert (result.accepted, result.duplicates) == (1, 1)


def test_a_failed_batch_leaves_nothing_behind(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    broken = StoredEvent(str(uuid.uuid4()), now, None, "s", "c", "retry_success", "{not json")
    with pytest.raises(psycopg.errors.InvalidTextRepresentation), db.transaction():
        insert_events(db, [stored(now), broken])
    assert count(db) == 0


def test_rows_without_a_daily_partition_land_in_the_default_one(db: psycopg.Connection) -> None:
    far = datetime.now(UTC) + timedelta(days=400)
    with db.transaction():
        insert_events(db, [stored(far)])
    assert db.execute("SELECT count(*) FROM resilience_metrics_default").fetchone()[0] == 1  # type: ignore[index]


def test_the_original_seven_column_insert_still_works(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO resilience_metrics (id, ts, user_id, session_id, component, signal, data)"
        " VALUES (gen_random_uuid(), now(), NULL, 's', 'c', 'retry_success', '{}')"
    )
    assert count(db) == 1


def _window(now: datetime) -> Window:
    return Window(now - timedelta(hours=1), now + timedelta(seconds=1))


def test_reads_are_newest_first_and_filtered(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    with db.transaction():
        insert_events(
            db,
            [
                stored(now - timedelta(minutes=3), component="A"),
                stored(now - timedelta(minutes=1), component="B", signal="retry_failure"),
                stored(now - timedelta(minutes=2), component="A", session_id="s2"),
                stored(now - timedelta(hours=2), component="A"),
            ],
        )
    page = query_events(db, EventQuery(_window(now)))
    assert [e.component for e in page.events] == ["B", "A", "A"]
    assert [e.component for e in query_events(db, EventQuery(_window(now), component="A")).events] == ["A", "A"]
    assert len(query_events(db, EventQuery(_window(now), signal="retry_failure")).events) == 1
    assert len(query_events(db, EventQuery(_window(now), session_id="s2")).events) == 1


def test_pages_follow_each_other_without_gaps_or_repeats(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    same_ts = now - timedelta(minutes=5)
    events = [stored(same_ts) for _ in range(5)] + [stored(now - timedelta(seconds=i)) for i in range(7)]
    with db.transaction():
        insert_events(db, events)
    seen: list[str] = []
    cursor = None
    while True:
        page = query_events(db, EventQuery(_window(now), limit=4, cursor=cursor))
        seen += [e.id for e in page.events]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(str(e.id) for e in events)
    assert len(seen) == len(set(seen))


def test_a_cursor_not_from_the_api_is_refused() -> None:
    with pytest.raises(CursorError):
        decode_cursor("definitely-not-a-cursor")


def test_a_batch_racing_an_uncommitted_copy_of_itself_is_stored_once(database_url: str, db: psycopg.Connection) -> None:
    import threading
    import time

    now = datetime.now(UTC)
    batch = [stored(now) for _ in range(20)]
    first_inserted = threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        with psycopg.connect(database_url) as conn, conn.transaction():
            results["first"] = insert_events(conn, batch)
            first_inserted.set()
            time.sleep(0.5)  # the retry arrives while this copy is still uncommitted

    def retry() -> None:
        first_inserted.wait(10)
        with psycopg.connect(database_url) as conn, conn.transaction():
            results["retry"] = insert_events(conn, batch)

    threads = [threading.Thread(target=first), threading.Thread(target=retry)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["first"] == InsertResult(accepted=20, duplicates=0)
    assert results["retry"] == InsertResult(accepted=0, duplicates=20)
    assert count(db) == 20
