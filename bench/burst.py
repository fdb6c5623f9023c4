"""`python -m bench.burst [--size quick|large]`: a burst of clients against the local stack, direct then queued.

Both modes run in the same run on the same embedded Postgres, with `python -m local run` scaling each
function out to containers of its own (LOCAL_CONCURRENCY, one process and one database connection each,
as Lambda does). Every client first sends one batch (the containers' cold starts, not measured), then
all of them send their batches at once. Measured: events per second stored (from the burst's start to
the last event stored), the p99 of the clients' answers, the peak of the application's database
connections (pg_stat_activity, sampled every 20 ms) and how long the backlog took to be stored after
the last client had its answer. Figures go to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.sections import markdown_table, replace_section
from load.__main__ import free_port, migrated_postgres, start_stack
from load.clients import Outcome, batch, deliver

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))
REPORT = ROOT / "docs" / "PERFORMANCE.md"
# clients, batches per client, events per batch, and the queued writer's maximum concurrency.
SIZES = {"quick": (16, 25, 100, 2), "large": (48, 50, 100, 4)}
APPLICATION = "resilience-telemetry"
_CONNECTIONS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"


@dataclass
class Figures:
    mode: str
    clients: int
    events: int
    statuses: dict[int, int]
    stored: int
    stored_twice: int
    seconds_to_store: float
    p50_ms: float
    p99_ms: float
    peak_connections: int
    backlog_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.stored / self.seconds_to_store


class ConnectionSampler:
    """The peak count of the application's connections to the database, sampled until stopped."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True, application_name="burst-sampler") as conn:
            while not self._stop.is_set():
                row = conn.execute(_CONNECTIONS, (APPLICATION,)).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                time.sleep(0.02)


def stored_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM resilience_metrics").fetchone()
        return int(row[0]) if row else 0


def wait_stored(database_url: str, expected: int, timeout: float) -> float:
    """Waits until `expected` rows are stored; returns when (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while (n := stored_count(database_url)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} of {expected} events stored after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic()


def send_all(url: str, batches: list[list[list[dict[str, object]]]]) -> tuple[list[Outcome], float]:
    """Each client's batches, every client at once; returns their outcomes and when the last answer came."""
    outcomes = [Outcome() for _ in batches]
    start = threading.Barrier(len(batches))

    def client(n: int) -> None:
        start.wait()
        for events in batches[n]:
            deliver(url, events, outcomes[n], deadline=time.monotonic() + 120, wait_cap=1.0)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.monotonic()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_mode(mode: str, size: str, database_url: str, work: Path) -> Figures:
    clients, per_client, batch_size, writers = SIZES[size]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM resilience_metrics")
    env = {"INGEST_MODE": mode, "LOCAL_CONCURRENCY": str(clients), "INGEST_WRITER_CONCURRENCY": str(writers)}
    port = free_port()
    stack = start_stack(database_url, port, work / mode, env)
    url = f"http://127.0.0.1:{port}/v1/telemetry"
    rng = random.Random(7)
    try:
        # Warm-up: one batch per client brings up as many containers as clients (their cold starts).
        send_all(url, [[batch(rng, batch_size)] for _ in range(clients)])
        wait_stored(database_url, clients * batch_size, timeout=120)
        burst = [[batch(rng, batch_size) for _ in range(per_client)] for _ in range(clients)]
        expected = clients * batch_size * (1 + per_client)
        with ConnectionSampler(database_url) as sampler:
            started = time.monotonic()
            outcomes, answered = send_all(url, burst)
            done = wait_stored(database_url, expected, timeout=600)
    finally:
        stack.terminate()
        stack.wait(timeout=60)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*), count(*) - count(DISTINCT id) FROM resilience_metrics").fetchone()
    assert row is not None
    latencies = [seconds * 1000 for o in outcomes for seconds in o.latencies]
    statuses: Counter[int] = Counter()
    for o in outcomes:
        statuses.update(o.statuses)
    return Figures(
        mode=mode,
        clients=clients,
        events=clients * per_client * batch_size,
        statuses=dict(sorted(statuses.items())),
        stored=int(row[0]) - clients * batch_size,
        stored_twice=int(row[1]),
        seconds_to_store=done - started,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        peak_connections=sampler.peak,
        backlog_seconds=max(0.0, done - answered),
    )


def table(results: list[Figures]) -> str:
    header = (
        "mode", "clients", "events in the burst", "answers by status", "events/s stored", "p50 answer",
        "p99 answer", "peak database connections", "backlog stored after the last answer", "stored twice",
    )  # fmt: skip
    return markdown_table(header, (_row(r) for r in results))


def _row(r: Figures) -> tuple[object, ...]:
    return (
        r.mode, r.clients, f"{r.events:,}", ", ".join(f"{s}: {n:,}" for s, n in r.statuses.items()),
        f"{r.events_per_second:,.0f}", f"{r.p50_ms:.0f} ms", f"{r.p99_ms:.0f} ms", r.peak_connections,
        f"{r.backlog_seconds:.1f} s", r.stored_twice,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--size", choices=SIZES, default=os.environ.get("BENCH_SIZE", "quick"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = parser.parse_args(argv)

    results: list[Figures] = []
    with migrated_postgres("burst-") as (database_url, _, work):
        for mode in ("direct", "queued"):
            print(f"running a burst, {mode} ({args.size}) ...", file=sys.stderr, flush=True)
            results.append(run_mode(mode, args.size, database_url, work))
    print(table(results))
    clients, per_client, batch_size, writers = SIZES[args.size]
    if not args.no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "make burst" + (" BENCH_SIZE=large" if args.size == "large" else "")
        body = (
            f"### burst, size `{args.size}` - measured {stamp}\n\n"
            f"Command: `{command}` on {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}: {clients} clients each sending {per_client} batches of {batch_size} "
            f"events at once, after one warm-up batch each; every function scaled out to {clients} containers "
            f"(LOCAL_CONCURRENCY), the queued writer capped at {writers} (IngestWriterConcurrency), with the "
            "template's batching window of 5 s.\n\n"
            f"{table(results)}\n"
        )
        replace_section(REPORT, f"bench:burst:{args.size}", body, title="Performance")
    wrong = [r.mode for r in results if r.stored != r.events or r.stored_twice]
    if wrong:
        print(f"not every event stored exactly once in: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
