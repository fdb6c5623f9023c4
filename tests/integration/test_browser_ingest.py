"""What browsers send to POST /v1/telemetry: sendBeacon's text/plain bodies, CORS preflights, readable Retry-After."""

from __future__ import annotations

import json
import urllib.request
import uuid

import psycopg

from local.server import EXPOSED_HEADERS, PREFLIGHT_HEADERS
from local.template import load
from tests.conftest import Api, call, signal_event


def test_a_beacon_body_sent_as_text_plain_is_stored_as_json(live_server: str, db: psycopg.Connection) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    body = json.dumps({"events": [signal_event("retry_success", id=i) for i in ids]}).encode()
    request = urllib.request.Request(
        f"{live_server}/v1/telemetry",
        data=body,
        method="POST",
        headers={"content-type": "text/plain;charset=UTF-8", "origin": "http://127.0.0.1:1"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        assert json.loads(answer.read()) == {"accepted": 2, "duplicates": 0, "rejected": []}
    stored = db.execute("SELECT id::text FROM resilience_metrics ORDER BY id").fetchall()
    assert [row[0] for row in stored] == sorted(ids)


def test_the_ingest_function_reads_a_text_plain_body_like_json(api: Api, db: psycopg.Connection) -> None:
    event = signal_event("optimistic_action_start", id=str(uuid.uuid4()))
    answer = api.post(
        "/v1/telemetry",
        json.dumps({"events": [event]}),
        token=None,
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert (answer.status, answer.body["accepted"]) == (200, 1)
    malformed = api.post("/v1/telemetry", "{not json", token=None, headers={"content-type": "text/plain"})
    assert malformed.status == 400


def test_a_preflight_allows_json_and_the_ingest_key_from_any_origin(live_server: str) -> None:
    request = urllib.request.Request(
        f"{live_server}/v1/telemetry",
        method="OPTIONS",
        headers={
            "origin": "https://shop.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-ingest-key",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 204
        allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
        assert {"content-type", "x-ingest-key"} <= allowed
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert answer.headers["access-control-allow-origin"] == "*"


def test_every_answer_lets_scripts_of_other_origins_read_retry_after(live_server: str, db: psycopg.Connection) -> None:
    for status, _, headers in (
        call("POST", f"{live_server}/v1/telemetry", {"events": [signal_event("retry_success")]}),
        call("POST", f"{live_server}/v1/telemetry", {"events": []}),
    ):
        assert status in (200, 400)
        assert headers["access-control-allow-origin"] == "*"
        assert headers["access-control-expose-headers"] == "retry-after"


def test_the_local_server_answers_cors_as_the_template_configures_it() -> None:
    template = load()
    cors = template.resources["HttpApi"]["Properties"]["CorsConfiguration"]
    assert PREFLIGHT_HEADERS["access-control-allow-headers"].split(",") == cors["AllowHeaders"]
    assert PREFLIGHT_HEADERS["access-control-allow-methods"].split(",") == cors["AllowMethods"]
    assert int(PREFLIGHT_HEADERS["access-control-max-age"]) == cors["MaxAge"]
    assert EXPOSED_HEADERS["access-control-expose-headers"].split(",") == cors["ExposeHeaders"]
    # Both follow the AllowedOrigins parameter (ALLOWED_ORIGINS locally), * by default.
    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert template.parameters["AllowedOrigins"]["Default"] == "*"
