"""Alert notifications as people read them: plain text for e-mail, a structured body for Slack; grouped per severity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the Slack function renders messages and never builds one: it skips their models
    from resilience.alert_states import Alert, Kind
    from resilience.rules import AlertRule

_OPERATOR_WORDS = {"gt": "above", "lt": "below"}
_KIND_TITLES = {"firing": "FIRING", "reminder": "Reminder: still firing", "resolved": "Resolved"}
# SNS wants e-mail subjects under 100 characters.
MAX_SUBJECT = 99
# A grouped message lists this many alerts, then says how many more there are.
GROUP_CAP = 10
_SEVERITY_ORDER = ("critical", "warning")
_KIND_ORDER = ("firing", "reminder", "resolved")
_ICONS = {"firing": ":rotating_light:", "reminder": ":bell:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Notification:
    """One notification, ready for any channel."""

    subject: str
    text: str
    structured: dict[str, Any]
    attributes: dict[str, str]


def message(kind: Kind, alert: Alert, rule: AlertRule, at: datetime) -> dict[str, Any]:
    """A notification as the outbox keeps it and the Slack function receives it: what happened, to which alert."""
    return {
        "kind": kind.value,
        "at": at.isoformat(),
        "alert": alert.model_dump(mode="json"),
        "rule": {
            "name": rule.name,
            "window_minutes": rule.window_minutes,
            "min_samples": rule.min_samples,
            "pending_minutes": rule.pending_minutes,
            "repeat_minutes": rule.repeat_minutes,
        },
    }


def scope(component: str | None) -> str:
    return f"component {component}" if component else "all components"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}%"


def _measure(alert: dict[str, Any]) -> tuple[str, str]:
    """What the alert says of its rate: the value, and what it is held to."""
    words = _OPERATOR_WORDS.get(alert["operator"], alert["operator"])
    objective = alert.get("objective")
    if objective is not None:
        return (
            f"burning the {objective:g}% objective's error budget {alert['value']:.3g}x",
            f"alert at {alert['threshold']:.3g}x",
        )
    return f"{_percent(alert['value'])}", f"alert when {words} {_percent(alert['threshold'])}"


def _duration(start: datetime, end: datetime) -> str:
    minutes = max(0, int((end - start).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def headline(payload: dict[str, Any]) -> str:
    """One line naming what happened, to which metric and which component."""
    alert, kind = payload["alert"], payload["kind"]
    words = _OPERATOR_WORDS.get(alert["operator"], alert["operator"])
    where = scope(alert["component"])
    if alert.get("objective") is not None:
        value, limit = _measure(alert)
        title = "Resolved" if kind == "resolved" else f"{_KIND_TITLES.get(kind, kind)} [{alert['severity']}]"
        return f"{title}: {alert['metric']} is {value} for {where} ({limit})"
    if kind == "resolved":
        limit = f"alert when {words} {_percent(alert['threshold'])}"
        return f"Resolved: {alert['metric']} is {_percent(alert['value'])} for {where} ({limit})"
    title = _KIND_TITLES.get(kind, kind)
    return (
        f"{title} [{alert['severity']}]: {alert['metric']} is {_percent(alert['value'])}, "
        f"{words} the threshold of {_percent(alert['threshold'])}, for {where}"
    )


def _subject(payload: dict[str, Any]) -> str:
    alert, kind = payload["alert"], payload["kind"]
    where = scope(alert["component"])
    prefix = "Resolved" if kind == "resolved" else f"[{alert['severity']}] {_KIND_TITLES.get(kind, kind)}"
    return _subject_line(f"{prefix}: {alert['metric']} for {where}")


def _subject_line(subject: str) -> str:
    # SNS refuses (for good: the publish would fail on every retry) a subject that is not short,
    # printable ASCII; component names are free text.
    subject = "".join(ch if " " <= ch <= "~" else "?" for ch in subject)
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 3] + "..."


def facts(payload: dict[str, Any], dashboard_url: str | None) -> list[tuple[str, str]]:
    """The labelled facts every channel shows, in order."""
    alert, kind = payload["alert"], payload["kind"]
    at = datetime.fromisoformat(payload["at"])
    started = datetime.fromisoformat(alert["started_at"])
    value, limit = _measure(alert)
    rows = [
        ("Metric", alert["metric"]),
        ("Component", alert["component"] or "all components"),
        ("Value", f"{value} ({alert['numerator']} of {alert['denominator']})"),
        ("Threshold", limit),
        ("Window", f"last {alert['window_minutes']} minutes, {alert['denominator']} samples"),
        ("Severity", alert["severity"]),
        ("Breaching since", f"{_when(alert['started_at'])} ({_duration(started, at)})"),
    ]
    if kind == "resolved":
        rows.append(("Resolved at", _when(alert["resolved_at"])))
    if alert.get("acknowledged_at"):
        rows.append(("Acknowledged", f"by {alert['acknowledged_by']} at {_when(alert['acknowledged_at'])}"))
    rows.append(("Rule", payload["rule"]["name"]))
    rows.append(("Alert id", str(alert["id"])))
    if dashboard_url:
        rows.append(("Dashboard", dashboard_url))
    return rows


def how_to_acknowledge(payload: dict[str, Any]) -> str:
    alert = payload["alert"]
    repeat = payload["rule"].get("repeat_minutes") or 0
    reminders = f"Reminders follow every {repeat} minutes until it is acknowledged or resolved. " if repeat else ""
    return (
        f"{reminders}To acknowledge: POST /v1/alerts/{alert['id']}/acknowledge with "
        '{"by": "<your name>", "note": "<optional>"} and the admin token, or use the dashboard.'
    )


def email_text(payload: dict[str, Any], dashboard_url: str | None) -> str:
    """The plain-text body of the e-mail."""
    lines = [headline(payload), ""]
    lines += [f"{label}: {value}" for label, value in facts(payload, dashboard_url)]
    if payload["kind"] != "resolved":
        lines += ["", how_to_acknowledge(payload)]
    return "\n".join(lines) + "\n"


def group(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One evaluation's notifications as one payload per severity (critical first); a lone one stays as it is."""
    payloads = []
    for severity in _SEVERITY_ORDER:
        same = [m for m in messages if m["alert"]["severity"] == severity]
        if len(same) == 1:
            payloads.append(same[0])
        elif same:
            # Firing first, then reminders, then resolutions: what needs acting on leads.
            same.sort(key=lambda m: _KIND_ORDER.index(m["kind"]))
            payloads.append({"kind": "group", "severity": severity, "at": same[0]["at"], "notifications": same})
    return payloads


def _group_headline(payload: dict[str, Any]) -> str:
    notifications = payload["notifications"]
    counts = {kind: sum(1 for n in notifications if n["kind"] == kind) for kind in _KIND_ORDER}
    words = {"firing": "firing", "reminder": "still firing", "resolved": "resolved"}
    if counts["resolved"] == len(notifications):
        return f"Resolved: {len(notifications)} alerts [{payload['severity']}]"
    parts = ", ".join(f"{n} {words[kind]}" for kind, n in counts.items() if n)
    return f"{len(notifications)} alerts [{payload['severity']}]: {parts}"


def _listed(payload: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The notifications a grouped message shows, and how many it leaves out."""
    notifications = payload["notifications"]
    return notifications[:GROUP_CAP], max(0, len(notifications) - GROUP_CAP)


def _more(left_out: int) -> str:
    return f"and {left_out} more (see the dashboard)"


def _render_group(payload: dict[str, Any], dashboard_url: str | None) -> Notification:
    listed, left_out = _listed(payload)
    title = _group_headline(payload)
    lines = [title, ""] + [f"- {headline(n)}" for n in listed]
    if left_out:
        lines.append(f"- {_more(left_out)}")
    if dashboard_url:
        lines += ["", f"Dashboard: {dashboard_url}"]
    if any(n["kind"] != "resolved" for n in payload["notifications"]):
        lines += [
            "",
            "To acknowledge one: POST /v1/alerts/<id>/acknowledge with "
            '{"by": "<your name>", "note": "<optional>"} and the admin token, or use the dashboard.',
        ]
    metrics = sorted({n["alert"]["metric"] for n in payload["notifications"]})
    structured = {
        "kind": "group",
        "severity": payload["severity"],
        "at": payload["at"],
        "headline": title,
        # Capped, so the message stays within SNS's size limit however many alerts there are.
        "notifications": [{**n, "headline": headline(n)} for n in listed],
        "more": left_out,
        "total": len(payload["notifications"]),
        "dashboard_url": dashboard_url,
    }
    return Notification(
        subject=_subject_line(f"{title} ({', '.join(metrics)})"),
        text="\n".join(lines) + "\n",
        structured=structured,
        attributes={"severity": payload["severity"], "metric": ",".join(metrics), "kind": "group"},
    )


def render(payload: dict[str, Any], dashboard_url: str | None) -> Notification:
    """An outbox payload as a notification: e-mail text, the structured body and message attributes."""
    if payload["kind"] == "group":
        return _render_group(payload, dashboard_url)
    alert = payload["alert"]
    structured = {
        **payload,
        "headline": headline(payload),
        "dashboard_url": dashboard_url,
        "acknowledge_path": f"/v1/alerts/{alert['id']}/acknowledge",
    }
    return Notification(
        subject=_subject(payload),
        text=email_text(payload, dashboard_url),
        structured=structured,
        attributes={"severity": alert["severity"], "metric": alert["metric"], "kind": payload["kind"]},
    )


def _dashboard_button(dashboard_url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open dashboard"}, "url": dashboard_url}
        ],
    }


def _slack_group(structured: dict[str, Any]) -> dict[str, Any]:
    icon = (
        ":rotating_light:" if any(n["kind"] != "resolved" for n in structured["notifications"]) else _ICONS["resolved"]
    )
    title = f"{icon} {structured['headline']}"
    lines = [
        f"{_ICONS.get(n['kind'], '')} {n['headline']} (alert {n['alert']['id']})" for n in structured["notifications"]
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        # Slack caps a section's text at 3,000 characters.
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
    ]
    if structured.get("more"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _more(structured["more"])}]})
    if structured.get("dashboard_url"):
        blocks.append(_dashboard_button(structured["dashboard_url"]))
    return {"text": title, "blocks": blocks}


def slack_message(structured: dict[str, Any]) -> dict[str, Any]:
    """A Slack message (text fallback plus Block Kit blocks) for a structured notification, single or grouped."""
    kind = structured["kind"]
    if kind == "group":
        return _slack_group(structured)
    dashboard_url = structured.get("dashboard_url")
    icon = _ICONS.get(kind, "")
    title = f"{icon} {structured['headline']}".strip()
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
        for label, value in facts(structured, None)
        if label not in ("Rule", "Alert id")
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        # Slack allows at most 10 fields in a section.
        {"type": "section", "fields": fields[:10]},
    ]
    context = f"Rule `{structured['rule']['name']}` · alert {structured['alert']['id']}"
    if kind != "resolved":
        context += " · " + how_to_acknowledge(structured)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if dashboard_url:
        blocks.append(_dashboard_button(dashboard_url))
    return {"text": title, "blocks": blocks}
