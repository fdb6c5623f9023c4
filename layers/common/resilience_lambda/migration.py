"""MigrateFunction's run: the migrations applied once the database answers, within the invocation's time."""

from __future__ import annotations

import time

from resilience.settings import DatabaseSettings, load
from resilience.store.database import AuthenticationFailed
from resilience.store.migrations import migrate
from resilience_lambda.secrets import database_conninfo

# Kept back from the invocation's time for applying the migrations and answering CloudFormation.
RESERVE_SECONDS = 60


def migrate_database(remaining_ms: int) -> list[str]:
    """Applies the pending migrations; returns their names.

    Connecting waits for a database that is resuming or restarting: DATABASE_CONNECT_TIMEOUT_SECONDS,
    within what the invocation has left (remaining_ms) beyond RESERVE_SECONDS. A refused password
    is read again from the secret, once, as a rotation may have changed it since it was cached.
    """
    wait = max(0.0, min(load(DatabaseSettings).database_connect_timeout_seconds, remaining_ms / 1000 - RESERVE_SECONDS))
    deadline = time.monotonic() + wait
    try:
        return migrate(database_conninfo(), connect_wait=wait)
    except AuthenticationFailed:
        return migrate(database_conninfo(fresh=True), connect_wait=max(0.0, deadline - time.monotonic()))
