"""`make run DEMO=1`: realistic traffic sent through POST /v1/telemetry, so a new dashboard has a story to tell.

Five components report signals with a daily rhythm over the past 30 days; CheckoutForm's rollback rate
regressed a few hours ago. After the history, new traffic keeps arriving every few seconds.
Event ids derive from the hour and component, so running the demo again stores nothing twice.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

log = logging.getLogger("local.demo")

NAMESPACE = uuid.UUID("6f1c1c62-3a55-4d8e-9c39-2f0d3c7a9e10")
BATCH = 500
REGRESSED = "CheckoutForm"
REGRESSION_HOURS = 6
# The fewest signals one tick of live traffic is expected to carry.
MIN_LIVE_SIGNALS = 5


@dataclass(frozen=True)
class Profile:
    """How one component behaves: actions, retries and caught errors per busy hour, and how they end."""

    component: str
    actions: int
    rollback: float
    retries: int
    retry_success: float
    errors: int
    recovery: float


PROFILES = (
    Profile("CheckoutForm", actions=60, rollback=0.02, retries=12, retry_success=0.93, errors=3, recovery=0.98),
    Profile("ProfileEditor", actions=35, rollback=0.01, retries=4, retry_success=0.95, errors=1, recovery=1.0),
    Profile("SearchResults", actions=5, rollback=0.0, retries=40, retry_success=0.91, errors=2, recovery=0.97),
    Profile("ImageUploader", actions=10, rollback=0.01, retries=25, retry_success=0.86, errors=6, recovery=0.96),
    Profile("CommentThread", actions=25, rollback=0.015, retries=6, retry_success=0.9, errors=8, recovery=0.99),
)


def _activity(hour: datetime) -> float:
    """Traffic over a day in UTC: busiest mid-afternoon, quiet at night."""
    return 0.25 + 0.75 * (1 + math.cos((hour.hour - 15) / 24 * 2 * math.pi)) / 2


def _events(
    profile: Profile, hour: datetime, scale: float, rng: random.Random, ids: Iterator[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    """One component's signals within one hour, as of now (the regression is of the last hours before it)."""
    regressed = profile.component == REGRESSED and now - hour <= timedelta(hours=REGRESSION_HOURS)
    rollback = 0.25 if regressed else profile.rollback
    volume = _activity(hour) * scale
    found: list[dict[str, Any]] = []

    def add(signal: str, data: dict[str, Any] | None = None) -> None:
        ts = hour + timedelta(seconds=rng.uniform(0, 3599))
        found.append(
            {
                "id": str(next(ids)),
                "ts": ts.isoformat(),
                "session_id": f"demo-{rng.randrange(400):04d}",
                "user_id": str(uuid.UUID(int=rng.randrange(1, 300))),
                "component": profile.component,
                "signal": signal,
                "data": data or {},
            }
        )

    def times(per_hour: int) -> range:
        # Rounded at random, so short slices of an hour keep the hourly rate on average.
        expected = per_hour * volume
        return range(int(expected) + (rng.random() < expected - int(expected)))

    for _ in times(profile.actions):
        add("optimistic_action_start", {"action": "save"})
        if rng.random() < rollback:
            add("optimistic_action_rollback", {"action": "save", "reason": "http 409" if regressed else "http 503"})
        else:
            add("optimistic_action_success", {"action": "save"})
    for _ in times(profile.retries):
        add("retry_attempt", {"attempt": 1})
        add("retry_success" if rng.random() < profile.retry_success else "retry_failure", {"attempts": 3})
    for _ in times(profile.errors):
        add("error_boundary_triggered", {"error": "TypeError"})
        if rng.random() < profile.recovery:
            add("error_boundary_recovered")
    return found


def history(now: datetime, days: int = 30) -> Iterator[dict[str, Any]]:
    """The past `days` of traffic up to now, oldest first; the last day in full, older days sampled."""
    last = now.replace(minute=0, second=0, microsecond=0)
    hour = last - timedelta(days=days) + timedelta(hours=1)
    while hour <= last:
        scale = 1.0 if now - hour <= timedelta(days=1) else 0.3
        for profile in PROFILES:
            key = f"{hour.isoformat()}|{profile.component}"
            rng = random.Random(key)
            ids = (uuid.uuid5(NAMESPACE, f"{key}|{i}") for i in range(1_000_000))
            for event in _events(profile, hour, scale, rng, ids, now):
                if datetime.fromisoformat(event["ts"]) <= now:
                    yield event
        hour += timedelta(hours=1)


def live(now: datetime, seconds: float, rng: random.Random) -> list[dict[str, Any]]:
    """The traffic of the last `seconds`, with fresh ids: what clients report right now."""
    hour = now - timedelta(seconds=seconds)
    ids = iter(uuid.uuid4, None)
    batch: list[dict[str, Any]] = []
    # Six times the hourly rate of the history, and never fewer than a few signals a tick, even at
    # night: every refresh of the dashboard shows movement. All components scale alike.
    signals_per_hour = _activity(hour) * sum(2 * (p.actions + p.retries + p.errors) for p in PROFILES)
    scale = max(6 * seconds / 3600, MIN_LIVE_SIGNALS / signals_per_hour)
    for profile in PROFILES:
        for event in _events(profile, hour, scale, rng, ids, now):
            offset = rng.uniform(0, seconds)
            event["ts"] = (hour + timedelta(seconds=offset)).isoformat()
            batch.append(event)
    return batch


def send(base_url: str, events: list[dict[str, Any]]) -> int:
    """Posts events to the ingest route in batches of its size limit; returns how many were stored."""
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {base_url}")
    stored = 0
    for start in range(0, len(events), BATCH):
        body = json.dumps({"events": events[start : start + BATCH]}).encode()
        request = urllib.request.Request(  # noqa: S310 - checked above: an http(s) URL
            f"{base_url}/v1/telemetry", data=body, headers={"content-type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            stored += int(json.loads(answer.read())["accepted"])
    return stored


def _chunks(events: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Demo:
    """Fills the database once the API is up, brings rollups and alerts up to date, then keeps traffic coming."""

    def __init__(
        self,
        base_url: str,
        is_up: Callable[[], bool],
        run_schedules: Callable[[], None],
        every_seconds: float = 10.0,
        days: int = 30,
    ) -> None:
        self.base_url = base_url
        self.days = days
        self.is_up = is_up
        self.run_schedules = run_schedules
        self.every_seconds = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self.is_up():
            if self._stop.wait(0.1):
                return
        try:
            past = list(history(datetime.now(UTC), self.days))
            stored = 0
            with tqdm(total=len(past), desc="demo: sending history", unit=" events", mininterval=1.0) as bar:
                for chunk in _chunks(iter(past), 20 * BATCH):
                    stored += send(self.base_url, chunk)
                    bar.update(len(chunk))
            log.info("demo: %d events of the past %d days stored through POST /v1/telemetry", stored, self.days)
            self.run_schedules()
            log.info("demo: rollups refreshed and alerts evaluated; new traffic every %g s", self.every_seconds)
        except OSError:
            log.exception("demo: could not send the history")
            return
        rng = random.Random()
        while not self._stop.wait(self.every_seconds):
            try:
                send(self.base_url, live(datetime.now(UTC), self.every_seconds, rng))
            except OSError as exc:
                log.warning("demo: sending live traffic failed: %s", exc)
