"""JWT checks on the wire: every bad token is refused at CONNECT, expiry ends the session,
and ``/session/token`` refreshes a session in place.

The verifier's unit tests (tests/test_policy_auth.py) prove each rule in isolation; these
prove the server applies them: a refused CONNECT gets ``ERROR`` with the documented
``message`` (and never the token), then the connection closes, while a well-behaved
client connected throughout keeps getting its messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support.clients import RawWsClient, chat_envelope
from support.nexus import NexusServer, make_token, running_nexus

FAST_TICK = {"tick_seconds": 0.05}


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    with running_nexus() as server:
        yield server


def claims(**changes: Any) -> Dict[str, Any]:
    now = int(time.time())
    payload: Dict[str, Any] = {"sub": "mallory", "exp": now + 600, "iat": now}
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def unsigned(payload: Dict[str, Any], alg: str = "none") -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return (header + b"." + b64(json.dumps(payload).encode()) + b".").decode()


def tampered(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    return "%s.%s.%s" % (header, b64(json.dumps(data).encode()).decode(), signature)


def hmac_signed(payload: Dict[str, Any], secret: bytes) -> str:
    """An HS256 token signed by hand (PyJWT refuses a PEM key as an HMAC secret)."""
    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(payload).encode())
    signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def assert_refused(nexus: NexusServer, token: str, reason: str, how: str = "authorization") -> None:
    """CONNECT with ``token`` gets ERROR ``reason`` (without the token), then a close."""
    url = nexus.ws_url
    headers = {"accept-version": "1.2", "host": "x"}
    if how == "authorization":
        headers["Authorization"] = "Bearer " + token
    elif how == "passcode":
        headers["login"] = "mallory"
        headers["passcode"] = token
    else:
        url += "?access_token=" + token
    client = RawWsClient(url)
    client.send_frame("CONNECT", headers)
    error = client.expect("ERROR")
    assert error.headers["message"] == reason
    if token:
        assert token not in error.body.decode("utf-8", "replace")
        assert all(token not in value for value in error.headers.values())
    client.wait_closed()
    assert not any(f.command == "CONNECTED" for f in client.frames)


SECRET_CASES = [
    ("forged", lambda n: make_token("mallory", secret="not-the-server-secret-0123456789abcdef"), "invalid signature"),
    ("tampered", lambda n: tampered(n.token("mallory"), roles=["admin"]), "invalid signature"),
    ("expired", lambda n: n.token("mallory", ttl=-3600), "token expired"),
    ("not-yet-valid", lambda n: n.token("mallory", nbf=int(time.time()) + 3600), "token not yet valid"),
    ("alg-none", lambda n: unsigned(claims()), "algorithm not allowed"),
    ("alg-None", lambda n: unsigned(claims(), alg="None"), "algorithm not allowed"),
    ("other-alg", lambda n: make_token("mallory", secret=n.plugin.settings.jwt_secret * 2, algorithm="HS512"),
     "algorithm not allowed"),
    ("no-exp", lambda n: jwt.encode(claims(exp=None), n.plugin.settings.jwt_secret, algorithm="HS256"),
     "token lacks the exp claim"),
    ("garbage", lambda n: "not.a.jwt", "invalid token"),
    # The contract's roles claim is a list: a string ("admin", or "nonadmin" that a
    # substring test would take for it) is refused rather than guessed at.
    ("roles-a-string", lambda n: n.token("mallory", roles="admin"), "invalid token"),
]


@pytest.mark.parametrize("make, reason", [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES])
def test_bad_token_on_connect_gets_error_and_close(nexus: NexusServer, make: Any, reason: str) -> None:
    calm = nexus.bystander()
    try:
        token = make(nexus)
        for how in ("authorization", "passcode", "query"):
            assert_refused(nexus, token, reason, how)
        calm.check()
    finally:
        calm.close()


def test_connect_without_a_token_is_refused(nexus: NexusServer) -> None:
    client = RawWsClient(nexus.ws_url)
    client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x"})
    assert client.expect("ERROR").headers["message"] == "missing token"
    client.wait_closed()


def test_issuer_and_audience_are_enforced_on_connect() -> None:
    with running_nexus(jwt_issuer="https://auth.example", jwt_audience="nexus") as nexus:
        good = {"iss": "https://auth.example", "aud": "nexus"}
        calm = nexus.bystander(lambda user, **c: nexus.token(user, **good, **c))
        try:
            assert_refused(nexus, nexus.token("m", iss="https://evil.example", aud="nexus"), "invalid issuer")
            assert_refused(nexus, nexus.token("m", iss="https://auth.example", aud="other"), "invalid audience")
            assert_refused(nexus, nexus.token("m", iss="https://auth.example"), "token lacks the aud claim")
            assert_refused(nexus, nexus.token("m", aud="nexus"), "token lacks the iss claim")
            calm.check()
        finally:
            calm.close()


def rsa_pair() -> "tuple[Any, str]":
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return key, public


def test_rs256_server_refuses_wrong_key_and_public_key_as_hmac_secret() -> None:
    key, public = rsa_pair()
    other_key, _ = rsa_pair()
    with running_nexus(jwt_secret=public, jwt_algorithms=("RS256",)) as nexus:

        def sign(user: str, **extra: Any) -> str:
            return jwt.encode(claims(sub=user, **extra), key, algorithm="RS256")

        calm = nexus.bystander(sign)
        try:
            # The key-confusion attack: HMAC-sign with the (public) verification key.
            confused = hmac_signed(claims(roles=["admin"]), public.encode())
            assert_refused(nexus, confused, "algorithm not allowed")
            assert_refused(nexus, jwt.encode(claims(), other_key, algorithm="RS256"), "invalid signature")
            assert_refused(nexus, unsigned(claims()), "algorithm not allowed")
            calm.check()
        finally:
            calm.close()


# -- expiry during the session ----------------------------------------------------------


def test_session_ends_with_token_expired_when_exp_passes() -> None:
    with running_nexus(jwt_leeway=0.0, plugin_options=FAST_TICK) as nexus:
        calm = nexus.bystander()
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("brief", ttl=2, chats=["b"]))
            client.subscribe("b", "/topic/chat/b")  # a live session, until exp
            error = client.expect("ERROR")
            assert error.headers["message"] == "token expired"
            client.wait_closed()
            calm.check()
        finally:
            calm.close()


# -- refresh on /session/token -----------------------------------------------------------


def refresh(client: RawWsClient, token: str, receipt: str = "refreshed", in_body: bool = False) -> None:
    if in_body:
        client.send_frame("SEND", {"destination": "/session/token", "receipt": receipt}, token.encode())
    else:
        client.send_frame("SEND", {"destination": "/session/token", "receipt": receipt,
                                   "Authorization": "Bearer " + token})


@pytest.mark.parametrize("in_body", [False, True], ids=["header", "body"])
def test_refresh_rechecks_every_live_subscription(nexus: NexusServer, in_body: bool) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("rita", chats=["kept", "lost"], boards=["b1"]))
        client.subscribe_errors()
        client.subscribe("k", "/topic/chat/kept")
        client.subscribe("l", "/topic/chat/lost")
        client.subscribe("bd", "/topic/board/b1")
        refresh(client, nexus.token("rita", chats=["kept"]), in_body=in_body)
        ended = sorted(
            (body["details"]["subscription"], body["error"], body["details"]["destination"])
            for body in (client.rejection()[1] for _ in range(2))
        )
        assert ended == [("bd", "FORBIDDEN", "/topic/board/b1"), ("l", "FORBIDDEN", "/topic/chat/lost")]
        client.expect("RECEIPT", receipt_id="refreshed")
        # The ended subscription gets nothing more; the kept one still works.
        for destination in ("/topic/chat/lost", "/topic/board/b1", "/topic/chat/kept"):
            publish(nexus, destination, chat_envelope("srv", destination.rsplit("/", 1)[1]))
        message = client.expect("MESSAGE", subscription="k")
        assert message.headers["destination"] == "/topic/chat/kept"
        assert not any(f.command == "MESSAGE" for f in client.frames)
        # And the new token's rights are the ones checked from now on.
        client.send_frame("SUBSCRIBE", {"id": "l2", "destination": "/topic/chat/lost", "receipt": "again"})
        assert client.rejection()[1]["error"] == "FORBIDDEN"
    finally:
        client.close()


def publish(nexus: NexusServer, destination: str, body: bytes) -> None:
    nexus.run(lambda: nexus.plugin.publish(destination, body))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda n: n.token("someone-else", chats=["c"]), "token is for another user"),
        (lambda n: n.token("sam", ttl=-3600, chats=["c"]), "token expired"),
        (lambda n: make_token("sam", secret="not-the-server-secret-0123456789abcdef", chats=["c"]),
         "invalid signature"),
    ],
    ids=["other-user", "expired", "forged"],
)
def test_refused_refresh_leaves_the_session_as_it_was(nexus: NexusServer, make: Any, message: str) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("sam", chats=["c"]))
        client.subscribe_errors()
        client.subscribe("c", "/topic/chat/c")
        bad = make(nexus)
        refresh(client, bad, receipt="nope")
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "nope"
        assert (body["error"], body["message"]) == ("FORBIDDEN", message)
        assert bad not in frame.body.decode()
        # Same user, same rights: SENDs as "sam" are still accepted.
        client.send_frame("SEND", {"destination": "/topic/chat/c", "receipt": "ok"}, chat_envelope("sam", "c"))
        client.expect("RECEIPT", receipt_id="ok")
        assert client.expect("MESSAGE", subscription="c").headers["seq"]
    finally:
        client.close()


def test_refreshed_session_outlives_the_old_token() -> None:
    with running_nexus(jwt_leeway=0.0, plugin_options=FAST_TICK) as nexus:
        short = nexus.token("tim", ttl=2, chats=["t"])
        control = RawWsClient(nexus.ws_url)
        renewed = RawWsClient(nexus.ws_url)
        try:
            control.connect(short)
            renewed.connect(short)
            refresh(renewed, nexus.token("tim", ttl=3600, chats=["t"]))
            renewed.expect("RECEIPT", receipt_id="refreshed")
            # The same expiry check that ends the control session has passed the other.
            assert control.expect("ERROR").headers["message"] == "token expired"
            control.wait_closed()
            renewed.send_frame("SEND", {"destination": "/topic/chat/t", "receipt": "alive"}, chat_envelope("tim", "t"))
            renewed.expect("RECEIPT", receipt_id="alive")
        finally:
            renewed.close()
