"""Lambda's scaling out, locally: a request that finds every container of its function busy gets a new one.

Each container is a process of its own that imports the function once and serves one invocation at a
time, so it holds its own database connection, as a Lambda execution environment does. Enabled with
LOCAL_CONCURRENCY=N (at most N containers per function; an SQS event source's MaximumConcurrency
bounds its function's); without it every function runs in the runner's own process.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from local import functions
from local.template import Template


def _serve(conn: Connection, logical_id: str) -> None:
    """A container's life: the function imported once (its cold start), then one invocation after another."""
    from local.template import load

    fn = load().functions[logical_id]
    functions.module(fn)
    while True:
        try:
            event = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", functions.invoke(fn, event)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ContainerFailed(RuntimeError):
    """The handler raised, or its container died: what Lambda reports as a function error."""


class Container:
    def __init__(self, logical_id: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        # str(): names read from the template are cfn-lint's str subclasses, which do not pickle.
        self.process = context.Process(target=_serve, args=(child, str(logical_id)), daemon=True)
        self.process.start()
        child.close()

    def invoke(self, event: dict[str, Any]) -> Any:
        try:
            self.conn.send(event)
            outcome, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ContainerFailed(f"the container exited: {exc}") from exc
        if outcome == "error":
            raise ContainerFailed(value)
        return value

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()


class Containers:
    """The containers of one function: reused while idle, a new one while fewer than the limit are busy."""

    def __init__(self, logical_id: str, limit: int) -> None:
        self.logical_id = logical_id
        self.limit = limit
        self._idle: list[Container] = []
        self._all: list[Container] = []
        self._changed = threading.Condition()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._changed:
            # Past the limit a request waits for a container (Lambda would throttle it).
            self._changed.wait_for(lambda: bool(self._idle) or len(self._all) < self.limit)
            container = self._idle.pop() if self._idle else None
            if container is None:
                container = Container(self.logical_id)
                self._all.append(container)
        healthy = True
        try:
            return container.invoke(event)
        except ContainerFailed:
            healthy = container.process.is_alive()
            raise
        finally:
            with self._changed:
                if healthy:
                    self._idle.append(container)
                else:
                    self._all.remove(container)
                self._changed.notify()

    def stop(self) -> None:
        with self._changed:
            containers, self._all, self._idle = self._all, [], []
        for container in containers:
            container.stop()


class Invoker:
    """Invokes a function by logical id: in a container of its own when it has some, else in this process."""

    def __init__(self, template: Template, limits: dict[str, int]) -> None:
        self.template = template
        self.pools = {logical_id: Containers(logical_id, limit) for logical_id, limit in limits.items() if limit > 0}

    def __call__(self, logical_id: str, event: dict[str, Any], in_process: Callable[[], Any] | None = None) -> Any:
        pool = self.pools.get(logical_id)
        if pool is not None:
            return pool.invoke(event)
        if in_process is not None:
            return in_process()
        return functions.invoke(self.template.functions[logical_id], event)

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.stop()
