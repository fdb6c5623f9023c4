"""Loads a function's handler from its folder and invokes it the way Lambda would."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the template reader (cfn-lint) is heavy; the memory benchmark imports this module alone
    from local.template import Function

_modules: dict[str, ModuleType] = {}
_load_lock = threading.Lock()


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int = 30
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def cold_start(fn: Function, name: str | None = None) -> ModuleType:
    """Imports the function's handler module anew, as a new Lambda container would (every handler is app.py)."""
    file_name, _ = fn.handler.rsplit(".", 1)
    path = fn.code_uri / f"{file_name}.py"
    spec = importlib.util.spec_from_file_location(name or f"cold_start_{fn.code_uri.name}_{file_name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def module(fn: Function) -> ModuleType:
    """The function's handler module, imported once under a name of its own."""
    with _load_lock:
        if fn.logical_id not in _modules:
            file_name, _ = fn.handler.rsplit(".", 1)
            _modules[fn.logical_id] = cold_start(fn, f"functions_{fn.code_uri.name}_{file_name}")
        return _modules[fn.logical_id]


def handler(fn: Function) -> Callable[[dict[str, Any], Any], Any]:
    _, attribute = fn.handler.rsplit(".", 1)
    return getattr(module(fn), attribute)


def invoke(fn: Function, event: dict[str, Any]) -> Any:
    return handler(fn)(event, LambdaContext(fn.logical_id))
