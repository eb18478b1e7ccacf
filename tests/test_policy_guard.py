"""Guard: the order of the checks, from_settings, and a policy layer free of Tornado."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Dict, List, Optional

import pytest

from nexus_tornado.errors import ConfigError, Rejection
from nexus_tornado.policy.acl import TopicAcl, everyone
from nexus_tornado.policy.guard import Guard
from nexus_tornado.policy.limits import SendRateLimiter
from nexus_tornado.policy.principal import Principal
from nexus_tornado.policy.validation import MessageValidator


ALICE = Principal("alice", claims={"chats": ["c1"], "boards": ["b1"]})
ROOT = Principal("root", roles=frozenset({"admin"}))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


def chat(sender: str = "alice", chat_id: str = "c1", content: str = "hi") -> bytes:
    return json.dumps(
        {
            "type": "CHAT_MESSAGE",
            "timestamp": "2023-05-15T10:30:45Z",
            "senderId": sender,
            "payload": {"chatId": chat_id, "content": content, "contentType": "TEXT"},
        }
    ).encode()


def announcement() -> bytes:
    return json.dumps(
        {
            "type": "NOTIFICATION",
            "timestamp": "2023-05-15T10:30:45Z",
            "senderId": "root",
            "payload": {"notificationType": "SYSTEM", "title": "Hello", "message": "everyone"},
        }
    ).encode()


def send(guard: Guard, who: Principal, destination: str, body: bytes) -> Optional[Rejection]:
    try:
        run(guard.admit_send(who, destination, body, {"destination": destination}))
    except Rejection as rejection:
        return rejection
    return None


def subscribe(guard: Guard, who: Principal, destination: str) -> Optional[Rejection]:
    try:
        run(guard.authorize_subscribe(who, destination))
    except Rejection as rejection:
        return rejection
    return None


def code(rejection: Optional[Rejection]) -> Optional[str]:
    return None if rejection is None else rejection.code


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def guard(clock: FakeClock) -> Guard:
    return Guard.from_settings(sends_per_minute=3, clock=clock)


# -- admit_send ----------------------------------------------------------------------


def test_valid_sends_pass(guard: Guard) -> None:
    assert send(guard, ALICE, "/topic/chat/c1", chat()) is None
    assert send(guard, ROOT, "/topic/announcements", announcement()) is None


@pytest.mark.parametrize(
    "who, destination, body, expected",
    [
        (ALICE, "/topic/chat/c2", chat(chat_id="c2"), "FORBIDDEN"),  # not a participant
        (ALICE, "/topic/nowhere", chat(), "FORBIDDEN"),  # unknown destination
        (ALICE, "/topic/announcements", announcement(), "FORBIDDEN"),  # not an admin
        (ALICE, "/topic/presence", b"{}", "FORBIDDEN"),  # server side only
        (ALICE, "/topic/chat/c1", chat(content="x" * 2001), "INVALID_MESSAGE"),  # schema
        (ALICE, "/topic/chat/c1", chat(sender="bob"), "INVALID_MESSAGE"),  # business rule
        (ALICE, "/topic/chat/c1", b"\xff", "INVALID_MESSAGE"),  # not UTF-8
        (ALICE, "/topic/board/b1", chat(), "INVALID_MESSAGE"),  # wrong type for destination
    ],
)
def test_each_stage_can_refuse(guard: Guard, who: Principal, destination: str, body: bytes, expected: str) -> None:
    assert code(send(guard, who, destination, body)) == expected


def test_acl_runs_before_validation(guard: Guard) -> None:
    # An invalid body to a forbidden destination: the ACL answers, nothing is parsed.
    rejection = send(guard, ALICE, "/topic/chat/c2", b"not json")
    assert code(rejection) == "FORBIDDEN"
    assert rejection is not None and rejection.details == {"destination": "/topic/chat/c2"}


def test_rate_limit_runs_first_and_counts_every_send(guard: Guard) -> None:
    # Three SENDs that fail later stages still use the budget ...
    assert code(send(guard, ALICE, "/topic/chat/c2", chat())) == "FORBIDDEN"
    assert code(send(guard, ALICE, "/topic/chat/c1", b"[]")) == "INVALID_MESSAGE"
    assert send(guard, ALICE, "/topic/chat/c1", chat()) is None
    # ... and the fourth is refused before the ACL or the schema look at it.
    for destination, body in [("/topic/chat/c1", chat()), ("/topic/nowhere", b"junk")]:
        rejection = send(guard, ALICE, destination, body)
        assert code(rejection) == "RATE_LIMITED"
        assert rejection is not None and rejection.details["retryAfter"] == 60.0


def test_connections_of_one_user_share_the_budget(guard: Guard, clock: FakeClock) -> None:
    # Two sessions of alice: distinct Principal objects (say, tokens with other claims).
    first = Principal("alice", claims={"chats": ["c1"]})
    second = Principal("alice", claims={"chats": ["c1", "c9"]})
    assert send(guard, first, "/topic/chat/c1", chat()) is None
    assert send(guard, second, "/topic/chat/c1", chat()) is None
    assert send(guard, first, "/topic/chat/c1", chat()) is None
    assert code(send(guard, second, "/topic/chat/c1", chat())) == "RATE_LIMITED"
    # other users are unaffected
    assert send(guard, ROOT, "/topic/announcements", announcement()) is None
    clock.now = 60.0
    assert send(guard, second, "/topic/chat/c1", chat()) is None


def test_subscribes_do_not_use_the_send_budget(guard: Guard) -> None:
    for _ in range(10):
        assert subscribe(guard, ALICE, "/topic/chat/c1") is None
    assert send(guard, ALICE, "/topic/chat/c1", chat()) is None


# -- authorize_subscribe ---------------------------------------------------------------


@pytest.mark.parametrize(
    "who, destination, expected",
    [
        (ALICE, "/topic/chat/c1", None),
        (ALICE, "/topic/chat/c2", "FORBIDDEN"),
        (ALICE, "/topic/notifications/root", "FORBIDDEN"),
        (ROOT, "/topic/notifications/alice", None),
        (ALICE, "/topic/chat/*", "FORBIDDEN"),
    ],
)
def test_authorize_subscribe(guard: Guard, who: Principal, destination: str, expected: Optional[str]) -> None:
    assert code(subscribe(guard, who, destination)) == expected


# -- construction --------------------------------------------------------------------


def test_from_settings_default_limit_is_100(clock: FakeClock) -> None:
    guard = Guard.from_settings(clock=clock)
    assert guard.limiter is not None and (guard.limiter.limit, guard.limiter.window) == (100, 60.0)
    for _ in range(100):
        assert send(guard, ALICE, "/topic/chat/c1", chat()) is None
    assert code(send(guard, ALICE, "/topic/chat/c1", chat())) == "RATE_LIMITED"


def test_from_settings_without_rate_limit() -> None:
    guard = Guard.from_settings(sends_per_minute=None)
    assert guard.limiter is None
    for _ in range(150):
        assert send(guard, ALICE, "/topic/chat/c1", chat()) is None


def test_from_settings_membership_resolvers(clock: FakeClock) -> None:
    calls: List[str] = []

    async def chats(principal: Principal, chat_id: str) -> bool:
        calls.append(chat_id)
        return chat_id == "c7"

    guard = Guard.from_settings(membership={"chats": chats}, clock=clock)
    assert subscribe(guard, ALICE, "/topic/chat/c7") is None
    assert code(subscribe(guard, ALICE, "/topic/chat/c1")) == "FORBIDDEN"  # claims ignored now
    assert send(guard, ALICE, "/topic/chat/c7", chat(chat_id="c7")) is None
    assert calls == ["c7", "c1", "c7"]


def test_from_settings_extra_schemas(clock: FakeClock) -> None:
    extra: Dict[str, Any] = {"messages": {"CHAT_MESSAGE": None}}
    guard = Guard.from_settings(extra_schemas=extra, clock=clock)
    assert code(send(guard, ALICE, "/topic/chat/c1", chat())) == "INVALID_MESSAGE"


@pytest.mark.parametrize(
    "settings",
    [{"membership": {"chatz": everyone}}, {"extra_schemas": {"bogus": 1}}, {"sends_per_minute": 0}],
)
def test_from_settings_config_errors(settings: Dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Guard.from_settings(**settings)


def test_custom_rule_through_the_guard(clock: FakeClock) -> None:
    guard = Guard.from_settings(clock=clock)
    guard.acl.add_rule("/topic/lobby", subscribe=everyone, send=everyone)
    assert subscribe(guard, ALICE, "/topic/lobby") is None
    # allowed by the ACL, but no message type is routed there yet
    rejection = send(guard, ALICE, "/topic/lobby", chat())
    assert code(rejection) == "INVALID_MESSAGE"
    assert rejection is not None and list(rejection.details["errors"]) == ["type"]


def test_guard_from_parts() -> None:
    guard = Guard(acl=TopicAcl(), validator=MessageValidator(), limiter=SendRateLimiter(1, clock=FakeClock()))
    assert send(guard, ALICE, "/topic/chat/c1", chat()) is None
    assert code(send(guard, ALICE, "/topic/chat/c1", chat())) == "RATE_LIMITED"




class WrappingValidator(MessageValidator):
    """A host's validator that adds a rule, and returns the payload by mistake."""

    def validate(self, body: Any, destination: str, sender_id: Optional[str]) -> Dict[str, Any]:
        message = super().validate(body, destination, sender_id)
        return dict(message["payload"])


class DuckValidator:
    def validate(self, body: Any, destination: str, sender_id: Optional[str]) -> Dict[str, Any]:
        return json.loads(body)


def test_a_validator_that_is_not_a_message_validator_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"^validator: a MessageValidator .* not DuckValidator; host rules go in"):
        Guard(acl=TopicAcl(), validator=DuckValidator(), limiter=None)  # type: ignore[arg-type]


def test_a_validator_returning_no_known_type_is_named_not_a_key_error() -> None:
    guard = Guard(acl=TopicAcl(), validator=WrappingValidator(), limiter=None)
    with pytest.raises(ConfigError, match=r"^WrappingValidator\.validate\(\) returned type None, not a message of a known "
                                          r"type \(.*CHAT_MESSAGE.*\): it must return the message it checked$"):
        send(guard, ALICE, "/topic/chat/c1", chat())
    # A refusal is still the client's: the validator's own rejections pass through.
    assert code(send(guard, ALICE, "/topic/chat/c1", b"{}")) == "INVALID_MESSAGE"

# -- message types of the host app's own ---------------------------------------------

TASK = {
    "payload": {"schema": {
        "projectId": {"type": "string", "required": True, "check_with": "identifier"},
        "text": {"type": "string", "required": True, "maxlength": 20}}},
}


def task_comment(sender: str = "alice", text: str = "looks good") -> bytes:
    return json.dumps({"type": "TASK_COMMENT", "timestamp": "2023-05-15T10:30:45Z", "senderId": sender,
                       "payload": {"projectId": "p1", "text": text}}).encode()


def project_guard() -> Guard:
    guard = Guard.from_settings(sends_per_minute=None)
    guard.acl.add_rule("/topic/project/{projectId}", subscribe=everyone, send=everyone)
    return guard


def test_a_type_added_in_code_validates_and_checks_its_senders() -> None:
    guard = project_guard()
    with pytest.raises(Rejection, match="unallowed value TASK_COMMENT"):
        run(guard.admit_send(ALICE, "/topic/project/p1", task_comment(), {}))
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           senders=["member"])
    member = Principal("alice", roles=frozenset({"member"}))
    message = run(guard.admit_send(member, "/topic/project/p1", task_comment(), {}))
    assert message["payload"] == {"projectId": "p1", "text": "looks good"}
    with pytest.raises(Rejection) as refused:
        run(guard.admit_send(ALICE, "/topic/project/p1", task_comment(), {}))
    assert refused.value.code == "FORBIDDEN"
    assert refused.value.details == {"destination": "/topic/project/p1", "type": "TASK_COMMENT"}
    with pytest.raises(Rejection) as invalid:
        run(guard.admit_send(member, "/topic/project/p1", task_comment(text="x" * 21), {}))
    assert invalid.value.details["errors"] == {"payload.text": ["max length is 20"]}
    assert "TASK_COMMENT" in guard.validator.message_types


def test_a_sender_check_may_be_a_coroutine_and_must_say_true() -> None:
    guard = project_guard()
    calls: List[str] = []

    async def owners_only(principal: Principal) -> Any:
        calls.append(principal.user_id)
        return principal.user_id == "alice" or "yes"

    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           senders=owners_only)
    run(guard.admit_send(ALICE, "/topic/project/p1", task_comment(), {}))
    with pytest.raises(Rejection, match="not allowed to send TASK_COMMENT"):
        run(guard.admit_send(Principal("bob"), "/topic/project/p1", task_comment("bob"), {}))
    assert calls == ["alice", "bob"]


def test_senders_as_data() -> None:
    guard = Guard.from_settings(sends_per_minute=None, extra_schemas={"messages": {"TASK_COMMENT": {
        "destinations": ["/topic/board/{boardId}"], "senders": ["admin"],
        "fields": {"payload": {"schema": {"text": {"type": "string"}}}}}}})
    body = json.dumps({"type": "TASK_COMMENT", "timestamp": "2023-05-15T10:30:45Z",
                       "payload": {"text": "hi"}}).encode()
    admin = Principal("root", roles=frozenset({"admin"}), claims={"boards": ["b1"]})
    run(guard.admit_send(admin, "/topic/board/b1", body, {}))
    with pytest.raises(Rejection, match="not allowed to send TASK_COMMENT"):
        run(guard.admit_send(ALICE, "/topic/board/b1", body, {}))
    # Built-in types keep no sender restriction.
    assert guard.validator.senders_for("CHAT_MESSAGE") is None


@pytest.mark.parametrize("kwargs, error", [
    ({"destinations": ["no-slash"]}, "invalid schema for message type"),
    ({"destinations": ["/topic/x"], "fields": {"payload": {"schema": {"a": {"type": "nonsense"}}}}}, "invalid schema"),
    ({"destinations": ["/topic/x"], "senders": "admin"}, "a list of roles"),
])
def test_a_bad_type_is_a_config_error_when_added(kwargs: Dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        project_guard().add_message_type("TASK_COMMENT", **kwargs)


def test_a_type_name_must_be_upper_case() -> None:
    with pytest.raises(ConfigError, match="malformed"):
        project_guard().add_message_type("taskComment", destinations=["/topic/x"])


def test_a_type_refused_to_its_sender_says_which_type() -> None:
    guard = project_guard()
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           senders=["member"])
    with pytest.raises(Rejection) as refused:
        run(guard.admit_send(ALICE, "/topic/project/p1", task_comment(), {}))
    assert refused.value.message == "not allowed to send TASK_COMMENT messages"


def test_a_type_added_in_code_refuses_unknown_fields_by_default() -> None:
    guard = project_guard()
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK)
    body = json.loads(task_comment())
    body["payload"]["extra"] = 1
    body["priority"] = "high"
    with pytest.raises(Rejection) as refused:
        run(guard.admit_send(ALICE, "/topic/project/p1", json.dumps(body).encode(), {}))
    assert set(refused.value.details["errors"]) == {"priority", "payload.extra"}
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           allow_unknown=True)
    del body["payload"]["extra"]
    run(guard.admit_send(ALICE, "/topic/project/p1", json.dumps(body).encode(), {}))


def test_senders_given_as_a_string_are_refused_with_the_type_named() -> None:
    with pytest.raises(ConfigError) as info:
        project_guard().add_message_type("TASK_COMMENT", destinations=["/topic/x"], senders="admin")
    assert info.value.message == "senders of TASK_COMMENT: a list of roles, not one string"


@pytest.mark.parametrize("senders", [None, ["member"]])
def test_redefining_a_type_drops_its_old_sender_check(senders: Any) -> None:
    guard = project_guard()
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           senders=lambda principal: False)
    guard.add_message_type("TASK_COMMENT", destinations=["/topic/project/{projectId}"], fields=TASK,
                           senders=senders)
    member = Principal("alice", roles=frozenset({"member"}))
    assert run(guard.admit_send(member, "/topic/project/p1", task_comment(), {}))["type"] == "TASK_COMMENT"
