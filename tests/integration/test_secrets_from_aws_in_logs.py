"""Secrets fetched from Secrets Manager stay out of the logs, even with every logger at DEBUG."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest

from resilience import settings
from tests.conftest import Api
from tests.integration.test_slack_notifier import alert_event
from tests.slack_listener import SlackListener


def test_secrets_manager_values_never_reach_a_log_line(
    api: Api,
    db: psycopg.Connection,
    slack: SlackListener,
    secrets_manager: Any,
    invoke: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = f"adm-{uuid.uuid4().hex}"
    token_arn = secrets_manager.create_secret(Name="admin", SecretString=token)["ARN"]
    webhook_arn = secrets_manager.create_secret(Name="slack", SecretString=f'{{"url": "{slack.url}"}}')["ARN"]
    monkeypatch.setenv("ADMIN_TOKEN", "")
    monkeypatch.setenv("ADMIN_TOKEN_SECRET_ARN", token_arn)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", webhook_arn)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    settings.reload()
    caplog.set_level(logging.DEBUG)  # every logger, boto's and urllib3's included

    assert api.get("/v1/alerts", token=token).status == 200
    assert api.get("/v1/alerts", token="wrong").status == 401
    slack.answer(503, "unavailable")
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}

    printed = caplog.text + "\n".join(capsys.readouterr())
    assert "DEBUG" in printed
    assert token not in printed
    assert slack.url not in printed
    assert "/services/T000/B000/XXXX" not in printed
