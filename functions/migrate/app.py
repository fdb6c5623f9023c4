"""MigrateFunction: applies the database migrations when CloudFormation creates or updates the stack."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import DatabaseSettings, configure
from resilience_lambda.migration import migrate_database
from resilience_lambda.observability import logger

configuration = configure(DatabaseSettings)


def _respond(event: dict[str, Any], context: LambdaContext, status: str, reason: str = "") -> None:
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


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        # Data outlives the stack: deleting the stack never drops tables.
        _respond(event, context, "SUCCESS")
        return {"applied": []}
    try:
        applied = migrate_database(context.get_remaining_time_in_millis())
    except Exception as exc:
        logger.exception("migration failed")
        # Answer FAILED rather than raise: a raised error would make Lambda retry the invocation.
        _respond(event, context, "FAILED", f"migration failed: {type(exc).__name__}: {exc}"[:500])
        return {"error": str(exc)}
    logger.info("migrations applied", extra={"applied": applied})
    _respond(event, context, "SUCCESS")
    return {"applied": applied}
