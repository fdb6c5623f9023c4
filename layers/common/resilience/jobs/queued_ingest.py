"""Storing queued events: the component guard, then the same deduplicated COPY as a direct ingest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from resilience.store import held_events, locks
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
    """What one write did: events stored, ids already stored, and events held back by the component guard."""

    stored: int
    duplicates: int
    held: int
    held_components: tuple[str, ...]


def write(
    conn: Connection,
    events: Sequence[StoredEvent],
    max_components: int,
    seen_on: date,
    *,
    new_at_most: int | None = None,
) -> Written:
    """Stores the events whole or not at all; an id already stored (a redelivered message) is stored once.

    Events of a new component beyond max_components, or beyond the new_at_most these events may
    register, are held apart, not dropped: the ingest that queued them had no database to ask and
    answered 202, and the cleanup stores them once there is room.
    """
    names = list(dict.fromkeys(e.component for e in events))
    with conn.transaction():
        locks.wait_for(conn, WRITE_LOCK)
        admitted = admit(conn, names, max_components, new_at_most=new_at_most, seen_on=seen_on).admitted
        held = tuple(name for name in names if name not in admitted)
        kept = [e for e in events if e.component in admitted] if held else list(events)
        result = insert_events(conn, kept)
        if held:
            held_events.hold(conn, [e for e in events if e.component not in admitted])
    return Written(result.accepted, result.duplicates, len(events) - len(kept), held)
