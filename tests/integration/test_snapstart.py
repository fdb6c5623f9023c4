"""SnapStart runtime hooks: the snapshot holds no database connection, and a restore reseeds random.

The hooks are registered with snapshot_restore_py (the library the Lambda runtime ships) and run
here the way the runtime runs them: every before-snapshot hook, then every after-restore hook.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import psycopg
import snapshot_restore_py

import resilience_lambda.database  # noqa: F401 - importing it registers the hooks, as a handler's import does
from local import triggers


def run_hooks(registry: list[Any]) -> None:
    for func, args, kwargs in registry:
        func(*args, **kwargs)


def our_connections(db: psycopg.Connection) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'resilience-telemetry' AND datname = %s",
        (db.info.dbname,),
    ).fetchone()
    return int(row[0]) if row else 0


def test_the_snapshot_holds_no_database_connection_and_the_first_request_after_restore_reconnects(
    env: dict[str, str], db: psycopg.Connection, invoke: Callable[[str, dict[str, Any]], Any]
) -> None:
    health = triggers.http_api("GET", "/v1/health")
    assert invoke("MetricsQueryFunction", health)["statusCode"] == 200
    assert our_connections(db) == 1
    run_hooks(snapshot_restore_py.get_before_snapshot())
    assert our_connections(db) == 0
    run_hooks(snapshot_restore_py.get_after_restore())
    answer = invoke("MetricsQueryFunction", health)
    assert answer["statusCode"] == 200
    assert '"database":"ok"' in answer["body"].replace(" ", "")
    assert our_connections(db) == 1


def test_every_restored_copy_draws_its_own_random_numbers() -> None:
    random.seed(2024)  # the state a snapshot would carry into every copy
    in_snapshot = [random.random() for _ in range(3)]
    copies = []
    for _ in range(2):
        random.seed(2024)
        run_hooks(snapshot_restore_py.get_after_restore())
        copies.append([random.random() for _ in range(3)])
    assert in_snapshot not in copies
    assert copies[0] != copies[1]
