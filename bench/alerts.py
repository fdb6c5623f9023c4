"""Alert evaluation against its floor: the signal counts it must read anyway, over the same window.

Evaluation adds the alert state on top of counting: one row locked and written per open alert, and
an outbox row per notification. The floor is the two count queries the default rules run (global
and per component); the measures are a quiet evaluation (no rule breaches) and a loud one (every
rule breaches for every component, so every alert is open and rewritten each run).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from bench.harness import Bench, Row
from resilience.jobs.evaluation import evaluate
from resilience.rules import Rule, default_rules
from resilience.store.counts import signal_counts
from resilience.windows import Window

AREA = "alerts"

# Half of each pair fails: every rate is 50 %, so each default rule breaches everywhere.
_LOAD = """
INSERT INTO resilience_metrics (ts, session_id, component, signal)
SELECT %(now)s - (i %% 600) * interval '1 second' - interval '1 second',
       's' || (i %% 5000),
       'Component' || (i %% %(components)s),
       (ARRAY['optimistic_action_success', 'optimistic_action_rollback', 'retry_success', 'retry_failure',
              'error_boundary_triggered', 'error_boundary_recovered', 'error_boundary_triggered',
              'optimistic_action_start'])[1 + (i / %(components)s) %% 8]
FROM generate_series(1, %(rows)s) AS i
"""


def _quiet(rules: list[Rule]) -> list[Rule]:
    """The same rules with thresholds no rate can cross."""
    return [r.model_copy(update={"threshold": 100.0 if r.op.value == "gt" else 0.0}) for r in rules]


def run(bench: Bench) -> list[Row]:
    rows_in_window = bench.pick(50_000, 1_000_000)
    components = bench.pick(50, 500)
    now = datetime.now(UTC).replace(microsecond=0)
    url = bench.fresh_database()
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        conn.execute(_LOAD, {"now": now, "rows": rows_in_window, "components": components})
        conn.execute("ANALYZE resilience_metrics")
        loud = [r.model_copy(update={"pending_minutes": 0}) for r in default_rules()]
        quiet = _quiet(loud)
        window = Window(now - timedelta(minutes=loud[0].window_minutes), now)

        def floor() -> None:
            signal_counts(conn, window)
            signal_counts(conn, window, by_component=True)

        def evaluation(rules: list[Rule]) -> None:
            result = evaluate(conn, rules, now=now)
            assert result.ran

        base = bench.median(floor, repeat=9)
        quiet_time = bench.median(lambda: evaluation(quiet), repeat=9)
        loud_time = bench.median(lambda: evaluation(loud), repeat=9)
        open_alerts = conn.execute("SELECT count(*) FROM alerts WHERE state = 'firing'").fetchone()
        firing = int(open_alerts[0]) if open_alerts else 0
    label = f"{rows_in_window:,} events, {components} components in the 15-minute window"
    return [
        Row(
            AREA,
            "evaluate 6 default rules, none breaching",
            quiet_time * 1000,
            "ms",
            "count signals (global + per component)",
            base * 1000,
            target="<= 1.5x the counting floor",
            ok=quiet_time <= 1.5 * base,
            note=label,
        ),
        Row(
            AREA,
            f"evaluate 6 default rules, {firing} alerts firing",
            loud_time * 1000,
            "ms",
            "count signals (global + per component)",
            base * 1000,
            target="<= 2x the counting floor",
            ok=loud_time <= 2 * base,
            note=label + "; every open alert is locked and rewritten",
        ),
    ]
