"""Secrets and parameters: plain settings locally, Secrets Manager / SSM through Powertools in AWS."""

from __future__ import annotations

import json
import logging

from resilience.settings import (
    MIN_SECRET_LENGTH,
    AdminSettings,
    DatabaseSettings,
    IngestTokenSettings,
    ReaderSettings,
    SettingsError,
    load,
)
from resilience.store.database import conninfo

# botocore logs every response body at DEBUG, and a secret's value is the body of its response:
# that logger never goes below INFO, whatever level the process runs at.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)

# Secrets rotate; five minutes bounds how long a rotated value can be stale, without a lookup per use.
CACHE_SECONDS = 300


def secret(arn: str, *, fresh: bool = False) -> str:
    """A Secrets Manager secret's value, cached; fresh: read again now, and cached anew."""
    # Imported on first use: it brings in boto3, which local runs and DATABASE_URL setups never need.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=CACHE_SECONDS, force_fetch=fresh)
    return value if isinstance(value, str) else value.decode()


def parameter(name: str) -> str:
    """An SSM parameter's value (a SecureString decrypted), cached."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else value.decode()


def database_conninfo(host: str | None = None, *, fresh: bool = False) -> str:
    """DATABASE_URL, or connection details from the database's secret.

    The secret is a postgresql:// URL or RDS-style JSON (username, password, host, port, dbname);
    DATABASE_HOST and DATABASE_NAME fill in or replace its host and database name, and `host`, when
    given, replaces the host again (a reader endpoint of the same database). fresh: the secret is
    read again rather than taken from the cache (the password was refused: it has been rotated).
    """
    s = load(DatabaseSettings)
    if s.database_url:
        return conninfo(s.database_url, host=host) if host else s.database_url
    raw = secret(str(s.database_secret_arn), fresh=fresh)
    overrides = {key: value for key, value in (("host", host or s.database_host), ("dbname", s.database_name)) if value}
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


def reader_conninfo(*, fresh: bool = False) -> str:
    """Where reads go: DATABASE_READER_URL, or the database's own details with DATABASE_READER_HOST as the host.

    The same credentials and rules as the writer's (database_conninfo): a reader endpoint is the
    same cluster, signed in to as the same user.
    """
    s = load(ReaderSettings)
    if s.database_reader_url:
        return s.database_reader_url
    return database_conninfo(host=s.database_reader_host, fresh=fresh)


def previous_secret(arn: str) -> str | None:
    """The secret's previous value (its AWSPREVIOUS version), cached; None when it has none."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    # A provider of its own, as Powertools' cache key ignores the version asked for; kept among
    # Powertools' providers so that clearing their caches clears it too.
    provider = DEFAULT_PROVIDERS.get(_PREVIOUS) or DEFAULT_PROVIDERS.setdefault(_PREVIOUS, SecretsProvider())
    absent = (_PREVIOUS, arn)
    if provider.has_not_expired_in_cache(absent):
        return None
    try:
        value = provider.get(arn, max_age=CACHE_SECONDS, VersionStage="AWSPREVIOUS")
    except GetParameterError:
        # A secret never rotated has no previous version: remembered as long as a value would be.
        provider.add_to_cache(absent, "", CACHE_SECONDS)
        return None
    return value if isinstance(value, str) or value is None else value.decode()


_PREVIOUS = "secrets-previous-version"


def admin_tokens() -> tuple[str, ...]:
    """The admin tokens accepted now: ADMIN_TOKEN's (one, or "new,old" during a rotation), or the
    secret's current and previous values, so a rotation of the secret needs no downtime."""
    s = load(AdminSettings)
    if s.tokens:
        return s.tokens
    arn = str(s.admin_token_secret_arn)
    current, previous = secret(arn), previous_secret(arn)
    return (current, previous) if previous and previous != current else (current,)


def ingest_token_secrets() -> tuple[str, ...]:
    """The secrets ingest tokens may be signed with: INGEST_TOKEN_SECRET's ("new,old" while rotating), or
    the secret's current and previous values; none when tokens are not in use."""
    s = load(IngestTokenSettings)
    if s.secrets or not s.ingest_token_secret_arn:
        return s.secrets
    arn = s.ingest_token_secret_arn
    current, previous = secret(arn), previous_secret(arn)
    if len(current) < MIN_SECRET_LENGTH:
        # The value itself is never repeated: this message reaches the logs.
        raise SettingsError(f"INGEST_TOKEN_SECRET_ARN: the secret must be at least {MIN_SECRET_LENGTH} characters")
    return (current, previous) if previous and previous != current else (current,)
