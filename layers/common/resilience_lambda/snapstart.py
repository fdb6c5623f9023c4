"""Lambda SnapStart runtime hooks: no open connection in the snapshot, fresh randomness after a restore.

With SnapStart (the template's SnapStart parameter) Lambda initialises a function once, snapshots
it, and resumes every new execution environment from that snapshot. A database connection open in
the snapshot would be shared by every restored copy, long after the server dropped it; the state of
`random` would repeat in every copy. snapshot_restore_py exists only in the Lambda runtime, so
elsewhere the hooks are never called.
"""

from __future__ import annotations

import random
from collections.abc import Callable

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # not in the Lambda runtime: there is no snapshot

    def register_before_snapshot(func: Callable[..., object], *args: object, **kwargs: object) -> None:
        return None

    def register_after_restore(func: Callable[..., object], *args: object, **kwargs: object) -> None:
        return None


def before_snapshot(close: Callable[[], object]) -> None:
    """Runs close before Lambda takes the snapshot (for a connection or anything else tied to a peer)."""
    register_before_snapshot(close)


# Python's random is seeded once per process; every restored copy would draw the same numbers.
register_after_restore(random.seed)
