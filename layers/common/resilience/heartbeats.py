"""Heartbeats of the scheduled jobs: when each last ran, and whether it is late (past two intervals of its schedule)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from resilience.timestamps import Timestamp

# Allowance for a run's own duration and the scheduler's jitter: late means two runs missed.
LATE_AFTER_INTERVALS = 2


class Job(StrEnum):
    ALERT_EVALUATION = "alert_evaluation"
    REFRESH = "refresh"


class JobStatus(StrEnum):
    OK = "ok"
    LATE = "late"
    NEVER_RAN = "never_ran"


class Heartbeat(BaseModel):
    """One scheduled job's heartbeat as /v1/health reports it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job: Job
    status: JobStatus = Field(description="late: no run for two intervals of its schedule")
    last_run_at: Timestamp | None
    schedule: str = Field(examples=["rate(5 minutes)"])
    late_after_seconds: int = Field(description="Two intervals of the schedule")


def heartbeats(
    last_runs: Mapping[str, datetime], schedules: Mapping[Job, tuple[str, timedelta]], now: datetime
) -> list[Heartbeat]:
    """Each job's heartbeat: its last run (from job_runs) against two intervals of its schedule."""
    found = []
    for job, (schedule, interval) in schedules.items():
        last = last_runs.get(job.value)
        late_after = interval * LATE_AFTER_INTERVALS
        status = JobStatus.NEVER_RAN if last is None else JobStatus.LATE if now - last > late_after else JobStatus.OK
        found.append(
            Heartbeat(
                job=job,
                status=status,
                last_run_at=last,
                schedule=schedule,
                late_after_seconds=int(late_after / timedelta(seconds=1)),
            )
        )
    return found
