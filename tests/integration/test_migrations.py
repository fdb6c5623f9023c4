"""The migration runner: each migration once, in order, safely when two runners start together."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from resilience.store.migrations import default_directory, load, migrate
from tests.conftest import run_together


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_migrations_are_numbered_uniquely_and_found_in_order() -> None:
    found = load(default_directory())
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert found[0].name == "001_resilience_metrics"


def test_a_second_run_applies_nothing(empty_database: str) -> None:
    first = migrate(empty_database)
    assert first == [m.name for m in load(default_directory())]
    assert migrate(empty_database) == []
    assert versions(empty_database) == [m.version for m in load(default_directory())]


def test_two_runners_at_once_apply_each_migration_once(empty_database: str) -> None:
    results = run_together(lambda: migrate(empty_database), times=2)
    assert sorted(len(r) for r in results) == [0, len(load(default_directory()))]


def test_an_edited_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("CREATE TABLE t1 (x int);")
    migrate(empty_database, tmp_path)
    (tmp_path / "001_first.sql").write_text("CREATE TABLE t1 (x bigint);")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate(empty_database, tmp_path)


def test_a_failing_migration_leaves_no_trace(empty_database: str, tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE t1 (x int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE t2 (x int); SELECT 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(empty_database, tmp_path)
    assert versions(empty_database) == [1]
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT to_regclass('t2')").fetchone() == (None,)


def test_install_creates_daily_partitions_around_today(database_url: str) -> None:
    with psycopg.connect(database_url, options="-c timezone=UTC") as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'resilience_metrics'::regclass"
            )
        }
        today = conn.execute("SELECT resilience_partition_name(current_date)").fetchone()[0]  # type: ignore[index]
    assert "resilience_metrics_default" in names
    assert today in names
