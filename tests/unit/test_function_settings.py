"""Each function checks its settings at cold start: a missing or malformed one fails there, naming the variable."""

from __future__ import annotations

import pytest

from local import functions
from local.template import load
from resilience import settings
from resilience.settings import SettingsError

# A value each variable refuses.
MALFORMED = {
    "RETENTION_DAYS": "ninety",
    "ROLLUP_RETENTION_DAYS": "0",
    "ALERT_RETENTION_DAYS": "-1",
    "PARTITIONS_AHEAD_DAYS": "365",
    "MAX_EVENTS_PER_REQUEST": "0",
    "ALERT_RULES": '[{"name": "rollbacks", "metric": "rollbak_rate"}]',
    "DASHBOARD_URL": "dashboard.example.com",
    "SLACK_WEBHOOK_URL": "hooks.slack.com/services/T000/B000/XXXX",
    "INGEST_MODE": "sometimes",
    "DATABASE_CONNECT_TIMEOUT_SECONDS": "0",
}
TEMPLATE = load()


def refused(logical_id: str) -> str:
    """The message of the settings error the function's cold start raises."""
    settings.reload()
    try:
        loaded = functions.cold_start(TEMPLATE.functions[logical_id])
    except SettingsError as raised:
        return str(raised)
    # The migration keeps what its cold start refused, to answer CloudFormation FAILED with it.
    assert isinstance(loaded.startup_error, SettingsError), f"{logical_id} started with a refused setting"
    return str(loaded.startup_error)


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.functions))
def test_a_function_starts_with_its_settings_and_fails_at_cold_start_naming_a_missing_or_malformed_one(
    logical_id: str, lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configuration = functions.cold_start(TEMPLATE.functions[logical_id]).configuration
    checks = 0
    for alternatives in configuration.required:
        with monkeypatch.context() as unset:
            for name in alternatives:
                unset.delenv(name, raising=False)
            message = refused(logical_id)
        assert all(name in message for name in alternatives), message
        checks += 1
    for name in configuration.variables:
        if name in MALFORMED:
            with monkeypatch.context() as wrong:
                wrong.setenv(name, MALFORMED[name])
                message = refused(logical_id)
            assert name in message, message
            checks += 1
    assert checks, f"{logical_id}: none of {configuration.variables} is required or has a malformed example"


def test_the_message_says_what_is_wrong_with_the_value(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_RULES", MALFORMED["ALERT_RULES"])
    message = refused("AlertEvaluationFunction")
    assert "ALERT_RULES" in message
    assert "rule 'rollbacks' (#0): metric: unknown metric" in message
    monkeypatch.delenv("DATABASE_URL")
    assert "DATABASE_URL or DATABASE_SECRET_ARN: one of them must be set" in refused("IngestFunction")


def test_queued_ingest_without_its_queue_fails_at_cold_start(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_MODE", "queued")
    monkeypatch.delenv("INGEST_QUEUE_URL", raising=False)
    assert "INGEST_MODE is queued, so INGEST_QUEUE_URL must be set" in refused("IngestFunction")
