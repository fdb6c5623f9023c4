"""Secrets and parameters: plain settings locally, Secrets Manager / SSM through Powertools in AWS."""

from __future__ import annotations

import json

from psycopg.conninfo import make_conninfo

from resilience.settings import SettingsError, settings

# Secrets rotate; five minutes bounds how long a rotated value can be stale.
CACHE_SECONDS = 300


def _secret(arn: str) -> str:
    # Imported on first use: it brings in boto3, which local runs and DATABASE_URL setups never need.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else value.decode()


def database_conninfo() -> str:
    """DATABASE_URL, or connection details from the database's secret.

    The secret is a postgresql:// URL or RDS-style JSON (username, password, host, port, dbname);
    DATABASE_HOST and DATABASE_NAME fill in or replace its host and database name.
    """
    s = settings()
    if s.database_url:
        return s.database_url
    if not s.database_secret_arn:
        raise SettingsError("set DATABASE_URL or DATABASE_SECRET_ARN")
    raw = _secret(s.database_secret_arn)
    overrides = {key: value for key, value in (("host", s.database_host), ("dbname", s.database_name)) if value}
    if raw.startswith("postgres"):
        return make_conninfo(raw, **overrides)
    secret = json.loads(raw)
    host = overrides.get("host") or secret.get("host")
    if not host:
        raise SettingsError("the database secret has no host: set DATABASE_HOST")
    return make_conninfo(
        user=secret["username"],
        password=secret["password"],
        host=host,
        port=str(secret.get("port", 5432)),
        dbname=overrides.get("dbname") or secret.get("dbname", "postgres"),
        sslmode="require",
    )


def admin_token() -> str | None:
    s = settings()
    if s.admin_token:
        return s.admin_token
    if s.admin_token_secret_arn:
        return _secret(s.admin_token_secret_arn)
    return None
