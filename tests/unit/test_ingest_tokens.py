"""Signed ingest tokens: what the customer's backend mints verifies, and nothing altered, foreign or stale does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.ingest_tokens import CLOCK_SKEW, TokenError, mint, verify

SECRET = "s3cr3t-of-the-customers-backend-0123456789"
OTHER_SECRET = "another-deployments-secret-9876543210abcdef"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
USER = "7d3f0c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def by_the_documented_recipe(secret: str, payload_text: str) -> str:
    """A token built as docs/SECURITY.md tells a backend in another language to build one."""
    payload = b64url(payload_text.encode())
    signature = b64url(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def refusal(token: str, secrets: tuple[str, ...] = (SECRET,), now: datetime = NOW) -> str:
    with pytest.raises(TokenError) as refused:
        verify(token, secrets, now, HOUR)
    return str(refused.value)


@given(subject=st.uuids(), lifetime=st.integers(min_value=0, max_value=3600))
def test_a_minted_token_verifies_to_its_subject_and_expiry(subject: uuid.UUID, lifetime: int) -> None:
    expires = NOW + timedelta(seconds=lifetime)
    token = verify(mint(SECRET, str(subject).upper(), expires), (SECRET,), NOW, HOUR)
    assert token.subject == str(subject)
    assert token.expires == expires


def test_a_token_made_by_the_documented_recipe_verifies() -> None:
    expiry = int((NOW + timedelta(minutes=10)).timestamp())
    token = by_the_documented_recipe(SECRET, f"{USER}.{expiry}")
    assert token == mint(SECRET, USER, NOW + timedelta(minutes=10))
    assert verify(token, (SECRET,), NOW, HOUR).subject == USER


@given(position=st.integers(min_value=0), replacement=st.sampled_from(BASE64URL))
def test_any_altered_character_makes_the_token_refused(position: int, replacement: str) -> None:
    token = mint(SECRET, USER, NOW + HOUR)
    position %= len(token)
    if token[position] in (replacement, "."):
        replacement = "A" if token[position] != "A" else "B"
    tampered = token[:position] + replacement + token[position + 1 :]
    assert "signature does not match" in refusal(tampered) or "malformed" in refusal(tampered)


@given(subject=st.uuids(), secret=st.text(min_size=32, max_size=64))
def test_a_token_of_another_secret_is_refused(subject: uuid.UUID, secret: str) -> None:
    if secret == SECRET:
        secret += "x"
    assert "signature does not match" in refusal(mint(secret, str(subject), NOW + HOUR))


@given(garbage=st.text(max_size=300))
def test_anything_that_is_not_a_token_is_refused_with_a_reason(garbage: str) -> None:
    assert refusal(garbage)


def test_a_forged_subject_on_a_genuine_signature_is_refused() -> None:
    genuine = mint(SECRET, USER, NOW + HOUR)
    other = b64url(f"{uuid.uuid4()}.{int((NOW + HOUR).timestamp())}".encode())
    assert "signature does not match" in refusal(f"{other}.{genuine.split('.')[1]}")


def test_either_secret_of_a_rotation_verifies_and_a_retired_one_does_not() -> None:
    old = mint(OTHER_SECRET, USER, NOW + HOUR)
    assert verify(old, (SECRET, OTHER_SECRET), NOW, HOUR).subject == USER
    assert "signature does not match" in refusal(old, (SECRET,))


def test_expiry_is_honoured_within_the_clock_skew_and_refused_past_it() -> None:
    token = mint(SECRET, USER, NOW)
    assert verify(token, (SECRET,), NOW + CLOCK_SKEW, HOUR).subject == USER
    assert "expired at 2026-12-07T12:00:00+00:00" in refusal(token, now=NOW + CLOCK_SKEW + timedelta(seconds=1))


def test_a_token_minted_to_live_longer_than_the_cap_is_refused() -> None:
    assert verify(mint(SECRET, USER, NOW + HOUR + CLOCK_SKEW), (SECRET,), NOW, HOUR).subject == USER
    reason = refusal(mint(SECRET, USER, NOW + HOUR + CLOCK_SKEW + timedelta(seconds=1)))
    assert "more than 3600 s from now" in reason


def test_a_signed_subject_that_is_not_a_uuid_is_refused() -> None:
    expiry = int((NOW + HOUR).timestamp())
    assert "subject is not a UUID" in refusal(by_the_documented_recipe(SECRET, f"auth0|12345.{expiry}"))
    with pytest.raises(TokenError):
        mint(SECRET, "auth0|12345", NOW + HOUR)


def test_a_signed_payload_without_an_expiry_in_seconds_is_refused() -> None:
    assert "expiry" in refusal(by_the_documented_recipe(SECRET, f"{USER}.soon"))
    assert "expiry" in refusal(by_the_documented_recipe(SECRET, f"{USER}.1.5e9"))


def test_no_secret_verifies_nothing() -> None:
    assert "signature does not match" in refusal(mint(SECRET, USER, NOW + HOUR), ())
