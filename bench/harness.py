"""What every benchmark shares: a real Postgres, sizes, timing, rows of ratios against a baseline, charts."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

SIZES = ("quick", "large")
DOCS = Path(__file__).resolve().parent.parent / "docs"


@dataclass
class Row:
    """One figure: the measured value, the baseline measured in the same run, and the target it must meet."""

    area: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline: faster, smaller, or more per second."""
        if not self.baseline_value or not self.value:
            return None
        if self.unit.endswith("/s"):
            return self.value / self.baseline_value
        return self.baseline_value / self.value

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass(frozen=True)
class Chart:
    """A PNG a benchmark rendered into docs/, shown in its area's section of docs/PERFORMANCE.md."""

    area: str
    file: str
    title: str


@dataclass
class Bench:
    """Handed to each benchmark module's run(); `postgres_url` is a server only benchmarks use."""

    size: str
    postgres_url: str
    charts: list[Chart] = field(default_factory=list)
    chart_dir: Path = DOCS
    _databases: list[str] = field(default_factory=list)

    def pick(self, quick: Any, large: Any) -> Any:
        return large if self.size == "large" else quick

    def fresh_database(self, directory: Path | None = None) -> str:
        """A new, migrated, empty database of its own (dropped when the run ends); migrated by the
        migrations in `directory` if given, else by this tree's."""
        from resilience.store.migrations import migrate

        url = self._create_database()
        migrate(url, directory)
        return url

    def copy_database(self, url: str) -> str:
        """A new database of its own holding a copy of the one at `url` (no one may be connected to it)."""
        source = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        return self._create_database(template=str(source))

    def _create_database(self, template: str | None = None) -> str:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self._databases.append(name)
        return psycopg.conninfo.make_conninfo(self.postgres_url, dbname=name)

    @property
    def database_url(self) -> str:
        return self.fresh_database()

    def drop_databases(self) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as admin:
            for name in self._databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.clear()

    def progress(self, total: int, what: str) -> Any:
        """A progress bar on stderr for a long step (rows loaded, events sent)."""
        from tqdm import tqdm

        return tqdm(total=total, desc=what, unit=" rows", unit_scale=True, mininterval=1.0, leave=False)

    def chart_path(self, name: str) -> Path:
        """Where a chart of this size goes: docs/perf-<name>-<size>.png (unless the run writes nothing)."""
        return self.chart_dir / f"perf-{name}-{self.size}.png"

    @staticmethod
    def median(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
        """Median wall time of fn in seconds, after warm-up runs."""
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    @staticmethod
    def alternating_medians(
        first: Callable[[], Any], second: Callable[[], Any], *, rounds: int, first_each: int = 1, second_each: int = 1
    ) -> tuple[float, float]:
        """Median wall times in seconds of `first` and of `second`, measured in alternating rounds
        (after one unmeasured round), so that a change in the machine's load falls on both alike."""
        times: tuple[list[float], list[float]] = ([], [])
        for round_ in range(rounds + 1):
            for fn, each, found in ((first, first_each, times[0]), (second, second_each, times[1])):
                for _ in range(each):
                    start = time.perf_counter()
                    fn()
                    if round_:
                        found.append(time.perf_counter() - start)
        return statistics.median(times[0]), statistics.median(times[1])
