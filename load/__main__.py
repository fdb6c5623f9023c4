"""`python -m load [--seconds N] [--users N] [--no-write]`: locust against the local stack, steady and through a crash.

Starts its own embedded Postgres and `python -m local run`, drives them with locust (headless), then
checks that every acknowledged event is stored exactly once, and writes the figures into
docs/RELIABILITY.md. The second scenario crashes Postgres (pg_ctl -m immediate) a third of the way
in and starts it again a few seconds later.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.sections import markdown_table, replace_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))
# The locust process imports load.clients, which takes the signals from the layer.
LOCUST_PATH = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])
REPORT = ROOT / "docs" / "RELIABILITY.md"
# How long the database stays down in the crash scenario.
OUTAGE_SECONDS = 5.0


@dataclass
class Figures:
    scenario: str
    seconds: float
    users: int
    requests: int
    failed_requests: int
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    acknowledged: int
    stored: int
    stored_twice: int
    acknowledged_missing: int
    outcomes: dict[str, int]

    @property
    def events_per_second(self) -> float:
        return self.acknowledged / self.seconds

    @property
    def errors(self) -> int:
        """Answers a client cannot act on: anything but 200 and the retried 429/503 (5xx, resets, timeouts)."""
        return sum(n for status, n in self.statuses.items() if status not in ("200", "429", "503"))

    @property
    def exactly_once(self) -> bool:
        return self.stored_twice == 0 and self.acknowledged_missing == 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stack(
    database_url: str, port: int, local_dir: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m local run` on that database and port (extra_env added to its environment); its output goes to
    local_dir/stack.log."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "ADMIN_TOKEN": secrets.token_urlsafe(16),
        "LOCAL_DIR": str(local_dir),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        **(extra_env or {}),
    }
    local_dir.mkdir(parents=True, exist_ok=True)
    log = local_dir / "stack.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "run"], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if b"Ctrl-C stops everything" in log.read_bytes():
            return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the local stack did not start:\n" + log.read_text(errors="replace")[-3000:])


def statuses_from(path: Path) -> dict[str, int]:
    """The count of each answer's status from locust's failures CSV (the 200s are counted apart)."""
    found: dict[str, int] = {}
    if not path.exists():
        return found
    with path.open() as f:
        for row in csv.DictReader(f):
            # CatchResponseError('503'): the status the user marked the answer with; 0 is no answer at all.
            error = row["Error"]
            status = "".join(c for c in error if c.isdigit()) or error
            found[status] = found.get(status, 0) + int(row["Occurrences"])
    return found


def run_scenario(
    scenario: str, seconds: int, users: int, database_url: str, server: Any, work: Path, crash: bool
) -> Figures:
    from local import postgres

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM resilience_metrics")
    port = free_port()
    stack = start_stack(database_url, port, work / "local")
    acknowledged_file = work / f"{scenario}-acknowledged.txt"
    crasher = None
    if crash:

        def outage() -> None:
            time.sleep(seconds / 3)
            postgres.crash(server)
            time.sleep(OUTAGE_SECONDS)
            postgres.restart(server)

        crasher = threading.Thread(target=outage)
    try:
        started = time.monotonic()
        if crasher is not None:
            crasher.start()
        locust = subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(ROOT / "load" / "locustfile.py"),
                "--headless",
                "--only-summary",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{seconds}s",
                "--stop-timeout",
                "30",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(work / scenario),
                "--exit-code-on-error",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, "LOAD_ACKNOWLEDGED": str(acknowledged_file), "PYTHONPATH": LOCUST_PATH},
            capture_output=True,
            text=True,
            timeout=seconds + 180,
            check=False,
        )
        elapsed = time.monotonic() - started
        (work / f"{scenario}-locust.log").write_text(locust.stdout + locust.stderr)
        if locust.returncode != 0:
            raise RuntimeError(f"locust failed:\n{locust.stdout[-3000:]}\n{locust.stderr[-3000:]}")
    finally:
        if crasher is not None:
            crasher.join()
        stack.terminate()
        stack.wait(timeout=60)
    with (work / f"{scenario}_stats.csv").open() as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    acknowledged = [line for line in acknowledged_file.read_text().splitlines() if line]
    outcomes = dict(
        line.split("=", 1) for line in acknowledged_file.with_suffix(".outcomes").read_text().splitlines() if line
    )
    with psycopg.connect(database_url) as conn:
        stored = {str(i): n for i, n in conn.execute("SELECT id, count(*) FROM resilience_metrics GROUP BY id")}
    statuses = statuses_from(work / f"{scenario}_failures.csv")
    statuses["200"] = int(total["Request Count"]) - int(total["Failure Count"])
    return Figures(
        scenario=scenario,
        seconds=elapsed,
        users=users,
        requests=int(total["Request Count"]),
        failed_requests=int(total["Failure Count"]),
        statuses=dict(sorted(statuses.items())),
        p50_ms=float(total["50%"]),
        p99_ms=float(total["99%"]),
        acknowledged=len(acknowledged),
        stored=len(stored),
        stored_twice=sum(1 for n in stored.values() if n > 1),
        acknowledged_missing=sum(1 for i in acknowledged if i not in stored),
        outcomes={k: int(v) for k, v in outcomes.items()},
    )


def table(results: list[Figures]) -> str:
    header = (
        "scenario", "events/s acknowledged", "requests", "p50", "p99", "answers by status", "errors",
        "acknowledged", "stored", "stored twice", "acknowledged but missing",
    )  # fmt: skip
    return markdown_table(header, (_row(r) for r in results))


def _row(r: Figures) -> tuple[object, ...]:
    return (
        r.scenario, f"{r.events_per_second:,.0f}", f"{r.requests:,}", f"{r.p50_ms:.0f} ms",
        f"{r.p99_ms:.0f} ms", ", ".join(f"{s}: {n:,}" for s, n in r.statuses.items()), r.errors,
        f"{r.acknowledged:,}", f"{r.stored:,}", r.stored_twice, r.acknowledged_missing,
    )  # fmt: skip


@contextmanager
def migrated_postgres(prefix: str) -> Iterator[tuple[str, Any, Path]]:
    """An embedded Postgres in a new work directory, migrated: (its URL, the server, the directory).

    Stopped on the way out."""
    from local import postgres
    from resilience.store.migrations import migrate

    work = Path(tempfile.mkdtemp(prefix=prefix))
    database_url, server = postgres.start(work / "pgdata")
    try:
        migrate(database_url)
        yield database_url, server, work
    finally:
        postgres.stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load", description=__doc__)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("LOAD_SECONDS", "60")))
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", "8")))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/RELIABILITY.md alone")
    args = parser.parse_args(argv)

    results: list[Figures] = []
    with migrated_postgres("load-") as (database_url, server, work):
        for scenario, crash in (("steady", False), ("postgres crash", True)):
            print(f"running {scenario} ({args.users} users, {args.seconds} s) ...", file=sys.stderr, flush=True)
            results.append(run_scenario(scenario.replace(" ", "-"), args.seconds, args.users, database_url, server,
                                        work, crash))  # fmt: skip
            results[-1].scenario = scenario
    print(table(results))
    if not args.no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "make load" + (f" LOAD_SECONDS={args.seconds}" if args.seconds != 60 else "")
        body = (
            f"### Load - measured {stamp}\n\n"
            f"Command: `{command}` ({args.users} locust users, {args.seconds} s per scenario, batches of "
            f"{os.environ.get('LOAD_BATCH_SIZE', '100')} events, Postgres down for {OUTAGE_SECONDS:.0f} s in the "
            f"second) on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.\n\n"
            f"{table(results)}\n"
        )
        replace_section(REPORT, "load", body, title="Reliability")
    broken = [r.scenario for r in results if not r.exactly_once or r.errors]
    if broken:
        print(f"not exactly once, or errors, in: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
