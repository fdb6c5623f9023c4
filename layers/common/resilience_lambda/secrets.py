"""Secrets and parameters: plain settings locally, Secrets Manager / SSM through Powertools in AWS."""

from __future__ import annotations

import json
from urllib.parse import quote

from resilience.settings import AdminSettings, DatabaseSettings, load

# Secrets rotate; five minutes bounds how long a rotated value can be stale, without a lookup per use.
CACHE_SECONDS = 300


def secret(arn: str) -> str:
    """A Secrets Manager secret's value, cached."""
    # Imported on first use: it brings in boto3, which local runs and DATABASE_URL setups never need.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else value.decode()


def parameter(name: str) -> str:
    """An SSM parameter's value (a SecureString decrypted), cached."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else value.decode()


def database_conninfo() -> str:
    """DATABASE_URL, or a URL built from an RDS-style secret (username, password, host, port, dbname)."""
    s = load(DatabaseSettings)
    if s.database_url:
        return s.database_url
    raw = secret(str(s.database_secret_arn))
    if raw.startswith("postgres"):
        return raw
    document = json.loads(raw)
    user = quote(document["username"], safe="")
    password = quote(document["password"], safe="")
    host = document["host"]
    port = document.get("port", 5432)
    dbname = document.get("dbname", "postgres")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?sslmode=require"


def admin_token() -> str:
    s = load(AdminSettings)
    return s.admin_token or secret(str(s.admin_token_secret_arn))
