"""Alert evaluation against its floor: the signal counts it must read anyway, over the same window.

Evaluation adds the alert state on top of counting: one row locked and written per open alert, and
an outbox row per notification. The floor is the two count queries the default rules run (global
and per component); the measures are a quiet evaluation (no rule breaches) and a loud one (every
rule breaches for every component, so every alert is open and rewritten each run). Then the new
rule types: burn-rate rules per component (the workbook's page and ticket: five windows up to three
days, read from the rollups) with a silence and a mute time in force, against the same floor; and
their three-day window counted from the rollups against the same count from raw rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from bench.harness import Bench, Row
from resilience.alert_states import counting_window, counts_keys
from resilience.jobs.evaluation import evaluate
from resilience.rules import AlertRule, BurnRateRule, MuteTime, Rule, default_rules
from resilience.silences import Matchers
from resilience.store import silences
from resilience.store.counts import signal_counts
from resilience.store.rollups import refresh
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


# Three days of history before the window, one row per (second, component) slot, rolled up.
_HISTORY = """
INSERT INTO resilience_metrics (ts, session_id, component, signal)
SELECT %(now)s - interval '15 minutes' - (i %% 259200) * interval '1 second',
       's' || (i %% 5000),
       'Component' || (i %% %(components)s),
       (ARRAY['optimistic_action_success', 'retry_success', 'error_boundary_triggered', 'error_boundary_recovered',
              'optimistic_action_rollback', 'retry_failure'])[1 + (i / %(components)s) %% 6]
FROM generate_series(1, %(rows)s) AS i
"""

# The raw-row count the rollups replace: every row of the window, grouped.
_RAW_COUNT = """
SELECT component, signal, count(*) FROM resilience_metrics WHERE ts >= %s AND ts < %s GROUP BY 1, 2
"""


def _burn_rate_rules(now: datetime) -> list[AlertRule]:
    """The workbook's page and ticket on error recovery, per component; one with a mute time in force now."""
    in_force = MuteTime(name="deploys", start=(now - timedelta(hours=1)).strftime("%H:00"), end="24:00")
    common = {"type": "burn_rate", "metric": "error_recovery_rate", "objective": 99.0, "per_component": True}
    return [
        BurnRateRule.model_validate({**common, "name": "recovery-page", "severity": "critical"}),
        BurnRateRule.model_validate(
            {**common, "name": "recovery-ticket", "severity": "warning", "mute_times": [in_force.model_dump()]}
        ),
    ]


def _quiet(rules: list[Rule]) -> list[Rule]:
    """The same rules with thresholds no rate can cross."""
    return [r.model_copy(update={"threshold": 100.0 if r.op.value == "gt" else 0.0}) for r in rules]


def run(bench: Bench) -> list[Row]:
    rows_in_window = bench.pick(50_000, 1_000_000)
    history_rows = bench.pick(500_000, 10_000_000)
    components = bench.pick(50, 500)
    now = datetime.now(UTC).replace(microsecond=0)
    url = bench.fresh_database()
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        conn.execute(_HISTORY, {"now": now, "rows": history_rows, "components": components})
        refresh(conn)
        conn.execute(_LOAD, {"now": now, "rows": rows_in_window, "components": components})
        conn.execute("ANALYZE resilience_metrics")
        loud = [r.model_copy(update={"pending_minutes": 0}) for r in default_rules()]
        quiet = _quiet(loud)
        window = Window(now - timedelta(minutes=loud[0].window_minutes), now)
        silences.create(
            conn,
            Matchers(component="Component1"),
            now - timedelta(hours=1),
            now + timedelta(hours=1),
            "bench",
            "bench",
            now,
        )
        burning = [*loud, *_burn_rate_rules(now)]
        three_days = Window(now - timedelta(days=3), now)

        def floor() -> None:
            signal_counts(conn, window)
            signal_counts(conn, window, by_component=True)

        def burning_floor() -> None:
            for key in dict.fromkeys(key for rule in burning for key in counts_keys(rule)):
                signal_counts(conn, counting_window(key, now), by_component=key[1])

        def evaluation(rules: list[Rule] | list[AlertRule]) -> None:
            result = evaluate(conn, rules, now=now)
            assert result.ran

        base = bench.median(floor, repeat=9)
        quiet_time = bench.median(lambda: evaluation(quiet), repeat=9)
        loud_time = bench.median(lambda: evaluation(loud), repeat=9)
        open_alerts = conn.execute("SELECT count(*) FROM alerts WHERE state = 'firing'").fetchone()
        firing = int(open_alerts[0]) if open_alerts else 0
        burning_base = bench.median(burning_floor, repeat=9)
        burning_time = bench.median(lambda: evaluation(burning), repeat=9)
        burn_alerts = conn.execute("SELECT count(*) FROM alerts WHERE objective IS NOT NULL").fetchone()
        burn_firing = int(burn_alerts[0]) if burn_alerts else 0
        rolled_up = bench.median(lambda: signal_counts(conn, three_days, by_component=True), repeat=9)
        raw = bench.median(lambda: conn.execute(_RAW_COUNT, (three_days.start, three_days.end)).fetchall(), repeat=3)
    label = f"{rows_in_window:,} events, {components} components in the 15-minute window"
    history = f"{history_rows + rows_in_window:,} events over 3 days, {components} components"

    def against_floor(name: str, seconds: float, within: float, note: str, floor: float = base) -> Row:
        counted = "count signals (global + per component)" if floor == base else "count every window the rules read"
        return Row(
            AREA,
            name,
            seconds * 1000,
            "ms",
            counted,
            floor * 1000,
            target=f"<= {within:g}x the counting floor",
            ok=seconds <= within * floor,
            note=note,
        )

    return [
        against_floor("evaluate 6 default rules, none breaching", quiet_time, 1.5, label),
        against_floor(
            f"evaluate 6 default rules, {firing} alerts firing",
            loud_time,
            2,
            label + "; every open alert is locked and rewritten",
        ),
        against_floor(
            f"evaluate 6 default + 2 burn-rate rules, {burn_firing} burn-rate alerts",
            burning_time,
            1.5,
            history
            + "; the workbook's page and ticket on error recovery per component (five more windows, 5 min to 3 days),"
            + " a silence and a mute time in force",
            burning_base,
        ),
        Row(
            AREA,
            "count 3 days per component (rollups + pending + raw edges)",
            rolled_up * 1000,
            "ms",
            "the same count from raw rows",
            raw * 1000,
            target=">= 5x faster than raw rows",
            ok=raw >= 5 * rolled_up,
            note=history + "; what a burn-rate rule's 3-day window costs each evaluation",
        ),
    ]
