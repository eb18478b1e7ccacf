"""nexus_tornado.policy.destinations: the wire contract's destinations and patterns."""

from __future__ import annotations

import pytest

from nexus_tornado.policy import destinations as d
from nexus_tornado.policy.acl import TopicAcl
from nexus_tornado.policy.destinations import DestinationPattern


def test_the_contracts_destinations() -> None:
    # docs/protocol.md and the wire contract name exactly these.
    assert d.CHAT == "/topic/chat/{chatId}"
    assert d.NOTIFICATIONS == "/topic/notifications/{userId}"
    assert d.BOARD == "/topic/board/{boardId}"
    assert d.CALENDAR == "/topic/calendar/{userId}"
    assert d.PRESENCE_DESTINATION == "/topic/presence"
    assert d.ANNOUNCEMENTS == "/topic/announcements"
    assert d.ERRORS_DESTINATION == "/user/queue/errors"
    assert d.TOKEN_DESTINATION == "/session/token"


def test_notifications_destination_of_a_user() -> None:
    assert d.NOTIFICATIONS_PREFIX == "/topic/notifications/"
    assert d.notifications_for("alice") == "/topic/notifications/alice"
    assert DestinationPattern(d.NOTIFICATIONS).match(d.notifications_for("u-1")) == {"userId": "u-1"}


def test_the_acl_table_is_built_from_these_patterns() -> None:
    patterns = {rule.pattern.pattern for rule in TopicAcl().rules}
    assert patterns == {
        d.CHAT,
        d.NOTIFICATIONS,
        d.BOARD,
        d.CALENDAR,
        d.DOC,
        d.PRESENCE_DESTINATION,
        d.ANNOUNCEMENTS,
        d.ERRORS_DESTINATION,
    }


def test_a_pattern_names_its_placeholders_in_order() -> None:
    pattern = DestinationPattern("/topic/{org}/chat/{chatId}")
    assert pattern.names == ("org", "chatId")
    assert pattern.match("/topic/o1/chat/c1") == {"org": "o1", "chatId": "c1"}
    assert pattern.match("/topic/o1/chat/c1/x") is None
    assert pattern.match("/topic/o1/chat/") is None


def test_a_literal_pattern_matches_only_itself() -> None:
    pattern = DestinationPattern(d.PRESENCE_DESTINATION)
    assert pattern.names == ()
    assert pattern.match("/topic/presence") == {}
    assert pattern.match("/topic/presencex") is None
    assert pattern.match("/topic/Presence") is None


@pytest.mark.parametrize(
    "pattern", ["topic/x", "/topic/x/", "/topic/{a}/{a}", "/topic/{1a}", "/topic/x*", "/topic//x", "/topic/{a}b"]
)
def test_bad_patterns_are_value_errors(pattern: str) -> None:
    with pytest.raises(ValueError):
        DestinationPattern(pattern)


def test_patterns_compare_by_text() -> None:
    assert DestinationPattern(d.CHAT) == DestinationPattern("/topic/chat/{chatId}")
    assert hash(DestinationPattern(d.CHAT)) == hash(DestinationPattern(d.CHAT))
    assert DestinationPattern(d.CHAT) != DestinationPattern(d.BOARD)
    assert DestinationPattern(d.CHAT) != d.CHAT
    assert repr(DestinationPattern(d.CHAT)) == "DestinationPattern('/topic/chat/{chatId}')"


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("topic/x", "destination pattern must start and not end with '/': 'topic/x'"),
        ("/topic/x/", "destination pattern must start and not end with '/': '/topic/x/'"),
        ("/topic/{a}/{a}", "placeholder {a} repeated in '/topic/{a}/{a}'"),
        ("/topic/{1a}", "invalid segment '{1a}' in destination pattern '/topic/{1a}'"),
        ("/topic//x", "invalid segment '' in destination pattern '/topic//x'"),
    ],
)
def test_bad_patterns_say_what_is_wrong(pattern: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        DestinationPattern(pattern)
    assert str(info.value) == message
