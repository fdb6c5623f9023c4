"""MigrateFunction: applies the database migrations when CloudFormation creates or updates the stack."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

# CloudFormation waits up to ServiceTimeout for an answer, and a cold start that raises answers
# nothing: everything that can fail at import is caught here and answered as FAILED by the handler.
try:
    from resilience.settings import DatabaseSettings, configure
    from resilience_lambda.migration import migrate_database
    from resilience_lambda.observability import logger

    configuration = configure(DatabaseSettings)
    startup_error: Exception | None = None
except Exception as exc:  # whatever it is, CloudFormation must hear of it
    startup_error = exc
    logger = logging.getLogger("MigrateFunction")  # type: ignore[assignment]
    logger.exception("cold start failed")

REASON_LIMIT = 500


def _respond(event: dict[str, Any], context: Any, status: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"see log stream {context.log_stream_name}",
            "PhysicalResourceId": event.get("PhysicalResourceId") or "database-migrations",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    url = event.get("ResponseURL")
    if not url:  # invoked directly (make invoke), not by CloudFormation: nobody to answer
        return
    if not url.startswith(("https://", "http://")):
        raise ValueError("ResponseURL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - CloudFormation's pre-signed URL
        pass


def _failure(what: str, exc: Exception) -> str:
    return f"{what}: {type(exc).__name__}: {exc}"[:REASON_LIMIT]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        # Data outlives the stack: deleting the stack never drops tables, so Delete needs nothing
        # that can fail, not even the settings, and a stack whose create failed still deletes.
        _respond(event, context, "SUCCESS")
        return {"applied": []}
    if startup_error is not None:
        _respond(event, context, "FAILED", _failure("cold start failed", startup_error))
        return {"error": str(startup_error)}
    migrate_logged: Any = logger.inject_lambda_context(_migrate, clear_state=True)
    return migrate_logged(event, context)


def _migrate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        applied = migrate_database(context.get_remaining_time_in_millis())
    except Exception as exc:
        logger.exception("migration failed")
        # Answer FAILED rather than raise: a raised error answers CloudFormation nothing.
        _respond(event, context, "FAILED", _failure("migration failed", exc))
        return {"error": str(exc)}
    logger.info("migrations applied", extra={"applied": applied})
    _respond(event, context, "SUCCESS")
    return {"applied": applied}
