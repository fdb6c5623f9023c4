"""Silences and mute times through the API and the evaluation: what they hush, when, and what is told after."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from resilience import settings
from resilience_lambda.alerting import evaluate_and_publish
from tests.conftest import Api, signal_event
from tests.slack_listener import SlackListener

RULE = {
    "name": "checkout",
    "metric": "rollback_rate",
    "per_component": True,
    "window_minutes": 240,
    "pending_minutes": 0,
    "repeat_minutes": 30,
}


@pytest.fixture
def breaching(api: Api, slack: SlackListener, local_topic: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Checkout and Search both breach the rule; returns an evaluation `minutes` after the first one."""

    def configure(rule: dict[str, Any] = RULE) -> Callable[[float], dict[str, Any]]:
        monkeypatch.setenv("ALERT_RULES", json.dumps([rule]))
        settings.reload()
        for component in ("Checkout", "Search"):
            batch = [signal_event("optimistic_action_rollback", component) for _ in range(10)]
            batch += [signal_event("optimistic_action_success", component) for _ in range(10)]
            assert api.post("/v1/telemetry", {"events": batch}, token=None).body["accepted"] == 20
        first: list[datetime] = []

        def evaluate(minutes: float) -> dict[str, Any]:
            # Counted from the first evaluation, so silences made before it are in force at minute 0.
            first.append(first[0] if first else datetime.now(UTC))
            return evaluate_and_publish(now=first[0] + timedelta(minutes=minutes))

        return evaluate

    return configure


def silence(api: Api, minutes: float = 60, **matchers: str) -> dict[str, Any]:
    ends = datetime.now(UTC) + timedelta(minutes=minutes)
    answer = api.post(
        "/v1/silences", {"matchers": matchers, "ends_at": ends.isoformat(), "comment": "deploying a fix", "by": "ana"}
    )
    assert answer.status == 201, answer.body
    return dict(answer.body)


def told(slack: SlackListener) -> list[str]:
    """Each Slack message's first line."""
    return [text.splitlines()[0] for text in slack.texts]


def expire(api: Api, silence_id: int, db: psycopg.Connection, minutes_ago: float = 0) -> None:
    """Expires a silence (through the API); `minutes_ago` moves its end back, as if it had ended then."""
    assert api.request("DELETE", f"/v1/silences/{silence_id}").status == 200
    if minutes_ago:
        db.execute(
            "UPDATE silences SET ends_at = ends_at - %s WHERE id = %s", (timedelta(minutes=minutes_ago), silence_id)
        )


def test_a_silenced_alert_changes_state_is_listed_silenced_and_sends_nothing(
    api: Api, slack: SlackListener, breaching: Callable[..., Any]
) -> None:
    evaluate = breaching()
    made = silence(api, minutes=120, component="Checkout")
    evaluate(0)
    # Search is not silenced: its alert alone is told.
    [message] = slack.posts
    assert "component Search" in message["text"]
    alerts = {a["component"]: a for a in api.get("/v1/alerts").body["alerts"]}
    assert alerts["Checkout"]["state"] == "firing"
    assert (alerts["Checkout"]["silenced"], alerts["Checkout"]["silenced_by"]) == (True, f"silence {made['id']} by ana")
    assert alerts["Search"]["silenced"] is False
    for minutes in (5, 35, 65):  # reminders fall due, and are held back too
        evaluate(minutes)
    assert [("Search" in t) for t in told(slack)] == [True, True, True]


def test_an_alert_still_firing_when_its_silence_ends_is_told_once_then(
    api: Api, slack: SlackListener, breaching: Callable[..., Any], db: psycopg.Connection
) -> None:
    evaluate = breaching()
    made = silence(api, rule="checkout")
    for minutes in (0, 5, 40):
        evaluate(minutes)
    assert slack.posts == []
    expire(api, made["id"], db)
    evaluate(45)
    # Both alerts were held back: one message tells of both, as firing (nobody heard them fire).
    assert told(slack) == [":rotating_light: 2 alerts [warning]: 2 firing"]
    evaluate(50)
    evaluate(55)
    assert len(slack.posts) == 1


def test_overlapping_silences_hush_until_the_last_one_ends(
    api: Api, slack: SlackListener, breaching: Callable[..., Any], db: psycopg.Connection
) -> None:
    evaluate = breaching()
    by_component = silence(api, component="Checkout")
    by_metric = silence(api, metric="rollback_rate")
    evaluate(0)
    assert slack.posts == []
    expire(api, by_metric["id"], db)
    evaluate(5)
    # Search is free now; Checkout is still covered by the other silence.
    assert len(slack.posts) == 1
    assert "component Search" in slack.texts[0]
    checkout = next(a for a in api.get("/v1/alerts").body["alerts"] if a["component"] == "Checkout")
    assert checkout["silenced_by"] == f"silence {by_component['id']} by ana"
    expire(api, by_component["id"], db)
    evaluate(10)
    assert len(slack.posts) == 2
    assert "component Checkout" in slack.texts[1]
    assert slack.texts[1].startswith(":rotating_light: FIRING")


def test_a_mute_time_hushes_like_a_silence_while_it_is_in_force(
    api: Api, slack: SlackListener, breaching: Callable[..., Any]
) -> None:
    now = datetime.now(UTC)
    # A window covering the next 30 minutes, on today's (and, past midnight, tomorrow's) UTC clock.
    start, end = now - timedelta(minutes=1), now + timedelta(minutes=30)
    days = sorted({start.strftime("%a").lower(), end.strftime("%a").lower()})
    mute = {"name": "deploys", "weekdays": days, "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    evaluate = breaching({**RULE, "mute_times": [mute]})
    evaluate(0)
    evaluate(20)
    assert slack.posts == []
    listed = api.get("/v1/alerts").body["alerts"]
    assert {a["silenced_by"] for a in listed} == {"mute time deploys"}
    evaluate(40)  # the mute time is over: what it held back is told, once
    assert told(slack) == [":rotating_light: 2 alerts [warning]: 2 firing"]


def test_silences_are_listed_by_whether_they_are_in_force(api: Api, db: psycopg.Connection) -> None:
    current = silence(api, component="Checkout")
    later = api.post(
        "/v1/silences",
        {
            "matchers": {"rule": "checkout"},
            "starts_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
            "ends_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat(),
            "comment": "maintenance tonight",
            "by": "bo",
        },
    ).body
    assert [s["id"] for s in api.get("/v1/silences", query={"active": "true"}).body["silences"]] == [current["id"]]
    assert [s["id"] for s in api.get("/v1/silences", query={"active": "false"}).body["silences"]] == [later["id"]]
    assert len(api.get("/v1/silences").body["silences"]) == 2
    expired = api.request("DELETE", f"/v1/silences/{current['id']}").body
    assert datetime.fromisoformat(expired["ends_at"]) <= datetime.now(UTC)
    assert api.get("/v1/silences", query={"active": "true"}).body["silences"] == []
    assert current["matchers"] == {"component": "Checkout", "metric": None, "rule": None}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"matchers": {}, "ends_at": "2999-01-01T00:00:00Z", "comment": "c", "by": "b"}, "matchers", "at least one"),
        (
            {"matchers": {"metric": "latency"}, "ends_at": "2999-01-01T00:00:00Z", "comment": "c", "by": "b"},
            "matchers.metric",
            "unknown metric",
        ),
        (
            {"matchers": {"component": "A"}, "ends_at": "2001-01-01T00:00:00Z", "comment": "c", "by": "b"},
            "ends_at",
            "future",
        ),
        (
            {"matchers": {"component": "A"}, "ends_at": "2999-01-01T00:00:00", "comment": "c", "by": "b"},
            "ends_at",
            "UTC offset",
        ),
        (
            {"matchers": {"component": "A"}, "ends_at": "2999-01-01T00:00:00Z", "comment": " ", "by": "b"},
            "comment",
            "blank",
        ),
        ({"matchers": {"component": "A"}, "ends_at": "2999-01-01T00:00:00Z", "comment": "c"}, "by", "Field required"),
        (
            {
                "matchers": {"component": "A"},
                "starts_at": "2999-01-02T00:00:00Z",
                "ends_at": "2999-01-01T00:00:00Z",
                "comment": "c",
                "by": "b",
            },
            "ends_at",
            "after starts_at",
        ),
        ([1, 2], "body", "must be a JSON object"),
    ],
)
def test_a_bad_silence_is_a_400_naming_the_field_and_nothing_is_stored(
    api: Api, db: psycopg.Connection, body: Any, field: str, reason: str
) -> None:
    answer = api.post("/v1/silences", body)
    assert answer.status == 400
    [error] = answer.body["errors"]
    assert error["field"] == field
    assert reason in error["reason"]
    assert db.execute("SELECT count(*) FROM silences").fetchone() == (0,)


def test_silences_need_the_admin_token_and_an_unknown_one_is_a_404(api: Api, db: psycopg.Connection) -> None:
    assert api.get("/v1/silences", token=None).status == 401
    assert api.request("DELETE", "/v1/silences/1", token="wrong").status == 401
    assert api.request("DELETE", "/v1/silences/987654").status == 404
    assert api.request("DELETE", "/v1/silences/not-a-number").body["errors"] == [
        {"field": "id", "reason": "no silence not-a-number"}
    ]
