"""GET /v1/me/telemetry through its function: a signed-in user reads their own events and nobody else's.

Each request carries what API Gateway's JWT authorizer passes to the function: the claims of a token
the issuer stand-in signed, verified by the local authorizer (tests/integration/test_jwt_authorizer.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from local.authorizer import JwtAuthorizer, request_claims
from tests.conftest import ADMIN_TOKEN, ROOT, Api, signal_event
from tests.issuer import AUDIENCE, Issuer

ME = "/v1/me/telemetry"
ANA = str(uuid.uuid4())
BEN = str(uuid.uuid4())


def claims_of(issuer: Issuer, sub: str, **token_claims: Any) -> dict[str, str]:
    """What API Gateway passes to the function once it has verified the issuer's token for sub."""
    token = issuer.token(sub, **token_claims)
    verified = JwtAuthorizer(issuer.url, (AUDIENCE,)).claims({"authorization": f"Bearer {token}"})
    return request_claims(verified)


def ingest(api: Api, *events: dict[str, Any]) -> None:
    answer = api.post("/v1/telemetry", {"events": list(events)}, token=None)
    assert answer.status == 200
    assert answer.body["accepted"] == len(events)


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def two_users(api: Api, db: psycopg.Connection) -> None:
    """Ana's and Ben's events in the same components, sessions and signals, and one event of nobody's."""
    ingest(
        api,
        signal_event("retry_success", component="Cart", user_id=ANA, session_id="s-shared", ts=ago(5)),
        signal_event("retry_failure", component="Cart", user_id=BEN, session_id="s-shared", ts=ago(4)),
        signal_event("retry_success", component="Search", user_id=BEN, session_id="s-ben", ts=ago(3)),
        signal_event("retry_failure", component="Search", user_id=ANA, session_id="s-ana", ts=ago(2)),
        signal_event("retry_success", component="Search", session_id="s-ben", ts=ago(1)),
    )


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"component": "Cart"},
        {"component": "Search"},
        {"session_id": "s-shared"},
        {"session_id": "s-ben"},
        {"signal": "retry_failure"},
        {"user_id": BEN},
        {"limit": 1000, "from": ago(60)},
    ],
)
def test_a_user_reads_only_their_own_events_whatever_the_filters(
    api: Api, user_tokens: Issuer, two_users: None, filters: dict[str, Any]
) -> None:
    answer = api.get(ME, query=filters, token=None, claims=claims_of(user_tokens, ANA))
    assert answer.status == 200, answer.body
    assert {e["user_id"] for e in answer.body["events"]} <= {ANA}
    expected = {
        (e["component"], e["session_id"], e["signal"])
        for e in api.get("/v1/telemetry", query={k: v for k, v in filters.items() if k != "user_id"}).body["events"]
        if e["user_id"] == ANA
    }
    assert {(e["component"], e["session_id"], e["signal"]) for e in answer.body["events"]} == expected


def test_each_user_sees_their_events_newest_first(api: Api, user_tokens: Issuer, two_users: None) -> None:
    ana = api.get(ME, token=None, claims=claims_of(user_tokens, ANA)).body["events"]
    ben = api.get(ME, token=None, claims=claims_of(user_tokens, BEN)).body["events"]
    assert [(e["component"], e["signal"]) for e in ana] == [("Search", "retry_failure"), ("Cart", "retry_success")]
    assert [(e["component"], e["signal"]) for e in ben] == [("Search", "retry_success"), ("Cart", "retry_failure")]


def test_a_user_with_no_events_gets_an_empty_page(api: Api, user_tokens: Issuer, two_users: None) -> None:
    answer = api.get(ME, token=None, claims=claims_of(user_tokens, str(uuid.uuid4())))
    assert (answer.status, answer.body) == (200, {"events": [], "next_cursor": None})


def test_a_user_pages_through_their_events_and_another_users_cursor_shows_nothing_of_theirs(
    api: Api, user_tokens: Issuer, db: psycopg.Connection
) -> None:
    ingest(api, *[signal_event("retry_attempt", user_id=ANA, ts=ago(minute)) for minute in range(1, 6)])
    ingest(api, *[signal_event("retry_attempt", user_id=BEN, ts=ago(minute)) for minute in range(1, 6)])
    ana = claims_of(user_tokens, ANA)
    seen: list[str] = []
    cursor = None
    for expected in (2, 2, 1):
        page = api.get(ME, query={"limit": 2, "cursor": cursor}, token=None, claims=ana).body
        assert len(page["events"]) == expected
        assert {e["user_id"] for e in page["events"]} == {ANA}
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert len(set(seen)) == 5
    bens_first_page = api.get(ME, query={"limit": 1}, token=None, claims=claims_of(user_tokens, BEN)).body
    with_bens_cursor = api.get(ME, query={"cursor": bens_first_page["next_cursor"]}, token=None, claims=ana).body
    assert {e["user_id"] for e in with_bens_cursor["events"]} == {ANA}


def test_a_subject_spelled_in_capitals_is_the_same_user(api: Api, user_tokens: Issuer, two_users: None) -> None:
    answer = api.get(ME, token=None, claims=claims_of(user_tokens, ANA.upper()))
    assert answer.status == 200
    assert {e["user_id"] for e in answer.body["events"]} == {ANA}


@pytest.mark.parametrize("subject", ["auth0|5f7c8ec7c33c6c004bbafe82", "1234567890", f"{{{ANA}}}", f"{ANA}\n"])
def test_a_subject_that_is_not_a_uuid_is_403_naming_sub(api: Api, user_tokens: Issuer, subject: str) -> None:
    answer = api.get(ME, token=None, claims=claims_of(user_tokens, subject))
    assert answer.status == 403
    assert answer.body["errors"][0]["field"] == "sub"
    assert "is not a UUID" in answer.body["errors"][0]["reason"]


@pytest.mark.parametrize("token", [ADMIN_TOKEN, None])
def test_no_verified_claims_is_401_even_with_the_admin_token(
    api: Api, user_tokens: Issuer, two_users: None, token: str | None
) -> None:
    answer = api.get(ME, token=token)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "events" not in answer.body


def test_claims_of_another_issuer_are_401(api: Api, user_tokens: Issuer, two_users: None) -> None:
    claims = {**claims_of(user_tokens, ANA), "iss": "https://other-tenant.example.com/"}
    answer = api.get(ME, token=None, claims=claims)
    assert answer.status == 401
    assert answer.body["errors"][0]["field"] == "iss"


def test_without_a_configured_issuer_every_request_is_refused(
    api: Api, issuer: Issuer, two_users: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    claims = claims_of(issuer, ANA)
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    settings.reload()
    answer = api.get(ME, token=None, claims=claims)
    assert answer.status == 401
    assert "no JWT issuer is configured" in answer.body["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"signal": "retry_maybe"}, "signal"), ({"cursor": "garbage"}, "cursor")],
)
def test_bad_parameters_are_400_naming_the_field(
    api: Api, user_tokens: Issuer, db: psycopg.Connection, query: dict[str, Any], field: str
) -> None:
    answer = api.get(ME, query=query, token=None, claims=claims_of(user_tokens, ANA))
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == field


def test_the_sample_event_reads_its_users_events(
    invoke: Any, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    event = json.loads((ROOT / "events" / "user-telemetry.json").read_text())
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    monkeypatch.setenv("JWT_ISSUER", claims["iss"])
    settings.reload()
    db.execute(
        "INSERT INTO resilience_metrics (user_id, session_id, component, signal) VALUES (%s, 's', 'Cart', %s)",
        (claims["sub"], "retry_success"),
    )
    answer = invoke("UserTelemetryFunction", event)
    assert answer["statusCode"] == 200
    assert [e["user_id"] for e in json.loads(answer["body"])["events"]] == [claims["sub"]]
