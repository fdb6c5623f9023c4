"""`python -m load.hostile [--requests N] [--no-write]`: generated hostile requests against the local stack.

Starts an embedded Postgres and `python -m local run`, direct ingest and then queued, and sends
hypothesis-generated hostile bodies to POST /v1/telemetry (load/hostile/ingest.py), and to every admin
other route (load/hostile/admin.py). Then checks, event by event, that what an answer took is
stored exactly once and what it rejected is not stored, that no answer was a 5xx, and writes the table
to docs/RELIABILITY.md ("Hostile input").
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import psycopg
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import load.hostile.admin as admin_routes
from bench.sections import markdown_table, replace_section
from load.__main__ import REPORT, free_port, migrated_postgres, start_stack
from load.hostile.ingest import STORED_SQL, HostileBatch, requests, violations


@dataclass
class Tally:
    """What one route group's requests got, and what broke the invariant."""

    name: str
    requests: int = 0
    events: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)


class Client:
    """One keep-alive HTTP connection to the local stack."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                answer = self.conn.getresponse()
                text = answer.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text.decode(errors="replace")


def drawn(strategy: st.SearchStrategy[Any], count: int, use: Callable[[Any], None]) -> None:
    """Calls use on `count` values drawn by hypothesis (generation only: nothing to shrink)."""

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def each(value: Any) -> None:
        use(value)

    each()


def stored_rows(database_url: str, tags: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(0, len(tags), 20_000):
            found.update(dict(conn.execute(STORED_SQL, {"tags": tags[start : start + 20_000]}).fetchall()))
    return found


def settled(database_url: str, tags: list[str], quiet_seconds: float = 12.0, timeout: float = 600.0) -> dict[str, int]:
    """The stored rows once the queued writer has stopped adding any for quiet_seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        rows = stored_rows(database_url, tags)
        total = sum(rows.values())
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


@contextmanager
def stack(mode: str, token: str) -> Iterator[tuple[str, int]]:
    with migrated_postgres(f"hostile-{mode}-") as (database_url, _, work):
        port = free_port()
        process = start_stack(database_url, port, work / "local", {"INGEST_MODE": mode, "ADMIN_TOKEN": token})
        try:
            yield database_url, port
        finally:
            process.terminate()
            process.wait(timeout=60)


def ingest(mode: str, count: int, token: str) -> Tally:
    tally = Tally(f"POST /v1/telemetry ({mode})")
    with stack(mode, token) as (database_url, port):
        client = Client(port)
        sent: list[tuple[HostileBatch, int, Any]] = []

        def use(batch: HostileBatch) -> None:
            status, answer = client.send("POST", "/v1/telemetry", batch.body, {"content-type": "application/json"})
            sent.append((batch, status, answer))

        drawn(requests(), count, use)
        tags = [t for batch, _, _ in sent for t in batch.tags if t is not None]
        rows = settled(database_url, tags) if mode == "queued" else stored_rows(database_url, tags)
    for batch, status, answer in sent:
        tally.requests += 1
        tally.events += batch.size
        tally.statuses[status] += 1
        tally.classes.update([batch.envelope] if batch.envelope else batch.classes)
        broken = violations(batch, status, answer, rows)
        tally.server_errors += status >= 500
        tally.lost += sum("taken and stored 0 times" in b for b in broken)
        tally.problems.extend(broken[:3])
    return tally


def admin(count: int, token: str) -> Tally:
    """Every other route's hostile requests (load/hostile/admin.py), with the admin token."""
    tally = Tally("every other route (admin, health, docs, dashboard, /v1/me/telemetry)")
    with stack("direct", token) as (_, port):
        client = Client(port)

        def use(request: admin_routes.HostileRequest) -> None:
            path = request.url_path + ("?" + urlencode(request.query) if request.query else "")
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            status, answer = client.send(request.method, path, request.body.encode() if request.body else None, headers)
            tally.requests += 1
            tally.statuses[status] += 1
            tally.classes[request.route] += 1
            tally.server_errors += status >= 500
            # Refusals of the user route by its authorizer name no field: only a 5xx counts there.
            if request.route != "GET /v1/me/telemetry" or status >= 500:
                tally.problems.extend(admin_routes.problems(request, status, answer)[:3])

        drawn(admin_routes.requests(), count, use)
    return tally


def table(tallies: list[Tally]) -> str:
    rows = [
        (
            t.name,
            f"{t.requests:,}",
            f"{t.events:,}" if t.events else "-",
            ", ".join(f"{s}: {n:,}" for s, n in sorted(t.statuses.items())),
            t.server_errors,
            t.lost if t.events else "-",
            len(t.classes),
        )
        for t in tallies
    ]
    header = ("route", "requests", "events", "answers", "5xx", "lost", "classes")
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.hostile", description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000, help="in all, shared by the route groups")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/RELIABILITY.md alone")
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(16)
    share = args.requests // 5
    started = time.monotonic()
    tallies = [ingest("direct", 2 * share, token), ingest("queued", 2 * share, token)]
    tallies.append(admin(args.requests - 4 * share, token))
    seconds = time.monotonic() - started
    text = table(tallies)
    print(text)
    for tally in tallies:
        for problem in tally.problems[:20]:
            print(f"{tally.name}: {problem}", file=sys.stderr)
    classes = sorted({c for t in tallies for c in t.classes if t.events})
    if not args.no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (
            f"Measured {stamp} in {seconds:,.0f} s with `.venv/bin/python -m load.hostile --requests "
            f"{args.requests}` (hypothesis-generated, against `make run`'s stack on an embedded Postgres; "
            "each event checked stored exactly once or rejected).\n\n"
            f"{text}\n\nIngest classes drawn (one hostile field per event, or a hostile envelope): "
            + ", ".join(f"`{c}`" for c in classes)
            + ".\n"
        )
        replace_section(REPORT, "hostile", body, title="Reliability")
    return 1 if any(t.server_errors or t.lost or t.problems for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
