"""Storing queued events: the component guard, then the same deduplicated COPY as a direct ingest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resilience.store import locks
from resilience.store.database import Connection
from resilience.store.known_components import admit
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent

# Writers take turns on the probe for stored ids and the COPY. Two messages can carry one event (a
# client that sent its batch again after the first was queued) and reach two writers at once; each
# would probe before the other's COPY commits, and when the copies' timestamps differ (the ingest
# stamps an event that has none when it arrives) the table's (id, ts) key would not stop the second.
WRITE_LOCK = "resilience_queued_write"


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
    with conn.transaction():
        locks.wait_for(conn, WRITE_LOCK)
        admitted = admit(conn, names, max_components)
        refused = tuple(name for name in names if name not in admitted)
        kept = [e for e in events if e.component in admitted] if refused else list(events)
        result = insert_events(conn, kept)
    return Written(result.accepted, result.duplicates, len(events) - len(kept), refused)
