"""The API fuzzed by a tool nobody here wrote: schemathesis against the served OpenAPI document, as an admin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import ADMIN_TOKEN, signal_event

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# A fixed seed keeps CI reproducible; SCHEMATHESIS_SEED explores others (docs/RELIABILITY.md).
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261130")
LEAST_REQUESTS = 1000


def seed_alert(db: psycopg.Connection) -> int:
    """A firing alert for the acknowledge route to find."""
    row = db.execute(
        """INSERT INTO alerts (rule, metric, component, state, severity, operator, value, threshold, numerator,
                               denominator, window_minutes, started_at, fired_at, evaluated_at)
           VALUES ('rollback_rate', 'rollback_rate', NULL, 'firing', 'critical', 'gt', 20, 5, 2, 10, 15,
                   now() - interval '20 minutes', now() - interval '10 minutes', now())
           RETURNING id"""
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_schemathesis_finds_nothing_in_over_a_thousand_requests(
    live_server: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    from tests.conftest import call

    call("POST", f"{live_server}/v1/telemetry", {"events": [signal_event("retry_success")]})
    alert_id = seed_alert(db)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server}/docs?format=json",
            "--url",
            live_server,
            "-H",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--phases",
            "examples,coverage,fuzzing",
            "--checks",
            ",".join(CHECKS),
            "--seed",
            SEED,
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--continue-on-failure",
        ],
        # Its cache of findings goes to a folder of the test's own, not into the repository.
        cwd=tmp_path,
        env={**os.environ, "SEEDED_ALERT_ID": str(alert_id), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output[-3000:]
    assert int(generated.group(1)) >= LEAST_REQUESTS, output[-3000:]
    # Every operation of the document was exercised, in each of the three phases.
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected is not None, output[-3000:]
    assert tested is not None, output[-3000:]
    assert selected.group(1) == selected.group(2) == tested.group(1)
    for phase in ("Examples", "Coverage", "Fuzzing"):
        assert re.search(rf"✅ {phase}", output), output[-3000:]
