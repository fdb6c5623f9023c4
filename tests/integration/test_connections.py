"""Connections behave behind a transaction-pooling proxy (RDS Proxy): no session state outlives a transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from local import triggers
from resilience import settings
from resilience.settings import SettingsError
from resilience.store.database import connect
from tests.conftest import Api, scratch_database, signal_event

Invoke = Callable[[str, dict[str, Any]], Any]

# What RDS Proxy pins a client to one server connection for, read from the server's own views.
SESSION_STATE = """
SELECT
  (SELECT count(*) FROM pg_prepared_statements) AS prepared,
  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
  (SELECT count(*) FROM pg_class WHERE relpersistence = 't') AS temp_tables,
  (SELECT count(*) FROM pg_cursors) AS cursors,
  (SELECT count(*) FROM pg_listening_channels()) AS channels,
  (SELECT string_agg(name, ',') FROM pg_settings WHERE source = 'session' AND name <> 'application_name') AS set
"""


def session_state(conn: psycopg.Connection) -> dict[str, Any]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(SESSION_STATE).fetchone()
    assert row is not None
    return row


def test_a_session_starts_in_utc_without_startup_options(database_url: str) -> None:
    with connect(database_url) as conn:
        assert "options" not in psycopg.conninfo.conninfo_to_dict(conn.info.dsn)
        assert conn.execute("SHOW TimeZone").fetchone() in {("UTC",), ("Etc/UTC",)}
        # The server's default was UTC already, so nothing was SET: nothing would pin.
        assert session_state(conn)["set"] is None


def test_a_server_whose_default_zone_is_not_utc_gets_utc_for_the_session(postgres_url: str) -> None:
    with scratch_database(postgres_url, "rt_zone") as url:
        with psycopg.connect(url, autocommit=True) as admin:
            name = admin.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            admin.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
        with connect(url) as conn:
            assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
            assert conn.execute("SELECT date_trunc('day', timestamptz '2026-03-01 02:00+00')::text").fetchone() == (
                "2026-03-01 00:00:00+00",
            )


def test_repeated_statements_are_never_prepared_on_the_server(database_url: str) -> None:
    with connect(database_url) as conn:
        for _ in range(10):
            conn.execute("SELECT count(*) FROM resilience_metrics WHERE component = %s", ("CheckoutForm",))
        assert session_state(conn)["prepared"] == 0


def test_the_functions_leave_no_session_state_on_their_connection(api: Api, invoke: Invoke) -> None:
    from resilience_lambda.database import database

    events_in = [signal_event("optimistic_action_success") for _ in range(12)]
    assert api.post("/v1/telemetry", {"events": events_in}).status == 200
    assert api.get("/v1/metrics").status == 200
    invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))
    invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    invoke("CleanupFunction", triggers.scheduled("CleanupSchedule"))
    with database.session() as conn:
        assert session_state(conn) == {
            "prepared": 0,
            "advisory_locks": 0,
            "temp_tables": 0,
            "cursors": 0,
            "channels": 0,
            "set": None,
        }


def test_the_rollup_refresh_drops_its_working_tables_at_commit(db: psycopg.Connection) -> None:
    from resilience.store.rollups import refresh

    with connect(psycopg.conninfo.make_conninfo(db.info.dsn)) as conn:
        refresh(conn)
        assert session_state(conn)["temp_tables"] == 0
        # Twice in one transaction still works (the second finds its tables and empties them).
        with conn.transaction():
            refresh(conn)
            refresh(conn)


class TestDatabaseSecret:
    """Where the functions' connection details come from in AWS."""

    @pytest.fixture
    def secret(self, secrets_manager: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], str]:
        def put(value: Any) -> str:
            text = value if isinstance(value, str) else json.dumps(value)
            arn = secrets_manager.create_secret(Name=f"db-{len(text)}-{id(value)}", SecretString=text)["ARN"]
            monkeypatch.delenv("DATABASE_URL")
            monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
            settings.reload()
            return arn

        return put

    def conninfo(self) -> dict[str, str]:
        from resilience_lambda.secrets import database_conninfo

        return psycopg.conninfo.conninfo_to_dict(database_conninfo())  # type: ignore[return-value]

    def test_an_rds_managed_secret_holds_only_credentials_and_the_stack_names_host_and_database(
        self, secret: Callable[[Any], str], database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from resilience_lambda.database import database

        target = psycopg.conninfo.conninfo_to_dict(database_url)
        secret({"username": "postgres", "password": "rotated by RDS"})
        monkeypatch.setenv("DATABASE_HOST", str(target["host"]))
        monkeypatch.setenv("DATABASE_NAME", str(target["dbname"]))
        settings.reload()
        database.close()
        assert self.conninfo() == {
            "user": "postgres",
            "password": "rotated by RDS",
            "host": target["host"],
            "port": "5432",
            "dbname": target["dbname"],
            "sslmode": "require",
        }
        with database.transaction() as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (target["dbname"],)

    @pytest.mark.parametrize(
        ("stored", "behind_a_proxy"),
        [
            (
                {"username": "app", "password": "p@ss w/rd'\"", "host": "db.internal", "port": 6432, "dbname": "rt"},
                {"user": "app", "password": "p@ss w/rd'\"", "port": "6432", "dbname": "rt", "sslmode": "require"},
            ),
            (
                "postgresql://app:s3cret@db.internal:5432/rt?sslmode=verify-full",
                {"user": "app", "password": "s3cret", "port": "5432", "dbname": "rt", "sslmode": "verify-full"},
            ),
        ],
        ids=["RDS-style JSON", "postgresql URL"],
    )
    def test_a_proxy_endpoint_replaces_the_host_of_a_full_secret(
        self,
        secret: Callable[[Any], str],
        monkeypatch: pytest.MonkeyPatch,
        stored: Any,
        behind_a_proxy: dict[str, str],
    ) -> None:
        secret(stored)
        assert self.conninfo()["host"] == "db.internal"
        monkeypatch.setenv("DATABASE_HOST", "rt-proxy.proxy-abc.us-east-1.rds.amazonaws.com")
        settings.reload()
        assert self.conninfo() == {**behind_a_proxy, "host": "rt-proxy.proxy-abc.us-east-1.rds.amazonaws.com"}

    def test_a_secret_without_a_host_needs_database_host(self, secret: Callable[[Any], str]) -> None:
        secret({"username": "app", "password": "x"})
        with pytest.raises(SettingsError, match="DATABASE_HOST"):
            self.conninfo()
