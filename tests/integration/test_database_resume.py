"""Paused, restarted and rotated databases: the functions wait, reconnect and sign in again instead of answering 503."""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local import functions
from local.functions import LambdaContext
from local.template import Template
from resilience import settings
from resilience.store.migrations import default_directory, load
from tests.conftest import ROOT, Api, scratch_database, signal_event
from tests.resuming_server import ResumingServer, resuming_server

APP = "resilience-telemetry"


@pytest.fixture
def resuming(database_url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ResumingServer]:
    """The functions reach the test database through a relay the test can pause (tests/resuming_server.py)."""
    from resilience_lambda.database import database

    with resuming_server(database_url) as server:
        monkeypatch.setenv("DATABASE_URL", server.url)
        settings.reload()
        database.close()
        yield server
        database.close()


def waiting(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT_SECONDS", str(seconds))
    settings.reload()


def backends(db: psycopg.Connection, application: str = APP) -> list[int]:
    rows = db.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)).fetchall()
    return [pid for (pid,) in rows]


def one_event() -> dict[str, Any]:
    return {"events": [signal_event("retry_success")]}


def stored(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM resilience_metrics").fetchone()[0])  # type: ignore[index]


class TestResume:
    """A database that takes connections only after a delay, as a paused Aurora cluster resuming."""

    def test_a_request_waits_for_the_database_to_resume_and_succeeds(
        self, resuming: ResumingServer, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        waiting(monkeypatch, 6)
        resuming.pause(3)
        answer = api.post("/v1/telemetry", one_event(), token=None)
        assert answer.status == 200, answer.body
        assert resuming.held == 1, "the connection was made to wait"
        assert stored(db) == 1

    def test_a_database_that_stays_away_past_the_wait_is_a_503_with_retry_after_then_served(
        self, resuming: ResumingServer, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        waiting(monkeypatch, 2)
        resuming.pause(60)
        down = api.post("/v1/telemetry", one_event(), token=None)
        assert down.status == 503
        assert int(down.headers["retry-after"]) > 0
        resuming.resume()
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        assert stored(db) == 1

    def test_a_database_that_refuses_connections_while_it_starts_is_waited_for(
        self, resuming: ResumingServer, api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        waiting(monkeypatch, 6)
        resuming.pause(2, refuse_for=2)
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        assert resuming.refused >= 2, "the first attempts were refused and tried again"
        assert stored(db) == 1

    def test_the_migration_survives_a_20_second_resume(
        self, postgres_url: str, env: dict[str, str], template: Template, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fn = template.functions["MigrateFunction"]
        # The function's own wait and timeout, as deployed.
        monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT_SECONDS", str(fn.environment["DATABASE_CONNECT_TIMEOUT_SECONDS"]))
        timeout = int(template.resources["MigrateFunction"]["Properties"]["Timeout"])
        event = {**json.loads((ROOT / "events" / "migrate.json").read_text()), "RequestType": "Update"}
        with scratch_database(postgres_url, "rt_resume") as url, resuming_server(url) as server:
            monkeypatch.setenv("DATABASE_URL", server.url)
            settings.reload()
            # Reset for ten seconds, then taken and held for ten more: twenty seconds until it answers.
            server.pause(20, refuse_for=10)
            result = functions.handler(fn)(event, LambdaContext(fn.logical_id, timeout_seconds=timeout))
            assert result == {"applied": [m.name for m in load(default_directory())]}
            assert server.refused >= 2
            assert server.held >= 1


class TestDroppedConnection:
    """The connection a warm function keeps is closed between two invocations."""

    def test_a_connection_the_server_killed_is_replaced_without_a_503(self, api: Api, db: psycopg.Connection) -> None:
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        (before,) = backends(db)
        # With a timeout, pg_terminate_backend returns once the backend has exited.
        db.execute("SELECT pg_terminate_backend(%s, 5000)", (before,))
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        assert backends(db) != [before]
        assert stored(db) == 2

    def test_a_connection_cut_on_the_way_is_replaced_without_a_503(
        self, resuming: ResumingServer, api: Api, db: psycopg.Connection
    ) -> None:
        assert api.get("/v1/metrics").status == 200
        resuming.cut()
        assert api.get("/v1/metrics").status == 200
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        assert resuming.served == 2, "a second connection replaced the cut one"


@pytest.fixture
def password_role(database_url: str, postgres_url: str) -> Iterator[str]:
    """A role of this test's own that signs in to the test database only with its password (the
    suite's other roles need none); yields its name. Its password starts as 'first-password'."""
    role = f"rt_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        original = hba.read_text()
        admin.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'first-password'")
        # The first matching line decides: this one asks only that role for a password.
        hba.write_text(f"local all {role} scram-sha-256\nhost all {role} all scram-sha-256\n{original}")
        admin.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            hba.write_text(original)
            admin.execute("SELECT pg_reload_conf()")
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = '{role}'")
            # Partitions the functions created while signed in as the role stay, owned as the rest.
            admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            admin.execute(f"DROP ROLE {role}")


class TestRotation:
    """RDS rotates the database's password; a warm function's cached secret still holds the old one."""

    @pytest.fixture
    def rotate(
        self, password_role: str, database_url: str, secrets_manager: Any, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Callable[[str], None]]:
        """The functions sign in as password_role with the password in their database secret (a
        postgresql:// URL); rotate(password) changes the role's password, then the secret's."""
        from resilience_lambda.database import database

        parts = psycopg.conninfo.conninfo_to_dict(database_url)

        def url(password: str) -> str:
            where = urllib.parse.urlencode({k: v for k, v in parts.items() if k in ("host", "port")})
            return f"postgresql://{password_role}:{password}@/{parts['dbname']}?{where}"

        arn = secrets_manager.create_secret(Name="database", SecretString=url("first-password"))["ARN"]
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
        settings.reload()
        database.close()

        def rotated(password: str) -> None:
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(f"ALTER ROLE {password_role} PASSWORD '{password}'")
            secrets_manager.put_secret_value(SecretId=arn, SecretString=url(password))

        yield rotated
        database.close()

    def kill_connections(self, db: psycopg.Connection, role: str) -> None:
        db.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = %s", (role,))

    def test_a_warm_handler_reconnecting_after_a_rotation_signs_in_with_the_new_password(
        self,
        rotate: Callable[[str], None],
        password_role: str,
        api: Api,
        db: psycopg.Connection,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)  # every logger, boto's and psycopg's included
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        signed_in = db.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = %s", (APP,))
        assert signed_in.fetchall() == [(password_role,)], "the functions sign in as the role, with its password"
        rotate("second-password")
        # The open session outlives the rotation; the next connection needs the new password.
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        self.kill_connections(db, password_role)
        # What the functions log from here on (the test's own calls above name the passwords).
        caplog.clear()
        capfd.readouterr()
        answers = [api.post("/v1/telemetry", one_event(), token=None).status for _ in range(3)]
        answers.append(api.get("/v1/metrics").status)
        assert answers == [200, 200, 200, 200], "no 5xx: the refused password was read again and retried"
        assert stored(db) == 5
        logged = caplog.text + "\n".join(capfd.readouterr())
        assert "reading its secret again" in logged
        assert "first-password" not in logged
        assert "second-password" not in logged

    def test_a_password_the_secret_does_not_hold_yet_is_a_503_after_one_retry(
        self, rotate: Callable[[str], None], password_role: str, api: Api, db: psycopg.Connection
    ) -> None:
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        db.execute(f"ALTER ROLE {password_role} PASSWORD 'set-before-the-secret'")
        self.kill_connections(db, password_role)
        refused = api.post("/v1/telemetry", one_event(), token=None)
        assert refused.status == 503
        assert int(refused.headers["retry-after"]) > 0
        # Once the secret holds the new password, the next request signs in with it.
        rotate("set-before-the-secret")
        assert api.post("/v1/telemetry", one_event(), token=None).status == 200
        assert stored(db) == 2
