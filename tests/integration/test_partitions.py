"""Daily partitions: created ahead, stray rows moved in, expired ones dropped, short locks only."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from resilience.store import partitions
from resilience.store.database import Database
from resilience.windows import day_start

TODAY = datetime.now(UTC).date()


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fresh_database_url, autocommit=True, options="-c timezone=UTC") as c:
        yield c


@pytest.fixture
def other(fresh_database_url: str) -> Iterator[psycopg.Connection]:
    """A second session, to hold locks the way a concurrent transaction would."""
    with psycopg.connect(fresh_database_url, options="-c timezone=UTC") as c:
        yield c


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gives up on busy locks after two quick attempts."""
    monkeypatch.setattr(partitions, "ATTEMPTS", 2)
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT_MS", 50)
    monkeypatch.setattr(partitions, "RETRY_PAUSE_S", 0.01)


def insert(conn: psycopg.Connection, ts: datetime, data: str = "{}") -> uuid.UUID:
    row_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO resilience_metrics (id, ts, session_id, component, signal, data)"
        " VALUES (%s, %s, 's', 'CheckoutForm', 'retry_success', %s)",
        (row_id, ts, data),
    )
    return row_id


def home(conn: psycopg.Connection, row_id: uuid.UUID) -> str | None:
    """The partition a row is stored in, or None if it is gone."""
    row = conn.execute("SELECT tableoid::regclass::text FROM resilience_metrics WHERE id = %s", (row_id,)).fetchone()
    return None if row is None else row[0]


def read_today(conn: psycopg.Connection) -> None:
    """Reads today's rows, leaving the transaction open: it holds the parent and today's partition only."""
    start = day_start(TODAY)
    conn.execute(
        "SELECT count(*) FROM resilience_metrics WHERE ts >= %s AND ts < %s", (start, start + timedelta(days=1))
    )


def names(conn: psycopg.Connection) -> list[str]:
    return [p.name for p in partitions.list_partitions(conn)]


def at(day: date, hour: int = 12) -> datetime:
    return day_start(day) + timedelta(hours=hour)


def test_migrations_create_partitions_from_yesterday_to_a_week_ahead(conn: psycopg.Connection) -> None:
    expected = [partitions.partition_name(TODAY + timedelta(days=n)) for n in range(-1, 8)]
    assert names(conn) == expected


def test_partitions_are_listed_oldest_first_with_their_utc_day_range(conn: psycopg.Connection) -> None:
    first = partitions.list_partitions(conn)[0]
    yesterday = TODAY - timedelta(days=1)
    assert first.start == day_start(yesterday)
    assert first.end == day_start(TODAY)
    assert "resilience_metrics_default" not in names(conn)


def test_python_and_sql_agree_on_partition_names(conn: psycopg.Connection) -> None:
    day = date(2027, 3, 4)
    sql_name = conn.execute("SELECT resilience_partition_name(%s)", (day,)).fetchone()
    assert sql_name == (partitions.partition_name(day),)


def test_ensure_ahead_creates_the_missing_days_once(conn: psycopg.Connection) -> None:
    first = partitions.ensure_ahead(conn, 10)
    assert first.created == [partitions.partition_name(TODAY + timedelta(days=n)) for n in (8, 9, 10)]
    assert first.deferred == []
    again = partitions.ensure_ahead(conn, 10)
    assert again.created == []
    assert again.deferred == []
    assert names(conn)[-1] == partitions.partition_name(TODAY + timedelta(days=10))


def test_ensure_ahead_works_through_a_shared_database_object(fresh_database_url: str) -> None:
    database = Database(fresh_database_url)
    try:
        upkeep = partitions.ensure_ahead(database, 8)
        assert upkeep.created == [partitions.partition_name(TODAY + timedelta(days=8))]
        assert database.ping()
    finally:
        database.close()


def test_creating_a_partition_moves_that_days_rows_out_of_the_default_partition(conn: psycopg.Connection) -> None:
    day = TODAY + timedelta(days=12)
    first = insert(conn, day_start(day), '{"n": 1}')
    last = insert(conn, day_start(day + timedelta(days=1)) - timedelta(microseconds=1), '{"n": 2}')
    next_day = insert(conn, day_start(day + timedelta(days=1)))
    assert {home(conn, first), home(conn, last), home(conn, next_day)} == {"resilience_metrics_default"}

    assert partitions.create(conn, day) is True

    name = partitions.partition_name(day)
    assert home(conn, first) == name
    assert home(conn, last) == name
    assert home(conn, next_day) == "resilience_metrics_default"
    data = conn.execute("SELECT data FROM resilience_metrics WHERE id = %s", (last,)).fetchone()
    assert data == ({"n": 2},)


def test_creating_an_existing_partition_changes_nothing(conn: psycopg.Connection) -> None:
    row = insert(conn, at(TODAY))
    assert partitions.create(conn, TODAY) is False
    assert home(conn, row) == partitions.partition_name(TODAY)


def test_a_created_partition_has_the_parents_indexes(conn: psycopg.Connection) -> None:
    partitions.create(conn, TODAY + timedelta(days=20))
    name = partitions.partition_name(TODAY + timedelta(days=20))
    count = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (name,)).fetchone()
    parent = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'resilience_metrics'::regclass").fetchone()
    assert count == parent


def test_creation_does_not_wait_for_readers_of_the_table(
    conn: psycopg.Connection, other: psycopg.Connection, impatient: None
) -> None:
    # A reader of today's rows holds the parent table; CREATE TABLE ... PARTITION OF would wait for it.
    read_today(other)
    try:
        assert partitions.create(conn, TODAY + timedelta(days=9)) is True
    finally:
        other.rollback()


def test_creation_gives_up_cleanly_while_the_default_partition_stays_locked(
    conn: psycopg.Connection, other: psycopg.Connection, impatient: None
) -> None:
    day = TODAY + timedelta(days=9)
    other.execute("LOCK TABLE resilience_metrics_default IN ACCESS SHARE MODE")
    try:
        with pytest.raises(partitions.PartitionBusy):
            partitions.create(conn, day)
        upkeep = partitions.ensure(conn, [day, day + timedelta(days=1)])
    finally:
        other.rollback()
    # The day after is not even tried: whatever held the first day's locks would hold its too.
    assert upkeep.deferred == [partitions.partition_name(day), partitions.partition_name(day + timedelta(days=1))]
    assert upkeep.created == []
    # Nothing half made: no stray table of that name, and the next attempt succeeds.
    assert conn.execute("SELECT to_regclass(%s)", (partitions.partition_name(day),)).fetchone() == (None,)
    assert partitions.create(conn, day) is True


def test_creation_retries_until_a_busy_lock_is_released(
    conn: psycopg.Connection, other: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT_MS", 50)
    monkeypatch.setattr(partitions, "RETRY_PAUSE_S", 0.05)
    monkeypatch.setattr(partitions, "ATTEMPTS", 100)
    other.execute("LOCK TABLE resilience_metrics_default IN ACCESS SHARE MODE")
    waits = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert waits is not None
    released = threading.Event()

    def release_once_creation_waited() -> None:
        with psycopg.connect(other.info.dsn, autocommit=True) as watcher:
            while not watcher.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", waits
            ).fetchone()[0]:  # type: ignore[index]
                pass
        other.rollback()
        released.set()

    thread = threading.Thread(target=release_once_creation_waited)
    thread.start()
    assert partitions.create(conn, TODAY + timedelta(days=9)) is True
    thread.join()
    assert released.is_set()


def test_drop_before_drops_only_partitions_wholly_older_than_the_cutoff(conn: psycopg.Connection) -> None:
    old = [TODAY - timedelta(days=n) for n in (5, 4, 3)]
    partitions.ensure(conn, old)
    rows = {day: [insert(conn, at(day, h)) for h in (0, 23)] for day in old}
    cutoff = day_start(TODAY - timedelta(days=3))

    upkeep = partitions.drop_before(conn, cutoff)

    assert upkeep.dropped == [partitions.partition_name(d) for d in old[:2]]
    assert upkeep.rows_dropped == 4
    assert all(home(conn, r) is None for day in old[:2] for r in rows[day])
    assert [home(conn, r) for r in rows[old[2]]] == [partitions.partition_name(old[2])] * 2
    assert partitions.drop_before(conn, cutoff).dropped == []


def test_dropping_a_partition_another_run_dropped_counts_nothing(conn: psycopg.Connection) -> None:
    day = TODAY - timedelta(days=1)
    gone = next(p for p in partitions.list_partitions(conn) if p.name == partitions.partition_name(day))
    assert partitions.drop(conn, gone) == 0
    assert partitions.drop(conn, gone) is None


def test_drop_defers_while_a_reader_holds_the_table(
    conn: psycopg.Connection, other: psycopg.Connection, impatient: None
) -> None:
    partitions.ensure(conn, [TODAY - timedelta(days=2)])
    expired = names(conn)[:2]
    read_today(other)
    try:
        upkeep = partitions.drop_before(conn, day_start(TODAY))
    finally:
        other.rollback()
    assert upkeep.deferred == expired
    assert upkeep.dropped == []
    assert names(conn)[:2] == expired


def test_adopt_strays_gives_past_days_in_the_default_partition_their_own(conn: psycopg.Connection) -> None:
    past = TODAY - timedelta(days=30)
    stray = insert(conn, at(past))
    expired = insert(conn, at(past - timedelta(days=40)))
    upkeep = partitions.adopt_strays(conn, day_start(past - timedelta(days=1)), day_start(TODAY))
    assert upkeep.created == [partitions.partition_name(past)]
    assert home(conn, stray) == partitions.partition_name(past)
    assert home(conn, expired) == "resilience_metrics_default"


def test_adopt_strays_leaves_days_too_big_to_move_at_once(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "MAX_ROWS_TO_MOVE", 1)
    past = TODAY - timedelta(days=30)
    rows = [insert(conn, at(past, h)) for h in (1, 2)]
    upkeep = partitions.adopt_strays(conn, day_start(past), day_start(TODAY))
    assert upkeep.created == []
    assert {home(conn, r) for r in rows} == {"resilience_metrics_default"}


def test_partition_changes_refuse_to_run_inside_a_callers_transaction(conn: psycopg.Connection) -> None:
    with conn.transaction(), pytest.raises(ValueError, match="outside any transaction"):
        partitions.create(conn, TODAY + timedelta(days=9))
