"""Heartbeats: how often a schedule runs, and when a job that should have run is late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resilience.heartbeats import Job, JobStatus, heartbeats
from resilience.schedules import interval
from resilience.settings import JobSchedules, SettingsError

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(1 day)", timedelta(days=1)),
        ("cron(*/15 * * * ? *)", timedelta(minutes=15)),
        # Weekdays at 06:00: the longest gap is the weekend's.
        ("cron(0 6 ? * MON-FRI *)", timedelta(days=3)),
        ("cron(0 6 ? * 2-6 *)", timedelta(days=3)),
    ],
)
def test_a_schedule_runs_at_most_its_interval_apart(expression: str, expected: timedelta) -> None:
    assert interval(expression) == expected


def test_a_job_is_late_once_two_intervals_pass_without_a_run() -> None:
    schedules = {
        Job.ALERT_EVALUATION: ("rate(5 minutes)", timedelta(minutes=5)),
        Job.REFRESH: ("rate(1 hour)", timedelta(hours=1)),
    }
    on_time = {"alert_evaluation": NOW - timedelta(minutes=10), "refresh": NOW - timedelta(minutes=50)}
    beats = heartbeats(on_time, schedules, NOW)
    assert [(b.job, b.status, b.late_after_seconds) for b in beats] == [
        (Job.ALERT_EVALUATION, JobStatus.OK, 600),
        (Job.REFRESH, JobStatus.OK, 7200),
    ]
    stopped = heartbeats({**on_time, "alert_evaluation": NOW - timedelta(minutes=10, seconds=1)}, schedules, NOW)
    assert stopped[0].status is JobStatus.LATE
    assert heartbeats({}, schedules, NOW)[1].status is JobStatus.NEVER_RAN


def test_a_schedule_the_job_cannot_follow_stops_the_function_at_start() -> None:
    with pytest.raises(SettingsError, match="ALERT_EVALUATION_SCHEDULE: unsupported schedule expression"):
        JobSchedules.from_environ({"ALERT_EVALUATION_SCHEDULE": "every 5 minutes"})
    assert JobSchedules.from_environ({"REFRESH_SCHEDULE": "cron(0 * * * ? *)"}).refresh_schedule == "cron(0 * * * ? *)"
