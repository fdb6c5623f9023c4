"""Signal counts over a window and per bucket: exact at every moment, whether rolled up or not."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from resilience.history import Granularity, SeriesPoint, SeriesTooLarge
from resilience.rates import Status, compute_all
from resilience.signals import KNOWN_SIGNALS
from resilience.store import rollups
from resilience.store.counts import series, signal_counts, totals, windows_counts
from resilience.windows import Window
from tests.rollup_data import USERS, event, from_scratch, hour_floor, ingest, random_events, raw_counts

NOW = datetime.now(UTC)
HOUR = hour_floor(NOW)


def flat(nested: dict[str, dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for per_signal in nested.values():
        for signal, n in per_signal.items():
            total[signal] = total.get(signal, 0) + n
    return total


def random_window(rng: random.Random) -> Window:
    """Windows of every shape: inside one hour, across hours and days, aligned or not, ending now or later."""
    start = NOW - timedelta(days=9) + timedelta(seconds=rng.randrange(9 * 86400))
    span = rng.choice([timedelta(minutes=7), timedelta(hours=1), timedelta(hours=5), timedelta(days=3)])
    span = span * rng.random() * 2 + timedelta(seconds=1)
    if rng.random() < 0.3:
        start = hour_floor(start)
    end = start + span
    if rng.random() < 0.3:
        end = hour_floor(end) if hour_floor(end) > start else end
    return Window(start, min(end, NOW + timedelta(minutes=10)))


def assert_counts_exact(db: psycopg.Connection, rng: random.Random, windows: int = 25) -> None:
    for _ in range(windows):
        w = random_window(rng)
        expected = raw_counts(db, w.start, w.end)
        assert signal_counts(db, w, by_component=True) == expected, w
        assert signal_counts(db, w) == flat(expected), w
        component = rng.choice(["CheckoutForm", "SearchBox", "Nothing"])
        assert signal_counts(db, w, component=component) == expected.get(component, {}), w


def test_counts_are_exact_before_during_and_after_refreshes(db: psycopg.Connection) -> None:
    rng = random.Random(11)
    ingest(db, random_events(rng, 600, NOW - timedelta(days=9), NOW + timedelta(minutes=4)))
    assert_counts_exact(db, rng)  # nothing rolled up yet
    rollups.refresh(db)
    assert_counts_exact(db, rng)  # everything rolled up
    ingest(db, random_events(rng, 150, NOW - timedelta(hours=3), NOW))
    ingest(db, random_events(rng, 80, NOW - timedelta(days=8), NOW - timedelta(days=2)))  # late events
    assert_counts_exact(db, rng)  # rollups plus pending counts
    rollups.refresh(db)
    assert_counts_exact(db, rng)


def test_windows_ending_together_count_in_one_go_what_each_counts_alone(db: psycopg.Connection) -> None:
    rng = random.Random(14)
    ingest(db, random_events(rng, 500, NOW - timedelta(days=4), NOW + timedelta(minutes=2)))
    rollups.refresh(db)
    ingest(db, random_events(rng, 120, NOW - timedelta(hours=2), NOW))  # pending a refresh
    for _ in range(12):
        end = NOW - timedelta(seconds=rng.randrange(3 * 3600)) if rng.random() < 0.5 else NOW
        lengths = rng.sample([5, 15, 30, 60, 61, 360, 1440, 4320], k=rng.randrange(1, 6))
        windows = [Window(end - timedelta(minutes=m), end) for m in lengths]
        per_component = windows_counts(db, windows, by_component=True)
        assert per_component == [signal_counts(db, w, by_component=True) for w in windows], lengths
        assert windows_counts(db, windows) == [signal_counts(db, w) for w in windows], lengths
        assert [totals(counts) for counts in per_component] == [signal_counts(db, w) for w in windows], lengths


def test_windows_counted_together_must_end_together(db: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="end at the same moment"):
        windows_counts(
            db, [Window(NOW - timedelta(hours=1), NOW), Window(NOW - timedelta(hours=2), NOW - timedelta(hours=1))]
        )
    assert windows_counts(db, []) == []


def test_an_event_stored_a_second_ago_counts(db: psycopg.Connection) -> None:
    ingest(db, random_events(random.Random(12), 100, NOW - timedelta(days=2), NOW - timedelta(hours=1)))
    rollups.refresh(db)
    window = Window(NOW - timedelta(hours=24), datetime.now(UTC) + timedelta(seconds=1))
    before = signal_counts(db, window).get("retry_failure", 0)
    ingest(db, [event(datetime.now(UTC) - timedelta(seconds=1), "retry_failure")])
    assert signal_counts(db, window).get("retry_failure", 0) == before + 1


def test_a_window_ending_a_moment_ago_counts_its_open_hour_exactly(db: psycopg.Connection) -> None:
    # As the API computes "the last 24 hours": the end is taken before the statement runs. The open
    # hour is then its pending counts minus the rows after the end, here one stamped a minute ahead.
    now = datetime.now(UTC)
    open_hour = hour_floor(now)
    ingest(db, random_events(random.Random(13), 120, now - timedelta(days=2), open_hour))
    rollups.refresh(db)
    ingest(db, [event(open_hour + (now - open_hour) / 2, "retry_failure", "SearchBox")])
    ingest(db, [event(now + timedelta(minutes=1), "retry_failure", "SearchBox")])
    window = Window(now - timedelta(hours=24), datetime.now(UTC))
    expected = raw_counts(db, window.start, window.end)
    assert expected["SearchBox"]["retry_failure"] >= 1
    assert signal_counts(db, window, by_component=True) == expected
    assert signal_counts(db, window) == flat(expected)
    assert signal_counts(db, window, component="SearchBox") == expected["SearchBox"]


def test_the_window_is_half_open(db: psycopg.Connection) -> None:
    t = HOUR - timedelta(hours=2)
    ingest(db, [event(t, "retry_success"), event(t + timedelta(hours=1), "retry_success")])
    rollups.refresh(db)
    assert signal_counts(db, Window(t, t + timedelta(hours=1))) == {"retry_success": 1}
    assert signal_counts(db, Window(t - timedelta(hours=1), t)) == {}


def test_an_empty_window_counts_nothing_and_rates_are_no_data(db: psycopg.Connection) -> None:
    window = Window(NOW - timedelta(hours=24), NOW)
    assert signal_counts(db, window) == {}
    assert signal_counts(db, window, by_component=True) == {}
    assert all(r.status is Status.NO_DATA for r in compute_all(signal_counts(db, window)))


def test_the_rates_of_a_window_follow_its_counts(db: psycopg.Connection) -> None:
    t = NOW - timedelta(hours=3)
    batch = [event(t, "optimistic_action_success") for _ in range(18)]
    batch += [event(t, "optimistic_action_rollback") for _ in range(2)]
    batch += [event(t, "retry_success", "SearchBox") for _ in range(12)]
    ingest(db, batch)
    window = Window(NOW - timedelta(hours=24), NOW)
    rates = {r.metric: r for r in compute_all(signal_counts(db, window))}
    assert (rates["rollback_rate"].value, rates["rollback_rate"].status) == (10.0, Status.ALERT)
    assert (rates["rollback_rate"].numerator, rates["rollback_rate"].denominator) == (2, 20)
    assert rates["retry_success_rate"].status is Status.HEALTHY
    only_search = {r.metric: r for r in compute_all(signal_counts(db, window, component="SearchBox"))}
    assert only_search["rollback_rate"].status is Status.NO_DATA
    assert only_search["retry_success_rate"].denominator == 12


def test_get_resilience_metrics_in_sql_agrees_with_the_rates_module(db: psycopg.Connection) -> None:
    rng = random.Random(13)
    ingest(db, random_events(rng, 400, NOW - timedelta(days=3), NOW))
    rollups.refresh(db)
    ingest(db, random_events(rng, 50, NOW - timedelta(hours=2), NOW))
    for start, end in [
        (NOW - timedelta(hours=24), NOW),
        (NOW - timedelta(days=3), NOW),
        (NOW - timedelta(minutes=20), NOW),
        (NOW - timedelta(days=30), NOW - timedelta(days=20)),
    ]:
        window = Window(start, end)
        expected = [(r.metric, r.value, r.threshold, r.status.value) for r in compute_all(signal_counts(db, window))]
        rows = db.execute("SELECT * FROM get_resilience_metrics(%s, %s)", (start, end)).fetchall()
        got = [(m, None if v is None else float(v), float(t), s) for m, v, t, s in rows]
        assert got == expected


_INSERT = """
INSERT INTO resilience_metrics (ts, session_id, component, signal)
SELECT %s, 's', 'C', %s FROM generate_series(1, %s)
"""
_windows = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.dictionaries(st.sampled_from(KNOWN_SIGNALS), st.integers(min_value=0, max_value=40)))
@example(counts={"optimistic_action_success": 19, "optimistic_action_rollback": 1})  # at the threshold
@example(counts={"retry_success": 8, "retry_failure": 2})  # at the threshold
@example(counts={"retry_success": 1, "retry_failure": 8})  # one sample short
@example(counts={"error_boundary_triggered": 10, "error_boundary_recovered": 15})  # capped
@example(counts={})
def test_get_resilience_metrics_in_sql_is_the_rates_module_over_any_counts(
    db: psycopg.Connection, counts: dict[str, int]
) -> None:
    # A minute of its own per example, inside one hour: its rows are exactly these counts.
    start = hour_floor(NOW) - timedelta(days=2) + timedelta(minutes=next(_windows) % 50)
    for signal, n in counts.items():
        db.execute(_INSERT, (start, signal, n))
    rows = db.execute("SELECT * FROM get_resilience_metrics(%s, %s)", (start, start + timedelta(minutes=1))).fetchall()
    got = [(m, None if v is None else float(v), float(t), status) for m, v, t, status in rows]
    assert got == [(r.metric, r.value, r.threshold, r.status.value) for r in compute_all(counts)]
    db.execute("DELETE FROM resilience_metrics WHERE ts = %s", (start,))


def test_get_resilience_metrics_applies_the_corrected_definitions(db: psycopg.Connection) -> None:
    t = NOW - timedelta(hours=1)
    batch = [event(t, "optimistic_action_start") for _ in range(100)]
    batch += [event(t, "optimistic_action_success") for _ in range(90)]
    batch += [event(t, "optimistic_action_rollback") for _ in range(10)]
    batch += [event(t, "retry_success") for _ in range(10)] + [event(t, "retry_failure") for _ in range(90)]
    batch += [event(t, "error_boundary_triggered") for _ in range(10)]
    batch += [event(t, "error_boundary_recovered") for _ in range(12)]
    ingest(db, batch)
    rows = db.execute("SELECT * FROM get_resilience_metrics()").fetchall()
    assert rows == [
        ("rollback_rate", Decimal("10.0000"), Decimal("5.0"), "alert"),
        ("retry_success_rate", Decimal("10.0000"), Decimal("80.0"), "alert"),
        ("error_recovery_rate", Decimal("100.0000"), Decimal("95.0"), "healthy"),
    ]
    counts = signal_counts(db, Window(NOW - timedelta(hours=24), datetime.now(UTC)))
    assert [float(r[1]) for r in rows] == [r.value for r in compute_all(counts)]


def test_get_resilience_metrics_on_an_empty_window_is_no_data_not_a_division_by_zero(db: psycopg.Connection) -> None:
    rows = db.execute("SELECT * FROM get_resilience_metrics(now() - interval '1 hour', now())").fetchall()
    assert [(m, v, s) for m, v, _, s in rows] == [
        ("rollback_rate", None, "no_data"),
        ("retry_success_rate", None, "no_data"),
        ("error_recovery_rate", None, "no_data"),
    ]


@pytest.mark.parametrize("granularity", [Granularity.HOUR, Granularity.DAY])
def test_series_equal_a_from_scratch_recomputation_before_and_after_refresh(
    db: psycopg.Connection, granularity: Granularity
) -> None:
    rng = random.Random(14)
    window = Window(NOW - timedelta(days=4), NOW + timedelta(minutes=5))
    ingest(db, random_events(rng, 300, window.start, NOW))

    def expected() -> list[tuple[object, ...]]:
        lo = (
            hour_floor(window.start)
            if granularity is Granularity.HOUR
            else window.start.replace(hour=0, minute=0, second=0, microsecond=0)
        )
        return [r for r in from_scratch(db, granularity.value) if lo <= r[0] < window.end]

    def got() -> list[tuple[object, ...]]:
        return [
            (p.bucket, p.component, p.signal, p.count, p.unique_users, p.unique_sessions)
            for p in series(db, window, granularity)
        ]

    assert got() == expected()
    rollups.refresh(db)
    assert got() == expected()
    ingest(db, random_events(rng, 40, NOW - timedelta(days=3), NOW))
    assert got() == expected()


def test_series_filter_by_component_and_signal(db: psycopg.Connection) -> None:
    t = HOUR - timedelta(hours=1)
    ingest(
        db,
        [
            event(t, "retry_success", "A", user_id=USERS[0], session_id="s1"),
            event(t, "retry_success", "A", user_id=USERS[0], session_id="s2"),
            event(t, "retry_failure", "A"),
            event(t, "retry_success", "B"),
        ],
    )
    window = Window(t - timedelta(hours=1), NOW)
    points = series(db, window, Granularity.HOUR, component="A", signal="retry_success")
    assert points == [
        SeriesPoint(bucket=t, component="A", signal="retry_success", count=2, unique_users=1, unique_sessions=2)
    ]


def test_a_series_larger_than_one_answer_can_carry_is_refused(db: psycopg.Connection) -> None:
    ingest(db, [event(NOW - timedelta(hours=h), "retry_success") for h in range(1, 6)])
    with pytest.raises(SeriesTooLarge):
        series(db, Window(NOW - timedelta(days=1), NOW), Granularity.HOUR, max_points=3)
