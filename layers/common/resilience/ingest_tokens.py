"""Signed ingest tokens: a customer's backend vouches for a user_id with an HMAC the API checks without a database.

Format (docs/SECURITY.md, "Signed ingest tokens"): `<payload>.<signature>`, where payload is
base64url("<subject>.<expiry>") without padding, subject a UUID, expiry whole Unix seconds, and
signature base64url(HMAC-SHA256(secret, payload)) without padding. The signature covers the payload
as sent, so nothing in it is read before it is known to be genuine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# How far apart the customer's clock and the API's may be, either way.
CLOCK_SKEW = timedelta(seconds=60)
# A UUID and ten digits take 64 characters encoded; the bound keeps a forged header cheap to refuse.
_SHAPE = re.compile(r"[A-Za-z0-9_-]{4,128}\.[A-Za-z0-9_-]{43}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_EXPIRY = re.compile(r"[0-9]{1,11}")


class TokenError(ValueError):
    """Why a token is refused, in words its sender can act on."""


@dataclass(frozen=True)
class IngestToken:
    subject: str
    expires: datetime


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signature(secret: str, payload: str) -> str:
    return _encode(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def _subject(text: str) -> str:
    """The subject as user_id is stored: a UUID in lower-case, hyphenated."""
    if not _UUID.fullmatch(text):
        raise TokenError("its subject is not a UUID; the subject becomes the events' user_id, which is a UUID")
    return str(uuid.UUID(text))


def mint(secret: str, subject: str, expires: datetime) -> str:
    """A token saying its bearer reports signals as `subject` until `expires`, as the customer's backend mints it."""
    expiry = int(expires.timestamp())
    if expiry < 0:
        raise ValueError("expires must be after 1970")
    payload = _encode(f"{_subject(subject)}.{expiry}".encode("ascii"))
    return f"{payload}.{_signature(secret, payload)}"


def _genuine(payload: str, signature: str, secrets: Sequence[str]) -> bool:
    """Whether one of the secrets signed the payload, comparing in constant time against every one."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(_signature(secret, payload).encode(), signature.encode())
    return matched


def verify(token: str, secrets: Sequence[str], now: datetime, max_lifetime: timedelta) -> IngestToken:
    """The token's subject and expiry, or TokenError saying why it is refused."""
    if not _SHAPE.fullmatch(token):
        raise TokenError("is malformed: expected <payload>.<signature>, both base64url without padding")
    payload, signature = token.split(".")
    if not secrets or not _genuine(payload, signature, secrets):
        raise TokenError("its signature does not match: not signed with this deployment's secret, or altered since")
    try:
        subject, _, expiry = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().rpartition(".")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TokenError('is signed but its payload is not base64url of "<subject>.<expiry>"') from exc
    if not _EXPIRY.fullmatch(expiry):
        raise TokenError("is signed but its expiry is not whole Unix seconds")
    expires = datetime.fromtimestamp(int(expiry), UTC)
    if now > expires + CLOCK_SKEW:
        raise TokenError(f"expired at {expires.isoformat()}; ask the backend for a new one")
    if expires - now > max_lifetime + CLOCK_SKEW:
        raise TokenError(
            f"expires at {expires.isoformat()}, more than {int(max_lifetime.total_seconds())} s from now: "
            "tokens must be short-lived (INGEST_TOKEN_MAX_LIFETIME_SECONDS)"
        )
    return IngestToken(_subject(subject), expires)
