"""The destination table on the wire: every cell, for SUBSCRIBE and SEND, through a real server.

A refused frame gets ``FORBIDDEN`` on the sender's ``/user/queue/errors`` (with its
``receipt-id``) and no RECEIPT; the connection stays open. Every SEND carries a body that
would be valid there, so a missing ACL check shows as an accepted frame. Spoofing (a
``senderId`` or ``chatId`` that is not the sender's) is refused as ``INVALID_MESSAGE``, and
nothing refused ever reaches a subscriber.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, Optional

import pytest

from support.clients import RawWsClient, chat_envelope
from support.nexus import NexusServer, running_nexus

TIMESTAMP = "2026-11-25T10:00:00Z"
#: alice: in chat c1, on board b1, and bob shares his calendar with her.
ALICE: Dict[str, Any] = {"chats": ["c1"], "boards": ["b1"], "calendars": ["bob"]}
ADMIN: Dict[str, Any] = {"roles": ["admin"]}
CLAIMS = {"alice": ALICE, "root": ADMIN}


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    with running_nexus() as server:
        yield server


def notification(title: str = "hello") -> Dict[str, Any]:
    return {"type": "NOTIFICATION", "timestamp": TIMESTAMP,
            "payload": {"notificationType": "SYSTEM_ALERT", "title": title, "message": "text"}}


def valid_body(user: str, destination: str) -> bytes:
    """A body the validator accepts on ``destination`` (so only the ACL can refuse it)."""
    parts = destination.split("/")
    kind = parts[2] if len(parts) > 2 else ""
    last = parts[-1]
    if kind == "board":
        document: Dict[str, Any] = {"type": "BOARD_UPDATE", "timestamp": TIMESTAMP, "senderId": user,
                                    "payload": {"boardId": last, "action": "move", "data": {"card": 1}}}
    elif kind == "presence":
        document = {"type": "STATUS_UPDATE", "timestamp": TIMESTAMP,
                    "payload": {"entityType": "user", "entityId": user, "status": "ONLINE"}}
    elif kind in ("notifications", "calendar", "announcements"):
        document = notification()
    else:
        return chat_envelope(user, last)
    return json.dumps(document).encode()


def connect(nexus: NexusServer, user: str, **claims: Any) -> RawWsClient:
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token(user, **claims))
    client.subscribe_errors()
    return client


def outcome(client: RawWsClient, receipt: str) -> Optional[Dict[str, Any]]:
    """None when ``receipt`` came back, else the rejection's body (with its receipt-id)."""
    while True:
        for i, frame in enumerate(client.frames):
            if frame.headers.get("receipt-id") == receipt:
                del client.frames[i]
                return None if frame.command == "RECEIPT" else json.loads(frame.body)
        text = client._receive_text()
        assert text is not None, "connection closed: %r" % client.frames
        client._feed(text)


def rejected(client: RawWsClient, receipt: str) -> Dict[str, Any]:
    """The rejection body for ``receipt`` (failing if the frame was accepted)."""
    body = outcome(client, receipt)
    assert body is not None, "the frame with receipt %s was accepted" % receipt
    return body


CELLS = [
    # (user, command, destination, allowed)
    ("alice", "SUBSCRIBE", "/topic/chat/c1", True),
    ("alice", "SUBSCRIBE", "/topic/chat/c2", False),
    ("alice", "SEND", "/topic/chat/c1", True),
    ("alice", "SEND", "/topic/chat/c2", False),
    ("root", "SUBSCRIBE", "/topic/chat/c1", False),  # admins are not implicitly participants
    ("root", "SEND", "/topic/chat/c1", False),
    ("alice", "SUBSCRIBE", "/topic/notifications/alice", True),
    ("alice", "SUBSCRIBE", "/topic/notifications/bob", False),
    ("root", "SUBSCRIBE", "/topic/notifications/bob", True),
    ("alice", "SEND", "/topic/notifications/alice", False),  # server side only
    ("root", "SEND", "/topic/notifications/bob", False),
    ("alice", "SUBSCRIBE", "/topic/board/b1", True),
    ("alice", "SUBSCRIBE", "/topic/board/b2", False),
    ("alice", "SEND", "/topic/board/b1", True),
    ("alice", "SEND", "/topic/board/b2", False),
    ("alice", "SUBSCRIBE", "/topic/calendar/alice", True),
    ("alice", "SUBSCRIBE", "/topic/calendar/bob", True),  # shared with her
    ("alice", "SUBSCRIBE", "/topic/calendar/carol", False),
    ("alice", "SEND", "/topic/calendar/alice", True),
    ("alice", "SEND", "/topic/calendar/bob", False),  # shared means read-only
    ("alice", "SUBSCRIBE", "/topic/presence", True),
    ("alice", "SEND", "/topic/presence", False),  # server side only
    ("root", "SEND", "/topic/presence", False),
    ("alice", "SUBSCRIBE", "/topic/announcements", True),
    ("alice", "SEND", "/topic/announcements", False),
    ("root", "SEND", "/topic/announcements", True),
    ("alice", "SEND", "/user/queue/errors", False),
    # Unknown destinations, including look-alikes and wildcards.
    ("alice", "SUBSCRIBE", "/topic/chat/c1/more", False),
    ("alice", "SUBSCRIBE", "/topic/chat/*", False),
    ("alice", "SUBSCRIBE", "/topic/chat/>", False),
    ("alice", "SUBSCRIBE", "/topic/Chat/c1", False),
    ("alice", "SUBSCRIBE", "/topic/chat/", False),
    ("alice", "SUBSCRIBE", "/topic/notifications/alice/../bob", False),
    ("root", "SUBSCRIBE", "/queue/anything", False),
    ("root", "SEND", "/topic/anything", False),
]


@pytest.mark.parametrize(
    "user, command, destination, allowed",
    CELLS,
    ids=["%s-%s-%s-%s" % (u, c, d, "ok" if a else "no") for u, c, d, a in CELLS],
)
def test_destination_table_cell(nexus: NexusServer, user: str, command: str, destination: str, allowed: bool) -> None:
    client = connect(nexus, user, **CLAIMS[user])
    try:
        if command == "SUBSCRIBE":
            client.send_frame("SUBSCRIBE", {"id": "s", "destination": destination, "receipt": "r"})
        else:
            client.send_frame("SEND", {"destination": destination, "receipt": "r"}, valid_body(user, destination))
        refused = outcome(client, "r")
        if allowed:
            assert refused is None, refused
        else:
            assert refused is not None, "%s %s was accepted" % (command, destination)
            assert refused["error"] == "FORBIDDEN"
            assert refused["details"]["destination"] == destination
            assert refused["trackingId"]
        # Either way the connection stays usable.
        client.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence", "receipt": "still"})
        assert outcome(client, "still") is None
    finally:
        client.close()


def test_refused_subscription_receives_nothing_published_there(nexus: NexusServer) -> None:
    spy = connect(nexus, "eve", chats=["public"])
    try:
        spy.send_frame("SUBSCRIBE", {"id": "x", "destination": "/topic/notifications/victim", "receipt": "x"})
        assert rejected(spy, "x")["error"] == "FORBIDDEN"
        spy.subscribe("pub", "/topic/chat/public")
        nexus.run(lambda: nexus.plugin.notify("victim", notification("secret")))
        nexus.run(lambda: nexus.plugin.publish("/topic/chat/public", chat_envelope("srv", "public", "after")))
        message = spy.expect("MESSAGE")
        assert message.headers["subscription"] == "pub"  # the notification never came
    finally:
        spy.close()


def test_spoofed_sender_is_refused_and_never_delivered(nexus: NexusServer) -> None:
    calm = nexus.bystander()
    victim = connect(nexus, "bob", chats=["c1"])
    mallory = connect(nexus, "mallory", chats=["c1"])
    try:
        victim.subscribe("c", "/topic/chat/c1")
        mallory.send_frame("SEND", {"destination": "/topic/chat/c1", "receipt": "spoof"},
                           chat_envelope("bob", "c1", "I am bob"))
        refused = outcome(mallory, "spoof")
        assert refused is not None and refused["error"] == "INVALID_MESSAGE"
        assert refused["details"]["errors"] == {"senderId": ["must equal the authenticated user"]}
        mallory.send_frame("SEND", {"destination": "/topic/chat/c1", "receipt": "mismatch"},
                           chat_envelope("mallory", "c2", "wrong chat"))
        refused = outcome(mallory, "mismatch")
        assert refused is not None and list(refused["details"]["errors"]) == ["payload.chatId"]
        mallory.send_frame("SEND", {"destination": "/topic/chat/c1", "receipt": "honest"},
                           chat_envelope("mallory", "c1", "honest"))
        assert outcome(mallory, "honest") is None
        message = victim.expect("MESSAGE")
        assert json.loads(message.body)["senderId"] == "mallory"
        assert json.loads(message.body)["payload"]["content"] == "honest"
        calm.check()
    finally:
        victim.close()
        mallory.close()
        calm.close()


def test_non_admin_announcement_and_presence_never_reach_subscribers(nexus: NexusServer) -> None:
    watcher = connect(nexus, "watcher")
    user = connect(nexus, "plain")
    admin = connect(nexus, "boss", **ADMIN)
    try:
        watcher.subscribe("a", "/topic/announcements")
        user.send_frame("SEND", {"destination": "/topic/announcements", "receipt": "a"},
                        valid_body("plain", "/topic/announcements"))
        assert rejected(user, "a")["error"] == "FORBIDDEN"
        user.send_frame("SEND", {"destination": "/topic/presence", "receipt": "p"},
                        valid_body("plain", "/topic/presence"))
        assert rejected(user, "p")["error"] == "FORBIDDEN"
        admin.send_frame("SEND", {"destination": "/topic/announcements", "receipt": "ok"},
                         json.dumps(notification("from the admin")).encode())
        assert outcome(admin, "ok") is None
        message = watcher.expect("MESSAGE", subscription="a")
        assert json.loads(message.body)["payload"]["title"] == "from the admin"
    finally:
        for client in (watcher, user, admin):
            client.close()


def test_each_session_sees_only_its_own_rejections(nexus: NexusServer) -> None:
    first = connect(nexus, "one")
    second = connect(nexus, "two")
    try:
        second.send_frame("SEND", {"destination": "/topic/chat/nope", "receipt": "theirs"},
                          chat_envelope("two", "nope"))
        assert rejected(second, "theirs")["error"] == "FORBIDDEN"
        first.send_frame("SEND", {"destination": "/topic/chat/nope", "receipt": "mine"},
                         chat_envelope("one", "nope"))
        frame, body = first.rejection()
        assert frame.headers["receipt-id"] == "mine"  # not "theirs"
        assert body["error"] == "FORBIDDEN"
    finally:
        first.close()
        second.close()
