"""Forged traffic, limited: other sites' pages are refused by Origin, and signed ingest tokens decide user_id."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from local.queue import LocalQueues
from resilience.ingest_tokens import mint
from resilience.settings import IngestTokenSettings, SettingsError
from tests.conftest import Api, signal_event

APP = "https://app.example.com"
FOREIGN = "https://evil.example.net"
SECRET = "ingest-token-secret-of-the-backend-0123456789"
USER = "7d3f0c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"
OTHER_USER = "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets variables as a deployment would, read anew by the next request."""
    from resilience import settings

    def setting(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings.reload()

    return setting


def batch(*user_ids: str | None) -> dict[str, Any]:
    events = [signal_event("optimistic_action_rollback", id=str(uuid.uuid4())) for _ in user_ids]
    for event, user_id in zip(events, user_ids, strict=True):
        if user_id:
            event["user_id"] = user_id
    return {"events": events}


def stored_users(db: psycopg.Connection) -> list[str | None]:
    rows = db.execute("SELECT user_id::text FROM resilience_metrics ORDER BY user_id NULLS FIRST").fetchall()
    return [row[0] for row in rows]


def token(subject: str = USER, lifetime: timedelta = timedelta(minutes=10), secret: str = SECRET) -> str:
    return mint(secret, subject, datetime.now(UTC) + lifetime)


class TestOrigins:
    def test_a_listed_origin_and_requests_without_one_are_taken(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(ALLOWED_ORIGINS=f"{APP},https://admin.example.com")
        assert api.post("/v1/telemetry", batch(None), token=None, headers={"origin": APP}).status == 200
        assert api.post("/v1/telemetry", batch(None), token=None).status == 200
        assert len(stored_users(db)) == 2

    def test_another_sites_request_and_beacon_are_403_naming_the_origin_and_store_nothing(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(ALLOWED_ORIGINS=APP)
        beacon = {"origin": FOREIGN, "content-type": "text/plain;charset=UTF-8"}
        for headers in ({"origin": FOREIGN}, beacon, {"origin": "null"}, {"origin": APP.upper()}):
            answer = api.post("/v1/telemetry", json.dumps(batch(None)), token=None, headers=headers)
            assert answer.status == 403, headers
            assert answer.body["errors"] == [
                {
                    "field": "Origin",
                    "reason": f"{headers['origin']!r} is not one of the allowed origins (ALLOWED_ORIGINS)",
                }
            ]
            assert headers["origin"] in answer.body["message"]
        assert stored_users(db) == []

    def test_the_origin_is_checked_before_the_key_and_the_body(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(ALLOWED_ORIGINS=APP, INGEST_KEYS="pk_live_one")
        answer = api.post("/v1/telemetry", "{not json", token=None, headers={"origin": FOREIGN})
        assert answer.status == 403

    @pytest.mark.parametrize("allowed", ["", "*", f"{APP},*"])
    def test_unset_or_a_wildcard_refuses_no_origin(
        self, allowed: str, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(ALLOWED_ORIGINS=allowed)
        assert api.post("/v1/telemetry", batch(None), token=None, headers={"origin": FOREIGN}).status == 200


def preflight(url: str, origin: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{url}/v1/telemetry",
        method="OPTIONS",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-ingest-token",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.fixture
def one_origin(configure: Any) -> str:
    """ALLOWED_ORIGINS naming one origin, set before the local server starts."""
    configure(ALLOWED_ORIGINS=APP)
    return APP


def test_the_local_server_refuses_another_sites_preflight_and_request_over_http(
    one_origin: str, live_server: str, db: psycopg.Connection
) -> None:
    status, headers, body = preflight(live_server, FOREIGN)
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert json.loads(body)["errors"][0]["field"] == "Origin"
    assert FOREIGN in json.loads(body)["message"]

    status, headers, _ = preflight(live_server, one_origin)
    assert status == 204
    assert headers["access-control-allow-origin"] == one_origin
    assert "x-ingest-token" in headers["access-control-allow-headers"].split(",")

    # sendBeacon: a simple request, sent without a preflight.
    beacon = urllib.request.Request(
        f"{live_server}/v1/telemetry",
        data=json.dumps(batch(None)).encode(),
        method="POST",
        headers={"origin": FOREIGN, "content-type": "text/plain;charset=UTF-8"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(beacon, timeout=30)
    assert refused.value.code == 403
    assert stored_users(db) == []


class TestIngestTokens:
    def test_the_tokens_subject_becomes_user_id_and_another_user_id_is_rejected_per_event(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(INGEST_TOKEN_SECRET=SECRET)
        answer = api.post(
            "/v1/telemetry", batch(None, USER, OTHER_USER), token=None, headers={"x-ingest-token": token()}
        )
        assert answer.status == 200
        assert answer.body["accepted"] == 2
        ((index, errors),) = [(r["index"], r["errors"]) for r in answer.body["rejected"]]
        assert index == 2
        assert errors[0]["field"] == "user_id"
        assert stored_users(db) == [USER, USER]
        # The next request, without a token, is not taken for the same user (a warm container serves both).
        assert api.post("/v1/telemetry", batch(None), token=None).status == 200
        assert stored_users(db) == [None, USER, USER]

    def test_without_a_token_user_id_is_refused_and_anonymous_events_are_stored(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(INGEST_TOKEN_SECRET=SECRET)
        answer = api.post("/v1/telemetry", batch(None, OTHER_USER), token=None)
        assert answer.status == 200
        assert [r["errors"][0]["field"] for r in answer.body["rejected"]] == ["user_id"]
        assert stored_users(db) == [None]

    def test_missing_expired_forged_and_overlong_tokens_are_401_with_the_reason(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(INGEST_TOKEN_SECRET=SECRET, INGEST_TOKEN_REQUIRED="true")
        genuine = token()
        cases = {
            "is missing": None,
            "expired at": token(lifetime=timedelta(minutes=-5)),
            "signature does not match": token(secret="a-secret-an-attacker-guessed-0123456789"),
            "more than 3600 s from now": token(lifetime=timedelta(days=30)),
            "malformed": genuine + ".x",
        }
        for reason, sent in cases.items():
            headers = {"x-ingest-token": sent} if sent else {}
            answer = api.post("/v1/telemetry", batch(None), token=None, headers=headers)
            assert answer.status == 401, reason
            (error,) = answer.body["errors"]
            assert error["field"] == "X-Ingest-Token"
            assert reason in error["reason"]
            # The token sent is never repeated back, nor anything of the secret.
            assert SECRET not in json.dumps(answer.body)
            assert not sent or sent not in json.dumps(answer.body)
        assert stored_users(db) == []
        assert api.post("/v1/telemetry", batch(None), token=None, headers={"x-ingest-token": genuine}).status == 200
        assert stored_users(db) == [USER]

    def test_a_token_sent_where_none_can_be_verified_is_refused(
        self, api: Api, db: psycopg.Connection, configure: Any
    ) -> None:
        configure(INGEST_TOKEN_SECRET="")
        answer = api.post("/v1/telemetry", batch(USER), token=None, headers={"x-ingest-token": token()})
        assert answer.status == 401
        assert answer.body["errors"][0]["field"] == "X-Ingest-Token"
        # Without tokens in use user_id is the client's word, as before.
        assert api.post("/v1/telemetry", batch(USER), token=None).status == 200
        assert stored_users(db) == [USER]

    def test_the_secret_in_secrets_manager_verifies_with_its_current_and_previous_value(
        self, api: Api, db: psycopg.Connection, secrets_manager: Any, configure: Any
    ) -> None:
        from aws_lambda_powertools.utilities import parameters

        arn = secrets_manager.create_secret(Name="ingest-token", SecretString=SECRET)["ARN"]
        configure(INGEST_TOKEN_SECRET="", INGEST_TOKEN_SECRET_ARN=arn, INGEST_TOKEN_REQUIRED="true")
        old = token()
        assert api.post("/v1/telemetry", batch(None), token=None, headers={"x-ingest-token": old}).status == 200

        rotated = "the-rotated-ingest-token-secret-abcdefghijkl"
        secrets_manager.put_secret_value(SecretId=arn, SecretString=rotated)
        parameters.clear_caches()
        for sent in (old, token(secret=rotated)):
            assert api.post("/v1/telemetry", batch(None), token=None, headers={"x-ingest-token": sent}).status == 200
        assert stored_users(db) == [USER, USER, USER]

    def test_a_short_secret_in_secrets_manager_is_refused_without_being_repeated(
        self, api: Api, db: psycopg.Connection, secrets_manager: Any, configure: Any
    ) -> None:
        arn = secrets_manager.create_secret(Name="short-ingest-token", SecretString="short-value")["ARN"]
        configure(INGEST_TOKEN_SECRET="", INGEST_TOKEN_SECRET_ARN=arn)
        with pytest.raises(SettingsError, match="at least 32 characters") as refused:
            api.post("/v1/telemetry", batch(None), token=None, headers={"x-ingest-token": token()})
        assert "short-value" not in str(refused.value)
        assert stored_users(db) == []

    def test_queued_events_carry_the_tokens_subject_to_the_store(
        self,
        api: Api,
        db: psycopg.Connection,
        configure: Any,
        ingest_queues: LocalQueues,
        invoke: Callable[[str, dict[str, Any]], Any],
    ) -> None:
        configure(INGEST_TOKEN_SECRET=SECRET, INGEST_MODE="queued")
        answer = api.post("/v1/telemetry", batch(None, OTHER_USER), token=None, headers={"x-ingest-token": token()})
        assert answer.status == 202
        assert answer.body["queued"] == 1
        assert [r["index"] for r in answer.body["rejected"]] == [1]
        (writer,) = ingest_queues.sources(invoke)
        writer.drain()
        assert stored_users(db) == [USER]


def test_required_tokens_without_a_secret_and_short_secrets_fail_at_start_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="INGEST_TOKEN_SECRET or INGEST_TOKEN_SECRET_ARN must be set"):
        IngestTokenSettings.from_environ({"INGEST_TOKEN_REQUIRED": "true"})
    with pytest.raises(SettingsError, match="at least 32 characters") as refused:
        IngestTokenSettings.from_environ({"INGEST_TOKEN_SECRET": f"{SECRET},short-secret-value"})
    assert "short-secret-value" not in str(refused.value)
