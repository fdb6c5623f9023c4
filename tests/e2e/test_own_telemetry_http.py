"""GET /v1/me/telemetry over HTTP through the local runner, whose JWT authorizer stands where API Gateway's does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ADMIN_TOKEN,
    call,
    free_port,
    preflight,
    runner_env,
    signal_event,
    start_runner,
    stop_runner,
)
from tests.issuer import AUDIENCE, Issuer, SigningKey, rsa_key

ANA = str(uuid.uuid4())
BEN = str(uuid.uuid4())


@pytest.fixture
def base(user_tokens: Issuer, live_server: str) -> str:
    """The local API over HTTP, trusting the issuer fixture (user_tokens is set up before the server reads it)."""
    now = datetime.now(UTC)
    events = [
        signal_event("retry_success", user_id=user, session_id="s-shared", ts=(now - timedelta(minutes=m)).isoformat())
        for m in range(1, 4)
        for user in (ANA, BEN)
    ]
    status, body, _ = call("POST", f"{live_server}/v1/telemetry", {"events": events})
    assert (status, body["accepted"]) == (200, 6)
    return live_server


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_signed_in_user_reads_their_own_events_only(
    base: str, user_tokens: Issuer, signing_keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = user_tokens.token(ANA, key=signing_keys[algorithm])
    status, body, _ = call("GET", f"{base}/v1/me/telemetry?session_id=s-shared&user_id={BEN}", token=token)
    assert status == 200
    assert [e["user_id"] for e in body["events"]] == [ANA] * 3
    timestamps = [e["ts"] for e in body["events"]]
    assert timestamps == sorted(timestamps, reverse=True)


def test_pages_follow_the_cursor_over_http(base: str, user_tokens: Issuer) -> None:
    token = user_tokens.token(BEN)
    first = call("GET", f"{base}/v1/me/telemetry?limit=2", token=token)[1]
    second = call("GET", f"{base}/v1/me/telemetry?limit=2&cursor={first['next_cursor']}", token=token)[1]
    assert len(first["events"]) == 2
    assert len(second["events"]) == 1
    assert second["next_cursor"] is None
    assert {e["user_id"] for e in first["events"] + second["events"]} == {BEN}


TOKENS: dict[str, Callable[[Issuer], str | None]] = {
    "no token": lambda i: None,
    "the admin token": lambda i: ADMIN_TOKEN,
    "expired": lambda i: i.token(ANA, lifetime=-1),
    "another audience": lambda i: i.token(ANA, audience="another-app"),
    "another issuer": lambda i: i.token(ANA, issuer="https://evil.example.com/tenant"),
    "a bad signature": lambda i: i.token(ANA, key=rsa_key(), kid=i.published[0].kid),
    "not yet valid": lambda i: i.token(ANA, nbf=int(time.time()) + 600),
}


@pytest.mark.parametrize("kind", list(TOKENS))
def test_a_request_without_a_valid_token_is_401_with_a_challenge(base: str, user_tokens: Issuer, kind: str) -> None:
    status, body, headers = call("GET", f"{base}/v1/me/telemetry", token=TOKENS[kind](user_tokens))
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert body["message"] == "Unauthorized"
    assert body["reason"]
    assert "events" not in body


def test_the_admin_token_still_opens_the_admin_read_only(base: str, user_tokens: Issuer) -> None:
    assert call("GET", f"{base}/v1/telemetry", token=ADMIN_TOKEN)[0] == 200
    assert call("GET", f"{base}/v1/telemetry", token=user_tokens.token(ANA))[0] == 401


def test_browsers_may_send_the_authorization_header(base: str) -> None:
    allowed = preflight(f"{base}/v1/me/telemetry", "GET", "authorization")
    assert "GET" in allowed["access-control-allow-methods"]
    assert "authorization" in {h.strip() for h in allowed["access-control-allow-headers"].lower().split(",")}


def run_with(env: dict[str, str], check: Callable[[str, str], Any]) -> None:
    """Runs check(base URL, banner) against `python -m local run` started with env."""
    port = free_port()
    process, lines = start_runner(env, port)
    try:
        check(f"http://127.0.0.1:{port}", "".join(lines))
    finally:
        stop_runner(process)


def test_make_run_verifies_tokens_of_the_issuer_jwt_issuer_names(
    database_url: str, db: Any, issuer: Issuer, tmp_path: Path
) -> None:
    trusted = runner_env(
        DATABASE_URL=database_url,
        ADMIN_TOKEN=ADMIN_TOKEN,
        LOCAL_DIR=str(tmp_path),
        JWT_ISSUER=issuer.url,
        JWT_AUDIENCE=f"another-app,{AUDIENCE}",
    )

    def trusting(url: str, banner: str) -> None:
        assert f"{url}/v1/me/telemetry: JWTs of {issuer.url}" in banner
        call("POST", f"{url}/v1/telemetry", {"events": [signal_event("retry_success", user_id=ANA)]})
        status, body, _ = call("GET", f"{url}/v1/me/telemetry", token=issuer.token(ANA))
        assert (status, [e["user_id"] for e in body["events"]]) == (200, [ANA])
        assert call("GET", f"{url}/v1/me/telemetry")[0] == 401

    run_with(trusted, trusting)

    def refusing(url: str, banner: str) -> None:
        assert f"{url}/v1/me/telemetry: closed" in banner
        status, body, headers = call("GET", f"{url}/v1/me/telemetry", token=issuer.token(ANA))
        assert status == 401
        assert "JWT_ISSUER" in body["reason"]
        assert "invalid_token" in headers["www-authenticate"]

    run_with({k: v for k, v in trusted.items() if k not in ("JWT_ISSUER", "JWT_AUDIENCE")}, refusing)
