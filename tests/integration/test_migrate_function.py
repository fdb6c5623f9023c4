"""MigrateFunction: CloudFormation's custom resource applies the migrations and is told the outcome."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from local import functions
from local.functions import LambdaContext
from local.template import Template
from tests.conftest import ROOT


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server standing in for CloudFormation's pre-signed response URL."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/response", received
    server.shutdown()


def custom_resource_event(request_type: str, url: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "migrate.json").read_text())
    return {**event, "RequestType": request_type, "ResponseURL": url}


def test_create_applies_migrations_and_answers_success(
    invoke: Any, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = cloudformation
    result = invoke("MigrateFunction", custom_resource_event("Create", url))
    assert result["applied"] == []  # the test database is migrated already: nothing left to apply
    (answer,) = received
    assert answer["Status"] == "SUCCESS"
    assert answer["LogicalResourceId"] == "DatabaseMigration"


def test_a_failed_migration_answers_failed_instead_of_hanging_the_stack(
    invoke: Any, cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    settings.reload()
    url, received = cloudformation
    result = invoke("MigrateFunction", custom_resource_event("Update", url))
    assert "error" in result
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "migration failed" in answer["Reason"]


def test_delete_keeps_the_data(invoke: Any, cloudformation: tuple[str, list[dict[str, Any]]], db: Any) -> None:
    url, received = cloudformation
    invoke("MigrateFunction", custom_resource_event("Delete", url))
    assert received[0]["Status"] == "SUCCESS"
    assert db.execute("SELECT to_regclass('resilience_metrics')").fetchone()[0] is not None


def test_the_migrations_directory_is_found_in_the_source_tree() -> None:
    from resilience.store.migrations import default_directory

    assert default_directory() == Path(ROOT / "migrations")


def cold_started_migration(template: Template) -> Any:
    """MigrateFunction's module as a new Lambda container imports it, with this environment."""
    from resilience import settings

    settings.reload()
    return functions.cold_start(template.functions["MigrateFunction"])


def test_a_refused_setting_at_cold_start_is_answered_failed_naming_it(
    lambda_env: dict[str, str],
    template: Template,
    cloudformation: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    module = cold_started_migration(template)
    url, received = cloudformation
    result = module.lambda_handler(custom_resource_event("Create", url), LambdaContext("MigrateFunction"))
    assert "error" in result
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("cold start failed: SettingsError")
    assert "DATABASE_URL or DATABASE_SECRET_ARN" in answer["Reason"]
    assert answer["RequestId"] == "sample-request"


def test_a_failed_import_at_cold_start_is_answered_failed(
    lambda_env: dict[str, str],
    template: Template,
    cloudformation: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import raise, as a layer missing a module would; the module that
    # imports it is dropped too, so a cold start imports it afresh whatever ran before.
    monkeypatch.setitem(sys.modules, "resilience.store.migrations", None)
    monkeypatch.delitem(sys.modules, "resilience_lambda.migration", raising=False)
    module = cold_started_migration(template)
    url, received = cloudformation
    module.lambda_handler(custom_resource_event("Update", url), LambdaContext("MigrateFunction"))
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("cold start failed: ModuleNotFoundError")
    assert "resilience.store.migrations" in answer["Reason"]


def test_delete_is_answered_success_even_after_a_failed_cold_start(
    lambda_env: dict[str, str],
    template: Template,
    cloudformation: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    module = cold_started_migration(template)
    assert module.startup_error is not None
    url, received = cloudformation
    event = {**custom_resource_event("Delete", url), "PhysicalResourceId": "database-migrations"}
    module.lambda_handler(event, LambdaContext("MigrateFunction"))
    (answer,) = received
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "database-migrations"


def test_the_reason_of_a_failure_never_carries_the_database_password(
    lambda_env: dict[str, str],
    template: Template,
    cloudformation: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://resilience:s3cret-pw@127.0.0.1:9/none?connect_timeout=1")
    module = cold_started_migration(template)
    url, received = cloudformation
    module.lambda_handler(custom_resource_event("Create", url), LambdaContext("MigrateFunction"))
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "s3cret-pw" not in answer["Reason"]
