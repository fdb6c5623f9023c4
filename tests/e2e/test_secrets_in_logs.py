"""Secrets stay out of logs: the main flows, every logger at DEBUG, print no token, key, webhook or password."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from resilience.ingest_tokens import mint
from tests.conftest import ROOT, call, free_port, runner_env, signal_event, start_runner, stop_runner
from tests.slack_listener import slack_listener

ADMIN_NEW, ADMIN_OLD = f"adm-new-{uuid.uuid4().hex}", f"adm-old-{uuid.uuid4().hex}"
INGEST_KEY = f"pk-{uuid.uuid4().hex}"
INGEST_TOKEN_SECRET = f"its-{uuid.uuid4().hex}"
USER = str(uuid.uuid4())
INGEST_TOKEN = mint(INGEST_TOKEN_SECRET, USER, datetime.now(UTC) + timedelta(minutes=30))
DB_PASSWORD = f"db-pw-{uuid.uuid4().hex}"
# A rule that fires on the first breach, so the flow reaches Slack in one evaluation.
RULES = [
    {"name": "rollbacks", "metric": "rollback_rate", "operator": "gt", "threshold": 5, "severity": "critical",
     "window_minutes": 60, "min_samples": 1, "pending_minutes": 0, "repeat_minutes": 60, "per_component": False}
]  # fmt: skip


def with_password(database_url: str, db: psycopg.Connection) -> str:
    """The test database reached as a role with a password, so the password is in DATABASE_URL."""
    role = f"rt_logs_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'")
    return psycopg.conninfo.make_conninfo(database_url, user=role, password=DB_PASSWORD)


def invoke(env: dict[str, str], function: str, tmp_path: Path) -> str:
    """`python -m local invoke` (make invoke) on a scheduled event of now; returns everything it printed."""
    from local import triggers

    event = tmp_path / f"{function}.json"
    event.write_text(json.dumps(triggers.scheduled(function)))
    result = subprocess.run(
        [sys.executable, "-m", "local", "invoke", function, "--event", str(event)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def test_no_secret_reaches_any_log_line_at_debug(database_url: str, db: psycopg.Connection, tmp_path: Path) -> None:
    with slack_listener() as slack:
        slack.answer(500, "internal_error")  # a retry: slack_sdk used to log the URL with it
        env = runner_env(
            DATABASE_URL=with_password(database_url, db),
            ADMIN_TOKEN=f"{ADMIN_NEW},{ADMIN_OLD}",
            INGEST_KEYS=INGEST_KEY,
            INGEST_TOKEN_SECRET=INGEST_TOKEN_SECRET,
            SLACK_WEBHOOK_URL=slack.url,
            ALERT_RULES=json.dumps(RULES),
            ALERT_EMAILS="ops@example.com",
            POWERTOOLS_LOG_LEVEL="DEBUG",
            LOCAL_DIR=str(tmp_path),
        )
        port = free_port()
        process, lines = start_runner(env, port)
        base = f"http://127.0.0.1:{port}"
        outputs: list[str] = []
        try:
            events = [signal_event("optimistic_action_rollback", id=str(uuid.uuid4())) for _ in range(5)]
            assert call("POST", f"{base}/v1/telemetry", {"events": events})[0] == 401
            answer = _post_with_key(f"{base}/v1/telemetry", {"events": events})
            assert answer == 200
            signed = [signal_event("optimistic_action_success", id=str(uuid.uuid4()))]
            assert _post_with_key(f"{base}/v1/telemetry", {"events": signed}, token=INGEST_TOKEN) == 200
            for token in (ADMIN_NEW, ADMIN_OLD):
                for path in ("/v1/metrics", "/v1/components", "/v1/telemetry", "/v1/alerts", "/v1/metrics/series"):
                    assert call("GET", base + path, token=token)[0] == 200, path
            assert call("GET", f"{base}/v1/alerts", token="not-the-token")[0] == 401
            for path in ("/docs", "/dashboard", "/v1/health"):
                assert _get(base + path) == 200
            outputs.append(invoke(env, "AlertEvaluationFunction", tmp_path))
            outputs.append(invoke(env, "RefreshFunction", tmp_path))
            outputs.append(invoke(env, "CleanupFunction", tmp_path))
        finally:
            stopped = stop_runner(process)
        # The banner shows the current admin token, as `make run` promises; no log line carries it.
        banner = [line for line in lines if "Admin token" in line]
        assert len(banner) == 1
        assert ADMIN_NEW in banner[0]
        assert ADMIN_OLD not in banner[0]
        outputs.append("".join(line for line in lines if line not in banner) + stopped)
        # The flows did run: the alert reached Slack (after a retry) and was acknowledged by nobody yet.
        assert len(slack.accepted) == 1
    printed = "\n".join(outputs)
    assert '"service":"resilience-telemetry"' in printed, "the functions' Powertools Logger lines are here"
    assert " DEBUG " in printed, "the libraries logged at DEBUG"
    secrets = {
        "admin token": ADMIN_NEW,
        "previous admin token": ADMIN_OLD,
        "ingest key": INGEST_KEY,
        "ingest token secret": INGEST_TOKEN_SECRET,
        "ingest token": INGEST_TOKEN,
        "Slack webhook URL": slack.url,
        "Slack webhook path": "/services/T000/B000/XXXX",
        "database password": DB_PASSWORD,
    }
    leaked = {name: _line_with(printed, value) for name, value in secrets.items() if value in printed}
    assert leaked == {}


def _post_with_key(url: str, body: Any, token: str | None = None) -> int:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("x-ingest-key", INGEST_KEY)
    if token:
        request.add_header("x-ingest-token", token)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def _get(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as answer:
        return int(answer.status)


def _line_with(text: str, value: str) -> str:
    return next(line for line in text.splitlines() if value in line)[:300]
