"""Whose events a batch holds when signed ingest tokens vouch for user_id, rather than whatever the client wrote."""

from __future__ import annotations

from resilience.telemetry import Batch

UNVOUCHED = (
    "is set only from a signed ingest token (X-Ingest-Token) on this deployment: "
    "leave it out, or send the token the backend minted for this user"
)


def vouch(batch: Batch, subject: str | None) -> None:
    """Gives the valid events the token's subject as user_id, rejecting those that name another user.

    Without a token (subject None) an event naming a user_id is rejected: nothing vouches for it.
    """
    kept: list[int] = []
    for slot, event in enumerate(batch.valid):
        if event.user_id is None or event.user_id == subject:
            kept.append(slot)
            continue
        reason = UNVOUCHED if subject is None else f"is {event.user_id}, but the ingest token was minted for {subject}"
        batch.rejected.append({"index": batch.positions[slot], "errors": [{"field": "user_id", "reason": reason}]})
    if len(kept) < len(batch.valid):
        batch.rejected.sort(key=lambda r: int(r["index"]))
    batch.valid = [batch.valid[slot]._replace(user_id=subject) if subject else batch.valid[slot] for slot in kept]
    batch.positions = [batch.positions[slot] for slot in kept]
