"""Settings of every function and of the local runner, read once from the environment."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field, ValidationError


class SettingsError(RuntimeError):
    """A setting is missing or malformed; raised at cold start so it fails loudly."""


class Settings(BaseModel):
    database_url: str | None = None
    database_secret_arn: str | None = None
    # Fill in, or replace, what the secret says: RDS-managed secrets hold only the credentials,
    # and an RDS Proxy's endpoint replaces the database's own host.
    database_host: str | None = None
    database_name: str | None = None
    admin_token: str | None = None
    admin_token_secret_arn: str | None = None

    retention_days: int = Field(90, ge=1, le=3650)
    rollup_retention_days: int = Field(400, ge=1, le=36500)
    alert_retention_days: int = Field(180, ge=1, le=36500)
    partitions_ahead_days: int = Field(7, ge=1, le=90)

    max_events_per_request: int = Field(500, ge=1)
    max_event_bytes: int = Field(32 * 1024, ge=256)
    max_request_bytes: int = Field(1024 * 1024, ge=1024)
    max_future_skew_seconds: int = Field(300, ge=0)

    alert_rules: str | None = None
    alert_rules_parameter: str | None = None
    alert_topic_arn: str | None = None
    alert_emails: str | None = None
    slack_webhook_url: str | None = None
    slack_webhook_secret_arn: str | None = None
    slack_webhook_parameter: str | None = None
    dashboard_url: str | None = None
    # Components whose rates each alert evaluation publishes as CloudWatch metrics (the busiest first).
    metrics_component_limit: int = Field(20, ge=0, le=500)


def _from_env(environ: dict[str, str]) -> Settings:
    values = {name: environ[name.upper()] for name in Settings.model_fields if environ.get(name.upper(), "") != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from exc


@cache
def settings() -> Settings:
    """The process's settings; tests call settings.cache_clear() after changing the environment."""
    return _from_env(dict(os.environ))
