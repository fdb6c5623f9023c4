"""GET /v1/telemetry and GET /v1/health: admin reads of raw events, and the unauthenticated health check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import Api, signal_event


def ingest(api: Api, *events: dict[str, object]) -> None:
    assert api.post("/v1/telemetry", {"events": list(events)}, token=None).status == 200


def test_health_needs_no_token_and_reports_the_database(api: Api, db: psycopg.Connection) -> None:
    answer = api.get("/v1/health", token=None)
    assert answer.status == 200
    assert (answer.body["status"], answer.body["database"]) == ("ok", "ok")


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_reading_events_needs_the_admin_token(api: Api, db: psycopg.Connection, token: str | None) -> None:
    answer = api.get("/v1/telemetry", token=token)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_events_are_listed_newest_first_with_filters(api: Api, db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    ingest(
        api,
        signal_event("retry_success", component="A", ts=(now - timedelta(minutes=3)).isoformat()),
        signal_event("retry_failure", component="B", ts=(now - timedelta(minutes=2)).isoformat(), session_id="s9"),
        signal_event("retry_success", component="A", ts=(now - timedelta(minutes=1)).isoformat()),
        signal_event("retry_success", component="A", ts=(now - timedelta(hours=30)).isoformat()),
    )
    everything = api.get("/v1/telemetry").body
    assert [e["component"] for e in everything["events"]] == ["A", "B", "A"]
    # Timestamps read as they were sent: ISO 8601 with the offset.
    assert everything["events"][0]["ts"] == (now - timedelta(minutes=1)).isoformat()
    assert datetime.fromisoformat(everything["events"][0]["received_at"]).utcoffset() == timedelta(0)
    assert everything["next_cursor"] is None
    assert len(api.get("/v1/telemetry", query={"component": "A"}).body["events"]) == 2
    assert len(api.get("/v1/telemetry", query={"signal": "retry_failure"}).body["events"]) == 1
    assert len(api.get("/v1/telemetry", query={"session_id": "s9"}).body["events"]) == 1
    since = (now - timedelta(hours=31)).isoformat()
    assert len(api.get("/v1/telemetry", query={"from": since}).body["events"]) == 4


def test_a_limit_pages_with_a_cursor(api: Api, db: psycopg.Connection) -> None:
    ingest(api, *[signal_event("retry_success") for _ in range(5)])
    first = api.get("/v1/telemetry", query={"limit": 3}).body
    assert len(first["events"]) == 3
    second = api.get("/v1/telemetry", query={"limit": 3, "cursor": first["next_cursor"]}).body
    assert len(second["events"]) == 2
    assert second["next_cursor"] is None
    assert not {e["id"] for e in first["events"]} & {e["id"] for e in second["events"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"signal": "retry_maybe"}, "signal"),
        ({"from": "last tuesday"}, "from"),
        ({"from": "2026-11-26T10:00:00"}, "from"),
        ({"from": "2026-11-26T10:00:00Z", "to": "2026-11-26T09:00:00Z"}, "from"),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    api: Api, db: psycopg.Connection, query: dict[str, object], field: str
) -> None:
    answer = api.get("/v1/telemetry", query=query)
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == field
    assert answer.body["errors"][0]["reason"]


def test_text_filters_with_a_nul_character_are_refused_naming_the_field(api: Api, db: psycopg.Connection) -> None:
    # Postgres text cannot hold NUL: found by fuzzing, these were 500s.
    for path, query in (("/v1/telemetry", {"session_id": "a\x00b"}), ("/v1/metrics", {"component": "a\x00b"})):
        answer = api.get(path, query=query)
        assert answer.status == 400
        assert answer.body["errors"][0]["reason"] == "must not contain NUL characters"


def test_timestamps_given_as_numbers_are_refused(api: Api, db: psycopg.Connection) -> None:
    answer = api.get("/v1/metrics", query={"to": "0.5"})
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "to"
