"""The migration runner: applies migrations/NNN_name.sql once each, in order."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from resilience.store import locks
from resilience.store.database import connect

# Any constant will do; it only has to be the same for every runner (and every version of it).
LOCK = 0x7E5111E7

_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_directory() -> Path:
    """migrations/ of the source tree, or the copy the layer build puts in the resilience package."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "sql", package.parents[2] / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no migrations directory found")


def load(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {directory}")
    return found


def migrate(conninfo: str, directory: Path | None = None, *, connect_wait: float = 5) -> list[str]:
    """Applies pending migrations, each in its own transaction; returns the names applied.

    Connecting waits up to connect_wait seconds for a database that is resuming or restarting.
    A session advisory lock serialises concurrent runners; the second one finds nothing to do.
    """
    migrations = load(directory or default_directory())
    applied: list[str] = []
    with (
        connect(conninfo, wait=connect_wait, application_name="resilience-telemetry-migrations") as conn,
        locks.held(conn, LOCK),
    ):
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.name} changed after it was applied; add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            applied.append(migration.name)
    return applied
