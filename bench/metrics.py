"""Health metrics and rollups against the original design (get_resilience_metrics, REFRESH MATERIALIZED VIEW).

Both designs run on the same rows in the same database: the original's views and function are
installed in a schema of their own over the same resilience_metrics table. Measured: the first
refresh over existing data, the hourly refresh after one hour of new rows (and how it scales with
the new rows and with the size of the day they land in), and GET /v1/metrics through the handler
at three table sizes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg

from bench.charts import line_chart
from bench.harness import Bench, Row

AREA = "metrics"
DAYS = 30
# Rows in the table at full size, quick and large.
TOTAL_ROWS = (1_000_000, 10_000_000)
COMPONENTS = 25
USERS = 50_000
EVENTS_PER_SESSION = 20
# New data arrives as ingest stores it: one insert statement per request of up to 500 events.
INGEST_BATCH = 500

# The original setup's SQL, verbatim but for the schema; the views are created empty (WITH NO DATA
# appended below), so that every REFRESH of them is timed alike.
ORIGINAL = """
CREATE SCHEMA original;
CREATE MATERIALIZED VIEW original.resilience_metrics_hourly AS
SELECT
  DATE_TRUNC('hour', ts) as hour,
  component,
  signal,
  COUNT(*) as count,
  COUNT(DISTINCT user_id) as unique_users,
  COUNT(DISTINCT session_id) as unique_sessions
FROM resilience_metrics
GROUP BY DATE_TRUNC('hour', ts), component, signal
WITH NO DATA;

CREATE MATERIALIZED VIEW original.resilience_metrics_daily AS
SELECT
  DATE_TRUNC('day', ts) as day,
  component,
  signal,
  COUNT(*) as count,
  COUNT(DISTINCT user_id) as unique_users,
  COUNT(DISTINCT session_id) as unique_sessions
FROM resilience_metrics
GROUP BY DATE_TRUNC('day', ts), component, signal
WITH NO DATA;

CREATE OR REPLACE FUNCTION original.get_resilience_metrics(
  start_time TIMESTAMPTZ DEFAULT NOW() - INTERVAL '24 hours',
  end_time TIMESTAMPTZ DEFAULT NOW()
)
RETURNS TABLE (
  metric_name TEXT,
  metric_value NUMERIC,
  threshold NUMERIC,
  status TEXT
) AS $$
BEGIN
  RETURN QUERY
  WITH metrics AS (
    SELECT
      'rollback_rate' as metric_name,
      (COUNT(*) FILTER (WHERE signal = 'optimistic_action_rollback')::NUMERIC /
       COUNT(*) FILTER (WHERE signal IN ('optimistic_action_start', 'optimistic_action_success',
                                         'optimistic_action_rollback'))::NUMERIC * 100) as metric_value,
       5.0 as threshold
    FROM resilience_metrics
    WHERE ts BETWEEN start_time AND end_time

    UNION ALL

    SELECT
      'retry_success_rate' as metric_name,
      (COUNT(*) FILTER (WHERE signal = 'retry_success')::NUMERIC /
       COUNT(*) FILTER (WHERE signal IN ('retry_success', 'retry_failure'))::NUMERIC * 100) as metric_value,
       80.0 as threshold
    FROM resilience_metrics
    WHERE ts BETWEEN start_time AND end_time

    UNION ALL

    SELECT
      'error_recovery_rate' as metric_name,
      (COUNT(*) FILTER (WHERE signal = 'error_boundary_recovered')::NUMERIC /
       COUNT(*) FILTER (WHERE signal = 'error_boundary_triggered')::NUMERIC * 100) as metric_value,
       95.0 as threshold
    FROM resilience_metrics
    WHERE ts BETWEEN start_time AND end_time
  )
  SELECT
    m.metric_name,
    COALESCE(m.metric_value, 0) as metric_value,
    m.threshold,
    CASE
      WHEN m.metric_value IS NULL THEN 'no_data'
      WHEN m.metric_value <= m.threshold THEN 'healthy'
      ELSE 'alert'
    END as status
  FROM metrics m;
END;
$$ LANGUAGE plpgsql;
"""

# Synthetic traffic: 25 components, 50k users (a fifth anonymous), sessions of ~20 events, and a
# signal mix in which each rate is measurable (a few percent rollbacks, retries mostly succeed).
# Rows go in in time order, as ingest appends them when they arrive, so a table's pages hold
# neighbouring minutes (rows in random order would put every minute on every page of its day).
_LOAD = """
INSERT INTO resilience_metrics (id, ts, user_id, session_id, component, signal, data)
SELECT gen_random_uuid(),
       %(lo)s + random() * (%(hi)s::timestamptz - %(lo)s),
       CASE WHEN random() < 0.8 THEN md5(((random() * %(users)s)::int)::text)::uuid END,
       'sess-' || %(session_base)s::bigint + (random() * %(sessions)s)::int,
       'Component' || (random() * %(components)s)::int,
       CASE
           WHEN r < 0.25 THEN 'optimistic_action_start'
           WHEN r < 0.48 THEN 'optimistic_action_success'
           WHEN r < 0.50 THEN 'optimistic_action_rollback'
           WHEN r < 0.65 THEN 'retry_attempt'
           WHEN r < 0.77 THEN 'retry_success'
           WHEN r < 0.80 THEN 'retry_failure'
           WHEN r < 0.90 THEN 'error_boundary_triggered'
           ELSE 'error_boundary_recovered'
       END,
       '{}'::jsonb
FROM (SELECT random() AS r FROM generate_series(1, %(n)s)) g
ORDER BY 2
"""


def _load(bench: Bench, conn: psycopg.Connection, lo: datetime, hi: datetime, n: int, batch: int | None = None) -> None:
    """n events spread evenly over [lo, hi), one statement per day, or per `batch` events as ingest sends them."""
    step = timedelta(days=1)
    span = (hi - lo).total_seconds()
    t = lo
    with bench.progress(n, f"loading {n:,} rows") as bar:
        while t < hi:
            end = min(t + step, hi)
            count = round(n * (end - t).total_seconds() / span)
            step_sizes = [count] if batch is None else [batch] * (count // batch) + [count % batch]
            for size in step_sizes:
                if not size:
                    continue
                conn.execute(
                    _LOAD,
                    {
                        "lo": t,
                        "hi": end,
                        "n": size,
                        "users": USERS,
                        "sessions": max(1, count // EVENTS_PER_SESSION),
                        "session_base": int(t.timestamp()),
                        "components": COMPONENTS - 1,
                    },
                )
                bar.update(size)
            t = end


def _create_partitions(conn: psycopg.Connection, lo: datetime, hi: datetime) -> None:
    day = lo.date()
    while day <= hi.date():
        conn.execute("SELECT resilience_create_partition(%s)", (day,))
        day += timedelta(days=1)


Invoke = Callable[[str, dict[str, Any]], Any]


def _function_env(url: str) -> Invoke:
    """Points the in-process functions at this database; returns invoke(logical_id, event)."""
    from local import functions
    from local.template import load
    from resilience import settings
    from resilience_lambda.database import database

    os.environ.update(
        {
            "DATABASE_URL": url,
            "ADMIN_TOKEN": "bench-admin-token",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    settings.reload()
    database.close()
    template = load()

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        return functions.invoke(template.functions[logical_id], event)

    return invoke


def _metrics_event(start: datetime | None) -> dict[str, Any]:
    from local.triggers import http_api

    query = {"from": start.isoformat()} if start else {}
    return http_api("GET", "/v1/metrics", query=query, headers={"authorization": "Bearer bench-admin-token"})


def _refresh(invoke: Invoke) -> float:
    """Seconds of one run of RefreshFunction (which rebuilds older days on connections of its own)."""
    from local.triggers import scheduled

    began = time.perf_counter()
    invoke("RefreshFunction", scheduled("RefreshSchedule"))
    return time.perf_counter() - began


# Queues every refresh empties; autovacuum cleans them within a minute in service (migration 006
# sets it to), and here before each measured step, so a step does not pay for the one before it.
_VACUUM_QUEUES = "VACUUM resilience_rollup_pending, resilience_rollup_pending_signal, resilience_rollup_pending_rows"


class Timeline:
    """A database of `total` events over `days` days ending now, with `fresh_hours` empty hours at the end.

    The empty hours each receive new rows before a timed incremental refresh.
    """

    def __init__(self, bench: Bench, total: int, days: int, fresh_hours: int) -> None:
        self.bench = bench
        self.url = bench.fresh_database()
        self.per_hour = total // (days * 24)
        self.end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.start = self.end - timedelta(days=days)
        self.fresh = [self.end - timedelta(hours=h) for h in range(fresh_hours, 0, -1)]
        first_fresh = self.fresh[0] if self.fresh else self.end
        self.conn = psycopg.connect(self.url, autocommit=True, options="-c timezone=UTC")
        _create_partitions(self.conn, self.start, self.end + timedelta(days=1))
        _load(bench, self.conn, self.start, first_fresh, self.per_hour * (days * 24 - fresh_hours))
        self.conn.execute("VACUUM ANALYZE resilience_metrics")

    def refresh_after_new_hour(self, invoke: Invoke, rows: int | None = None) -> float:
        """Seconds of a refresh after one more hour of new rows (the usual hourly amount by default)."""
        hour = self.fresh.pop(0)
        self.conn.execute(_VACUUM_QUEUES)
        _load(self.bench, self.conn, hour, hour + timedelta(hours=1), rows or self.per_hour, batch=INGEST_BATCH)
        return _refresh(invoke)

    def catch_up(self, invoke: Invoke) -> int:
        """Data up to now as between two hourly refreshes: closed hours rolled up, the open hour not yet.

        Returns the minutes of the open hour that have data.
        """
        now = datetime.now(UTC)
        open_hour = now.replace(minute=0, second=0, microsecond=0)
        lo = self.fresh[0] if self.fresh else self.end
        if open_hour > lo:
            _load(self.bench, self.conn, lo, open_hour, self.rate(lo, open_hour), batch=INGEST_BATCH)
        _refresh(invoke)
        lo = max(open_hour, lo)
        _load(self.bench, self.conn, lo, now, self.rate(lo, now), batch=INGEST_BATCH)
        self.conn.execute("ANALYZE")
        return int((now - open_hour).total_seconds() // 60)

    def rate(self, lo: datetime, hi: datetime) -> int:
        return round(self.per_hour * (hi - lo).total_seconds() / 3600)

    def close(self) -> None:
        self.conn.close()


# The targets are set for 10M rows; at the quick size fixed costs (the handler, planning)
# weigh more against a smaller baseline, so its figures are context, not a verdict.
LARGE_ONLY = " (at large)"


def judged(bench: Bench, met: bool) -> bool | None:
    return met if bench.size == "large" else None


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


WINDOWS = (("24 h", timedelta(hours=24), 50), ("7 days", timedelta(days=7), 200))


def _metrics_latency(bench: Bench, timeline: Timeline, invoke: Invoke) -> dict[str, tuple[float, float]]:
    """GET /v1/metrics through the handler and the original function, per window: (ours, original) seconds."""
    found = {}
    now = datetime.now(UTC)
    for label, span, _ in WINDOWS:
        event = _metrics_event(None if span == timedelta(hours=24) else now - span)

        def api(event: dict[str, Any] = event) -> None:
            answer = invoke("MetricsQueryFunction", event)
            assert answer["statusCode"] == 200, answer

        def original(span: timedelta = span) -> None:
            timeline.conn.execute(
                "SELECT * FROM original.get_resilience_metrics(now() - %s, now())", (span,)
            ).fetchall()

        found[label] = bench.alternating_medians(api, original, rounds=7, first_each=3)
    return found


DAY_SIZE_SAMPLES = 5
K = TypeVar("K")


def yesterday() -> datetime:
    """The start of yesterday (UTC): a whole day, and tracked by the refresh at any hour of today."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def load_day(bench: Bench, url: str, day: datetime, rows: int) -> None:
    """`rows` rows spread over the day, its partitions created and the table analyzed; not rolled up."""
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        _create_partitions(conn, day, day + timedelta(days=2))
        _load(bench, conn, day, day + timedelta(days=1), rows)
        conn.execute("VACUUM ANALYZE resilience_metrics")


def refreshes_taking_turns(
    bench: Bench,
    urls: dict[K, str],
    day: datetime,
    per_hour: int,
    samples: int,
    after_hour: Callable[[dict[K, list[float]]], None] | None = None,
) -> dict[K, list[float]]:
    """Seconds of each refresh after an hour of new rows in `day` (hours 10, 11, ...), on each database
    in turn, hour by hour, so that load from elsewhere on the machine falls on every one alike."""
    conns = {key: psycopg.connect(url, autocommit=True, options="-c timezone=UTC") for key, url in urls.items()}
    times: dict[K, list[float]] = {key: [] for key in urls}
    try:
        for hour in range(samples):
            lo = day + timedelta(hours=10 + hour)
            for key, url in urls.items():
                conns[key].execute(_VACUUM_QUEUES)
                _load(bench, conns[key], lo, lo + timedelta(hours=1), per_hour, batch=INGEST_BATCH)
                times[key].append(_refresh(_function_env(url)))
            if after_hour:
                after_hour(times)
    finally:
        for conn in conns.values():
            conn.close()
    return times


def _day_sizes(bench: Bench, per_hour: int, factors: tuple[int, ...], samples: int) -> dict[int, float]:
    """Median seconds of a refresh after one hour of new rows, when the day they land in holds
    each factor times a usual day's rows. One database per factor, loaded and rolled up first."""
    day = yesterday()
    urls = {}
    for factor in factors:
        urls[factor] = bench.fresh_database()
        load_day(bench, urls[factor], day, per_hour * 24 * factor)
        _refresh(_function_env(urls[factor]))
    times = refreshes_taking_turns(bench, urls, day, per_hour, samples)
    return {factor: median(found) for factor, found in times.items()}


def run(bench: Bench) -> list[Row]:
    total = bench.pick(*TOTAL_ROWS)
    sizes = bench.pick((100_000, 300_000), (1_000_000, 3_000_000))
    new_rows = bench.pick((1_000, 3_000, 10_000, 30_000), (1_000, 3_000, 10_000, 30_000, 100_000))
    samples = 5
    rows: list[Row] = []

    # The table at full size, loaded through the trigger as ingest stores rows, never rolled up:
    # the first refresh is the one after deploying onto existing data.
    big = Timeline(bench, total, DAYS, samples + len(new_rows))
    big.conn.execute(ORIGINAL)
    invoke = _function_env(big.url)
    first_refresh = _refresh(invoke)
    incremental = [big.refresh_after_new_hour(invoke) for _ in range(samples)]
    swept = [big.refresh_after_new_hour(invoke, n) for n in new_rows]
    big.conn.execute("VACUUM ANALYZE")

    def refresh_original() -> None:
        big.conn.execute("REFRESH MATERIALIZED VIEW original.resilience_metrics_hourly")
        big.conn.execute("REFRESH MATERIALIZED VIEW original.resilience_metrics_daily")

    original_refresh = bench.median(refresh_original, repeat=3, warmup=0)
    ours = median(incremental)
    rows.append(
        Row(
            AREA,
            f"hourly refresh after 1 h of new rows ({big.per_hour:,}), table of {total:,}",
            ours * 1000,
            "ms",
            "original REFRESH MATERIALIZED VIEW hourly + daily",
            original_refresh * 1000,
            ">= 100x faster" + LARGE_ONLY,
            judged(bench, original_refresh >= 100 * ours),
            note=f"median of {samples} refreshes, each after a new hour of rows stored in {INGEST_BATCH}-row batches",
        )
    )
    rows.append(
        Row(
            AREA,
            f"first refresh over existing data ({total:,} rows, {DAYS} days)",
            first_refresh * 1000,
            "ms",
            "original REFRESH MATERIALIZED VIEW hourly + daily",
            original_refresh * 1000,
            ">= 1.0x" + LARGE_ONLY,
            judged(bench, original_refresh >= first_refresh),
            note="older days rebuilt from raw rows on three connections at once, the last three days' sets built;"
            " the original's refreshes use Postgres's parallel workers",
        )
    )

    # The API through the handler, against the original function on the same rows, with data up to
    # now and the open hour not rolled up yet; the same on smaller tables for the chart.
    minutes = big.catch_up(invoke)
    latency = {total: _metrics_latency(bench, big, invoke)}
    big.close()
    for label, _, target in WINDOWS:
        ours_s, theirs_s = latency[total][label]
        ok = theirs_s >= target * ours_s
        rows.append(
            Row(
                AREA,
                f"GET /v1/metrics, last {label} (handler), table of {total:,}",
                ours_s * 1000,
                "ms",
                "original get_resilience_metrics",
                theirs_s * 1000,
                f">= {target}x faster" + LARGE_ONLY,
                judged(bench, ok),
                note=f"median of 21 (the original's of 7) in 7 alternating rounds; the open hour had {minutes} "
                "minutes of rows not yet rolled up",
            )
        )
    for size in sizes:
        smaller = Timeline(bench, size, DAYS, 0)
        smaller.conn.execute(ORIGINAL)
        invoke = _function_env(smaller.url)
        smaller.catch_up(invoke)
        latency[size] = _metrics_latency(bench, smaller, invoke)
        smaller.close()
        bench.drop_databases()

    # The same hourly refresh when the day the new rows land in is bigger.
    by_day = _day_sizes(bench, big.per_hour, (1, 3, 10), DAY_SIZE_SAMPLES)
    rows.append(
        Row(
            AREA,
            f"hourly refresh, day of 10x the rows ({big.per_hour * 240:,})",
            by_day[10] * 1000,
            "ms",
            f"same refresh, day of the usual rows ({big.per_hour * 24:,})",
            by_day[1] * 1000,
            "within 1.3x of it" + LARGE_ONLY,
            judged(bench, by_day[10] <= 1.3 * by_day[1]),
            note=f"median of {DAY_SIZE_SAMPLES} refreshes each, taking turns across the three days; "
            f"3x the rows: {by_day[3] * 1000:,.0f} ms",
        )
    )

    table = sorted(latency)
    line_chart(
        bench,
        AREA,
        "metrics-latency",
        "GET /v1/metrics against table size",
        ("rows in resilience_metrics", "milliseconds (log)"),
        {
            f"{who}, last {label}": (
                [float(n) for n in table],
                [latency[n][label][side] * 1000 for n in table],
            )
            for label, _, _ in WINDOWS
            for who, side in (("ours (handler)", 0), ("original function", 1))
        },
        log="xy",
    )
    line_chart(
        bench,
        AREA,
        "refresh-new-rows",
        "Hourly refresh against the rows of the hour",
        ("new rows since the last refresh", "milliseconds (log)"),
        {"ours (RefreshFunction)": ([float(n) for n in new_rows], [t * 1000 for t in swept])},
        log="xy",
        references={"original: REFRESH of both views": original_refresh * 1000},
    )
    line_chart(
        bench,
        AREA,
        "refresh-day-size",
        "Hourly refresh against the size of the day it lands in",
        (f"rows already in that day (x {big.per_hour * 24:,})", "milliseconds"),
        {"ours (RefreshFunction)": ([float(f) for f in by_day], [t * 1000 for t in by_day.values()])},
    )
    return rows
