"""With signed ingest tokens in use, user_id is the token's subject or nothing: never the client's own word."""

from __future__ import annotations

import json
import uuid
from typing import Any

from resilience.settings import IngestLimits
from resilience.telemetry import Batch, parse_batch
from resilience.trusted_users import vouch

SUBJECT = "7d3f0c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"
OTHER = "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"


def batch_of(*user_ids: str | None, bad_at: int | None = None) -> Batch:
    events: list[dict[str, Any]] = [
        {"session_id": "s", "component": "Cart", "signal": "retry_success", "id": str(uuid.uuid4())}
        | ({"user_id": user_id} if user_id else {})
        for user_id in user_ids
    ]
    if bad_at is not None:
        events[bad_at]["signal"] = "no_such_signal"
    return parse_batch(json.dumps({"events": events}).encode(), IngestLimits())


def test_the_tokens_subject_fills_in_user_id_and_an_event_naming_another_user_is_rejected() -> None:
    batch = batch_of(None, SUBJECT.upper(), OTHER, None)
    vouch(batch, SUBJECT)
    assert [e.user_id for e in batch.valid] == [SUBJECT, SUBJECT, SUBJECT]
    assert batch.positions == [0, 1, 3]
    (rejected,) = batch.rejected
    assert rejected["index"] == 2
    assert rejected["errors"][0]["field"] == "user_id"
    assert OTHER in rejected["errors"][0]["reason"]


def test_without_a_token_an_event_naming_a_user_is_rejected_and_anonymous_ones_pass() -> None:
    batch = batch_of(None, OTHER, None, SUBJECT)
    vouch(batch, None)
    assert [e.user_id for e in batch.valid] == [None, None]
    assert batch.positions == [0, 2]
    assert [(r["index"], r["errors"][0]["field"]) for r in batch.rejected] == [(1, "user_id"), (3, "user_id")]
    assert "X-Ingest-Token" in batch.rejected[0]["errors"][0]["reason"]


def test_rejections_for_user_id_join_the_others_in_request_order() -> None:
    batch = batch_of(OTHER, None, None, bad_at=2)
    vouch(batch, SUBJECT)
    assert [r["index"] for r in batch.rejected] == [0, 2]
    assert batch.positions == [1]
    assert [e.user_id for e in batch.valid] == [SUBJECT]
