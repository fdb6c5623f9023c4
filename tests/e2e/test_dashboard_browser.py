"""The dashboard in a real headless Chromium, against the real API over HTTP."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from local import triggers
from resilience import settings
from resilience_lambda.alerting import evaluate_and_publish
from resilience_lambda.database import database
from tests.conftest import ADMIN_TOKEN, ARTIFACTS
from tests.slack_listener import SlackListener

pytestmark = pytest.mark.browser

RATE_CARDS = "#rates article.rate"
NO_VALUE = "\N{EN DASH}"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Alerts fire on the first evaluation, so a test needs one run of AlertEvaluationFunction.
FIRING_AT_ONCE = json.dumps(
    [
        {
            "name": "rollback_rate_by_component",
            "metric": "rollback_rate",
            "severity": "critical",
            "window_minutes": 120,
            "pending_minutes": 0,
            "per_component": True,
        }
    ]
)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (no sessionStorage carried over); they fail the test on a script error
    or on anything the page's Content-Security-Policy blocked."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def _open(viewport: dict[str, int] = LAPTOP, **options: Any) -> Page:
        context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        return page

    yield _open
    for context in contexts:
        context.close()
    assert errors == [], f"script errors in the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def request(base: str, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as answer:
        return json.loads(answer.read())


def ingest(base: str, batch: list[dict[str, Any]]) -> None:
    for start in range(0, len(batch), 500):
        answer = request(base, "POST", "/v1/telemetry", {"events": batch[start : start + 500]}, token=None)
        assert answer["rejected"] == [], answer["rejected"]


def burst(component: str, at: datetime, **signals: int) -> list[dict[str, Any]]:
    """Events of one component at one moment: signal name -> how many."""
    return [
        {
            "id": str(uuid.uuid4()),
            "ts": (at + timedelta(milliseconds=i)).isoformat(),
            "session_id": f"sess-{component}-{i % 7}",
            "component": component,
            "signal": signal,
        }
        for name, count in signals.items()
        for i, signal in enumerate([name] * count)
    ]


def traffic(now: datetime) -> list[dict[str, Any]]:
    """Three components over the past days; CheckoutForm regressed in the last hour."""
    batch: list[dict[str, Any]] = []
    for hours_ago in (20, 14, 8, 3, 2):
        at = now - timedelta(hours=hours_ago)
        batch += burst("CheckoutForm", at, optimistic_action_success=30, optimistic_action_rollback=1)
        batch += burst("ProfileEditor", at, optimistic_action_success=20, retry_success=9, retry_failure=1)
        batch += burst("SearchBox", at, error_boundary_triggered=4, error_boundary_recovered=4)
    batch += burst(
        "CheckoutForm",
        now - timedelta(minutes=20),
        optimistic_action_success=30,
        optimistic_action_rollback=12,
        retry_success=5,
        retry_failure=5,
    )
    for days_ago in (3, 9, 20):
        batch += burst(
            "ProfileEditor",
            now - timedelta(days=days_ago),
            optimistic_action_success=40,
            optimistic_action_rollback=1,
            retry_success=12,
        )
    return batch


def hours_with(batch: list[dict[str, Any]], *signals: str) -> int:
    """Hours of the last day with any of these signals: the points of an hourly chart."""
    day_ago = datetime.now(UTC) - timedelta(hours=23)
    hours = {
        datetime.fromisoformat(e["ts"]).replace(minute=0, second=0, microsecond=0)
        for e in batch
        if e["signal"] in signals
    }
    return len({h for h in hours if h >= day_ago.replace(minute=0, second=0, microsecond=0)})


def days_with(batch: list[dict[str, Any]], *signals: str) -> int:
    return len({datetime.fromisoformat(e["ts"]).date() for e in batch if e["signal"] in signals})


def sign_in(page: Page, base: str, token: str = ADMIN_TOKEN) -> None:
    page.goto(base + "/dashboard")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Page, base: str) -> None:
    sign_in(page, base)
    expect(page.locator(RATE_CARDS)).to_have_count(3)
    expect(page.locator("#refresh-status")).to_contain_text("Updated")


def rate_text(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1f} %"


@pytest.fixture
def seeded(live_server: str) -> list[dict[str, Any]]:
    batch = traffic(datetime.now(UTC))
    ingest(live_server, batch)
    return batch


@pytest.fixture
def alerting(
    live_server: str,
    seeded: list[dict[str, Any]],
    invoke: Callable[[str, dict[str, Any]], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[], list[dict[str, Any]]]:
    """Runs AlertEvaluationFunction under rules that fire at once; returns the alerts then listed."""

    def evaluate() -> list[dict[str, Any]]:
        monkeypatch.setenv("ALERT_RULES", FIRING_AT_ONCE)
        settings.reload()
        invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluation"))
        return list(request(live_server, "GET", "/v1/alerts")["alerts"])

    return evaluate


def test_signs_in_and_shows_the_three_rates_of_the_metrics_api(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    page.goto(live_server + "/dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()

    signed_in(page, live_server)
    expected = request(live_server, "GET", "/v1/metrics")["metrics"]
    cards = page.locator(RATE_CARDS)
    assert [c.get_attribute("data-metric") for c in cards.all()] == [m["metric"] for m in expected]
    for metric in expected:
        card = page.locator(f'{RATE_CARDS}[data-metric="{metric["metric"]}"]')
        expect(card.locator(".value")).to_have_text(rate_text(metric["value"]))
        expect(card).to_have_attribute("data-status", metric["status"])
        expect(card.locator(".threshold")).to_contain_text(f"{metric['threshold']:.1f} %")
    rollback = next(m for m in expected if m["metric"] == "rollback_rate")
    assert rollback["status"] == "alert", "the seeded regression should breach the rollback threshold"
    expect(page.locator(f'{RATE_CARDS}[data-metric="rollback_rate"] .status')).to_have_text("Alert")
    assert page.evaluate("sessionStorage.getItem('resilience.adminToken')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.length") == 0, "the token is kept for the browser session only"
    screenshot(page, "dashboard-laptop")


def test_draws_hourly_and_daily_charts_from_the_history(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    signed_in(page, live_server)
    actions = ("optimistic_action_success", "optimistic_action_rollback")
    hourly = page.locator('#charts-hour figure[data-metric="rollback_rate"] svg')
    expect(hourly.locator("circle")).to_have_count(hours_with(seeded, *actions))
    expect(hourly.locator("polyline")).not_to_have_count(0)
    expect(hourly.locator("line.threshold")).to_have_count(1)
    daily = page.locator('#charts-day figure[data-metric="rollback_rate"] svg')
    expect(daily.locator("circle")).to_have_count(days_with(seeded, *actions))
    # The regression shows as a point above the threshold, drawn in the alert colour.
    expect(hourly.locator("circle.breach")).to_have_count(1)
    for unit in ("hour", "day"):
        expect(page.locator(f"#charts-{unit} figure")).to_have_count(3)
        expect(page.locator(f"#charts-{unit} svg")).to_have_count(3)
    svg_box = hourly.bounding_box()
    assert svg_box is not None
    assert svg_box["width"] > 200
    assert svg_box["height"] > 100


def test_rates_and_charts_show_the_thresholds_of_the_active_rules(
    live_server: str, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, open_page: Callable[..., Page]
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([{"name": "rollbacks", "metric": "rollback_rate", "threshold": 2.5}]))
    settings.reload()
    page = open_page()
    signed_in(page, live_server)
    expect(page.locator(f'{RATE_CARDS}[data-metric="rollback_rate"] .threshold')).to_have_text("alert above 2.5 %")
    for unit in ("hour", "day"):
        chart = page.locator(f'#charts-{unit} figure[data-metric="rollback_rate"] svg')
        expect(chart.locator(".threshold-label")).to_have_text("threshold 2.5%")
    # A metric no rule watches keeps its own threshold.
    expect(page.locator(f'{RATE_CARDS}[data-metric="retry_success_rate"] .threshold')).to_have_text(
        "alert below 80.0 %"
    )


def test_lists_the_components_worst_first(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    signed_in(page, live_server)
    expected = request(live_server, "GET", "/v1/components")["components"]
    rows = page.locator("table.components tbody tr")
    expect(rows).to_have_count(len(expected))
    assert [r.get_attribute("data-component") for r in rows.all()] == [c["component"] for c in expected]
    assert expected[0]["component"] == "CheckoutForm", "the regressed component comes first"
    first = rows.first
    expect(first.locator('td[data-label="Events"]')).to_have_text(f"{expected[0]['events']:,}")
    expect(first.locator('td[data-metric="rollback_rate"]')).to_have_attribute("data-status", "alert")
    rollback = next(m for m in expected[0]["metrics"] if m["metric"] == "rollback_rate")
    expect(first.locator('td[data-metric="rollback_rate"]')).to_contain_text(rate_text(rollback["value"]))


def test_acknowledging_an_alert_in_the_page_acknowledges_it_in_the_api(
    live_server: str, alerting: Callable[[], list[dict[str, Any]]], open_page: Callable[..., Page]
) -> None:
    alerts = alerting()
    firing = [a for a in alerts if a["state"] == "firing" and a["component"] == "CheckoutForm"]
    assert len(firing) == 1, alerts
    alert = firing[0]

    page = open_page()
    signed_in(page, live_server)
    item = page.locator(f'li[data-alert-id="{alert["id"]}"]')
    expect(item).to_have_attribute("data-state", "firing")
    expect(item).to_contain_text("CheckoutForm")
    expect(item).to_contain_text("since")
    item.get_by_role("button", name="Acknowledge").click()
    item.get_by_label("Acknowledged by").fill("Dana (on call)")
    item.get_by_label("Note").fill("rolling back the deploy")
    item.get_by_role("button", name="Confirm").click()

    acknowledged = page.locator(f'li[data-alert-id="{alert["id"]}"][data-acknowledged="true"]')
    expect(acknowledged).to_contain_text("acknowledged by Dana (on call)")
    expect(acknowledged.get_by_role("button", name="Acknowledge")).to_have_count(0)
    stored = next(a for a in request(live_server, "GET", "/v1/alerts")["alerts"] if a["id"] == alert["id"])
    assert stored["acknowledged_by"] == "Dana (on call)"
    assert stored["acknowledge_note"] == "rolling back the deploy"
    assert stored["acknowledged_at"] is not None
    screenshot(page, "dashboard-alert-acknowledged")


def test_an_api_error_shows_a_message_not_a_blank_page(
    live_server: str, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, open_page: Callable[..., Page]
) -> None:
    page = open_page()
    signed_in(page, live_server)
    expect(page.locator("#error")).to_be_hidden()
    loaded_at = page.locator("#refresh-status").get_attribute("data-loaded-at")

    # The database goes away: the API answers 503, and the page says so while keeping what it showed.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    settings.reload()
    database.close()
    page.get_by_role("button", name="Refresh").click()
    error = page.locator("#error")
    # Each of the page's six reads waits out DATABASE_CONNECT_TIMEOUT_SECONDS first, as a resume would.
    expect(error).to_be_visible(timeout=20_000)
    expect(error).to_contain_text(
        "Could not load rates, hourly trend, daily trend, components, alerts, silences: "
        "the database is unavailable; retry later (HTTP 503)."
    )
    expect(error).to_contain_text("What is shown is from")
    expect(page.locator(RATE_CARDS)).to_have_count(3)
    expect(page.locator("table.components tbody tr")).to_have_count(3)
    assert page.locator("#refresh-status").get_attribute("data-loaded-at") == loaded_at
    screenshot(page, "dashboard-api-error")


def test_a_wrong_token_is_refused_with_a_message(live_server: str, open_page: Callable[..., Page]) -> None:
    page = open_page()
    sign_in(page, live_server, token="not-the-token")
    expect(page.locator("#sign-in-error")).to_contain_text("refused")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('resilience.adminToken')") is None


def test_empty_data_shows_an_explanation_not_broken_charts(live_server: str, open_page: Callable[..., Page]) -> None:
    page = open_page()
    signed_in(page, live_server)
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("POST /v1/telemetry")
    expect(page.locator(".chart[data-empty='true']")).to_have_count(6)
    expect(page.locator(".chart svg")).to_have_count(0)
    expect(page.locator("#components")).to_contain_text("No component reported signals")
    expect(page.locator("#alerts")).to_contain_text("No alerts")
    for card in page.locator(RATE_CARDS).all():
        expect(card).to_have_attribute("data-status", "no_data")
        expect(card.locator(".value")).to_have_text(NO_VALUE)
    screenshot(page, "dashboard-empty")


def test_refreshes_every_minute_without_reloading(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    page.clock.install()
    signed_in(page, live_server)
    page.evaluate("window.loadedOnce = true")
    before = request(live_server, "GET", "/v1/components")["components"]
    assert "NewWidget" not in [c["component"] for c in before]

    ingest(live_server, burst("NewWidget", datetime.now(UTC), optimistic_action_success=50))
    page.clock.run_for("00:59")
    expect(page.locator('tr[data-component="NewWidget"]')).to_have_count(0)
    page.clock.run_for("00:02")
    expect(page.locator('tr[data-component="NewWidget"]')).to_have_count(1)
    assert page.evaluate("window.loadedOnce") is True, "the page refreshed its data without a reload"


def test_reads_well_at_a_phone_viewport(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    signed_in(page, live_server)
    expect(page.locator("table.components tbody tr")).not_to_have_count(0)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    first, second = (card.bounding_box() for card in page.locator(RATE_CARDS).all()[:2])
    assert first is not None
    assert second is not None
    assert second["y"] >= first["y"] + first["height"], "rate cards stack in one column"
    assert first["width"] >= PHONE["width"] * 0.8
    expect(page.locator("table.components thead")).to_be_hidden()
    row = page.locator("table.components tbody tr").first.bounding_box()
    assert row is not None
    assert row["width"] <= PHONE["width"]
    font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#rates .value')).fontSize)")
    assert font >= 24, "the rates read at a glance"
    screenshot(page, "dashboard-phone")


def test_the_page_makes_no_request_outside_the_api(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    signed_in(page, live_server)
    page.wait_for_load_state("networkidle")
    assert requested
    assert [url for url in requested if not url.startswith(live_server + "/")] == []
    response = page.goto(live_server + "/dashboard")
    assert response is not None
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_unknown_dashboard_file_is_404(live_server: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        request(live_server, "GET", "/dashboard/secrets.txt", token=None)
    assert raised.value.code == 404


def test_swagger_ui_renders_every_route_offline(live_server: str, open_page: Callable[..., Page]) -> None:
    page = open_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server + "/") or r.url.startswith("data:") else outside.append(r.url),
    )
    page.goto(live_server + "/docs")
    document = request(live_server, "GET", "/docs?format=json", token=None)
    operations = sum(len(item) for item in document["paths"].values())
    expect(page.locator(".opblock")).to_have_count(operations)
    expect(page.locator(".opblock-summary-path", has_text="/v1/telemetry")).to_have_count(2)
    assert outside == [], "Swagger UI works without external requests"
    screenshot(page, "api-docs")


def test_the_pages_carry_security_headers_that_their_own_code_works_under(live_server: str) -> None:
    # The browser tests above run these pages under these headers; open_page fails them on a violation.
    for path in ("/dashboard", "/docs"):
        with urllib.request.urlopen(live_server + path, timeout=30) as answer:
            headers = {k.lower(): v for k, v in answer.headers.items()}
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


# ---- the dashboard as people use Grafana's: time ranges, components, silences, history, heartbeats ----


def test_the_time_range_picker_sets_every_panel_and_the_url_keeps_the_range(
    live_server: str, seeded: list[dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page()
    signed_in(page, live_server)
    with page.expect_response(lambda r: "/v1/metrics?" in r.url) as answered:
        page.get_by_label("Time range").select_option("7d")
    asked = answered.value.request.url
    expect(page).to_have_url(live_server + "/dashboard?range=7d")
    expect(page.locator("#rates-title")).to_have_text("Health, last 7 days")
    week = request(live_server, "GET", "/v1/metrics?" + asked.split("?", 1)[1])["metrics"]
    rollback = next(m for m in week if m["metric"] == "rollback_rate")
    expect(page.locator(f'{RATE_CARDS}[data-metric="rollback_rate"] .value')).to_have_text(rate_text(rollback["value"]))
    # Seven days of hourly points, and ProfileEditor's activity 3 days ago among them.
    expect(page.locator('#charts-hour figure[data-metric="rollback_rate"] svg circle')).to_have_count(
        hours_with(seeded, "optimistic_action_success", "optimistic_action_rollback") + 1
    )

    page.reload()
    expect(page.get_by_label("Time range")).to_have_value("7d")
    expect(page.locator("#rates-title")).to_have_text("Health, last 7 days")

    page.get_by_label("Time range").select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
    page.get_by_label("To", exact=True).fill("2026-01-02T00:00")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"\?from=2026-01-0[12]T\S+Z&to=2026-01-0[23]T\S+Z$"))
    for card in page.locator(RATE_CARDS).all():
        expect(card).to_have_attribute("data-status", "no_data")
    page.go_back()
    expect(page.get_by_label("Time range")).to_have_value("7d")


def test_clicking_a_component_opens_its_own_trends_and_alerts_at_a_shareable_url(
    live_server: str,
    seeded: list[dict[str, Any]],
    alerting: Callable[[], list[dict[str, Any]]],
    open_page: Callable[..., Page],
) -> None:
    ingest(live_server, burst("SearchBox", datetime.now(UTC) - timedelta(minutes=5), optimistic_action_rollback=20))
    assert len(alerting()) == 2
    page = open_page()
    signed_in(page, live_server)
    expect(page.locator("li.alert-item")).to_have_count(2)

    page.get_by_role("link", name="CheckoutForm").click()
    expect(page).to_have_url(live_server + "/dashboard?component=CheckoutForm")
    expect(page.locator("#crumbs")).to_have_text(
        "All components \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} CheckoutForm"
    )
    expect(page.locator("#components-panel")).to_be_hidden()
    own = request(live_server, "GET", "/v1/metrics?component=CheckoutForm")["metrics"]
    retry = next(m for m in own if m["metric"] == "retry_success_rate")
    expect(page.locator(f'{RATE_CARDS}[data-metric="retry_success_rate"] .value')).to_have_text(
        rate_text(retry["value"])
    )
    expect(page.locator("li.alert-item")).to_have_count(1)
    expect(page.locator("li.alert-item")).to_contain_text("CheckoutForm")
    checkout = [e for e in seeded if e["component"] == "CheckoutForm"]
    expect(page.locator('#charts-hour figure[data-metric="retry_success_rate"] svg circle')).to_have_count(
        hours_with(checkout, "retry_success", "retry_failure")
    )
    screenshot(page, "dashboard-component")

    shared = open_page()
    sign_in(shared, live_server)
    shared.goto(live_server + "/dashboard?component=CheckoutForm&range=6h")
    expect(shared.locator("#rates-title")).to_have_text("Health, last 6 hours · CheckoutForm")
    expect(shared.locator("li.alert-item")).to_have_count(1)

    page.go_back()
    expect(page.locator("#components-panel")).to_be_visible()
    expect(page.locator("li.alert-item")).to_have_count(2)


def test_silence_for_an_hour_from_an_alert_holds_its_notification_until_expired_in_the_page(
    live_server: str,
    seeded: list[dict[str, Any]],
    slack: SlackListener,
    local_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    open_page: Callable[..., Page],
) -> None:
    rule = json.loads(FIRING_AT_ONCE)[0]
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**rule, "pending_minutes": 5}]))
    settings.reload()
    t0 = datetime.now(UTC)
    evaluate_and_publish(now=t0)
    [pending] = request(live_server, "GET", "/v1/alerts")["alerts"]
    assert (pending["state"], pending["component"]) == ("pending", "CheckoutForm")

    page = open_page()
    signed_in(page, live_server)
    item = page.locator(f'li[data-alert-id="{pending["id"]}"]')
    item.get_by_role("button", name="Silence for 1 h").click()
    item.get_by_label("Silenced by").fill("Dana (on call)")
    item.get_by_label("Why silence").fill("deploying the fix")
    item.get_by_role("button", name="Confirm").click()
    expect(page.locator(f'li[data-alert-id="{pending["id"]}"][data-silenced="true"]')).to_contain_text("silenced")
    [made] = request(live_server, "GET", "/v1/silences?active=true")["silences"]
    assert made["matchers"] == {"component": "CheckoutForm", "metric": None, "rule": rule["name"]}
    assert (made["created_by"], made["comment"]) == ("Dana (on call)", "deploying the fix")
    hour = datetime.fromisoformat(made["ends_at"]) - datetime.fromisoformat(made["starts_at"])
    assert timedelta(minutes=59) < hour <= timedelta(minutes=61)
    expect(page.locator(f'#silences li[data-silence-id="{made["id"]}"]')).to_contain_text("deploying the fix")

    evaluate_and_publish(now=t0 + timedelta(minutes=6))  # it fires, silenced: nobody is told
    assert slack.posts == []
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator(f'li[data-alert-id="{pending["id"]}"]')).to_have_attribute("data-state", "firing")

    page.locator(f'#silences li[data-silence-id="{made["id"]}"]').get_by_role("button", name="Expire").click()
    expect(page.locator("#silences")).to_contain_text("No silence is in force")
    evaluate_and_publish(now=t0 + timedelta(minutes=7))  # still firing once the silence is over: told once
    evaluate_and_publish(now=t0 + timedelta(minutes=8))
    assert len(slack.posts) == 1
    assert "component CheckoutForm" in slack.texts[0]

    # The panel's own form silences by component and metric.
    form = page.locator("#silence-form")
    form.get_by_label("Silence component").fill("SearchBox")
    form.get_by_label("Silence metric").select_option("error_recovery_rate")
    form.get_by_label("Silence for").select_option("4")
    form.get_by_label("Silence comment").fill("flaky test traffic")
    expect(form.get_by_label("Silenced by")).to_have_value("Dana (on call)")  # remembered for the tab
    form.get_by_role("button", name="Silence").click()
    expect(page.locator("#silences li")).to_have_count(1)
    [second] = request(live_server, "GET", "/v1/silences?active=true")["silences"]
    assert second["matchers"] == {"component": "SearchBox", "metric": "error_recovery_rate", "rule": None}
    screenshot(page, "dashboard-silences")


def test_an_alerts_history_shows_its_timeline_and_the_url_keeps_it_open(
    live_server: str, alerting: Callable[[], list[dict[str, Any]]], open_page: Callable[..., Page]
) -> None:
    [alert] = alerting()
    request(live_server, "POST", f"/v1/alerts/{alert['id']}/acknowledge", {"by": "ana", "note": "on it"})

    page = open_page()
    signed_in(page, live_server)
    page.locator(f'li[data-alert-id="{alert["id"]}"]').get_by_role("link", name="History").click()
    expect(page).to_have_url(f"{live_server}/dashboard?alert={alert['id']}")
    timeline = page.locator(f'.alert-detail[data-alert-id="{alert["id"]}"] .timeline li')
    expect(timeline).to_have_count(2)  # firing, acknowledged (no topic locally here: nothing notified)
    assert [li.get_attribute("data-kind") for li in timeline.all()] == ["firing", "acknowledged"]
    expect(timeline.nth(1)).to_contain_text("acknowledged by ana: on it")

    page.reload()
    expect(page.locator(".alert-detail .timeline li")).to_have_count(2)
    screenshot(page, "dashboard-alert-history")
    page.get_by_role("button", name="Close").click()
    expect(page.locator(".alert-detail")).to_have_count(0)
    expect(page).to_have_url(live_server + "/dashboard")


def test_a_late_evaluator_is_shown_in_the_page(live_server: str, db: Any, open_page: Callable[..., Page]) -> None:
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO job_runs (job, ran_at) VALUES ('alert_evaluation', %s), ('refresh', %s)",
        (now - timedelta(minutes=42), now - timedelta(minutes=20)),
    )
    page = open_page()
    signed_in(page, live_server)
    late = page.locator("#late")
    expect(late).to_be_visible()
    # Minutes are rounded as the page counts them, a slow machine may add one.
    expect(late).to_contain_text(
        re.compile(r"Alert evaluation is late: it last ran 4[23] min ago, on a schedule of rate\(5 minutes\)\.")
    )
    expect(page.locator('#jobs [data-job="alert_evaluation"]')).to_have_attribute("data-status", "late")
    expect(page.locator('#jobs [data-job="refresh"]')).to_have_text(re.compile(r"^Rollup refresh ran 2[01] min ago$"))
    screenshot(page, "dashboard-late-evaluator")

    db.execute("UPDATE job_runs SET ran_at = %s WHERE job = 'alert_evaluation'", (now,))
    page.get_by_role("button", name="Refresh").click()
    expect(late).to_be_hidden()
