"""What every benchmark shares: a real Postgres, sizes, timing, and rows of ratios against a baseline."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

SIZES = ("quick", "large")


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


@dataclass
class Bench:
    """Handed to each benchmark module's run(); `postgres_url` is a server only benchmarks use."""

    size: str
    postgres_url: str
    _databases: list[str] = field(default_factory=list)

    def pick(self, quick: Any, large: Any) -> Any:
        return large if self.size == "large" else quick

    def fresh_database(self) -> str:
        """A new, migrated, empty database of its own (dropped when the run ends)."""
        from resilience.store.migrations import migrate

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        url = psycopg.conninfo.make_conninfo(self.postgres_url, dbname=name)
        migrate(url)
        return url

    @property
    def database_url(self) -> str:
        return self.fresh_database()

    def drop_databases(self) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as admin:
            for name in self._databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.clear()

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
