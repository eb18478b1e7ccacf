"""JWT verification: every way a token can be wrong, and where it may travel."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Dict

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nexus_tornado.errors import AuthError
from nexus_tornado.policy.auth import TokenVerifier, bearer_token, token_from_connect

SECRET = "s3cret-0123456789abcdef0123456789abcdef"


def claims(**extra: Any) -> Dict[str, Any]:
    now = time.time()
    base: Dict[str, Any] = {"sub": "alice", "exp": now + 600, "iat": now}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def hs(payload: Dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def verifier(**kwargs: Any) -> TokenVerifier:
    return TokenVerifier(kwargs.pop("key", SECRET), kwargs.pop("algorithms", ("HS256",)), **kwargs)


def unsigned(payload: Dict[str, Any], alg: str = "none") -> str:
    def part(obj: Dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return "%s.%s." % (part({"alg": alg, "typ": "JWT"}), part(payload))


def test_valid_token_gives_principal_with_roles_and_claims() -> None:
    principal = verifier().verify(hs(claims(roles=["admin"], chats=["c1"])))
    assert principal.user_id == "alice"
    assert principal.is_admin
    assert principal.claims["chats"] == ["c1"]
    assert principal.expires_at == pytest.approx(time.time() + 600, abs=5)


@pytest.mark.parametrize(
    "token_factory, reason",
    [
        (lambda: hs(claims(), secret="another-secret-0123456789abcdef0123"), "invalid signature"),
        (lambda: hs(claims(exp=time.time() - 120)), "token expired"),
        (lambda: hs(claims(nbf=time.time() + 600)), "token not yet valid"),
        (lambda: hs(claims(exp=None)), "token lacks the exp claim"),
        (lambda: hs(claims(sub=None)), "token lacks the sub claim"),
        (lambda: unsigned(claims()), "algorithm not allowed"),
        (lambda: unsigned(claims(), alg="None"), "algorithm not allowed"),
        (lambda: hs(claims(), secret=SECRET * 2, alg="HS512"), "algorithm not allowed"),
        (lambda: "not.a.jwt", "invalid token"),
        (lambda: "", "missing token"),
        (lambda: hs(claims(sub=42)), "invalid token"),
        (lambda: hs(claims(roles={"admin": True})), "invalid token"),
        (lambda: hs(claims(roles="admin")), "invalid token"),
    ],
    ids=["forged", "expired", "not-yet-valid", "no-exp", "no-sub", "alg-none", "alg-None",
         "other-alg", "garbage", "empty", "sub-not-string", "roles-not-list", "roles-a-string"],
)
def test_bad_tokens_are_refused_with_their_reason(token_factory: Any, reason: str) -> None:
    with pytest.raises(AuthError) as info:
        verifier().verify(token_factory())
    assert info.value.message == reason


def test_leeway_tolerates_small_skew_only() -> None:
    assert verifier(leeway=30).verify(hs(claims(exp=time.time() - 10))).user_id == "alice"
    with pytest.raises(AuthError, match="token expired"):
        verifier(leeway=5).verify(hs(claims(exp=time.time() - 10)))


def test_expiry_is_also_checked_against_the_verifiers_own_clock() -> None:
    # PyJWT checks exp against the real time; the verifier checks it again against the
    # clock it was given (the one the housekeeping tick and the tests use).
    exp = time.time() + 600
    token = hs(claims(exp=exp))
    assert verifier(leeway=30.0, clock=lambda: exp + 29.0).verify(token).user_id == "alice"
    for late in (exp + 30.0, exp + 31.0, exp + 3600.0):
        with pytest.raises(AuthError, match="token expired"):
            verifier(leeway=30.0, clock=lambda: late).verify(token)


def test_issuer_and_audience_are_enforced_when_configured() -> None:
    v = verifier(issuer="https://auth.example", audience="nexus")
    assert v.verify(hs(claims(iss="https://auth.example", aud="nexus"))).user_id == "alice"
    with pytest.raises(AuthError, match="invalid issuer"):
        v.verify(hs(claims(iss="https://evil.example", aud="nexus")))
    with pytest.raises(AuthError, match="invalid audience"):
        v.verify(hs(claims(iss="https://auth.example", aud="other")))
    with pytest.raises(AuthError):
        v.verify(hs(claims()))


def _rsa_pair() -> "tuple[Any, str]":
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return key, public


def test_rs256_and_es256_verify_with_public_keys() -> None:
    key, public = _rsa_pair()
    assert verifier(key=public, algorithms=("RS256",)).verify(
        jwt.encode(claims(), key, algorithm="RS256")
    ).user_id == "alice"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert verifier(key=ec_public, algorithms=("ES256",)).verify(
        jwt.encode(claims(), ec_key, algorithm="ES256")
    ).user_id == "alice"


def test_rs256_public_key_used_as_hs256_secret_is_refused() -> None:
    _, public = _rsa_pair()
    # The classic key-confusion attack: sign with HMAC, using the public key as secret.
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(
        hmac.new(public.encode(), header + b"." + payload, hashlib.sha256).digest()
    ).rstrip(b"=")
    forged = b".".join((header, payload, signature)).decode()
    with pytest.raises(AuthError, match="algorithm not allowed"):
        verifier(key=public, algorithms=("RS256",)).verify(forged)


def test_none_is_never_an_allowed_algorithm() -> None:
    with pytest.raises(ValueError):
        TokenVerifier(SECRET, ("none",))


@pytest.mark.parametrize(
    "headers, query, expected",
    [
        ({"Authorization": "Bearer aaa", "passcode": "bbb"}, "ccc", "aaa"),
        ({"authorization": "bearer aaa"}, None, "aaa"),
        ({"passcode": "bbb"}, "ccc", "bbb"),
        ({}, "ccc", "ccc"),
        ({"login": "x"}, None, None),
        # A bare JWT in Authorization is taken as it is; an empty Bearer is no token.
        ({"Authorization": " aaa "}, None, "aaa"),
        ({"Authorization": "Bearer   "}, "ccc", None),
    ],
)
def test_token_travels_in_authorization_then_passcode_then_query(
    headers: Dict[str, str], query: Any, expected: Any
) -> None:
    assert token_from_connect(headers, query) == expected


@pytest.mark.parametrize(
    "value, token, bare_token",
    [
        ("Bearer abc", "abc", "abc"),
        ("bEaReR  abc ", "abc", "abc"),
        ("Bearer ", None, None),
        ("Bearer", None, "Bearer"),
        ("Basic dXNlcjpwdw==", None, "Basic dXNlcjpwdw=="),
        ("abc", None, "abc"),
        ("", None, None),
        ("   ", None, None),
    ],
)
def test_bearer_token(value: str, token: Any, bare_token: Any) -> None:
    assert bearer_token(value) == token
    assert bearer_token(value, bare=True) == bare_token


def test_auth_errors_never_contain_the_token() -> None:
    token = hs(claims(), secret="wrong-secret-0123456789abcdef0123456")
    with pytest.raises(AuthError) as info:
        verifier().verify(token)
    assert token not in info.value.message and token not in info.value.log_detail


# -- what the client is told, and what the log says -------------------------------------


def _pem_public_key() -> str:
    return _rsa_pair()[1]


# (verifier settings, token, message, log_detail): every refusal pins both texts.
REFUSALS = [
    pytest.param({"issuer": "https://auth.example"}, lambda: hs(claims(iss="https://evil.example")),
                 "invalid issuer", "invalid issuer", id="issuer"),
    pytest.param({"audience": "nexus"}, lambda: hs(claims(aud="other")),
                 "invalid audience", "invalid audience", id="audience"),
    # An HMAC token checked against a PEM public key: PyJWT refuses the key itself.
    pytest.param({"key": "public-pem"}, lambda: hs(claims()),
                 "invalid signature", "invalid signature", id="asymmetric-key-as-hmac-secret"),
    pytest.param({}, lambda: "not.a.jwt", "invalid token", "invalid token: DecodeError", id="garbage"),
    pytest.param({}, lambda: hs(claims(sub=42)), "invalid token", "invalid token: InvalidSubjectError",
                 id="sub-not-string"),
    pytest.param({}, lambda: hs(claims(sub="")), "invalid token", "sub is not a non-empty string",
                 id="sub-empty"),
    # PyJWT accepts a numeric string as exp; the wire contract wants a number.
    pytest.param({}, lambda: hs(claims(exp=str(int(time.time() + 600)))), "invalid token",
                 "exp is not a number", id="exp-a-string"),
    pytest.param({}, lambda: hs(claims(roles="admin")), "invalid token", "roles is not a list of strings",
                 id="roles-a-string"),
    pytest.param({}, lambda: hs(claims(roles=["admin", 1])), "invalid token", "roles is not a list of strings",
                 id="roles-not-all-strings"),
    pytest.param({"clock": lambda: time.time() + 3600}, lambda: hs(claims()),
                 "token expired", "token expired", id="expired-by-own-clock"),
]


@pytest.mark.parametrize("settings, token_factory, message, log_detail", REFUSALS)
def test_each_refusal_has_its_message_and_log_detail(
    settings: Dict[str, Any], token_factory: Any, message: str, log_detail: str
) -> None:
    if settings.get("key") == "public-pem":
        settings = {**settings, "key": _pem_public_key()}
    with pytest.raises(AuthError) as info:
        verifier(**settings).verify(token_factory())
    assert (info.value.message, info.value.log_detail) == (message, log_detail)


# Claims checked by the verifier itself (PyJWT lets some of these through, or is
# bypassed when claims come from elsewhere): (claims, log_detail).
BAD_CLAIMS = [
    pytest.param({"sub": 42, "exp": 4e9}, "sub is not a non-empty string", id="sub-a-number"),
    pytest.param({"sub": "", "exp": 4e9}, "sub is not a non-empty string", id="sub-empty"),
    pytest.param({"exp": 4e9}, "sub is not a non-empty string", id="sub-missing"),
    pytest.param({"sub": "alice", "exp": "4000000000"}, "exp is not a number", id="exp-a-string"),
    pytest.param({"sub": "alice", "exp": True}, "exp is not a number", id="exp-a-bool"),
    pytest.param({"sub": "alice"}, "exp is not a number", id="exp-missing"),
    pytest.param({"sub": "alice", "exp": 4e9, "roles": "admin"}, "roles is not a list of strings", id="roles"),
]


@pytest.mark.parametrize("bad, log_detail", BAD_CLAIMS)
def test_principal_from_claims_refuses_claims_of_the_wrong_shape(bad: Dict[str, Any], log_detail: str) -> None:
    with pytest.raises(AuthError) as info:
        verifier(clock=lambda: 1000.0).principal_from_claims(bad)
    assert (info.value.message, info.value.log_detail) == ("invalid token", log_detail)


def test_default_leeway_is_30_seconds() -> None:
    exp = time.time() + 600
    token = hs(claims(exp=exp))
    assert TokenVerifier(SECRET, clock=lambda: exp + 29.999).verify(token).user_id == "alice"
    with pytest.raises(AuthError) as info:
        TokenVerifier(SECRET, clock=lambda: exp + 30.0).verify(token)
    assert info.value.message == "token expired"


def test_an_audience_claim_is_ignored_when_no_audience_is_configured() -> None:
    assert verifier().verify(hs(claims(aud="some-other-service"))).user_id == "alice"


@pytest.mark.parametrize("algorithms", [(), ("none",), ("none", "NONE")])
def test_a_verifier_without_a_real_algorithm_is_refused(algorithms: Any) -> None:
    with pytest.raises(ValueError) as info:
        TokenVerifier(SECRET, algorithms)
    assert str(info.value) == "at least one signing algorithm is required"
