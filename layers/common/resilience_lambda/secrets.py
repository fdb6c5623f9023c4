"""Secrets and parameters: plain settings locally, Secrets Manager / SSM through Powertools in AWS."""

from __future__ import annotations

import json

from resilience.settings import AdminSettings, DatabaseSettings, SettingsError, load
from resilience.store.database import conninfo

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
    """DATABASE_URL, or connection details from the database's secret.

    The secret is a postgresql:// URL or RDS-style JSON (username, password, host, port, dbname);
    DATABASE_HOST and DATABASE_NAME fill in or replace its host and database name.
    """
    s = load(DatabaseSettings)
    if s.database_url:
        return s.database_url
    raw = secret(str(s.database_secret_arn))
    overrides = {key: value for key, value in (("host", s.database_host), ("dbname", s.database_name)) if value}
    if raw.startswith("postgres"):
        return conninfo(raw, **overrides)
    document = json.loads(raw)
    host = overrides.get("host") or document.get("host")
    if not host:
        raise SettingsError("the database secret has no host: set DATABASE_HOST")
    return conninfo(
        user=document["username"],
        password=document["password"],
        host=host,
        port=str(document.get("port", 5432)),
        dbname=overrides.get("dbname") or document.get("dbname", "postgres"),
        sslmode="require",
    )


def admin_token() -> str:
    s = load(AdminSettings)
    return s.admin_token or secret(str(s.admin_token_secret_arn))
