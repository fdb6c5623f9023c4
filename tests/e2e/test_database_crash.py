"""Postgres stopped hard under load and started again: 503 with Retry-After meanwhile, every event stored once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from load.clients import Outcome, batch, deliver
from local import postgres
from local.template import Template
from tests.conftest import serving

CLIENTS, BATCHES, BATCH_SIZE = 4, 12, 25


@pytest.fixture
def crashable(lambda_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Postgres server of this test's own, migrated, that the test may crash; the functions use it."""
    from resilience import settings
    from resilience.store.migrations import migrate
    from resilience_lambda.database import database

    url, server = postgres.start(tmp_path / "pg")
    migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    settings.reload()
    database.close()
    server.url = url
    yield server
    database.close()
    postgres.stop(server)


def stored_ids(url: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        return Counter(str(row[0]) for row in conn.execute("SELECT id FROM resilience_metrics"))


def test_a_crash_mid_load_answers_503_with_retry_after_and_loses_or_doubles_nothing(
    crashable: Any, template: Template
) -> None:
    outcomes = [Outcome() for _ in range(CLIENTS)]
    sent: list[list[str]] = [[] for _ in range(CLIENTS)]
    deadline = time.monotonic() + 240

    with serving(template) as base:

        def client(n: int) -> None:
            rng = random.Random(n)
            for _ in range(BATCHES):
                events = batch(rng, BATCH_SIZE)
                sent[n] += [e["id"] for e in events]
                deliver(f"{base}/v1/telemetry", events, outcomes[n], deadline=deadline, wait_cap=0.5)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        # Some batches in, then the power goes: every connection is cut mid-flight.
        while sum(len(o.acknowledged) for o in outcomes) < CLIENTS * BATCH_SIZE and time.monotonic() < deadline:
            time.sleep(0.02)
        postgres.crash(crashable)
        while sum(o.statuses[503] for o in outcomes) < CLIENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        postgres.restart(crashable)
        for t in threads:
            t.join()

    statuses = sum((o.statuses for o in outcomes), Counter())
    assert statuses[503] >= CLIENTS, "the clients saw the outage"
    assert set(statuses) == {200, 503}, f"only 200 and 503, never a 500 or a dropped connection: {statuses}"
    assert sum(o.retry_after_missing for o in outcomes) == 0, "every 503 says when to retry"
    acknowledged = [i for o in outcomes for i in o.acknowledged]
    assert sorted(acknowledged) == sorted(i for ids in sent for i in ids), "every batch was acknowledged in the end"
    stored = stored_ids(crashable.url)
    assert set(stored) == set(acknowledged), "every acknowledged event is stored"
    assert max(stored.values()) == 1, "and stored once"
