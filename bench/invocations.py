"""Invocations: what one run of each function takes, as Lambda bills it, and what an event takes on disk.

Each function is timed through its handler, in process, against a real Postgres: the wall time,
and the process's own CPU time (the part that stretches when Lambda gives the function less CPU;
the rest is the database's work and the round trips). docs/COST.md prices the stack from these.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.harness import Bench, Row
from bench.ingest import as_row, make_events, raw_copy, truncate
from bench.metrics import _function_env

AREA = "invocations"
ROUNDS = 7


def timed(fn: Callable[[], Any], rounds: int = ROUNDS, *, warmup: bool = True) -> tuple[float, float]:
    """Median wall time and median process CPU time of fn, in milliseconds (after one warm-up run)."""
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def _rows(area_name: str, wall: float, cpu: float, baseline: str, baseline_ms: float, note: str) -> list[Row]:
    return [
        Row(AREA, f"{area_name}: wall time", wall, "ms", baseline, baseline_ms, note=note),
        Row(
            AREA,
            f"{area_name}: process CPU time",
            cpu,
            "ms",
            baseline,
            baseline_ms,
            note="the handler's own CPU (Python, pydantic, psycopg); the rest of the wall time is the database",
        ),
    ]


def run(bench: Bench) -> list[Row]:
    url = bench.fresh_database()
    invoke = _function_env(url)
    from local import triggers

    rows: list[Row] = []
    now = datetime.now(UTC)
    for size in (20, 500):
        batches = [make_events(size, now) for _ in range(ROUNDS + 1)]
        bodies = iter([json.dumps({"events": batch}) for batch in batches] * 2)

        def ingest(bodies: Iterator[str] = bodies) -> None:
            answer = invoke("IngestFunction", triggers.http_api("POST", "/v1/telemetry", body=next(bodies)))
            assert answer["statusCode"] == 200, answer["body"]

        truncate(url)
        wall, cpu = timed(ingest)
        copies = [[as_row(e) for e in make_events(size, now)] for _ in range(ROUNDS)]
        copy_ms = statistics.median(raw_copy(url, rows_) * 1000 for rows_ in copies)
        rows += _rows(
            f"IngestFunction, {size}-event request",
            wall,
            cpu,
            f"raw COPY of {size} rows",
            copy_ms,
            f"median of {ROUNDS} requests of {size} new events each (validation, dedupe probe, binary COPY)",
        )

    # A day of traffic over 20 components, then the other functions on it.
    refresh = lambda: invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))  # noqa: E731
    refresh()  # imports and connects: what follows is a warm container's run
    day = bench.pick(100_000, 1_000_000)
    _load(url, day, now - timedelta(days=1), now)
    with psycopg.connect(url, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*), pg_total_relation_size('resilience_metrics') FROM resilience_metrics")
        count, size_bytes = stored.fetchone() or (0, 0)
        for (partition,) in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'resilience_metrics'::regclass"
        ).fetchall():
            size_bytes += conn.execute("SELECT pg_total_relation_size(%s)", (partition,)).fetchone()[0]  # type: ignore[index]
    sample = json.dumps(make_events(1, now)[0])
    rows.append(
        Row(
            AREA,
            "storage per event (table, indexes, TOAST)",
            size_bytes / max(count, 1),
            "bytes",
            "the event as JSON on the wire",
            float(len(sample)),
            note=f"{count:,} events; the JSON event is the bench's typical one (uuid ids, a small data object)",
        )
    )
    count_ms = _count_ms(url)
    wall, cpu = timed(refresh, 1, warmup=False)
    rows += _rows(
        "RefreshFunction, first run over a day",
        wall,
        cpu,
        "count(*) of the day's rows",
        count_ms,
        f"{day:,} events over the last 24 h, all pending: the run after a deploy onto existing data",
    )
    hour = day // 24
    hourly = []
    for _ in range(3):
        _load(url, hour, now - timedelta(hours=1), now, truncate_first=False)
        hourly.append(timed(refresh, 1, warmup=False))
    rows += _rows(
        "RefreshFunction, one new hour",
        statistics.median(w for w, _ in hourly),
        statistics.median(c for _, c in hourly),
        "count(*) of the day's rows",
        count_ms,
        f"median of 3 runs, each after {hour:,} new events in the last hour: the hourly run",
    )
    evaluate = lambda: invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))  # noqa: E731
    wall, cpu = timed(evaluate)
    rows += _rows(
        "AlertEvaluationFunction",
        wall,
        cpu,
        "count(*) of the day's rows",
        count_ms,
        "6 default rules over 20 components, and the rates published as metrics",
    )
    query = triggers.http_api("GET", "/v1/metrics", headers={"authorization": "Bearer bench-admin-token"})
    wall, cpu = timed(lambda: invoke("MetricsQueryFunction", query))
    rows += _rows(
        "MetricsQueryFunction, GET /v1/metrics (24 h)",
        wall,
        cpu,
        "count(*) of the day's rows",
        count_ms,
        "rollups for the closed hours, raw rows for the open one",
    )
    return rows


def _load(url: str, total: int, start: datetime, end: datetime, *, truncate_first: bool = True) -> None:
    """`total` new events spread evenly over [start, end), written with COPY (the pending counts follow)."""
    if truncate_first:
        truncate(url)
    step = (end - start) / total
    rows = [(e["id"], (start + step * i).isoformat(), *as_row(e)[2:]) for i, e in enumerate(make_events(total, end))]
    raw_copy(url, rows)


def _count_ms(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        return Bench.median(lambda: conn.execute("SELECT count(*) FROM resilience_metrics").fetchone()) * 1000
