"""Secrets and parameters: plain settings locally, Secrets Manager / SSM through Powertools in AWS."""

from __future__ import annotations

import json
from urllib.parse import quote

from resilience.settings import SettingsError, settings

# Secrets rotate; five minutes bounds how long a rotated value can be stale.
CACHE_SECONDS = 300


def _secret(arn: str) -> str:
    # Imported on first use: it brings in boto3, which local runs and DATABASE_URL setups never need.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else value.decode()


def database_conninfo() -> str:
    """DATABASE_URL, or a URL built from an RDS-style secret (username, password, host, port, dbname)."""
    s = settings()
    if s.database_url:
        return s.database_url
    if not s.database_secret_arn:
        raise SettingsError("set DATABASE_URL or DATABASE_SECRET_ARN")
    raw = _secret(s.database_secret_arn)
    if raw.startswith("postgres"):
        return raw
    secret = json.loads(raw)
    user = quote(secret["username"], safe="")
    password = quote(secret["password"], safe="")
    host = secret["host"]
    port = secret.get("port", 5432)
    dbname = secret.get("dbname", "postgres")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?sslmode=require"


def admin_token() -> str | None:
    s = settings()
    if s.admin_token:
        return s.admin_token
    if s.admin_token_secret_arn:
        return _secret(s.admin_token_secret_arn)
    return None
