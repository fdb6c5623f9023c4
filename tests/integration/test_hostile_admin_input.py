"""Hostile input to every route but ingest: never a 5xx, every refusal names the field and why, nothing half-written.

The requests come from load/hostile/admin.py, the strategies a load command draws from too; each goes
through the function template.yaml routes it to, against the real database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load.hostile import admin
from load.hostile.admin import HostileRequest
from resilience import settings as app_settings
from resilience.jobs.evaluation import evaluate
from resilience.rules import Rule
from resilience.store.alerts import list_alerts
from tests.conftest import Answer, Api

# Derandomized, so CI runs the same requests every time and a failure comes back on the next run.
HOSTILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
ISSUER = "https://issuer.example.com"
SUBJECT = str(uuid.uuid4())
# Every table a route of these writes; a refused request leaves each as it was.
WRITTEN = ("silences", "alerts", "alert_events", "alert_outbox")
UNAUTHENTICATED = ("GET /v1/me/telemetry", "GET /v1/health", "GET /dashboard", "GET /dashboard/{name}", "GET /docs")


@pytest.fixture
def seeded(api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Events of the signed-in subject, a firing alert and a silence, so requests reach past every lookup."""
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    app_settings.reload()
    now = datetime.now(UTC)
    db.execute(
        """INSERT INTO resilience_metrics (ts, user_id, session_id, component, signal)
           SELECT %s - g * interval '1 second', %s, 's', 'CheckoutForm', 'optimistic_action_rollback'
           FROM generate_series(1, 12) g""",
        (now, SUBJECT),
    )
    evaluate(db, [Rule(name="rollbacks", metric="rollback_rate", pending_minutes=0, per_component=True)], now=now)
    ends = (now + timedelta(hours=1)).isoformat()
    made = api.post(
        "/v1/silences", {"matchers": {"component": "Search"}, "ends_at": ends, "comment": "known", "by": "ana"}
    )
    assert made.status == 201, made.body
    return {"alerts": [a.id for a in list_alerts(db)], "silences": [made.body["id"]]}


def snapshot(db: psycopg.Connection) -> dict[str, Any]:
    """Each written table's row count and a digest of its rows."""
    digest = "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
    return {table: db.execute(digest.format(table)).fetchone() for table in WRITTEN}


def send(api: Api, request: HostileRequest) -> Answer:
    own = request.route == "GET /v1/me/telemetry"
    return api.request(
        request.method,
        request.path,
        query=request.query,
        body=request.body,
        token=None if request.route in UNAUTHENTICATED else "test-admin-token",
        claims={"iss": ISSUER, "sub": SUBJECT} if own else None,
    )


def holds(api: Api, db: psycopg.Connection, request: HostileRequest) -> Answer:
    """Sends the request and checks the one invariant: a sound answer, and a refusal writes nothing."""
    before = snapshot(db)
    answer = send(api, request)
    assert not admin.problems(request, answer.status, answer.body), (request, answer.status, answer.body)
    if answer.status >= 400 or request.method == "GET":
        assert snapshot(db) == before, (request, answer.status, answer.body)
    return answer


@HOSTILE
@given(st.one_of(admin.metrics(), admin.series(), admin.components()))
def test_rates_and_series_answer_every_hostile_window_and_filter_with_a_4xx_naming_the_field(
    api: Api, db: psycopg.Connection, seeded: dict[str, list[int]], request: HostileRequest
) -> None:
    holds(api, db, request)


@HOSTILE
@given(st.one_of(admin.telemetry(), admin.own_telemetry()))
def test_event_pages_answer_hostile_filters_and_forged_cursors_with_a_4xx_naming_the_field(
    api: Api, db: psycopg.Connection, seeded: dict[str, list[int]], request: HostileRequest
) -> None:
    holds(api, db, request)


@HOSTILE
@given(st.data())
def test_alert_routes_refuse_hostile_ids_and_bodies_and_write_nothing_then(
    api: Api, db: psycopg.Connection, seeded: dict[str, list[int]], data: st.DataObject
) -> None:
    known = st.sampled_from(seeded["alerts"])
    request = data.draw(st.one_of(admin.alerts(), admin.alert(known), admin.acknowledge(known)))
    answer = holds(api, db, request)
    if request.method == "POST" and answer.status == 200:
        acknowledged = db.execute("SELECT acknowledged_at IS NOT NULL FROM alerts WHERE id = %s", (answer.body["id"],))
        assert acknowledged.fetchone() == (True,)


@HOSTILE
@given(st.data())
def test_silence_routes_refuse_hostile_fields_and_store_only_whole_silences(
    api: Api, db: psycopg.Connection, seeded: dict[str, list[int]], data: st.DataObject
) -> None:
    known = st.sampled_from(seeded["silences"])
    # Creation has the most fields to get wrong: it gets most of the examples.
    creating = admin.new_silence()
    request = data.draw(st.one_of(creating, creating, creating, admin.silences(), admin.expire_silence(known)))
    [before] = db.execute("SELECT count(*) FROM silences").fetchall()
    answer = holds(api, db, request)
    if request.method == "POST" and answer.status == 201:
        assert db.execute("SELECT count(*) FROM silences").fetchall() == [(before[0] + 1,)]
        stored = db.execute("SELECT starts_at < ends_at FROM silences WHERE id = %s", (answer.body["id"],)).fetchone()
        assert stored == (True,)


@settings(HOSTILE, max_examples=60)
@given(admin.pages())
def test_pages_and_health_ignore_hostile_query_strings_and_names(
    api: Api, db: psycopg.Connection, seeded: dict[str, list[int]], request: HostileRequest
) -> None:
    holds(api, db, request)
