"""Who may call the API: ingest keys, two admin tokens during a rotation, and the origins browsers may call from."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN, Api, call, signal_event


def stored(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM resilience_metrics").fetchone()
    return int(row[0]) if row else 0


def configured(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    from resilience import settings

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings.reload()


def batch() -> dict[str, Any]:
    return {"events": [signal_event("retry_success", id=str(uuid.uuid4()))]}


class TestIngestKeys:
    def test_without_ingest_keys_ingest_is_open(self, api: Api, db: psycopg.Connection) -> None:
        assert api.post("/v1/telemetry", batch(), token=None).status == 200

    def test_with_ingest_keys_a_request_without_a_valid_key_is_401_and_stores_nothing(
        self, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured(monkeypatch, INGEST_KEYS="pk_live_one, pk_live_two")
        for headers in ({}, {"x-ingest-key": "pk_live_three"}, {"x-ingest-key": ""}):
            answer = api.post("/v1/telemetry", batch(), token=None, headers=headers)
            assert answer.status == 401
            assert answer.body["errors"][0]["field"] == "X-Ingest-Key"
        assert stored(db) == 0

    def test_either_of_two_keys_is_accepted_so_a_key_rotates_without_downtime(
        self, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured(monkeypatch, INGEST_KEYS="pk_live_old,pk_live_new")
        for key in ("pk_live_old", "pk_live_new"):
            assert api.post("/v1/telemetry", batch(), token=None, headers={"x-ingest-key": key}).status == 200
        configured(monkeypatch, INGEST_KEYS="pk_live_new")  # the rotation done: the old key is gone
        assert api.post("/v1/telemetry", batch(), token=None, headers={"x-ingest-key": "pk_live_old"}).status == 401
        assert stored(db) == 2

    def test_the_key_is_checked_before_the_body_is_read(
        self, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured(monkeypatch, INGEST_KEYS="pk_live_one")
        # A client without the key learns nothing about what the API would accept.
        assert api.post("/v1/telemetry", "{not json", token=None).status == 401


class TestAdminTokenRotation:
    def test_admin_token_may_list_the_new_and_the_old_token(
        self, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured(monkeypatch, ADMIN_TOKEN="token-new,token-old")
        for token in ("token-new", "token-old"):
            assert api.get("/v1/alerts", token=token).status == 200
        refused = api.get("/v1/alerts", token="token-other")
        assert refused.status == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert api.get("/v1/alerts", token="token-new,token-old").status == 401

    def test_a_rotated_secret_accepts_its_current_and_previous_value_then_only_the_current(
        self, api: Api, db: psycopg.Connection, secrets_manager: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from aws_lambda_powertools.utilities import parameters

        arn = secrets_manager.create_secret(Name="admin-token", SecretString="first-token")["ARN"]
        configured(monkeypatch, ADMIN_TOKEN="", ADMIN_TOKEN_SECRET_ARN=arn)
        assert api.get("/v1/alerts", token="first-token").status == 200

        secrets_manager.put_secret_value(SecretId=arn, SecretString="second-token")  # AWSPREVIOUS: first
        parameters.clear_caches()  # what the cache's five minutes do in AWS
        for token in ("second-token", "first-token"):
            assert api.get("/v1/alerts", token=token).status == 200

        secrets_manager.put_secret_value(SecretId=arn, SecretString="third-token")
        parameters.clear_caches()
        assert api.get("/v1/alerts", token="third-token").status == 200
        assert api.get("/v1/alerts", token="second-token").status == 200
        assert api.get("/v1/alerts", token="first-token").status == 401


@pytest.fixture
def one_origin(monkeypatch: pytest.MonkeyPatch) -> str:
    """ALLOWED_ORIGINS naming one origin, set before the local server starts."""
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    return "https://app.example.com"


def preflight(url: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"{url}/v1/telemetry",
        method="OPTIONS",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization,x-ingest-key",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}


def test_allowed_origins_replace_the_wildcard_in_preflights_and_answers(
    one_origin: str, live_server: str, db: psycopg.Connection
) -> None:
    status, headers = preflight(live_server, one_origin)
    assert status == 204
    assert headers["access-control-allow-origin"] == one_origin
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "x-ingest-key"} <= allowed

    # A foreign origin's preflight is refused outright (tests/integration/test_forged_traffic.py).

    request = urllib.request.Request(
        f"{live_server}/v1/health", headers={"origin": one_origin, "authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.headers["access-control-allow-origin"] == one_origin
        assert answer.headers["access-control-expose-headers"] == "retry-after"
    status, _, headers = call("GET", f"{live_server}/v1/health")
    assert status == 200
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_the_template_passes_ingest_keys_and_allowed_origins(template: Any) -> None:
    ingest = template.resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert ingest["INGEST_KEYS"] == {"Ref": "IngestKeys"}
    # Publishable, like a Sentry DSN key: no NoEcho (it would also make sam deploy --guided read a hidden answer).
    assert "NoEcho" not in template.parameters["IngestKeys"]
    cors = template.resources["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert {"content-type", "authorization", "x-ingest-key"} <= set(cors["AllowHeaders"])
