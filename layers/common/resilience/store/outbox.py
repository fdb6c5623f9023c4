"""The outbox: notifications stored with the state change that causes them, then published in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    # firing, reminder or resolved (one alert's notification), or group (several, resilience.notify.group).
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class Delivery:
    """What one pass over the outbox did; error is the failure that stopped it, if any."""

    sent: int = 0
    failed: int = 0
    error: str | None = None


Transaction = Callable[[], AbstractContextManager[psycopg.Connection]]

_COLUMNS = "id, kind, payload, attempts"


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(row[0], row[1], row[2], row[3])


def enqueue(conn: psycopg.Connection, messages: Sequence[dict[str, Any]]) -> None:
    """Stores notifications (resilience.notify payloads, single or grouped), to be published in this order."""
    params = [(m["alert"]["id"] if "alert" in m else None, m["kind"], Jsonb(m)) for m in messages]
    if params:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO alert_outbox (alert_id, kind, payload) VALUES (%s, %s, %s)", params)


def _next_unsent(conn: psycopg.Connection) -> OutboxEntry | None:
    # SKIP LOCKED: a concurrent publisher takes the next entry instead of sending this one again.
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM alert_outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    ).fetchone()
    return _entry(row) if row else None


# Each alert a published entry told about gets "notified" in its timeline, with the same commit
# that marks the entry sent. Alerts deleted since (purged) are skipped.
_NOTIFIED = """
INSERT INTO alert_events (alert_id, at, kind, detail)
SELECT a.id, now(), 'notified',
       (n ->> 'kind') || ' notification' || CASE WHEN o.kind = 'group' THEN ' (grouped)' ELSE '' END
FROM alert_outbox o
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN o.kind = 'group' THEN o.payload -> 'notifications' ELSE jsonb_build_array(o.payload) END
) AS n
JOIN alerts a ON a.id = (n -> 'alert' ->> 'id')::bigint
WHERE o.id = %(id)s
"""


def publish(transaction: Transaction, send: Callable[[OutboxEntry], None], *, limit: int = 100) -> Delivery:
    """Publishes unsent notifications in order, each in a transaction of its own.

    A failed publish stays in the outbox (with its error) and stops the pass: the next run
    retries it first, so notifications about one alert never overtake each other.
    """
    delivery = Delivery()
    for _ in range(limit):
        with transaction() as conn:
            entry = _next_unsent(conn)
            if entry is None:
                break
            try:
                send(entry)
            except Exception as exc:
                conn.execute(
                    "UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                    (f"{type(exc).__name__}: {exc}"[:1000], entry.id),
                )
                delivery.failed += 1
                delivery.error = f"{type(exc).__name__}: {exc}"
                break
            conn.execute(
                "UPDATE alert_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = %s",
                (entry.id,),
            )
            conn.execute(_NOTIFIED, {"id": entry.id})
            delivery.sent += 1
    return delivery


def unsent(conn: psycopg.Connection) -> Iterator[OutboxEntry]:
    """Notifications not yet accepted by the topic, oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM alert_outbox WHERE sent_at IS NULL ORDER BY id")
    for row in rows.fetchall():
        yield _entry(row)


def purge_sent(conn: psycopg.Connection, before: datetime) -> int:
    """Deletes notifications sent before the cutoff; returns how many."""
    return conn.execute("DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND sent_at < %s", (before,)).rowcount
