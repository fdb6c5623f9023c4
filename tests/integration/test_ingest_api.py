"""POST /v1/telemetry through API Gateway events: what clients get back, and what ends up stored."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from local import triggers
from resilience.validation import UNPAIRED_SURROGATE
from tests.conftest import Api, signal_event


def stored_rows(db: psycopg.Connection) -> list[dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT * FROM resilience_metrics ORDER BY ts, id").fetchall()


def test_a_batch_is_accepted_and_can_be_read_back(api: Api, db: psycopg.Connection) -> None:
    batch = [signal_event("optimistic_action_start"), signal_event("optimistic_action_success")]
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 200
    assert answer.body == {"accepted": 2, "duplicates": 0, "rejected": []}
    listed = api.get("/v1/telemetry")
    assert listed.status == 200
    assert sorted(e["signal"] for e in listed.body["events"]) == [
        "optimistic_action_start",
        "optimistic_action_success",
    ]


def test_a_retried_request_reports_duplicates_and_adds_no_rows(api: Api, db: psycopg.Connection) -> None:
    batch = {"events": [signal_event("retry_success", id=str(uuid.uuid4())) for _ in range(3)]}
    assert api.post("/v1/telemetry", batch, token=None).body["accepted"] == 3
    again = api.post("/v1/telemetry", batch, token=None)
    assert again.status == 200
    assert again.body == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert len(stored_rows(db)) == 3


def test_a_retry_spelling_ids_differently_is_still_a_duplicate(api: Api, db: psycopg.Connection) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    first = [signal_event("retry_success", id=str(i), ts=hour_ago.isoformat()) for i in ids]
    assert api.post("/v1/telemetry", {"events": first}, token=None).body["accepted"] == 3
    retried = [
        {**first[0], "id": str(ids[0]).upper()},
        {**first[1], "id": ids[1].hex},
        {**first[2], "id": ids[2].hex.upper(), "ts": hour_ago.astimezone(timezone(timedelta(hours=1))).isoformat()},
    ]
    again = api.post("/v1/telemetry", {"events": retried}, token=None)
    assert again.body == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert sorted(r["id"] for r in stored_rows(db)) == sorted(ids)


def test_valid_events_are_stored_and_invalid_ones_reported(api: Api, db: psycopg.Connection) -> None:
    batch = [signal_event("retry_success"), {"component": "X", "signal": "retry_success"}, signal_event("nope")]
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 200
    assert answer.body["accepted"] == 1
    rejected = {r["index"]: r["errors"] for r in answer.body["rejected"]}
    assert rejected[1] == [{"field": "session_id", "reason": "Field required"}]
    assert rejected[2][0]["field"] == "signal"
    assert len(stored_rows(db)) == 1


def test_every_event_rejected_is_422_and_stores_nothing(api: Api, db: psycopg.Connection) -> None:
    answer = api.post("/v1/telemetry", {"events": [signal_event("nope"), {"signal": 1}]}, token=None)
    assert answer.status == 422
    assert answer.body["accepted"] == 0
    assert [r["index"] for r in answer.body["rejected"]] == [0, 1]
    assert stored_rows(db) == []


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        ("this is not json", 400, "body"),
        ("[]", 400, "body"),
        ('"events"', 400, "body"),
        ("{}", 400, "events"),
        ('{"events": "all of them"}', 400, "events"),
        (json.dumps({"events": [signal_event("retry_success")] * 10_000}), 413, "events"),
        (json.dumps({"events": [signal_event("retry_success", data={"b": "x" * 40_000})]}), 413, "events.0"),
    ],
)
def test_unusable_requests_get_a_clear_4xx_and_store_nothing(
    api: Api, db: psycopg.Connection, raw: str, status: int, field: str
) -> None:
    answer = api.post("/v1/telemetry", raw, token=None)
    assert answer.status == status
    assert answer.body["errors"][0]["field"] == field
    assert answer.body["message"]
    assert stored_rows(db) == []


def test_a_5_mib_body_is_413(api: Api, db: psycopg.Connection) -> None:
    raw = json.dumps({"events": [signal_event("retry_success", data={"pad": "x" * 1000})] * 5000})
    assert len(raw) > 5 * 1024 * 1024
    answer = api.post("/v1/telemetry", raw, token=None)
    assert answer.status == 413
    assert stored_rows(db) == []


def test_a_body_that_is_not_utf8_is_400(invoke: Any, db: psycopg.Connection) -> None:
    event = triggers.http_api("POST", "/v1/telemetry", body=b'{"events": [\xff\xfe]}')
    assert event["isBase64Encoded"] is True
    result = invoke("IngestFunction", event)
    assert result["statusCode"] == 400
    assert "UTF-8" in json.loads(result["body"])["message"]


def test_a_base64_encoded_body_is_decoded(invoke: Any, db: psycopg.Connection) -> None:
    event = triggers.http_api("POST", "/v1/telemetry")
    event["body"] = base64.b64encode(json.dumps({"events": [signal_event("retry_success")]}).encode()).decode()
    event["isBase64Encoded"] = True
    result = invoke("IngestFunction", event)
    assert result["statusCode"] == 200
    assert len(stored_rows(db)) == 1


HOSTILE = ["'; DROP TABLE resilience_metrics; --", 'Robert"); DELETE FROM x; --', "\\x00 \\' $$ $1 %s {}"]


@pytest.mark.parametrize("text", HOSTILE)
def test_sql_fragments_and_quotes_are_stored_literally(api: Api, db: psycopg.Connection, text: str) -> None:
    event = signal_event("retry_success", component=text, session_id=text, data={text: text})
    assert api.post("/v1/telemetry", {"events": [event]}, token=None).status == 200
    (row,) = stored_rows(db)
    assert (row["component"], row["session_id"], row["data"]) == (text, text, {text: text})


def test_unicode_in_data_comes_back_unchanged(api: Api, db: psycopg.Connection) -> None:
    data = {"message": "Zahlung fehlgeschlagen ✗ — 支払い失敗 🙈", "emoji": "👩‍👩‍👧", "rtl": "שגיאה"}
    assert api.post("/v1/telemetry", {"events": [signal_event("retry_failure", data=data)]}, token=None).status == 200
    (event,) = api.get("/v1/telemetry").body["events"]
    assert event["data"] == data


def test_half_a_surrogate_pair_is_rejected_and_a_whole_pair_is_kept(api: Api, db: psycopg.Connection) -> None:
    # json.dumps writes each of these as \\u escapes, as a JavaScript client would send them.
    batch = [
        signal_event("retry_success", session_id="tab-\ud800"),
        signal_event("retry_success", component="Form\udfff"),
        signal_event("retry_success", data={"note": "cut \ud83d"}),
        signal_event("retry_success", data={"\udc00": 1}),
        signal_event("retry_success", data={"face": "\ud83d\ude48"}),
    ]
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 200
    assert answer.body["accepted"] == 1
    assert {r["index"]: r["errors"] for r in answer.body["rejected"]} == {
        index: [{"field": field, "reason": UNPAIRED_SURROGATE}]
        for index, field in enumerate(["session_id", "component", "data", "data"])
    }
    (row,) = stored_rows(db)
    assert row["data"] == {"face": "🙈"}


def test_when_the_database_is_down_the_answer_is_503_and_a_retry_then_succeeds(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from resilience import settings
    from resilience_lambda.database import database

    batch = {"events": [signal_event("retry_success", id=str(uuid.uuid4()))]}
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    settings.reload()
    database.close()
    down = api.post("/v1/telemetry", batch, token=None)
    assert down.status == 503
    assert int(down.headers["retry-after"]) > 0  # what the client waits before its retry
    assert api.get("/v1/health", token=None).status == 503

    monkeypatch.setenv("DATABASE_URL", database_url)
    settings.reload()
    assert api.post("/v1/telemetry", batch, token=None).body["accepted"] == 1
    assert api.get("/v1/health", token=None).body["database"] == "ok"


def test_a_dropped_connection_is_reopened_on_the_next_request(api: Api, db: psycopg.Connection) -> None:
    assert api.post("/v1/telemetry", {"events": [signal_event("retry_success")]}, token=None).status == 200
    # With a timeout, pg_terminate_backend returns once the backend has exited.
    db.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = 'resilience-telemetry'"
    )
    # The dead connection is noticed before it is used: not even the first request answers 503.
    assert api.post("/v1/telemetry", {"events": [signal_event("retry_success")]}, token=None).status == 200
    assert len(stored_rows(db)) == 2


def test_with_metrics_disabled_nothing_is_printed_however_many_requests(
    api: Api, db: psycopg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(101):  # past the hundred values of one metric that Powertools would print
        assert api.post("/v1/telemetry", {"events": [signal_event("retry_success")]}, token=None).status == 200
    assert "CloudWatchMetrics" not in capsys.readouterr().out


def test_with_metrics_enabled_each_request_publishes_its_counts(
    api: Api, db: psycopg.Connection, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    assert api.post("/v1/telemetry", {"events": [signal_event("retry_success")] * 2}, token=None).status == 200
    published = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "CloudWatchMetrics" in line]
    assert [(m["EventsAccepted"], m["EventsRejected"]) for m in published] == [([2.0], [0.0])]
