"""Fixtures of the integration tier: the ingest switched to queued mode, and the writer behind its queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.queue import EventSource, LocalQueues


@pytest.fixture
def queues(ingest_queues: LocalQueues, monkeypatch: pytest.MonkeyPatch) -> LocalQueues:
    """The ingest switched to queued, on the template's queues in moto's SQS."""
    from resilience import settings

    monkeypatch.setenv("INGEST_MODE", "queued")
    settings.reload()
    return ingest_queues


@pytest.fixture
def writer(queues: LocalQueues, invoke: Callable[[str, dict[str, Any]], Any]) -> EventSource:
    """Lambda's event source mapping from the ingest queue to IngestWriterFunction, one batch at a time."""
    (source,) = queues.sources(invoke)
    return source
