"""Settings: groups of environment variables, each function declaring the groups it needs and checking them at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from resilience.validation import reason

if TYPE_CHECKING:  # the rules are imported by the functions that read them, not by every function
    from resilience.rules import AlertRule


class SettingsError(RuntimeError):
    """A setting is missing or malformed; raised at cold start so it fails loudly, naming the variable."""


def variable(field: str) -> str:
    """The environment variable of a setting: retention_days -> RETENTION_DAYS."""
    return field.upper()


class Settings(BaseModel):
    """A group of settings, each read from the variable of its name in UPPER_SNAKE_CASE (an empty one is unset)."""

    # Built on first use: a function builds the validators of the groups it reads, not of every group.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    # Alternatives of which one must be set, by field name.
    one_of: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @classmethod
    def variables(cls) -> list[str]:
        return [variable(name) for name in cls.model_fields]

    @classmethod
    def required(cls) -> list[tuple[str, ...]]:
        """The groups of variables of which one must be set."""
        return [tuple(variable(name) for name in group) for group in cls.one_of]

    @model_validator(mode="after")
    def _one_of_each_group(self) -> Self:
        for group in self.one_of:
            if all(getattr(self, name) is None for name in group):
                raise ValueError(f"{' or '.join(variable(n) for n in group)}: one of them must be set")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        values = {name: environ[variable(name)] for name in cls.model_fields if environ.get(variable(name), "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{variable(str(e['loc'][0]))}: {reason(e)}" if e["loc"] else reason(e) for e in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from exc


def _web_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be a URL starting with https:// or http://")
    return value


WebUrl = Annotated[str, AfterValidator(_web_url)]


class DatabaseSettings(Settings):
    """The database: a libpq connection string (local runs, tests) or a Secrets Manager secret (AWS)."""

    database_url: str | None = None
    database_secret_arn: str | None = None
    # Fill in, or replace, what the secret says: RDS-managed secrets hold only the credentials,
    # and an RDS Proxy's endpoint replaces the database's own host.
    database_host: str | None = None
    database_name: str | None = None
    # How long connecting waits for a database that is resuming (an Aurora cluster paused at 0 ACU
    # takes about 15 s) or restarting; the template gives the API functions less, so that they
    # answer 503 within API Gateway's 30 s, and the migration more.
    database_connect_timeout_seconds: int = Field(default=30, ge=1, le=900)
    one_of = (("database_url", "database_secret_arn"),)


class ReaderSettings(Settings):
    """Where the admin API's reads go: a replica of the database (an Aurora reader endpoint), or the
    database itself when neither is set. DATABASE_READER_URL is a connection string (local runs, tests);
    DATABASE_READER_HOST replaces the host of the database's own connection details (AWS)."""

    database_reader_url: str | None = None
    database_reader_host: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.database_reader_url or self.database_reader_host)


def _separated(value: str | None) -> tuple[str, ...]:
    """The items of a comma-separated setting, blanks dropped."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


class AdminSettings(Settings):
    """The admin API's bearer token: itself (local runs, tests) or a Secrets Manager secret (AWS).

    ADMIN_TOKEN may hold two tokens, "new,old", while clients move to the new one; the secret's
    current and previous versions (AWSCURRENT, AWSPREVIOUS) are both accepted the same way.
    """

    admin_token: str | None = None
    admin_token_secret_arn: str | None = None
    one_of = (("admin_token", "admin_token_secret_arn"),)

    @property
    def tokens(self) -> tuple[str, ...]:
        return _separated(self.admin_token)


class IngestAccess(Settings):
    """Who may report signals: with INGEST_KEYS set (publishable keys, comma-separated; two while
    rotating), POST /v1/telemetry needs X-Ingest-Key naming one of them. Unset: ingest is open."""

    ingest_keys: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return _separated(self.ingest_keys)


class OriginPolicy(Settings):
    """Which browser origins may report signals: ALLOWED_ORIGINS (comma-separated, the CORS list); * or unset: any.

    CORS only keeps another site's scripts from reading answers; a beacon or a form post from that
    site is still sent, so ingest refuses a request whose Origin is present and not listed."""

    allowed_origins: str | None = None

    @property
    def origins(self) -> tuple[str, ...]:
        return _separated(self.allowed_origins)


# An HMAC-SHA256 key of 32 random characters or more: shorter ones can be searched for.
MIN_SECRET_LENGTH = 32


class IngestTokenSettings(Settings):
    """Signed ingest tokens (X-Ingest-Token) minted by the customer's backend, so that user_id can be trusted.

    The HMAC secret is INGEST_TOKEN_SECRET (local runs, tests; "new,old" while rotating) or a Secrets
    Manager secret (AWS; its current and previous values). Set, a token sent is verified and its
    subject is the events' user_id; INGEST_TOKEN_REQUIRED makes a token necessary for every request.
    """

    ingest_token_secret: str | None = Field(default=None, repr=False)
    ingest_token_secret_arn: str | None = None
    ingest_token_required: bool = False
    ingest_token_max_lifetime_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    @property
    def configured(self) -> bool:
        return bool(self.ingest_token_secret or self.ingest_token_secret_arn)

    @property
    def secrets(self) -> tuple[str, ...]:
        return _separated(self.ingest_token_secret)

    @property
    def max_lifetime(self) -> timedelta:
        return timedelta(seconds=self.ingest_token_max_lifetime_seconds)

    @model_validator(mode="after")
    def _secret_when_required(self) -> Self:
        if self.ingest_token_required and not self.configured:
            raise ValueError(
                "INGEST_TOKEN_REQUIRED is true, so INGEST_TOKEN_SECRET or INGEST_TOKEN_SECRET_ARN must be set"
            )
        if any(len(secret) < MIN_SECRET_LENGTH for secret in self.secrets):
            # The value itself is never repeated: this message reaches the logs.
            raise ValueError(f"INGEST_TOKEN_SECRET: each secret must be at least {MIN_SECRET_LENGTH} characters")
        return self


class UserTokens(Settings):
    """Whose JWTs let users read their own events: the issuer the API's JWT authorizer trusts (unset: nobody's)."""

    jwt_issuer: WebUrl | None = None


class RawRetention(Settings):
    """How long raw events are kept: also the longest window over them."""

    retention_days: int = Field(default=90, ge=1, le=3650)

    @property
    def max_age(self) -> timedelta:
        return timedelta(days=self.retention_days)


class HistoryRetention(Settings):
    rollup_retention_days: int = Field(default=400, ge=1, le=36500)


class AlertRetention(Settings):
    alert_retention_days: int = Field(default=180, ge=1, le=36500)


class PartitionSettings(Settings):
    partitions_ahead_days: int = Field(default=7, ge=1, le=90)


class QueryWindows(RawRetention, HistoryRetention):
    """How far back admin queries reach: raw events, and the daily history."""


class RetentionSettings(RawRetention, HistoryRetention, AlertRetention, PartitionSettings):
    """Everything a cleanup run needs."""


class IngestLimits(RawRetention):
    """What one request to POST /v1/telemetry may carry; events older than retention are refused."""

    max_events_per_request: int = Field(default=500, ge=1)
    max_event_bytes: int = Field(default=32 * 1024, ge=256)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_future_skew_seconds: int = Field(default=300, ge=0)
    # Component names are identifiers, not free text: the longest the validator takes is 200.
    max_component_length: int = Field(default=100, ge=1, le=200)

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_seconds)


class IngestRouting(Settings):
    """Where valid events go: stored by the ingest function itself (direct), or sent to the ingest
    queue (queued) for IngestWriterFunction to store, so that the database's connections stay bounded
    by the writer's concurrency however many clients report at once."""

    ingest_mode: Literal["direct", "queued"] = "direct"
    ingest_queue_url: str | None = None

    @property
    def queued(self) -> bool:
        return self.ingest_mode == "queued"

    @model_validator(mode="after")
    def _queue_when_queued(self) -> Self:
        if self.queued and not self.ingest_queue_url:
            raise ValueError("INGEST_MODE is queued, so INGEST_QUEUE_URL must be set")
        return self


class ComponentLimits(Settings):
    """How many distinct components may exist: a client inventing names cannot grow the rollups, the
    components list, the per-component rules or the dashboard past it. Known components keep flowing;
    one request registers at most max_new_components_per_request new ones, and components unseen for
    RETENTION_DAYS are forgotten by the cleanup, so names invented once stop counting."""

    max_components: int = Field(default=1000, ge=1)
    max_new_components_per_request: int = Field(default=50, ge=1)


class AlertRuleSettings(Settings):
    """ALERT_RULES: inline JSON, a path of a JSON file, or unset for the default rules."""

    alert_rules: str | None = None
    _rules: list[Any] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _parse(self) -> Self:
        from resilience.rules import RulesError, load_rules

        try:
            self._rules = load_rules(self.alert_rules)
        except RulesError as exc:
            raise ValueError(f"ALERT_RULES: {exc}") from exc
        return self

    @property
    def rules(self) -> list[AlertRule]:
        return self._rules


class AlertDelivery(Settings):
    """Where alert notifications go: the SNS topic (AWS; locally a stand-in), and the link they carry."""

    alert_topic_arn: str | None = None
    dashboard_url: WebUrl | None = None


class HealthMetricSettings(Settings):
    """How many components' rates each alert evaluation publishes as CloudWatch metrics (the busiest first)."""

    metrics_component_limit: int = Field(default=20, ge=0, le=500)


def _schedule(value: str) -> str:
    from resilience.schedules import next_time

    next_time(value, datetime(2026, 1, 5, tzinfo=UTC))
    return value


Schedule = Annotated[str, AfterValidator(_schedule)]


class JobSchedules(Settings):
    """The schedules of the jobs whose heartbeats /v1/health reports (the template's schedule parameters)."""

    alert_evaluation_schedule: Schedule = "rate(5 minutes)"
    refresh_schedule: Schedule = "rate(1 hour)"


class SlackSettings(Settings):
    """The Slack incoming webhook: its URL (local runs), or a secret or SSM parameter holding it (AWS)."""

    slack_webhook_url: WebUrl | None = None
    slack_webhook_secret_arn: str | None = None
    slack_webhook_parameter: str | None = None


S = TypeVar("S", bound=Settings)
_loaded: dict[type[Settings], Settings] = {}


def load(group: type[S]) -> S:
    """The group's settings from this process's environment, read once."""
    found = _loaded.get(group)
    if found is None:
        found = _loaded[group] = group.from_environ(os.environ)
    return cast(S, found)


def reload() -> None:
    """Forgets what was read: the next load reads the environment again (tests change it)."""
    _loaded.clear()


@dataclass(frozen=True)
class Configuration:
    """The settings groups a function needs."""

    groups: tuple[type[Settings], ...]

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(name for group in self.groups for name in group.variables()))

    @property
    def required(self) -> list[tuple[str, ...]]:
        return list(dict.fromkeys(alternatives for group in self.groups for alternatives in group.required()))


def configure(*groups: type[Settings]) -> Configuration:
    """Declares what a function needs and checks it now, at cold start: a missing or malformed setting fails here."""
    for group in groups:
        load(group)
    return Configuration(groups)
