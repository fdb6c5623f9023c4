"""What a well-behaved client does: batches of events with ids, retried on 429/503 after Retry-After."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from resilience.signals import Signal

SIGNALS = tuple(Signal)
COMPONENTS = ("CheckoutForm", "ProfileEditor", "SearchBox", "CartDrawer", "Settings")
# Answers that acknowledge a batch: stored (direct ingest), or queued to be stored (queued ingest).
ACKNOWLEDGED = frozenset({200, 202})
# Answers after which the same batch is sent again: the server stored nothing, or stores it once.
RETRIED = frozenset({429, 502, 503, 504})
# What a client waits when an answer to retry names no Retry-After, and at most.
DEFAULT_WAIT, LONGEST_WAIT = 1.0, 10.0


def batch(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """Events as a browser client sends them, each with an id; half carry their time, half leave it to the server."""
    now = datetime.now(UTC)
    events = []
    for _ in range(size):
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "session_id": f"sess-{rng.randrange(10_000)}",
            "component": rng.choice(COMPONENTS),
            "signal": rng.choice(SIGNALS),
            "data": {"action_id": f"a-{rng.randrange(1_000_000)}"},
        }
        if rng.random() < 0.5:
            event["ts"] = (now - timedelta(seconds=rng.randrange(600))).isoformat()
        events.append(event)
    return events


def retry_after(headers: Any) -> float:
    """How long to wait before sending the same batch again, as the server asked."""
    given = headers.get("retry-after") if headers is not None else None
    try:
        return min(LONGEST_WAIT, max(0.0, float(str(given))))
    except ValueError:
        return DEFAULT_WAIT


@dataclass
class Outcome:
    """What one client saw: every answer's status (0: no answer), and the ids the server acknowledged."""

    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    retry_after_missing: int = 0


def deliver(url: str, events: list[dict[str, Any]], outcome: Outcome, *, deadline: float, wait_cap: float) -> bool:
    """Sends the batch until the server acknowledges it (200, or 202 queued) or the deadline passes; True if
    acknowledged."""
    body = json.dumps({"events": events}).encode()
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
                status, headers = answer.status, answer.headers
        except urllib.error.HTTPError as error:
            error.read()
            status, headers = error.code, error.headers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status, headers = 0, None
        outcome.latencies.append(time.monotonic() - started)
        outcome.statuses[status] += 1
        if status in ACKNOWLEDGED:
            outcome.acknowledged += [e["id"] for e in events]
            return True
        if status not in RETRIED and status != 0:
            return False  # a client never retries a request the server refused for what it is
        if status in RETRIED and headers is not None and headers.get("retry-after") is None:
            outcome.retry_after_missing += 1
        time.sleep(min(wait_cap, retry_after(headers)))
    return False
