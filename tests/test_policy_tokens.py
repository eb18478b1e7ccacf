"""TokenIssuer: tokens the plugin signs are the ones its verifier accepts."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nexus_tornado.errors import ConfigError
from nexus_tornado.policy.auth import TokenVerifier
from nexus_tornado.policy.tokens import SigningUnavailable, TokenIssuer
from nexus_tornado.settings import Settings

SECRET = "tokens-test-secret-0123456789abcdef0123"


def test_hs_tokens_carry_the_claims_and_verify() -> None:
    settings = Settings(jwt_secret=SECRET, jwt_issuer="me", jwt_audience="nexus")
    issued = TokenIssuer.from_settings(settings, clock=lambda: 1_000_000.0).issue(
        "ann", {"roles": ["member"], "chats": ["c1"]}, ttl=300)
    assert issued.expires_at == 1_000_300
    verifier = TokenVerifier(SECRET, issuer="me", audience="nexus", clock=lambda: 1_000_100.0)
    claims = jwt.decode(issued.token, SECRET, algorithms=["HS256"], audience="nexus",
                        options={"verify_exp": False})
    assert claims["iat"] == 1_000_000 and claims["exp"] == 1_000_300 and claims["jti"]
    assert claims["iss"] == "me" and claims["aud"] == "nexus"
    principal = verifier.principal_from_claims(claims)
    assert principal.user_id == "ann" and principal.roles == {"member"} and principal.claims["chats"] == ["c1"]


def test_es_tokens_need_the_private_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = Settings(jwt_secret=public, jwt_algorithms=("ES256",))
    with pytest.raises(SigningUnavailable) as refused:
        TokenIssuer.from_settings(settings)
    assert str(refused.value) == (
        "issuing ES256 tokens needs jwt_signing_key (the private key); jwt_secret holds only the public key"
    )
    assert issubclass(SigningUnavailable, ConfigError)
    issued = TokenIssuer.from_settings(settings.replace(jwt_signing_key=private)).issue("ann", ttl=60)
    assert TokenVerifier(public, ("ES256",)).verify(issued.token).user_id == "ann"
    assert "BEGIN" not in str(settings.replace(jwt_signing_key=private).public_dict()["jwt_signing_key"])


@pytest.mark.parametrize("subject, claims, ttl, error", [
    ("", {}, 60, "a token needs a non-empty subject"),
    ("ann", {"exp": 1}, 60, "claims exp are set by the issuer"),
    ("ann", {"iss": "x", "exp": 1}, 60, "claims exp, iss are set by the issuer"),
    ("ann", {}, 0, "ttl must be positive"),
])
def test_bad_requests_are_refused(subject: str, claims: dict, ttl: float, error: str) -> None:
    with pytest.raises(ValueError) as refused:
        TokenIssuer.from_settings(Settings(jwt_secret=SECRET)).issue(subject, claims, ttl=ttl)
    assert str(refused.value) == error


def test_the_shortest_ttl_is_one_second() -> None:
    issued = TokenIssuer(SECRET, "HS256", clock=lambda: 1_000_000.0).issue("ann", ttl=1)
    assert issued.expires_at == 1_000_001


def test_an_issuer_without_a_key_is_refused() -> None:
    with pytest.raises(SigningUnavailable) as refused:
        TokenIssuer("", "HS256")
    assert str(refused.value) == "no signing key"
