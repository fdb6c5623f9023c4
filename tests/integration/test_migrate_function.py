"""MigrateFunction: CloudFormation's custom resource applies the migrations and is told the outcome."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

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
