"""Storing queued events: the component guard, then the same deduplicated COPY as a direct ingest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resilience.store.database import Connection
from resilience.store.known_components import admit
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent


@dataclass(frozen=True)
class Written:
    """What one write did: events stored, ids already stored, and events refused by the component guard."""

    stored: int
    duplicates: int
    refused: int
    refused_components: tuple[str, ...]


def write(conn: Connection, events: Sequence[StoredEvent], max_components: int) -> Written:
    """Stores the events whole or not at all; an id already stored (a redelivered message) is stored once.

    Events of a new component beyond max_components are refused here, where the registry is: the
    ingest that queued them had no database to ask.
    """
    names = list(dict.fromkeys(e.component for e in events))
    admitted = admit(conn, names, max_components)
    refused = tuple(name for name in names if name not in admitted)
    kept = [e for e in events if e.component in admitted] if refused else list(events)
    result = insert_events(conn, kept)
    return Written(result.accepted, result.duplicates, len(events) - len(kept), refused)
