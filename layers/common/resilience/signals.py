"""The resilience signals that browser and app clients report."""

from enum import StrEnum


class Signal(StrEnum):
    OPTIMISTIC_ACTION_START = "optimistic_action_start"
    OPTIMISTIC_ACTION_SUCCESS = "optimistic_action_success"
    OPTIMISTIC_ACTION_ROLLBACK = "optimistic_action_rollback"
    RETRY_ATTEMPT = "retry_attempt"
    RETRY_SUCCESS = "retry_success"
    RETRY_FAILURE = "retry_failure"
    ERROR_BOUNDARY_TRIGGERED = "error_boundary_triggered"
    ERROR_BOUNDARY_RECOVERED = "error_boundary_recovered"


KNOWN_SIGNALS: tuple[str, ...] = tuple(s.value for s in Signal)
