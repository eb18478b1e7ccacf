"""TopicAcl: the wire contract's destination table, id charset, resolvers, custom rules."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Dict, List, Optional, Set, Tuple

import pytest

from nexus_tornado.errors import ConfigError, Rejection
from nexus_tornado.policy.acl import (
    MEMBERSHIP_KEYS,
    Operation,
    TopicAcl,
    admins,
    claim_resolver,
    everyone,
)
from nexus_tornado.policy.destinations import DestinationPattern, is_valid_id
from nexus_tornado.policy.principal import Principal

SUB, SEND = Operation.SUBSCRIBE, Operation.SEND

# alice: in chat c1 and board b1; bob has shared his calendar with her.
ALICE = Principal(
    "alice", claims={"chats": ["c1"], "boards": ["b1"], "calendars": ["bob"]}
)
# bob: no memberships at all.
BOB = Principal("bob")
# root: an admin with no memberships (admin rights reach only the cells naming admins).
ROOT = Principal("root", roles=frozenset({"admin"}))


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


def decide(acl: TopicAcl, op: Operation, who: Principal, destination: str) -> Optional[Rejection]:
    """None when allowed, else the Rejection raised."""
    try:
        run(acl.authorize(op, who, destination))
    except Rejection as rejection:
        return rejection
    return None


# Every row of the destination table, for subscribe and send, member / non-member /
# admin. (operation, principal, destination, allowed)
TABLE: List[Tuple[Operation, Principal, str, bool]] = [
    # /topic/chat/{chatId}: participants, both ways.
    (SUB, ALICE, "/topic/chat/c1", True),
    (SUB, BOB, "/topic/chat/c1", False),
    (SUB, ROOT, "/topic/chat/c1", False),
    (SUB, ALICE, "/topic/chat/c2", False),
    (SEND, ALICE, "/topic/chat/c1", True),
    (SEND, BOB, "/topic/chat/c1", False),
    (SEND, ROOT, "/topic/chat/c1", False),
    (SEND, ALICE, "/topic/chat/c2", False),
    # /topic/notifications/{userId}: that user or admins subscribe; nobody sends.
    (SUB, ALICE, "/topic/notifications/alice", True),
    (SUB, BOB, "/topic/notifications/alice", False),
    (SUB, ROOT, "/topic/notifications/alice", True),
    (SEND, ALICE, "/topic/notifications/alice", False),
    (SEND, BOB, "/topic/notifications/alice", False),
    (SEND, ROOT, "/topic/notifications/alice", False),
    # /topic/board/{boardId}: members, both ways.
    (SUB, ALICE, "/topic/board/b1", True),
    (SUB, BOB, "/topic/board/b1", False),
    (SUB, ROOT, "/topic/board/b1", False),
    (SUB, ALICE, "/topic/board/b2", False),
    (SEND, ALICE, "/topic/board/b1", True),
    (SEND, BOB, "/topic/board/b1", False),
    (SEND, ROOT, "/topic/board/b1", False),
    (SEND, ALICE, "/topic/board/b2", False),
    # /topic/calendar/{userId}: the user and those it is shared with subscribe; the
    # user alone sends.
    (SUB, ALICE, "/topic/calendar/alice", True),
    (SUB, BOB, "/topic/calendar/alice", False),
    (SUB, ROOT, "/topic/calendar/alice", False),
    (SUB, ALICE, "/topic/calendar/bob", True),
    (SUB, BOB, "/topic/calendar/bob", True),
    (SEND, ALICE, "/topic/calendar/alice", True),
    (SEND, BOB, "/topic/calendar/alice", False),
    (SEND, ROOT, "/topic/calendar/alice", False),
    (SEND, ALICE, "/topic/calendar/bob", False),
    (SEND, BOB, "/topic/calendar/bob", True),
    # /topic/presence: everyone subscribes; nobody sends.
    (SUB, ALICE, "/topic/presence", True),
    (SUB, BOB, "/topic/presence", True),
    (SUB, ROOT, "/topic/presence", True),
    (SEND, ALICE, "/topic/presence", False),
    (SEND, ROOT, "/topic/presence", False),
    # /topic/announcements: everyone subscribes; admins send.
    (SUB, ALICE, "/topic/announcements", True),
    (SUB, BOB, "/topic/announcements", True),
    (SUB, ROOT, "/topic/announcements", True),
    (SEND, ALICE, "/topic/announcements", False),
    (SEND, BOB, "/topic/announcements", False),
    (SEND, ROOT, "/topic/announcements", True),
    # /user/queue/errors: every session subscribes; nobody sends.
    (SUB, ALICE, "/user/queue/errors", True),
    (SUB, BOB, "/user/queue/errors", True),
    (SUB, ROOT, "/user/queue/errors", True),
    (SEND, ALICE, "/user/queue/errors", False),
    (SEND, ROOT, "/user/queue/errors", False),
]


@pytest.mark.parametrize(
    "op, who, destination, allowed",
    TABLE,
    ids=[f"{op.value}-{who.user_id}-{d}-{'ok' if a else 'no'}" for op, who, d, a in TABLE],
)
def test_destination_table(op: Operation, who: Principal, destination: str, allowed: bool) -> None:
    rejection = decide(TopicAcl(), op, who, destination)
    if allowed:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.code == "FORBIDDEN"
        assert rejection.details == {"destination": destination}
        assert rejection.message == (
            "not allowed to subscribe to this destination"
            if op is SUB
            else "not allowed to send to this destination"
        )


def test_authorize_returns_the_destination_ids() -> None:
    acl = TopicAcl()
    assert run(acl.authorize_subscribe(ALICE, "/topic/chat/c1")) == {"chatId": "c1"}
    assert run(acl.authorize_send(BOB, "/topic/calendar/bob")) == {"userId": "bob"}
    assert run(acl.authorize_subscribe(BOB, "/topic/presence")) == {}


UNKNOWN = [
    "",
    "/",
    "/topic",
    "/topic/chat",
    "/topic/chat/",
    "/topic/chat//",
    "/topic/chat/c1/",
    "/topic/chat/c1/extra",
    "/topic/chat/*",
    "/topic/chat/>",
    "/topic/chat/#",
    "/topic/chat/c*",
    "/topic/chat/..",
    "/topic/chat/.c1",
    "/topic/chat/c%31",
    "/topic/chat/c 1",
    "/topic/chat/c1\n",
    "/topic/chat/\u00e71",
    "/topic/chat/" + "c" * 129,
    "topic/chat/c1",
    "/topic/Chat/c1",
    "/topic/presence/",
    "/topic/presence/x",
    "/topic/announcements/all",
    "/queue/errors",
    "/user/queue/errors/alice",
    "/topic/other",
    "/session/token",
]


@pytest.mark.parametrize("op", [SUB, SEND])
@pytest.mark.parametrize("destination", UNKNOWN)
def test_unknown_destinations_are_refused(op: Operation, destination: str) -> None:
    # Even an admin who "belongs" to the wildcard id gets nothing.
    admin = Principal("root", roles=frozenset({"admin"}), claims={"chats": ["*", "..", "c1"]})
    rejection = decide(TopicAcl(), op, admin, destination)
    assert rejection is not None
    assert rejection.code == "FORBIDDEN"
    assert rejection.message == "unknown destination"
    assert rejection.details == {"destination": destination}


@pytest.mark.parametrize(
    "value, valid",
    [
        ("a", True),
        ("c-1", True),
        ("Chat_9", True),
        ("user@example.com", True),
        ("a.b.c", True),
        ("9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        (".hidden", False),
        ("..", False),
        ("a/b", False),
        ("a b", False),
        ("a*", False),
        ("a>", False),
        ("a%2F", False),
        ("a:b", False),
        ("caf\u00e9", False),
        ("a\n", False),
        (42, False),
        (None, False),
    ],
)
def test_id_charset(value: Any, valid: bool) -> None:
    assert is_valid_id(value) is valid
    if isinstance(value, str) and "/" not in value and "\n" not in value:
        assert (DestinationPattern("/topic/chat/{chatId}").match(f"/topic/chat/{value}") is not None) is valid


@pytest.mark.parametrize(
    "pattern",
    ["topic/x", "/topic/x/", "/topic/{a}/{a}", "/topic/{1a}", "/topic/x*", "/topic//x", "/topic/{a}b"],
)
def test_bad_patterns_are_config_errors(pattern: str) -> None:
    with pytest.raises(ConfigError):
        TopicAcl().add_rule(pattern, subscribe=everyone)


# -- the default claim resolvers -------------------------------------------------------


@pytest.mark.parametrize(
    "claim_value, chat_id, allowed",
    [
        (["c1", "c2"], "c2", True),
        ([42], "42", True),
        (("c1",), "c1", True),
        ("c1", "c1", False),  # not a list: a string is not a list of ids
        ({"c1": True}, "c1", False),
        ([True], "True", False),
        ([True], "1", False),
        ([None], "None", False),
        ([["c1"]], "c1", False),
        ([], "c1", False),
        (None, "c1", False),
    ],
)
def test_claim_resolver(claim_value: Any, chat_id: str, allowed: bool) -> None:
    who = Principal("u", claims={} if claim_value is None else {"chats": claim_value})
    assert run(claim_resolver("chats")(who, chat_id)) is allowed
    assert (decide(TopicAcl(), SUB, who, f"/topic/chat/{chat_id}") is None) is allowed


# -- host-supplied resolvers -----------------------------------------------------------


class RecordingResolver:
    """An async resolver answering from a fixed set, recording its calls."""

    def __init__(self, members: Set[Tuple[str, str]], answer: Any = True) -> None:
        self.members = members
        self.answer = answer
        self.calls: List[Tuple[str, str]] = []

    async def __call__(self, principal: Principal, id_: str) -> Any:
        self.calls.append((principal.user_id, id_))
        await asyncio.sleep(0)  # a real await, as a database lookup would do
        return self.answer if (principal.user_id, id_) in self.members else False


@pytest.mark.parametrize(
    "key, destination, op",
    [
        ("chats", "/topic/chat/x1", SUB),
        ("chats", "/topic/chat/x1", SEND),
        ("boards", "/topic/board/x1", SUB),
        ("boards", "/topic/board/x1", SEND),
        ("calendars", "/topic/calendar/x1", SUB),
    ],
)
def test_custom_resolver_replaces_the_claims(key: str, destination: str, op: Operation) -> None:
    resolver = RecordingResolver({("bob", "x1")})
    acl = TopicAcl({key: resolver})
    assert decide(acl, op, BOB, destination) is None
    # alice's claims would not grant x1 anyway; give her a claim for it to prove the
    # claims are no longer read.
    alice = Principal("alice", claims={key: ["x1"]})
    assert decide(acl, op, alice, destination) is not None
    assert resolver.calls == [("bob", "x1"), ("alice", "x1")]


def test_other_resolvers_keep_their_claim_defaults() -> None:
    acl = TopicAcl({"chats": RecordingResolver(set())})
    assert decide(acl, SUB, ALICE, "/topic/board/b1") is None
    assert decide(acl, SUB, ALICE, "/topic/chat/c1") is not None


def test_calendar_resolver_never_grants_send() -> None:
    resolver = RecordingResolver({("bob", "alice")})
    acl = TopicAcl({"calendars": resolver})
    assert decide(acl, SUB, BOB, "/topic/calendar/alice") is None
    assert decide(acl, SEND, BOB, "/topic/calendar/alice") is not None


def test_calendar_owner_needs_no_resolver() -> None:
    resolver = RecordingResolver(set())
    acl = TopicAcl({"calendars": resolver})
    assert decide(acl, SUB, BOB, "/topic/calendar/bob") is None
    assert resolver.calls == []


@pytest.mark.parametrize("answer", [1, "yes", [True], object()])
def test_resolver_must_answer_exactly_true(answer: Any) -> None:
    acl = TopicAcl({"boards": RecordingResolver({("bob", "b9")}, answer=answer)})
    rejection = decide(acl, SUB, BOB, "/topic/board/b9")
    assert rejection is not None and rejection.code == "FORBIDDEN"


def test_resolver_errors_propagate() -> None:
    async def broken(principal: Principal, id_: str) -> bool:
        raise RuntimeError("membership service down")

    with pytest.raises(RuntimeError):
        run(TopicAcl({"chats": broken}).authorize_subscribe(ALICE, "/topic/chat/c1"))


def test_unknown_membership_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TopicAcl({"chat": RecordingResolver(set())})
    with pytest.raises(ConfigError):
        TopicAcl({"chats": "not callable"})  # type: ignore[dict-item]
    assert MEMBERSHIP_KEYS == ("chats", "boards", "calendars", "docs")


# -- host-added rules ------------------------------------------------------------------


def test_add_rule_for_a_new_destination() -> None:
    seen: List[Tuple[str, Dict[str, str]]] = []

    async def project_member(principal: Principal, projectId: str) -> bool:
        seen.append((principal.user_id, {"projectId": projectId}))
        return projectId in principal.claims.get("projects", [])

    def project_lead(principal: Principal, projectId: str) -> bool:  # a plain function
        return principal.user_id == "lead"

    acl = TopicAcl()
    assert decide(acl, SUB, ALICE, "/topic/project/p1") is not None  # unknown before
    acl.add_rule("/topic/project/{projectId}", subscribe=project_member, send=project_lead)
    member = Principal("m", claims={"projects": ["p1"]})
    assert decide(acl, SUB, member, "/topic/project/p1") is None
    assert decide(acl, SUB, member, "/topic/project/p2") is not None
    assert seen == [("m", {"projectId": "p1"}), ("m", {"projectId": "p2"})]
    assert decide(acl, SEND, member, "/topic/project/p1") is not None
    assert decide(acl, SEND, Principal("lead"), "/topic/project/p1") is None
    # the new rule does not loosen the id charset
    assert decide(acl, SUB, member, "/topic/project/p*").message == "unknown destination"  # type: ignore[union-attr]


def test_rule_without_send_refuses_send() -> None:
    acl = TopicAcl()
    acl.add_rule("/topic/feed", subscribe=everyone)
    assert decide(acl, SUB, BOB, "/topic/feed") is None
    rejection = decide(acl, SEND, ROOT, "/topic/feed")
    assert rejection is not None and rejection.code == "FORBIDDEN"


def test_add_rule_replaces_a_builtin_rule() -> None:
    acl = TopicAcl()
    acl.add_rule("/topic/announcements", subscribe=admins, send=admins)
    assert decide(acl, SUB, BOB, "/topic/announcements") is not None
    assert decide(acl, SUB, ROOT, "/topic/announcements") is None
    assert [r.pattern.pattern for r in acl.rules].count("/topic/announcements") == 1


def test_overlapping_rules_last_added_wins() -> None:
    acl = TopicAcl()
    acl.add_rule("/topic/chat/lobby", subscribe=everyone, send=everyone)
    assert decide(acl, SEND, BOB, "/topic/chat/lobby") is None
    assert decide(acl, SEND, BOB, "/topic/chat/c1") is not None


def test_remove_rule_makes_the_destination_unknown() -> None:
    acl = TopicAcl()
    acl.remove_rule("/topic/presence")
    rejection = decide(acl, SUB, ALICE, "/topic/presence")
    assert rejection is not None and rejection.message == "unknown destination"


def test_empty_table_refuses_everything() -> None:
    acl = TopicAcl(builtin_rules=False)
    assert decide(acl, SUB, ROOT, "/topic/presence") is not None


def test_non_callable_check_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TopicAcl().add_rule("/topic/x", subscribe=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("answer", [1, "yes", [True], object()])
@pytest.mark.parametrize("is_async", [False, True])
def test_rule_check_must_answer_exactly_true(answer: Any, is_async: bool) -> None:
    def plain(principal: Principal) -> Any:
        return answer

    async def awaited(principal: Principal) -> Any:
        return answer

    acl = TopicAcl()
    acl.add_rule("/topic/feed", subscribe=awaited if is_async else plain)
    rejection = decide(acl, SUB, BOB, "/topic/feed")
    assert rejection is not None and rejection.code == "FORBIDDEN"


# -- what the operator reads ---------------------------------------------------------


@pytest.mark.parametrize(
    "membership, message",
    [
        ({"chat": RecordingResolver(set())},
         "unknown membership resolver(s) ['chat']; expected some of ['chats', 'boards', 'calendars', 'docs']"),
        ({"boards": "not callable"}, "membership resolver 'boards' is not callable"),
    ],
)
def test_membership_config_errors_say_what_is_wrong(membership: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TopicAcl(membership)
    assert info.value.message == message


@pytest.mark.parametrize(
    "checks, message",
    [
        ({"subscribe": True}, "subscribe check for '/topic/x' is not callable"),
        ({"subscribe": everyone, "send": "admins"}, "send check for '/topic/x' is not callable"),
    ],
)
def test_non_callable_checks_are_named_in_the_config_error(checks: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TopicAcl().add_rule("/topic/x", **checks)
    assert info.value.message == message


def test_a_bad_pattern_config_error_carries_the_patterns_complaint() -> None:
    with pytest.raises(ConfigError) as info:
        TopicAcl().add_rule("/topic/x*", subscribe=everyone)
    assert info.value.message == "invalid segment 'x*' in destination pattern '/topic/x*'"


def test_a_replaced_rule_counts_as_added_last() -> None:
    acl = TopicAcl()
    acl.add_rule("/topic/chat/lobby", subscribe=everyone, send=everyone)
    # Replacing the chat rule makes it the newest: it now governs the lobby too.
    acl.add_rule("/topic/chat/{chatId}", subscribe=admins, send=admins)
    assert acl.rules[0].pattern.pattern == "/topic/chat/{chatId}"
    assert decide(acl, SEND, BOB, "/topic/chat/lobby") is not None
    assert decide(acl, SEND, ROOT, "/topic/chat/lobby") is None


def test_removing_an_unknown_rule_is_a_no_op() -> None:
    acl = TopicAcl()
    before = acl.rules
    acl.remove_rule("/topic/never-added")
    assert acl.rules == before


@pytest.mark.parametrize(
    "op, who, destination, logged",
    [
        (SEND, BOB, "/topic/nowhere", "SEND by bob refused: unknown destination"),
        (SUB, ALICE, "/topic/chat/c2", "SUBSCRIBE by alice to /topic/chat/c2 refused by rule /topic/chat/{chatId}"),
        (SEND, ALICE, "/topic/presence", "SEND by alice to /topic/presence refused by rule /topic/presence"),
    ],
)
def test_refusals_are_logged_with_who_what_and_which_rule(
    caplog: pytest.LogCaptureFixture, op: Operation, who: Principal, destination: str, logged: str
) -> None:
    with caplog.at_level("DEBUG", logger="nexus_tornado.policy.acl"):
        assert decide(TopicAcl(), op, who, destination) is not None
    assert [r.name for r in caplog.records] == ["nexus_tornado.policy.acl"]
    assert caplog.messages == [logged]
