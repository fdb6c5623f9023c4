"""The HTTP API's JWT authorizer, locally: checks a bearer token as API Gateway does before the function runs.

The signature is verified against the issuer's keys, found through its OIDC discovery document
({issuer}/.well-known/openid-configuration, else {issuer}/.well-known/jwks.json) and cached; then
iss, aud (or client_id when the token has no aud), exp, nbf and iat. The claims reach the function
as API Gateway passes them (payload format 2.0): requestContext.authorizer.jwt.claims, as strings.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

# RS256 is what API Gateway verifies; ES256 too, for providers that sign with P-256 keys (Supabase's
# default). Symmetric algorithms never: a shared secret is not a key set the issuer publishes.
ALGORITHMS = ["RS256", "ES256"]
DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"
# How long fetched keys are used before they are fetched again; a token with an unknown kid refetches sooner.
KEYS_LIFESPAN_SECONDS = 300
FETCH_TIMEOUT_SECONDS = 5


class Refused(Exception):
    """No access: why, and the WWW-Authenticate challenge that says it (RFC 6750)."""

    def __init__(self, reason: str, *, token_given: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_given = token_given

    @property
    def challenge(self) -> str:
        if not self.token_given:
            return "Bearer"
        described = self.reason.replace("\\", "").replace('"', "'")
        return f'Bearer error="invalid_token", error_description="{described}"'


def request_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them to the function: strings, lists as "[a b]"."""

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(text(item) for item in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: text(value) for name, value in claims.items()}


@dataclass
class JwtAuthorizer:
    """One authorizer of the template: the issuer and audiences it accepts, and the header the token is in."""

    issuer: str
    audience: tuple[str, ...]
    header: str = "authorization"
    _keys: jwt.PyJWKClient | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claims(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """The verified claims of the request's token, or Refused saying why there are none."""
        token = self._token(headers)
        if not self.issuer:
            raise Refused("no JWT issuer is configured (JWT_ISSUER), so every token is refused")
        if not self.audience:
            raise Refused("no JWT audience is configured (JWT_AUDIENCE), so every token is refused")
        try:
            key = self._key_set().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                # The audience is checked below, as API Gateway does: aud, or client_id when there is no aud.
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Refused("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Refused("the token is not valid yet (its nbf or iat is in the future)") from exc
        except jwt.InvalidIssuerError as exc:
            raise Refused(f"the token's issuer is not {self.issuer}") from exc
        except jwt.InvalidSignatureError as exc:
            raise Refused("the token's signature does not verify with the issuer's keys") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise Refused(f"the signing keys of {self.issuer} cannot be fetched") from exc
        except (jwt.PyJWKClientError, jwt.PyJWKError) as exc:
            raise Refused(f"no signing key of {self.issuer} matches the token: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise Refused(f"the token is invalid: {exc}") from exc
        self._check_audience(claims)
        return claims

    def _token(self, headers: Mapping[str, str]) -> str:
        value = headers.get(self.header, "").strip()
        # API Gateway takes the token alone or prefixed with "Bearer ".
        scheme, _, rest = value.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else value
        if not token:
            raise Refused(f"no token: send {self.header.title()}: Bearer <JWT>", token_given=False)
        return token

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        if "aud" in claims:
            given = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            what = "audience"
        else:
            given = [claims["client_id"]] if "client_id" in claims else []
            what = "client_id"
        if not set(map(str, given)) & set(self.audience):
            raise Refused(f"the token's {what} is not one of the configured audiences")

    def _key_set(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._keys is None:
                self._keys = jwt.PyJWKClient(
                    self._jwks_uri(),
                    lifespan=KEYS_LIFESPAN_SECONDS,
                    timeout=FETCH_TIMEOUT_SECONDS,
                    # API Gateway fetches the keys again for a kid it has not seen (a rotated-in key).
                    cooldown_duration=0,
                )
            return self._keys

    def _jwks_uri(self) -> str:
        """Where the issuer publishes its keys: its discovery document's jwks_uri, else the usual path."""
        base = self.issuer.rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise Refused(f"the JWT issuer {self.issuer} is not an http(s) URL, so it has no keys to fetch")
        try:
            with urllib.request.urlopen(base + DISCOVERY, timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310
                document = json.load(answer)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise Refused(f"the OIDC discovery document of {self.issuer} answered {exc.code}") from exc
            return base + JWKS
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise Refused(f"the OIDC discovery document of {self.issuer} cannot be fetched: {exc}") from exc
        uri = document.get("jwks_uri") if isinstance(document, dict) else None
        return uri if isinstance(uri, str) and uri else base + JWKS
