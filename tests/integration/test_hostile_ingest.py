"""Hostile bodies for POST /v1/telemetry, direct and queued: no 5xx, and every event stored once or rejected.

The generators (load/hostile/ingest.py) are the classes where the parser, pydantic, datetime and
Postgres disagree; `python -m load.hostile` draws far more of them against the local stack.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from load.hostile.ingest import STORED_SQL, HostileBatch, batches, requests, violations
from local.queue import EventSource, LocalQueues
from tests.conftest import Api

# The suite's share: `python -m load.hostile` is where the large numbers are drawn.
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def stored(db: psycopg.Connection, batch: HostileBatch) -> dict[str, int]:
    tags = [t for t in batch.tags if t is not None]
    return dict(db.execute(STORED_SQL, {"tags": tags}).fetchall()) if tags else {}


def post(api: Api, batch: HostileBatch) -> Any:
    return api.post("/v1/telemetry", batch.body, token=None)


@FUZZ
@given(batch=requests())
def test_direct_ingest_answers_no_5xx_and_stores_exactly_what_it_accepts(
    api: Api, db: psycopg.Connection, batch: HostileBatch
) -> None:
    answer = post(api, batch)
    assert violations(batch, answer.status, answer.body, stored(db, batch)) == []


@FUZZ
@given(batch=batches())
def test_queued_ingest_queues_only_what_the_writer_stores(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource, batch: HostileBatch
) -> None:
    answer = post(api, batch)
    # Delivered at once, without the long poll of an empty queue that drain() ends with.
    while queues.depth("IngestQueue"):
        assert writer.deliver(writer.batch(window_seconds=0)) == set(), "no message of valid events fails"
    assert violations(batch, answer.status, answer.body, stored(db, batch)) == []
    if answer.status == 202:
        assert answer.body["queued"] == batch.size - len(answer.body["rejected"])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ('{"x": NaN}', "finite numbers"),
        ('{"x": -Infinity}', "finite numbers"),
        ('{"x": 1e400}', "finite numbers"),
        ('{"x": ' + "9" * 5000 + "}", "finite numbers"),
        ('{"x": [' + "1" + "0" * 309 + "]}", "finite numbers"),
    ],
)
def test_numbers_jsonb_or_a_double_cannot_hold_are_rejected_per_event_naming_data(
    api: Api, db: psycopg.Connection, data: str, reason: str
) -> None:
    good = '{"session_id": "s", "component": "CheckoutForm", "signal": "retry_success"}'
    bad = '{"session_id": "s", "component": "CheckoutForm", "signal": "retry_success", "data": ' + data + "}"
    answer = api.post("/v1/telemetry", '{"events": [' + good + "," + bad + "]}", token=None)
    assert answer.status == 200
    assert answer.body["accepted"] == 1
    [rejection] = answer.body["rejected"]
    assert rejection["index"] == 1
    assert rejection["errors"][0]["field"] == "data"
    assert reason in rejection["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("0001-01-01T00:30:00+01:00", "older than the retention period"),
        ("9999-12-31T23:30:00-01:00", "in the future"),
        (1765150000, "not a number"),
        ("1765150000", "not a number"),
    ],
)
def test_timestamps_off_the_calendar_or_given_as_numbers_are_rejected_naming_ts(api: Api, ts: Any, reason: str) -> None:
    event = {"session_id": "s", "component": "CheckoutForm", "signal": "retry_success", "ts": ts}
    answer = api.post("/v1/telemetry", {"events": [event]}, token=None)
    assert answer.status == 422
    [error] = answer.body["rejected"][0]["errors"]
    assert error["field"] == "ts"
    assert reason in error["reason"]


def test_a_body_of_a_million_empty_objects_is_refused_for_its_count_without_reporting_each(api: Api) -> None:
    body = b'{"events": [' + b",".join([b"{}"] * 349_000) + b"]}"
    answer = api.post("/v1/telemetry", body, token=None)
    assert answer.status == 413
    assert "349000 events in one request" in answer.body["message"]


def test_an_event_reports_at_most_ten_errors_and_counts_the_rest(api: Api) -> None:
    event = {f"unknown_{i}": i for i in range(14)}
    answer = api.post("/v1/telemetry", {"events": [event]}, token=None)
    assert answer.status == 422
    errors = answer.body["rejected"][0]["errors"]
    assert len(errors) == 11
    assert errors[-1]["reason"].endswith("more errors not listed")
