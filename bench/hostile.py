"""What an abusive body costs the ingest function before its limits answer, against a valid maximal batch.

CPU time of this process (what Lambda bills the function for), through IngestFunction's handler, median
of several rounds, the baseline measured between them: a batch of 500 valid events of about 2 KiB each,
just under the 1 MiB body limit, stored in Postgres.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bench.harness import Bench, Row
from load.hostile.ingest import envelope_bodies
from local import functions, triggers
from local.template import load

AREA = "hostile"
ROUNDS = 5
EVENTS = 500
TARGET = 2.0


def _event(**fields: object) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "session_id": "s-1", "component": "CheckoutForm", "signal": "retry_success"} | (
        fields
    )


def maximal_valid() -> bytes:
    """500 valid events whose data fills the body to just under 1 MiB."""
    now = datetime.now(UTC).isoformat()
    blob = "x" * 1800
    return json.dumps({"events": [_event(ts=now, data={"note": blob, "n": i}) for i in range(EVENTS)]}).encode()


def abusive_events() -> list[tuple[str, bytes]]:
    """Bodies within the byte and count limits whose every event is bad in a costly way."""

    def body(make: Callable[[int], str]) -> bytes:
        return ('{"events": [' + ",".join(make(i) for i in range(EVENTS)) + "]}").encode()

    base = '"session_id": "s", "component": "CheckoutForm", "signal": "retry_success"'
    return [
        ("500 events of 16 unknown fields", body(lambda i: "{" + ",".join(f'"f{k}": {k}' for k in range(16)) + "}")),
        ("1 event of 80,000 fields", ('{"events": [{' + ",".join(f'"f{k}":1' for k in range(80_000)) + "}]}").encode()),
        ("500 events with NaN data", body(lambda i: "{" + base + ', "data": {"x": NaN, "pad": "' + "p" * 1800 + '"}}')),
        ("500 events with a 1,900-digit integer", body(lambda i: "{" + base + ', "data": {"x": ' + "7" * 1900 + "}}")),
        (
            "500 events with every field of the wrong type",
            body(
                lambda i: '{"id": 1, "ts": [], "session_id": {}, "component": 2, "signal": 3, "user_id": 4, "data": 5}'
            ),
        ),
        (
            "500 events with an unpaired surrogate",
            body(
                lambda i: (
                    '{"session_id": "\\ud800", "component": "C", '
                    '"signal": "retry_success", "data": {"p": "' + "p" * 1800 + '"}}'
                )
            ),
        ),
        ("500 events nested 9 deep", body(lambda i: "{" + base + ', "data": ' + "[" * 9 + "]" * 9 + "}")),
    ]


def run(bench: Bench) -> list[Row]:
    url = bench.fresh_database()
    os.environ["DATABASE_URL"] = url
    from resilience import settings
    from resilience_lambda.database import database

    settings.reload()
    database.close()
    fn = load().functions["IngestFunction"]

    def cpu(body: bytes) -> tuple[float, int]:
        event = triggers.http_api("POST", "/v1/telemetry", body=body)
        start = time.process_time()
        status = int(functions.invoke(fn, event)["statusCode"])
        return time.process_time() - start, status

    cpu(maximal_valid())  # warm: imports, the connection, the validators
    bodies = [*abusive_events(), *envelope_bodies(EVENTS)]
    baseline_runs: list[float] = []
    runs: dict[str, list[float]] = {name: [] for name, _ in bodies}
    statuses: dict[str, int] = {}
    for _ in range(ROUNDS):
        seconds, status = cpu(maximal_valid())
        assert status == 200, status
        baseline_runs.append(seconds)
        for name, body in bodies:
            seconds, statuses[name] = cpu(body)
            assert statuses[name] < 500, (name, statuses[name])
            runs[name].append(seconds)
    baseline = statistics.median(baseline_runs)
    rows = []
    for name, samples in runs.items():
        value = statistics.median(samples)
        rows.append(
            Row(
                AREA,
                f"{name.replace('_', ' ')} (answered {statuses[name]})",
                value * 1000,
                "ms CPU",
                "valid 500-event batch of ~1 MiB, stored",
                baseline * 1000,
                target=f"<= {TARGET:g}x the baseline's CPU",
                ok=value <= TARGET * baseline,
            )
        )
    worst = max(rows, key=lambda r: r.value)
    rows.insert(
        0,
        Row(
            AREA,
            f"worst abusive body: {worst.name}",
            worst.value,
            "ms CPU",
            worst.baseline_name,
            baseline * 1000,
            target=f"<= {TARGET:g}x the baseline's CPU",
            ok=worst.value <= TARGET * baseline * 1000,
        ),
    )
    database.close()
    return rows
