"""The browser client in headless Chromium against `make run`'s server, served from another origin.

A plain page and a React page report through a server outage, a reload, the page being hidden and being
closed; afterwards the API lists every event exactly once and the rates count each of them.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import ADMIN_TOKEN, CLIENT, call, free_port, runner_env, start_runner, stop_runner

pytestmark = pytest.mark.browser

PAGES = CLIENT / "test" / "pages"
USER = str(uuid.uuid4())
Signals = Counter[tuple[str, str]]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(client_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built client and the test pages, served from an origin of their own (so every call is cross-origin)."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(client_dist / "index.js", root)
    for page in PAGES.glob("*.html"):
        shutil.copy(page, root)
    esbuild = CLIENT / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [
            str(esbuild),
            str(PAGES / "react-page.jsx"),
            "--bundle",
            "--minify",
            "--format=esm",
            "--jsx=automatic",
            '--define:process.env.NODE_ENV="production"',
            f"--outfile={root / 'react-page.js'}",
            "--log-level=warning",
        ],
        cwd=CLIENT,
        check=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Runner:
    """`python -m local run` on one port and one database, stopped and started again at will."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process, _ = start_runner(self.env, self.port)

    def stop(self) -> None:
        assert self.process is not None
        stop_runner(self.process)
        self.process = None


@pytest.fixture
def runner(database_url: str, db: psycopg.Connection, tmp_path: Path) -> Iterator[Runner]:
    runner = Runner(runner_env(DATABASE_URL=database_url, ADMIN_TOKEN=ADMIN_TOKEN, LOCAL_DIR=str(tmp_path)))
    runner.start()
    yield runner
    if runner.process is not None:
        runner.stop()


class Tab:
    """A page in its own browser context, its console kept; no script error may occur in it."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.context = context
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.open(url)

    def open(self, url: str | None = None) -> Page:
        if url is None:
            self.page.reload()
        else:
            self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page

    def wait_for_console(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.console):
            assert time.monotonic() < deadline, f"no console line with {text!r}: {self.console}"
            self.page.wait_for_timeout(50)

    def hide(self) -> None:
        # Headless Chromium shows every page as visible whatever happens to it (microsoft/playwright#2286):
        # the page is hidden as Playwright's maintainers advise, through its document's state and event.
        # What the page sends then is the browser's own doing (keepalive fetch, sendBeacon).
        self.page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
                Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )

    def close(self) -> None:
        """Closes the page as a user closes a tab: pagehide fires and the page is gone."""
        assert self.page.evaluate("window.telemetryErrors") == []
        assert self.errors == []
        self.page.close(run_before_unload=True)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Callable[[str], Tab]]:
    contexts: list[BrowserContext] = []

    def _open(url: str) -> Tab:
        context = browser.new_context()
        contexts.append(context)
        return Tab(context, url)

    yield _open
    for context in contexts:
        context.close()


def stored(runner: Runner, components: set[str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for component in components:
        status, body, _ = call("GET", f"{runner.url}/v1/telemetry?component={component}&limit=1000", token=ADMIN_TOKEN)
        assert status == 200, body
        events += body["events"]
    return events


def wait_stored(runner: Runner, expected: Signals, timeout: float = 30) -> list[dict[str, Any]]:
    """Waits until the API lists exactly the expected signals; fails at once on one too many."""
    components = {component for component, _ in expected}
    deadline = time.monotonic() + timeout
    while True:
        events = stored(runner, components)
        found = Counter((e["component"], e["signal"]) for e in events)
        assert not found - expected, f"stored more than sent: {found - expected}"
        if found == expected:
            return events
        assert time.monotonic() < deadline, f"still missing after {timeout} s: {expected - found}"
        time.sleep(0.2)


def assert_rates_count_every_event(runner: Runner, component: str, expected: Signals) -> None:
    status, body, _ = call("GET", f"{runner.url}/v1/metrics?component={component}", token=ADMIN_TOKEN)
    assert status == 200, body
    rates = {m["metric"]: (m["numerator"], m["denominator"]) for m in body["metrics"]}

    def count(signal: str) -> int:
        return expected[(component, signal)]

    assert rates["rollback_rate"] == (
        count("optimistic_action_rollback"),
        count("optimistic_action_success") + count("optimistic_action_rollback"),
    )
    assert rates["retry_success_rate"] == (count("retry_success"), count("retry_success") + count("retry_failure"))
    assert rates["error_recovery_rate"] == (count("error_boundary_recovered"), count("error_boundary_triggered"))


def assert_one_tab_one_user(events: list[dict[str, Any]]) -> None:
    assert len({e["id"] for e in events}) == len(events)
    assert len({e["session_id"] for e in events}) == 1, "a reload keeps the tab's session"
    assert {e["user_id"] for e in events} == {USER}


ROLLED_BACK = {"error": "rollback"}  # the optimistic action's status, and the signal it sends
PLAIN = "PlainCheckout"
PLAIN_BUTTONS = {
    "save": ["optimistic_action_start", "optimistic_action_success"],
    "save-fails": ["optimistic_action_start", "optimistic_action_rollback"],
    "retry": ["retry_attempt", "retry_success"],
    "crash": ["error_boundary_triggered", "error_boundary_recovered"],
}


def test_a_plain_page_reports_every_event_once_through_an_outage_a_reload_hiding_and_closing(
    runner: Runner, site: str, tab: Callable[[str], Tab]
) -> None:
    page = tab(f"{site}/plain.html?api={runner.url}&user={USER}")
    expected: Signals = Counter()

    def click(button: str, times: int = 1) -> None:
        for _ in range(times):
            page.page.click(f"#{button}")
            expected.update((PLAIN, signal) for signal in PLAIN_BUTTONS[button])

    click("save", 2)  # four events: a full batch goes at once
    wait_stored(runner, expected)

    runner.stop()
    click("save-fails", 2)
    page.wait_for_console("network error")
    page.open()  # a reload while the server is down: the queue waits in localStorage
    click("retry")
    runner.start()
    wait_stored(runner, expected)

    click("crash")  # two events: less than a batch, and the interval is a minute
    page.hide()
    wait_stored(runner, expected)

    click("save")
    page.close()
    events = wait_stored(runner, expected)

    assert sum(expected.values()) == 14
    assert_one_tab_one_user(events)
    assert_rates_count_every_event(runner, PLAIN, expected)


def test_events_a_closing_page_cannot_send_wait_for_its_next_visit(
    runner: Runner, site: str, tab: Callable[[str], Tab]
) -> None:
    url = f"{site}/plain.html?api={runner.url}&user={USER}&batch=100"
    first = tab(url)
    first.page.click("#big")  # eight events of 20 kB: more than a closing page may send
    first.close()
    expected: Signals = Counter({(PLAIN, "retry_attempt"): 8})

    later = first.context.new_page()  # the same browser profile, so the same localStorage
    later.goto(url)
    events = wait_stored(runner, expected)
    assert len({e["id"] for e in events}) == 8
    later.close()


def test_a_react_page_reports_every_event_once_through_an_outage_a_reload_hiding_and_closing(
    runner: Runner, site: str, tab: Callable[[str], Tab]
) -> None:
    page = tab(f"{site}/react.html?api={runner.url}&user={USER}")
    expected: Signals = Counter()

    def expect(component: str, *signals: str) -> None:
        expected.update((component, signal) for signal in signals)

    orders: Counter[str] = Counter()

    def order(button: str, outcome: str) -> None:
        orders[button] += 1
        page.page.click(f"#{button}", click_count=3)  # a triple click runs the action once
        page.page.wait_for_selector(f"#{button}[data-done='{orders[button]}'][data-status={outcome}]")
        assert page.page.get_attribute(f"#{button}", "data-suppressed") == str(2 * orders[button])
        expect("ReactCheckout", "optimistic_action_start", "optimistic_action_" + ROLLED_BACK.get(outcome, outcome))

    def inbox(button: str, outcome: str) -> None:
        page.page.click(f"#{button}")
        page.page.wait_for_selector(f"#{button}[data-state={outcome}]")
        final = "retry_success" if outcome == "loaded" else "retry_failure"
        expect("ReactInbox", "retry_attempt", "retry_attempt", final)

    def crash(recover: bool) -> None:
        page.page.click("#crash")
        page.page.wait_for_selector("#recover")
        expect("ReactProfile", "error_boundary_triggered")
        if recover:
            page.page.click("#recover")
            page.page.wait_for_selector("#crash")
            expect("ReactProfile", "error_boundary_recovered")

    order("order", "success")
    order("order-fails", "error")  # four events: a full batch goes at once
    wait_stored(runner, expected)

    runner.stop()
    inbox("inbox", "loaded")
    inbox("inbox-fails", "failed")
    page.wait_for_console("network error")
    page.open()  # a reload while the server is down
    orders.clear()
    crash(recover=True)
    runner.start()
    wait_stored(runner, expected)

    order("order", "success")
    page.hide()
    wait_stored(runner, expected)

    crash(recover=False)
    page.close()
    events = wait_stored(runner, expected)

    assert sum(expected.values()) == 15
    assert_one_tab_one_user(events)
    for component in ("ReactCheckout", "ReactInbox", "ReactProfile"):
        assert_rates_count_every_event(runner, component, expected)
