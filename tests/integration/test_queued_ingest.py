"""IngestMode=queued on moto's SQS: the ingest answers 202 only for what is queued, and the writer stores
every queued event exactly once through partial failures, redeliveries and a database that is down."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from local.queue import EventSource, LocalQueues
from resilience.event_messages import MAX_MESSAGE_BYTES
from tests.conftest import NO_DATABASE, Api, run_together, signal_event

Invoke = Callable[[str, dict[str, Any]], Any]


def stored_ids(db: psycopg.Connection) -> list[str]:
    return [str(row[0]) for row in db.execute("SELECT id FROM resilience_metrics ORDER BY id")]


def events(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [signal_event("retry_success", id=str(uuid.uuid4()), **fields) for _ in range(n)]


def bodies_in(queues: LocalQueues, queue: str = "IngestQueue") -> list[str]:
    """Every message body in the queue, read without taking them (they come back at once)."""
    client, url = queues.client, queues.queues[queue].url
    found: dict[str, str] = {}
    for _ in range(20):
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        for message in got.get("Messages", []):
            found[message["MessageId"]] = message["Body"]
        if len(found) >= queues.depth(queue):
            break
    return list(found.values())


def test_queued_the_valid_events_are_answered_202_and_stored_only_by_the_writer(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    batch = [*events(3), {"component": "X", "signal": "retry_success"}, signal_event("nope")]
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 202
    assert answer.body["queued"] == 3
    assert [r["index"] for r in answer.body["rejected"]] == [3, 4]
    assert stored_ids(db) == [], "nothing is stored before the writer runs"
    assert writer.drain() == 1
    assert stored_ids(db) == sorted(e["id"] for e in batch[:3])
    assert queues.depth("IngestQueue") == 0


def test_queued_rejects_exactly_what_direct_rejects(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, queues: LocalQueues
) -> None:
    from resilience import settings

    batch = [
        *events(1),
        {"component": "X", "signal": "retry_success"},
        signal_event("nope"),
        signal_event("retry_success", ts="2001-01-01T00:00:00Z"),
        signal_event("retry_success", data="not an object"),
    ]
    queued = api.post("/v1/telemetry", {"events": batch}, token=None)
    monkeypatch.setenv("INGEST_MODE", "direct")
    settings.reload()
    direct = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert (queued.status, direct.status) == (202, 200)
    assert queued.body["rejected"] == direct.body["rejected"]
    assert len(queued.body["rejected"]) == 4
    for request_error in ({"events": "no"}, [1, 2]):
        assert api.post("/v1/telemetry", request_error, token=None).status == 400


def test_queued_with_every_event_rejected_is_422_and_queues_nothing(api: Api, queues: LocalQueues) -> None:
    answer = api.post("/v1/telemetry", {"events": [signal_event("nope")]}, token=None)
    assert answer.status == 422
    assert answer.body["queued"] == 0
    assert queues.depth("IngestQueue") == 0


def test_a_request_larger_than_a_message_is_split_and_every_event_is_stored(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    batch = events(400, data={"note": "x" * 1500})
    assert api.post("/v1/telemetry", {"events": batch}, token=None).body["queued"] == 400
    messages = bodies_in(queues)
    assert len(messages) >= 3
    assert all(len(m.encode()) <= MAX_MESSAGE_BYTES for m in messages)
    writer.drain()
    assert stored_ids(db) == sorted(e["id"] for e in batch)


def refuse_entries(queues: LocalQueues, times: int, after: int = 0) -> list[str]:
    """SQS taking only part of SendMessageBatch calls: after `after` calls, the next `times` calls queue
    every entry but the last and answer that one under Failed, as SQS does on a partial failure.

    Returns the ids of the refused entries, as the calls named them.
    """
    from botocore.awsrequest import AWSResponse

    from resilience_lambda.ingest_queue import sqs_client

    calls: list[dict[str, Any]] = []
    refused: list[str] = []

    def take_params(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    def answer_in_part(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not after < len(calls) <= after + times:
            return None
        params = calls[-1]
        *taken, last = params["Entries"]
        sent = queues.client.send_message_batch(QueueUrl=params["QueueUrl"], Entries=taken) if taken else {}
        refused.append(last["Id"])
        failed = [{"Id": last["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}]
        return AWSResponse(params["QueueUrl"], 200, {}, None), {
            "Successful": sent.get("Successful", []),
            "Failed": failed,
        }

    hooks = sqs_client().meta.events
    hooks.register("provide-client-params.sqs.SendMessageBatch", take_params)
    hooks.register("before-call.sqs.SendMessageBatch", answer_in_part)
    return refused


def test_entries_the_queue_refuses_are_sent_again_before_the_answer(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    refused = refuse_entries(queues, times=2)
    batch = events(300, data={"note": "y" * 2000})
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 202
    assert len(refused) == 2
    writer.drain()
    assert stored_ids(db) == sorted(e["id"] for e in batch)


def test_entries_still_refused_are_a_503_and_the_clients_retry_stores_each_event_once(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    refused = refuse_entries(queues, times=1000, after=1)
    batch = events(300, data={"note": "z" * 2000})
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    assert "queued" not in answer.body, "a 503 claims nothing queued"
    assert len(refused) == 4, "the refused entry was sent four times"
    # Some messages of the batch did reach the queue; the retry sends them again under the same ids.
    assert queues.depth("IngestQueue") > 0
    from resilience_lambda.ingest_queue import sqs_client

    sqs_client.cache_clear()  # SQS recovers: a client without the refusals
    assert api.post("/v1/telemetry", {"events": batch}, token=None).status == 202
    writer.drain()
    assert stored_ids(db) == sorted(e["id"] for e in batch)


def test_a_queue_that_cannot_be_reached_is_a_503(
    api: Api, db: psycopg.Connection, queues: LocalQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    missing = queues.queues["IngestQueue"].url.rsplit("/", 1)[0] + "/NoSuchQueue"
    monkeypatch.setenv("INGEST_QUEUE_URL", missing)
    settings.reload()
    answer = api.post("/v1/telemetry", {"events": events(2)}, token=None)
    assert answer.status == 503
    assert "queue is unavailable" in answer.body["message"]


def test_a_redelivered_batch_stores_each_event_once(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    batch = events(20)
    api.post("/v1/telemetry", {"events": batch}, token=None)
    messages = writer.batch(window_seconds=0)
    # The writer stores the batch but its answer is lost (a timeout): nothing is deleted.
    writer.invoke(writer.source.function, _records(writer, messages))
    time.sleep(1.2)
    redelivered = writer.batch(window_seconds=0)
    assert {m["MessageId"] for m in redelivered} == {m["MessageId"] for m in messages}
    assert int(redelivered[0]["Attributes"]["ApproximateReceiveCount"]) == 2
    assert writer.deliver(redelivered) == set()
    assert stored_ids(db) == sorted(e["id"] for e in batch)
    assert queues.depth("IngestQueue") == 0


def _records(writer: EventSource, messages: list[dict[str, Any]]) -> dict[str, Any]:
    from local import triggers

    return triggers.sqs(messages, writer.queue.arn)


def test_a_message_that_cannot_be_stored_fails_alone_and_ends_in_the_dead_letter_queue(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource
) -> None:
    queues.client.send_message(QueueUrl=queues.queues["IngestQueue"].url, MessageBody='{"events": "broken"}')
    batch = events(5)
    api.post("/v1/telemetry", {"events": batch}, token=None)
    messages = writer.batch(window_seconds=0)
    assert len(messages) == 2
    failed = writer.deliver(messages)
    assert len(failed) == 1
    assert stored_ids(db) == sorted(e["id"] for e in batch), "the good message is stored despite the bad one"
    # After the redrive policy's five receives, SQS moves the message to the dead-letter queue.
    deadline = time.monotonic() + 30
    while queues.depth("IngestDeadLetters") == 0 and time.monotonic() < deadline:
        time.sleep(1.1)
        if again := writer.batch(window_seconds=0):
            assert writer.deliver(again) == {m["MessageId"] for m in again}
    assert [json.loads(b) for b in bodies_in(queues, "IngestDeadLetters")] == [{"events": "broken"}]
    assert queues.depth("IngestQueue") == 0
    assert len(stored_ids(db)) == 5


def test_with_the_database_down_the_batch_comes_back_and_is_stored_once_it_is_up(
    api: Api, db: psycopg.Connection, database_url: str, queues: LocalQueues, writer: EventSource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from resilience import settings
    from resilience_lambda.database import database

    batch = events(30)
    api.post("/v1/telemetry", {"events": batch[:10]}, token=None)
    api.post("/v1/telemetry", {"events": batch[10:]}, token=None)
    monkeypatch.setenv("DATABASE_URL", NO_DATABASE)
    settings.reload()
    database.close()
    messages = writer.batch(window_seconds=0)
    assert writer.deliver(messages) == {m["MessageId"] for m in messages}
    assert stored_ids(db) == []
    monkeypatch.setenv("DATABASE_URL", database_url)
    settings.reload()
    database.close()
    time.sleep(1.2)
    writer.drain()
    assert stored_ids(db) == sorted(e["id"] for e in batch)


def test_the_writer_holds_new_components_beyond_the_limit_and_the_cleanup_stores_them_once_there_is_room(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from resilience import settings
    from resilience.jobs import cleanup
    from resilience.settings import RetentionSettings

    monkeypatch.setenv("MAX_COMPONENTS", "1")
    settings.reload()
    known, invented = events(2, component="Checkout"), events(3, component="Invented")
    answer = api.post("/v1/telemetry", {"events": known + invented}, token=None)
    # Queued, the ingest has no database to ask: the writer applies the guard, and 202 still means stored.
    assert answer.status == 202
    assert answer.body["queued"] == 5
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    assert writer.drain() == 1
    assert stored_ids(db) == sorted(e["id"] for e in known)
    assert queues.depth("IngestQueue") == 0, "held is not failed: nothing is delivered again"
    published = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "CloudWatchMetrics" in line]
    assert [m.get("EventsHeldComponentLimit") for m in published] == [[3.0]]
    assert [m.get("EventsAccepted") for m in published] == [[2.0]]
    held = sorted(str(r[0]) for r in db.execute("SELECT id FROM resilience_held_events"))
    assert held == sorted(e["id"] for e in invented)

    full = cleanup.run(db, RetentionSettings(), max_components=1)
    assert (full.held_events_stored, len(stored_ids(db))) == (0, 2), "no room yet: they keep waiting"
    roomy = cleanup.run(db, RetentionSettings(), max_components=2)
    assert roomy.held_events_stored == 3
    assert stored_ids(db) == sorted(e["id"] for e in known + invented)
    assert db.execute("SELECT count(*) FROM resilience_held_events").fetchone() == (0,)


def test_one_queued_request_registers_at_most_its_share_of_new_components_and_the_rest_wait(
    api: Api, db: psycopg.Connection, queues: LocalQueues, writer: EventSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    monkeypatch.setenv("MAX_NEW_COMPONENTS_PER_REQUEST", "2")
    settings.reload()
    batch = [e for name in ("A", "B", "C", "D") for e in events(1, component=f"Invented{name}")]
    assert api.post("/v1/telemetry", {"events": batch}, token=None).status == 202
    assert writer.drain() == 1
    registered = sorted(r[0] for r in db.execute("SELECT component FROM resilience_components"))
    assert registered == ["InventedA", "InventedB"], "the first two new names in the request's order"
    held = sorted(str(r[0]) for r in db.execute("SELECT component FROM resilience_held_events"))
    assert held == ["InventedC", "InventedD"], "the rest are held, not dropped"


def test_an_event_the_database_refuses_is_dropped_alone_and_named_while_the_rest_of_its_message_is_stored(
    db: psycopg.Connection, queues: LocalQueues, writer: EventSource, caplog: pytest.LogCaptureFixture
) -> None:
    # A message written by an ingest that let through what Postgres cannot hold (NaN in data).
    good = [str(uuid.uuid4()) for _ in range(3)]
    poison = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    rows = [[i, now, None, "s", "CheckoutForm", "retry_success", "{}"] for i in good]
    rows.insert(1, [poison, now, None, "s", "CheckoutForm", "retry_success", '{"x": NaN}'])
    queues.client.send_message(QueueUrl=queues.queues["IngestQueue"].url, MessageBody=json.dumps({"events": rows}))
    messages = writer.batch(window_seconds=0)
    assert writer.deliver(messages) == set(), "the message succeeds: nothing is retried or dead-lettered"
    assert stored_ids(db) == sorted(good)
    [dropped] = [r for r in caplog.records if r.getMessage() == "dropped a queued event the database refuses"]
    assert dropped.event_id == poison
    assert queues.depth("IngestQueue") == 0


def one_event_in_two_messages_at_two_writers(database_url: str, db: psycopg.Connection) -> tuple[list[int], Any]:
    """A client sent its batch again after the first was queued; the two messages reach two writers at
    the same moment, each copy stamped with its own arrival time (the events carried none).

    Returns what each writer stored, and (distinct ids, rows) stored in all."""
    from resilience.jobs.queued_ingest import write
    from resilience.store.database import connect
    from resilience.telemetry import StoredEvent

    ids = [str(uuid.uuid4()) for _ in range(20_000)]
    first_arrival = datetime.now(UTC)
    stamps = [first_arrival, first_arrival + timedelta(seconds=1)]
    copies = [[StoredEvent(i, ts, None, "s", "CheckoutForm", "retry_success", "{}") for i in ids] for ts in stamps]
    # A known component: admitting a new one would make the writers take turns for another reason.
    db.execute("INSERT INTO resilience_components (component) VALUES ('CheckoutForm')")
    conns = [connect(database_url) for _ in copies]
    turn = itertools.count()
    try:

        def one_writer() -> int:
            k = next(turn)
            return write(conns[k], copies[k], max_components=1000, seen_on=first_arrival.date()).stored

        stored = sorted(run_together(one_writer, 2))
    finally:
        for conn in conns:
            conn.close()
    return stored, db.execute("SELECT count(DISTINCT id), count(*) FROM resilience_metrics").fetchone()


def test_two_writers_given_one_event_in_two_messages_at_once_store_it_once(
    database_url: str, db: psycopg.Connection
) -> None:
    stored, (distinct, rows) = one_event_in_two_messages_at_two_writers(database_url, db)
    assert stored == [0, distinct]
    assert rows == distinct == 20_000
