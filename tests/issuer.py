"""A stand-in identity provider: a real HTTP server publishing an OIDC discovery document and a key set, and the
keys that sign its tokens (RS256 and ES256), generated for the test run."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.http_peer import Handler, serving

AUDIENCE = "resilience-web"
# Issuers often have a path (Cognito's pool id, Supabase's /auth/v1): their documents are below it.
TENANT = "/tenant"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.algorithm.startswith("RS") else ECAlgorithm
        return {**json.loads(codec.to_jwk(self.private.public_key())), "kid": self.kid, "use": "sig"}


def rsa_key(kid: str = "rsa-1") -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "ec-1") -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Issuer:
    """Publishes `published` keys; counts the requests for each document; signs tokens with any key."""

    url: str = ""
    published: list[SigningKey] = field(default_factory=list)
    # Without discovery, only {issuer}/.well-known/jwks.json publishes the keys.
    discovery: bool = True
    fetches: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def served(self, path: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.fetches[path] = self.fetches.get(path, 0) + 1
        if path == "/.well-known/openid-configuration" and self.discovery:
            return 200, {"issuer": self.url, "jwks_uri": f"{self.url}/keys"}
        if path == "/keys" or (path == "/.well-known/jwks.json" and not self.discovery):
            return 200, {"keys": [key.public_jwk for key in self.published]}
        return 404, {"error": "not found"}

    def token(
        self,
        sub: str,
        *,
        key: SigningKey | None = None,
        issuer: str | None = None,
        audience: str | list[str] | None = AUDIENCE,
        lifetime: int = 300,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A token for sub, signed by key (the first published by default); override any claim by keyword."""
        signer = key or self.published[0]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": issuer or self.url,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        if audience is not None:
            payload["aud"] = audience
        payload.update(claims)
        # A claim given as None is left out.
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, signer.private, algorithm=signer.algorithm, headers={"kid": kid or signer.kid})


@contextmanager
def identity_provider(*keys: SigningKey, discovery: bool = True) -> Iterator[Issuer]:
    """The issuer served on a free port of 127.0.0.1, publishing keys, until the block ends."""
    issuer = Issuer(published=list(keys), discovery=discovery)

    class Documents(Handler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            status, document = issuer.served(self.path.removeprefix(TENANT))
            self.answer(status, json.dumps(document).encode(), "application/json")

    with serving(Documents) as base:
        issuer.url = base + TENANT
        yield issuer
