"""Ingest: the handler's throughput on 500-event batches against raw COPY and row-by-row INSERT, and
across batch sizes; what the rollup trigger costs a raw COPY; the peak memory of one invocation; and
each handler's cold import time."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.charts import line_chart
from bench.harness import Bench, Row
from local import functions, triggers
from local.template import ROOT, load
from resilience.store.telemetry import COLUMN_TYPES, COLUMNS

BATCH = 500
ROUNDS = 7
COMPONENTS = [f"Component{i}" for i in range(20)]
INSERT = f"INSERT INTO resilience_metrics ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
SIGNALS = ["optimistic_action_start", "optimistic_action_success", "optimistic_action_rollback", "retry_success"]


def make_events(count: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "id": str(uuid.uuid4()),
            "ts": (now - timedelta(seconds=rng.randint(0, 3000))).isoformat(),
            "session_id": f"sess-{rng.randint(0, 5000)}",
            "component": rng.choice(COMPONENTS),
            "signal": rng.choice(SIGNALS),
            "user_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "data": {"action": "save", "latency_ms": rng.randint(5, 900), "attempt": rng.randint(1, 3)},
        }
        for _ in range(count)
    ]


def as_row(e: dict[str, Any]) -> tuple[Any, ...]:
    return (e["id"], e["ts"], e["user_id"], e["session_id"], e["component"], e["signal"], json.dumps(e["data"]))


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE resilience_metrics")


def raw_copy(url: str, rows: list[tuple[Any, ...]], *, binary: bool = False, batch: int = BATCH) -> float:
    """COPY of the rows in batches, in text or in binary format."""
    form = " (FORMAT BINARY)" if binary else ""
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            with conn.cursor() as cur, cur.copy(f"COPY resilience_metrics ({COLUMNS}) FROM STDIN{form}") as copy:
                if binary:
                    copy.set_types(COLUMN_TYPES)
                for row in rows[i : i + batch]:
                    copy.write_row(row)
            conn.commit()
        return time.perf_counter() - start


_TRIGGER = "ALTER TABLE resilience_metrics {} TRIGGER resilience_metrics_mark_pending"


def raw_copy_without_trigger(url: str, rows: list[tuple[Any, ...]]) -> float:
    """The same raw COPY with the rollup trigger switched off: what storing the rows alone costs."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_TRIGGER.format("DISABLE"))
        try:
            return raw_copy(url, rows)
        finally:
            conn.execute(_TRIGGER.format("ENABLE"))


BATCH_SIZES = (50, 100, 250, 500)
SWEEP_ROWS = 20_000


def batch_sweep(url: str, evs: list[dict[str, Any]], rows: list[tuple[Any, ...]]) -> dict[int, tuple[float, float]]:
    """Rows per second of the handler and of raw COPY per batch size: median of 3 alternating rounds."""
    found = {}
    for batch in BATCH_SIZES:
        bodies = [json.dumps({"events": evs[i : i + batch]}) for i in range(0, len(evs), batch)]
        copies, handled = [], []
        for _ in range(3):
            truncate(url)
            copies.append(raw_copy(url, rows, batch=batch))
            handled.append(through_handler(url, bodies))
        found[batch] = (len(rows) / statistics.median(handled), len(rows) / statistics.median(copies))
    return found


def typed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows as typed values, which a binary COPY needs: the fastest way to send them."""
    return [
        (uuid.UUID(r[0]), datetime.fromisoformat(r[1]), uuid.UUID(r[2]), r[3], r[4], r[5], Jsonb(r[6], dumps=str))
        for r in rows
    ]


def row_by_row(url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for row in rows:
            conn.execute(INSERT, row)
        return time.perf_counter() - start


def executemany(url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.cursor() as cur:
                cur.executemany(INSERT, rows[i : i + BATCH])
            conn.commit()
        return time.perf_counter() - start


def through_handler(url: str, bodies: list[str]) -> float:
    os.environ["DATABASE_URL"] = url
    from resilience import settings
    from resilience_lambda.database import database

    settings.reload()
    database.close()
    fn = load().functions["IngestFunction"]
    api_events = [triggers.http_api("POST", "/v1/telemetry", body=b) for b in bodies]
    functions.invoke(fn, triggers.http_api("POST", "/v1/telemetry", body=bodies[0]))  # warm: connection, imports
    truncate(url)
    start = time.perf_counter()
    for event in api_events:
        result = functions.invoke(fn, event)
        assert result["statusCode"] == 200, result["body"]
    return time.perf_counter() - start


# Peak RSS from /proc (VmHWM): ru_maxrss would carry over the benchmark's own peak across exec.
_MEMORY_PROBE = """
import json, re, sys
sys.path[:0] = sys.argv[1:4]
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
import app
from local import triggers
from local.functions import LambdaContext
before = peak()
body = open(sys.argv[4]).read()
result = app.lambda_handler(triggers.http_api("POST", "/v1/telemetry", body=body), LambdaContext("IngestFunction"))
assert result["statusCode"] == 200, result
print(json.dumps({"before": before, "after": peak()}))
"""


def peak_memory(url: str, body: str, tmp: Path) -> tuple[float, float]:
    path = tmp / "batch.json"
    path.write_text(body)
    env = {**os.environ, "DATABASE_URL": url}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_PROBE,
            str(ROOT / "functions" / "ingest"),
            str(ROOT / "layers" / "common"),
            str(ROOT),
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return figures["after"], figures["before"]


# CPU time rather than wall time: on a shared machine the other processes' load would count too.
_IMPORT_PROBE = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
start = time.process_time()
import app
print(time.process_time() - start)
"""


def cold_import(function_dir: Path, layer: Path) -> float:
    """Median of fresh interpreters importing the handler (as Lambda's init phase does)."""
    times = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, str(function_dir), str(layer)],
            # Handlers check their settings as they load: give them what a deployment would.
            env={
                "DATABASE_URL": "postgresql://",
                "ADMIN_TOKEN": "cold-import",
                **os.environ,
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return sorted(times)[len(times) // 2]


def library_floor() -> float:
    """CPU time to import what every HTTP handler needs before any code of ours: the floor."""
    times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; s = time.process_time(); import aws_lambda_powertools.event_handler, pydantic, psycopg;"
                " print(time.process_time() - s)",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times.append(float(out.strip()))
    return sorted(times)[len(times) // 2]


def run(bench: Bench) -> list[Row]:
    import compileall
    import tempfile

    url = bench.fresh_database()
    count = bench.pick(20_000, 200_000)
    slow_count = bench.pick(2_000, 5_000)
    now = datetime.now(UTC)
    evs = make_events(count, now)
    rows = [as_row(e) for e in evs]
    typed_rows = typed(rows)
    bodies = [json.dumps({"events": evs[i : i + BATCH]}) for i in range(0, count, BATCH)]

    # Rounds alternate the baseline and the handler, and each side keeps its median, so a shift
    # in the shared machine's load hits both alike.
    copy_runs, binary_runs, handler_runs, retry_runs, bare_runs = [], [], [], [], []
    for _ in range(ROUNDS):
        truncate(url)
        bare_runs.append(raw_copy_without_trigger(url, rows))
        truncate(url)
        copy_runs.append(raw_copy(url, rows))
        truncate(url)
        binary_runs.append(raw_copy(url, typed_rows, binary=True))
        handler_runs.append(through_handler(url, bodies))
        # The same batches again: every event is a duplicate, which is what client retries cost.
        retry_runs.append(through_handler_again(url, bodies))
    copy_s, binary_s, handler_s, retry_s, bare_s = (
        statistics.median(r) for r in (copy_runs, binary_runs, handler_runs, retry_runs, bare_runs)
    )
    truncate(url)
    many_s = executemany(url, rows)
    truncate(url)
    slow_s = row_by_row(url, rows[:slow_count])

    handler_rate, copy_rate = count / handler_s, count / copy_s
    round_ratios = sorted(c / h for c, h in zip(copy_runs, handler_runs, strict=True))
    slow_rate, many_rate = slow_count / slow_s, count / many_s
    result = [
        Row(
            "ingest",
            f"handler, {BATCH}-event batches ({count:,} rows)",
            handler_rate,
            "rows/s",
            "raw COPY, same rows and table",
            copy_rate,
            ">= 0.5x",
            handler_rate >= 0.5 * copy_rate,
            f"validation, dedupe and the Powertools resolver included; median of {ROUNDS} alternating rounds"
            f" (each round's ratio, lowest first: {', '.join(f'{r:.2f}' for r in round_ratios)})",
        ),
        Row(
            "ingest",
            "handler vs binary COPY",
            handler_rate,
            "rows/s",
            "raw COPY in binary format, same rows from typed values",
            count / binary_s,
            "",
            None,
            "the handler writes binary COPY itself; this is the fastest raw COPY of these rows",
        ),
        Row(
            "ingest",
            "raw COPY with the rollup trigger",
            copy_rate,
            "rows/s",
            "the same raw COPY, trigger switched off",
            count / bare_s,
            "",
            None,
            "the trigger stores the pending counts and the recent rows' users and sessions; x baseline < 1 is its cost",
        ),
        Row(
            "ingest",
            "handler vs raw COPY without the trigger",
            handler_rate,
            "rows/s",
            "raw COPY, trigger switched off",
            count / bare_s,
            "",
            None,
        ),
        Row(
            "ingest",
            "handler vs commit-per-row INSERT",
            handler_rate,
            "rows/s",
            f"INSERT + commit per row ({slow_count:,} rows)",
            slow_rate,
            ">= 5x",
            handler_rate >= 5 * slow_rate,
        ),
        Row(
            "ingest",
            "handler vs executemany",
            handler_rate,
            "rows/s",
            "executemany, one transaction per batch",
            many_rate,
            "",
            None,
        ),
        Row(
            "ingest",
            "handler, retried batches (all duplicates)",
            count / retry_s,
            "rows/s",
            "raw COPY, same rows and table",
            copy_rate,
            "",
            None,
        ),
    ]

    # The sweep's smallest batches are slow to send: 20,000 rows tell the curve at any size.
    swept = batch_sweep(url, evs[:SWEEP_ROWS], rows[:SWEEP_ROWS])
    line_chart(
        bench,
        "ingest",
        "ingest-batch-size",
        "Ingest throughput against batch size",
        ("events per request (batch)", "rows stored per second"),
        {
            "handler (validation, dedupe, COPY)": ([float(b) for b in swept], [h for h, _ in swept.values()]),
            "raw COPY, same batches": ([float(b) for b in swept], [c for _, c in swept.values()]),
        },
        log="x",
    )
    for batch, (handled, copied) in swept.items():
        result.append(
            Row(
                "ingest",
                f"handler, {batch}-event batches",
                handled,
                "rows/s",
                f"raw COPY, {batch}-row batches",
                copied,
                "",
                None,
                "median of 3 alternating rounds" if batch == BATCH_SIZES[0] else "",
            )
        )

    with tempfile.TemporaryDirectory() as tmp:
        after, before = peak_memory(url, bodies[0], Path(tmp))
    result.append(
        Row(
            "ingest",
            "peak RSS of one 500-event invocation",
            after,
            "MB",
            "same process after importing the handler",
            before,
            "< 128 MB",
            after < 128,
        )
    )

    layer = ROOT / "layers" / "common"
    compileall.compile_dir(str(layer), quiet=1)
    compileall.compile_dir(str(ROOT / "functions"), quiet=1)
    baseline = library_floor()
    for fn in load().functions.values():
        seconds = cold_import(fn.code_uri, layer)
        own = f"its own code beyond the libraries: {max(0.0, seconds - baseline) * 1000:.0f} ms"
        result.append(
            Row(
                "ingest",
                f"cold import of {fn.logical_id}",
                seconds * 1000,
                "ms",
                "importing Powertools event_handler + pydantic + psycopg alone",
                baseline * 1000,
                "< 250 ms",
                seconds < 0.25,
                "CPU time, median of 5 fresh interpreters; x baseline < 1: the import costs 1/x of the libraries'"
                " floor; " + own
                if fn.logical_id == "IngestFunction"
                else own,
            )
        )
    return result


def through_handler_again(url: str, bodies: list[str]) -> float:
    fn = load().functions["IngestFunction"]
    api_events = [triggers.http_api("POST", "/v1/telemetry", body=b) for b in bodies]
    start = time.perf_counter()
    for event in api_events:
        result = functions.invoke(fn, event)
        assert json.loads(result["body"])["accepted"] == 0
    return time.perf_counter() - start
