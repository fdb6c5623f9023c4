"""The local JWT authorizer checks a token as API Gateway's does, against keys an issuer serves over HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from local.authorizer import JwtAuthorizer, Refused, request_claims
from tests.issuer import AUDIENCE, Issuer, SigningKey, ec_key, identity_provider, rsa_key

USER = str(uuid.uuid4())


def authorizer_of(issuer: Issuer, audience: tuple[str, ...] = (AUDIENCE,)) -> JwtAuthorizer:
    return JwtAuthorizer(issuer.url, audience)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def refusal(authorizer: JwtAuthorizer, headers: dict[str, str]) -> Refused:
    with pytest.raises(Refused) as refused:
        authorizer.claims(headers)
    return refused.value


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_token_signed_by_a_published_key_is_accepted(
    issuer: Issuer, signing_keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = issuer.token(USER, key=signing_keys[algorithm])
    claims = authorizer_of(issuer).claims(bearer(token))
    assert (claims["sub"], claims["iss"], claims["aud"]) == (USER, issuer.url, AUDIENCE)


def test_the_token_may_come_without_the_bearer_prefix_as_api_gateway_allows(issuer: Issuer) -> None:
    assert authorizer_of(issuer).claims({"authorization": issuer.token(USER)})["sub"] == USER


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i: i.token(USER, lifetime=-5), "expired"),
        (lambda i: i.token(USER, nbf=int(time.time()) + 600), "not valid yet"),
        (lambda i: i.token(USER, iat=int(time.time()) + 600), "not valid yet"),
        (lambda i: i.token(USER, audience="another-app"), "audience"),
        (lambda i: i.token(USER, audience=["another-app", "a-third-app"]), "audience"),
        (lambda i: i.token(USER, audience=None), "client_id"),
        (lambda i: i.token(USER, issuer="https://evil.example.com/tenant"), "issuer"),
        (lambda i: i.token(USER, exp=None), "exp"),
        # Signed by a key the issuer never published, under the kid of one it did.
        (lambda i: i.token(USER, key=rsa_key(), kid=i.published[0].kid), "signature"),
        (lambda i: i.token(USER, key=ec_key(), kid=i.published[1].kid), "signature"),
        (lambda i: i.token(USER, kid="retired-key"), "signing key"),
        (lambda i: "not-a-jwt", "invalid"),
        (lambda i: "a.b.c", "invalid"),
    ],
)
def test_a_token_api_gateway_would_refuse_is_refused_with_the_reason(
    issuer: Issuer, make_token: Any, reason: str
) -> None:
    refused = refusal(authorizer_of(issuer), bearer(make_token(issuer)))
    assert reason in refused.reason
    assert refused.challenge.startswith('Bearer error="invalid_token", error_description="')


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_a_token_with_a_shared_secret_or_no_signature_is_refused(issuer: Issuer, algorithm: str) -> None:
    claims = {"iss": issuer.url, "sub": USER, "aud": AUDIENCE, "exp": int(time.time()) + 300}
    published = issuer.published[0]
    # Keyed with the published key's modulus: the algorithm confusion an attacker would try.
    secret = published.public_jwk["n"] if algorithm == "HS256" else None
    token = jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": published.kid})
    assert "alg value is not allowed" in refusal(authorizer_of(issuer), bearer(token)).reason


def test_no_token_is_refused_with_a_plain_bearer_challenge(issuer: Issuer) -> None:
    for headers in ({}, {"authorization": ""}, {"authorization": "Bearer "}):
        refused = refusal(authorizer_of(issuer), headers)
        assert refused.challenge == "Bearer"
        assert "no token" in refused.reason


def test_a_token_without_aud_passes_on_its_client_id_as_cognito_access_tokens_do(issuer: Issuer) -> None:
    authorizer = authorizer_of(issuer, audience=("web-client", AUDIENCE))
    token = issuer.token(USER, audience=None, client_id="web-client", token_use="access")
    assert authorizer.claims(bearer(token))["client_id"] == "web-client"
    other = issuer.token(USER, audience=None, client_id="mobile-client")
    assert "client_id" in refusal(authorizer, bearer(other)).reason


def test_one_of_several_audiences_is_enough(issuer: Issuer) -> None:
    token = issuer.token(USER, audience=["account", AUDIENCE])
    assert authorizer_of(issuer).claims(bearer(token))["aud"] == ["account", AUDIENCE]


def test_without_an_issuer_or_an_audience_every_token_is_refused(issuer: Issuer) -> None:
    token = issuer.token(USER)
    assert "JWT_ISSUER" in refusal(JwtAuthorizer("", (AUDIENCE,)), bearer(token)).reason
    assert "JWT_AUDIENCE" in refusal(JwtAuthorizer(issuer.url, ()), bearer(token)).reason
    assert issuer.fetches == {}


def test_keys_are_found_through_the_discovery_document_and_fetched_once(issuer: Issuer) -> None:
    authorizer = authorizer_of(issuer)
    for _ in range(3):
        authorizer.claims(bearer(issuer.token(USER)))
    assert issuer.fetches == {"/.well-known/openid-configuration": 1, "/keys": 1}


def test_without_a_discovery_document_the_keys_are_read_from_jwks_json(signing_keys: dict[str, SigningKey]) -> None:
    with identity_provider(signing_keys["ES256"], discovery=False) as issuer:
        assert authorizer_of(issuer).claims(bearer(issuer.token(USER)))["sub"] == USER
        assert issuer.fetches == {"/.well-known/openid-configuration": 1, "/.well-known/jwks.json": 1}


def test_a_rotated_in_key_is_fetched_when_a_token_names_it(issuer: Issuer) -> None:
    authorizer = authorizer_of(issuer)
    authorizer.claims(bearer(issuer.token(USER)))
    rotated = rsa_key("rsa-2")
    issuer.published.append(rotated)
    assert authorizer.claims(bearer(issuer.token(USER, key=rotated)))["sub"] == USER
    assert issuer.fetches["/keys"] == 2


def test_an_unreachable_issuer_refuses_and_is_asked_again_next_time(signing_keys: dict[str, SigningKey]) -> None:
    with identity_provider(signing_keys["RS256"]) as issuer:
        token = issuer.token(USER)
        url = issuer.url
    authorizer = JwtAuthorizer(url, (AUDIENCE,))
    assert "cannot be fetched" in refusal(authorizer, bearer(token)).reason
    assert "cannot be fetched" in refusal(authorizer, bearer(token)).reason


def test_claims_reach_the_function_as_api_gateway_passes_them(issuer: Issuer) -> None:
    token = issuer.token(USER, audience=["account", AUDIENCE], email_verified=True, app_metadata={"plan": "pro"})
    claims = request_claims(authorizer_of(issuer).claims(bearer(token)))
    assert claims["sub"] == USER
    assert claims["aud"] == f"[account {AUDIENCE}]"
    assert claims["exp"].isdigit()
    assert claims["email_verified"] == "true"
    assert claims["app_metadata"] == '{"plan":"pro"}'
    assert all(isinstance(value, str) for value in claims.values())
