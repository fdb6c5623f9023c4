"""Runs the template's EventBridge schedules in process: rate(...) and cron(...) expressions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from local.template import Schedule
from resilience.schedules import next_time

log = logging.getLogger("local.scheduler")


class Scheduler:
    """One thread; each schedule runs once at start, then whenever its expression says."""

    def __init__(self, schedules: list[tuple[Schedule, str]], run: Callable[[Schedule], None]) -> None:
        self._schedules = schedules
        self._run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        now = datetime.now(UTC)
        due = {schedule.name + schedule.function: now for schedule, _ in self._schedules}
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for schedule, expression in self._schedules:
                key = schedule.name + schedule.function
                if due[key] <= now:
                    try:
                        self._run(schedule)
                    except Exception:
                        log.exception("scheduled run of %s failed", schedule.function)
                    due[key] = next_time(expression, datetime.now(UTC))
            wait = min(due.values()) - datetime.now(UTC)
            self._stop.wait(max(0.5, min(wait.total_seconds(), 30)))
