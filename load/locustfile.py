"""Locust users that report signals as the browser client does: batches with ids, retried after Retry-After."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, constant, events, task

from load.clients import ACKNOWLEDGED, RETRIED, batch, retry_after

BATCH_SIZE = int(os.environ.get("LOAD_BATCH_SIZE", "100"))
# Where the ids the server acknowledged go when the run ends, one a line (python -m load reads them).
ACKNOWLEDGED_FILE = Path(os.environ.get("LOAD_ACKNOWLEDGED", "acknowledged.txt"))

acknowledged: list[str] = []
outcomes: dict[str, int] = {"batches": 0, "retries": 0, "refused": 0}


class BrowserClient(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def report(self) -> None:
        events_ = batch(self.rng, BATCH_SIZE)
        body = {"events": events_}
        while True:
            with self.client.post("/v1/telemetry", json=body, name="POST /v1/telemetry", catch_response=True) as answer:
                status = answer.status_code
                if status in ACKNOWLEDGED:
                    acknowledged.extend(e["id"] for e in events_)
                    outcomes["batches"] += 1
                    answer.success()
                    return
                answer.failure(f"{status}")
                if status == 0:
                    print(f"no answer: {answer.error!r}", flush=True)
            if status not in RETRIED and status != 0:
                outcomes["refused"] += 1
                return
            outcomes["retries"] += 1
            gevent.sleep(retry_after(answer.headers))


@events.test_stop.add_listener
def _write_acknowledged(**_: Any) -> None:
    ACKNOWLEDGED_FILE.write_text("\n".join(acknowledged))
    counts = "\n".join(f"{name}={value}" for name, value in outcomes.items())
    ACKNOWLEDGED_FILE.with_suffix(".outcomes").write_text(counts)
