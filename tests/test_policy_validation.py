"""MessageValidator: body parsing, the four message types, business rules, schema data."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from nexus_tornado.errors import ConfigError, Rejection
from nexus_tornado.policy.schema_check import is_iso8601
from nexus_tornado.policy import validation
from nexus_tornado.policy.validation import (
    MessageValidator,
    default_schemas,
    flatten_errors,
    iso_timestamp,
    load_schemas,
)

from support.messages import TS, VALID

CONFIG_FILE = Path(__file__).resolve().parents[1] / "config" / "schemas.json"

# A destination each type may go to (the messages: support.messages.VALID).
HOME = {
    "CHAT_MESSAGE": "/topic/chat/c1",
    "NOTIFICATION": "/topic/announcements",
    "STATUS_UPDATE": "/topic/board/b1",
    "BOARD_UPDATE": "/topic/board/b1",
    "DOC_OP": "/topic/doc/d1",
}


@pytest.fixture(scope="module")
def validator() -> MessageValidator:
    return MessageValidator()


def message(kind: str, **changes: Any) -> Dict[str, Any]:
    """A valid message of ``kind`` with top-level changes (``None`` deletes a field)."""
    result = copy.deepcopy(VALID[kind])
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def with_payload(kind: str, **changes: Any) -> Dict[str, Any]:
    """A valid message of ``kind`` with payload changes (``None`` deletes a field)."""
    result = copy.deepcopy(VALID[kind])
    for key, value in changes.items():
        if value is None:
            result["payload"].pop(key, None)
        else:
            result["payload"][key] = value
    return result


def reject(
    validator: MessageValidator,
    body: Any,
    destination: str,
    sender: Optional[str] = "alice",
) -> Dict[str, Any]:
    """Validate, expect INVALID_MESSAGE, return ``details["errors"]``."""
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body).encode()
    with pytest.raises(Rejection) as caught:
        validator.validate(raw, destination, sender)
    rejection = caught.value
    assert rejection.code == "INVALID_MESSAGE"
    errors = rejection.details["errors"]
    # machine-readable: dotted path -> list of messages, and JSON-serialisable
    assert isinstance(errors, dict) and errors
    assert all(isinstance(k, str) and isinstance(v, list) and v for k, v in errors.items())
    assert all(isinstance(m, str) for v in errors.values() for m in v)
    json.dumps(rejection.details)
    assert rejection.message.startswith("invalid message: ")
    return errors


def accept(validator: MessageValidator, body: Dict[str, Any], destination: str, sender: Optional[str] = "alice") -> None:
    assert validator.validate(json.dumps(body).encode(), destination, sender) == body


# -- valid messages ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_type_valid(validator: MessageValidator, kind: str) -> None:
    accept(validator, VALID[kind], HOME[kind])


def test_str_body_is_accepted(validator: MessageValidator) -> None:
    assert validator.validate(json.dumps(VALID["CHAT_MESSAGE"]), "/topic/chat/c1", "alice")["type"] == "CHAT_MESSAGE"


@pytest.mark.parametrize("kind", ["NOTIFICATION", "STATUS_UPDATE"])
def test_sender_optional_where_the_seed_says_so(validator: MessageValidator, kind: str) -> None:
    assert "senderId" not in VALID[kind]
    accept(validator, VALID[kind], HOME[kind])
    accept(validator, message(kind, senderId="alice"), HOME[kind])


@pytest.mark.parametrize(
    "timestamp",
    ["2023-05-15T10:30:45Z", "2023-05-15T10:30:45.123Z", "2023-05-15T10:30:45+02:00",
     "2023-05-15T10:30:45.123456-05:30", "2024-02-29T23:59:59Z"],
)
def test_valid_timestamps(validator: MessageValidator, timestamp: str) -> None:
    accept(validator, message("CHAT_MESSAGE", timestamp=timestamp), "/topic/chat/c1")


@pytest.mark.parametrize("action", ["move", "add", "delete"])
def test_board_actions(validator: MessageValidator, action: str) -> None:
    accept(validator, with_payload("BOARD_UPDATE", action=action), "/topic/board/b1")


@pytest.mark.parametrize(
    "entity, status",
    [("task", "TODO"), ("task", "DONE"), ("user", "ONLINE"), ("user", "OFFLINE"),
     ("project", "ACTIVE"), ("event", "SCHEDULED")],
)
def test_status_values_per_entity(validator: MessageValidator, entity: str, status: str) -> None:
    accept(validator, with_payload("STATUS_UPDATE", entityType=entity, status=status), "/topic/board/b1")


def test_limits_are_inclusive(validator: MessageValidator) -> None:
    accept(validator, with_payload("CHAT_MESSAGE", content="x" * 2000), "/topic/chat/c1")
    accept(validator, with_payload("NOTIFICATION", title="t" * 100), "/topic/announcements")


# -- rule violations -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, payload, path",
    [
        ("CHAT_MESSAGE", {"content": "x" * 2001}, "payload.content"),
        ("CHAT_MESSAGE", {"content": ""}, "payload.content"),
        ("CHAT_MESSAGE", {"content": 5}, "payload.content"),
        ("CHAT_MESSAGE", {"contentType": "HTML"}, "payload.contentType"),
        ("CHAT_MESSAGE", {"chatId": "c/1"}, "payload.chatId"),
        ("CHAT_MESSAGE", {"extra": 1}, "payload.extra"),
        ("NOTIFICATION", {"title": "t" * 101}, "payload.title"),
        ("NOTIFICATION", {"title": ""}, "payload.title"),
        ("NOTIFICATION", {"message": "m" * 2001}, "payload.message"),
        ("NOTIFICATION", {"notificationType": "info"}, "payload.notificationType"),
        ("NOTIFICATION", {"notificationType": "INFO\n"}, "payload.notificationType"),
        ("STATUS_UPDATE", {"status": "ONLINE"}, "payload.status"),  # a user status for a task
        ("STATUS_UPDATE", {"entityType": "user", "status": "DONE"}, "payload.status"),
        ("STATUS_UPDATE", {"status": "done"}, "payload.status"),
        ("STATUS_UPDATE", {"entityType": "spaceship"}, "payload.entityType"),
        ("STATUS_UPDATE", {"entityId": ""}, "payload.entityId"),
        ("BOARD_UPDATE", {"action": "rename"}, "payload.action"),
        ("BOARD_UPDATE", {"action": "MOVE"}, "payload.action"),
        ("BOARD_UPDATE", {"data": "not a dict"}, "payload.data"),
        ("BOARD_UPDATE", {"boardId": "*"}, "payload.boardId"),
    ],
)
def test_payload_rule_violations(validator: MessageValidator, kind: str, payload: Dict[str, Any], path: str) -> None:
    errors = reject(validator, with_payload(kind, **payload), HOME[kind])
    assert list(errors) == [path]


def test_bad_status_message_names_the_allowed_values(validator: MessageValidator) -> None:
    errors = reject(validator, with_payload("STATUS_UPDATE", status="ONLINE"), "/topic/board/b1")
    assert "task" in errors["payload.status"][0] and "IN_PROGRESS" in errors["payload.status"][0]


REQUIRED = {
    "CHAT_MESSAGE": (["type", "timestamp", "senderId", "payload"], ["chatId", "content", "contentType"]),
    "NOTIFICATION": (["type", "timestamp", "payload"], ["notificationType", "title", "message"]),
    "STATUS_UPDATE": (["type", "timestamp", "payload"], ["entityId", "entityType", "status"]),
    "BOARD_UPDATE": (["type", "timestamp", "senderId", "payload"], ["boardId", "action", "data"]),
}
MISSING = [(k, f, False) for k, (top, _) in REQUIRED.items() for f in top] + [
    (k, f, True) for k, (_, inner) in REQUIRED.items() for f in inner
]


@pytest.mark.parametrize("kind, field, in_payload", MISSING)
def test_missing_required_fields(validator: MessageValidator, kind: str, field: str, in_payload: bool) -> None:
    body = with_payload(kind, **{field: None}) if in_payload else message(kind, **{field: None})
    errors = reject(validator, body, HOME[kind])
    path = f"payload.{field}" if in_payload else field
    assert errors[path] == ["required field"]


@pytest.mark.parametrize("kind", sorted(VALID))
@pytest.mark.parametrize(
    "field, value",
    [("senderId", None), ("timestamp", None), ("payload", None), ("senderId", 7), ("payload", [1])],
)
def test_null_and_mistyped_envelope_fields(validator: MessageValidator, kind: str, field: str, value: Any) -> None:
    body = copy.deepcopy(VALID[kind])
    body[field] = value  # an explicit JSON null or a wrong type
    assert field in reject(validator, body, HOME[kind])


def test_unknown_envelope_field(validator: MessageValidator) -> None:
    assert list(reject(validator, message("CHAT_MESSAGE", priority="high"), "/topic/chat/c1")) == ["priority"]


@pytest.mark.parametrize(
    "timestamp",
    ["2023-05-15", "2023-05-15T10:30:45", "2023-05-15 10:30:45Z", "2023-05-15T10:30Z",
     "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z", "2023-05-15T24:00:00Z",
     "2023-05-15T10:30:45+25:00", "2023-05-15T10:30:45Z\n", "yesterday", ""],
)
def test_invalid_timestamps(validator: MessageValidator, timestamp: str) -> None:
    assert list(reject(validator, message("CHAT_MESSAGE", timestamp=timestamp), "/topic/chat/c1")) == ["timestamp"]


def test_numeric_timestamp(validator: MessageValidator) -> None:
    assert "timestamp" in reject(validator, message("CHAT_MESSAGE", timestamp=1684146645), "/topic/chat/c1")


@pytest.mark.parametrize("kind", ["", "chat_message", "PRESENCE", 3])
def test_unknown_type(validator: MessageValidator, kind: Any) -> None:
    errors = reject(validator, message("CHAT_MESSAGE", type=kind), "/topic/chat/c1")
    assert list(errors) == ["type"]


def test_several_errors_are_all_reported(validator: MessageValidator) -> None:
    body = message("CHAT_MESSAGE", timestamp="now", payload={"chatId": "c1", "content": "x" * 2001})
    errors = reject(validator, body, "/topic/chat/c1")
    assert set(errors) == {"timestamp", "payload.content", "payload.contentType"}


# -- business rules --------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(VALID))
def test_spoofed_sender(validator: MessageValidator, kind: str) -> None:
    errors = reject(validator, message(kind, senderId="mallory"), HOME[kind], sender="alice")
    assert errors == {"senderId": ["must equal the authenticated user"]}


def test_server_side_validation_skips_the_sender_rule(validator: MessageValidator) -> None:
    accept(validator, message("CHAT_MESSAGE", senderId="mallory"), "/topic/chat/c1", sender=None)


def test_chat_id_must_match_destination(validator: MessageValidator) -> None:
    errors = reject(validator, with_payload("CHAT_MESSAGE", chatId="c2"), "/topic/chat/c1")
    assert list(errors) == ["payload.chatId"]
    accept(validator, with_payload("CHAT_MESSAGE", chatId="c2"), "/topic/chat/c2")


def test_board_id_must_match_destination(validator: MessageValidator) -> None:
    errors = reject(validator, with_payload("BOARD_UPDATE", boardId="b2"), "/topic/board/b1")
    assert list(errors) == ["payload.boardId"]


# Which types may be sent where: (type, destination) -> allowed.
ROUTES = {
    "/topic/chat/c1": {"CHAT_MESSAGE"},
    "/topic/board/b1": {"BOARD_UPDATE", "STATUS_UPDATE"},
    "/topic/calendar/alice": {"NOTIFICATION", "STATUS_UPDATE"},
    "/topic/announcements": {"NOTIFICATION"},
    "/topic/notifications/alice": {"NOTIFICATION"},
    "/topic/presence": {"STATUS_UPDATE"},
    "/user/queue/errors": set(),
    "/topic/unknown": set(),
}


@pytest.mark.parametrize("destination", sorted(ROUTES))
@pytest.mark.parametrize("kind", sorted(VALID))
def test_type_for_destination(validator: MessageValidator, kind: str, destination: str) -> None:
    # ids in the payload follow the destination so only the routing rule can fail
    body = copy.deepcopy(VALID[kind])
    if kind == "CHAT_MESSAGE" or kind == "BOARD_UPDATE":
        body["payload"]["chatId" if kind == "CHAT_MESSAGE" else "boardId"] = destination.rsplit("/", 1)[-1]
    if kind in ROUTES[destination]:
        accept(validator, body, destination)
    else:
        assert list(reject(validator, body, destination)) == ["type"]


def test_destinations_for(validator: MessageValidator) -> None:
    assert validator.destinations_for("CHAT_MESSAGE") == ("/topic/chat/{chatId}",)
    assert validator.message_types == ("BOARD_UPDATE", "CHAT_MESSAGE", "DOC_OP", "NOTIFICATION", "STATUS_UPDATE")


# -- bodies that are not JSON objects --------------------------------------------------


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"not json", "must be a JSON document"),
        (b"", "must be a JSON document"),
        (b'{"type": "CHAT_MESSAGE"', "must be a JSON document"),
        (b'{"a": NaN}', "must be a JSON document"),
        (b'{"a": Infinity}', "must be a JSON document"),
        (b"[" * 100000 + b"]" * 100000, "must be a JSON document"),
        (b"\xff\xfe{}", "must be UTF-8 text"),
        (b'{"a": "\xc3"}', "must be UTF-8 text"),
        (b"[]", "must be a JSON object"),
        (b'"CHAT_MESSAGE"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_bodies_that_are_not_json_objects(validator: MessageValidator, body: bytes, reason: str) -> None:
    assert reject(validator, body, "/topic/chat/c1") == {"body": [reason]}


# -- error trees ---------------------------------------------------------------------


def test_flatten_errors() -> None:
    tree = {
        "a": ["bad"],
        "payload": ["outer", {"content": ["max length is 2000"], "data": [{0: ["x"], "k": ["y"]}]}],
    }
    assert flatten_errors(tree) == {
        "a": ["bad"],
        "payload": ["outer"],
        "payload.content": ["max length is 2000"],
        "payload.data.0": ["x"],
        "payload.data.k": ["y"],
    }


# -- schemas as data -----------------------------------------------------------------


def test_bundled_schemas_are_the_config_file() -> None:
    assert default_schemas() == json.loads(CONFIG_FILE.read_text("utf-8"))
    assert load_schemas() == default_schemas()


def test_vocabulary_comes_from_the_data() -> None:
    schemas = default_schemas()
    schemas["vocabularies"]["status"]["task"] = ["OPEN", "CLOSED"]
    custom = MessageValidator(schemas=schemas)
    accept(custom, with_payload("STATUS_UPDATE", status="OPEN"), "/topic/board/b1")
    reject(custom, with_payload("STATUS_UPDATE", status="TODO"), "/topic/board/b1")


def test_validators_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    validator = MessageValidator()
    built = []
    original = validation._SchemaValidator.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("is_child"):  # Cerberus makes child validators for sub-documents
            built.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(validation._SchemaValidator, "__init__", counting)
    for kind in VALID:
        accept(validator, VALID[kind], HOME[kind])
    reject(validator, with_payload("CHAT_MESSAGE", content=""), "/topic/chat/c1")
    assert built == []
    MessageValidator()
    assert len(built) == len(VALID) + 1  # one per type, plus the type dispatcher


EXTRA = {
    "vocabularies": {"sprintStatus": ["PLANNED", "RUNNING"]},
    "messages": {
        "TASK_COMMENT": {
            "destinations": ["/topic/board/{boardId}"],
            "fields": {
                "senderId": {"required": True},
                "payload": {
                    "schema": {
                        "boardId": {"type": "string", "required": True, "check_with": "identifier"},
                        "text": {"type": "string", "required": True, "maxlength": 10},
                        "state": {"type": "string", "allowed_in": "sprintStatus"},
                    }
                },
            },
        },
        "NOTIFICATION": None,
    },
}
COMMENT: Dict[str, Any] = {
    "type": "TASK_COMMENT",
    "timestamp": TS,
    "senderId": "alice",
    "payload": {"boardId": "b1", "text": "ok", "state": "RUNNING"},
}


@pytest.mark.parametrize("source", ["mapping", "file"])
def test_extra_schemas_add_and_remove_types(tmp_path: Path, source: str) -> None:
    if source == "file":
        path = tmp_path / "extra.json"
        path.write_text(json.dumps(EXTRA), "utf-8")
        custom = MessageValidator(str(path))
    else:
        custom = MessageValidator(EXTRA)
    accept(custom, COMMENT, "/topic/board/b1")
    assert list(reject(custom, {**COMMENT, "payload": {**COMMENT["payload"], "text": "x" * 11}}, "/topic/board/b1")) == ["payload.text"]
    assert list(reject(custom, {**COMMENT, "payload": {**COMMENT["payload"], "state": "DONE"}}, "/topic/board/b1")) == ["payload.state"]
    # the generic id rule applies to new types too
    assert list(reject(custom, COMMENT, "/topic/board/b2")) == ["payload.boardId"]
    # NOTIFICATION was removed; the others stay
    assert list(reject(custom, VALID["NOTIFICATION"], "/topic/announcements")) == ["type"]
    accept(custom, VALID["CHAT_MESSAGE"], "/topic/chat/c1")


def test_extra_schemas_override_envelope_rules() -> None:
    custom = MessageValidator({"envelope": {"timestamp": {"required": False}}})
    accept(custom, message("STATUS_UPDATE", timestamp=None), "/topic/board/b1")
    # the other timestamp rules stay
    reject(custom, message("STATUS_UPDATE", timestamp="now"), "/topic/board/b1")


def test_allow_unknown_per_type() -> None:
    entry = copy.deepcopy(default_schemas()["messages"]["CHAT_MESSAGE"])
    entry["allowUnknown"] = True
    custom = MessageValidator({"messages": {"CHAT_MESSAGE": entry}})
    accept(custom, message("CHAT_MESSAGE", clientId="x1"), "/topic/chat/c1")


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": {"X_TYPE": {"destinations": ["/topic/x"], "fields": {"payload": {"no_such_rule": 1}}}}},
        {"messages": {"X_TYPE": {"destinations": ["/topic/x"], "fields": {"payload": {"allowed_in": "nope"}}}}},
        {"messages": {"X_TYPE": {"destinations": ["/topic/x"],
                                 "fields": {"payload": {"allowed_per": {"vocabulary": "boardAction", "field": "a"}}}}}},
        {"messages": {"X_TYPE": {"destinations": ["topic/x"]}}},
        {"messages": {"X_TYPE": {"fields": {}}}},
        {"messages": {"lowercase": {"destinations": []}}},
        {"vocabularies": {"v": "not a list"}},
        {"colours": {}},
    ],
)
def test_bad_extra_schemas_are_config_errors(extra: Dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        MessageValidator(extra)


def test_unreadable_schema_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        MessageValidator(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", "utf-8")
    with pytest.raises(ConfigError):
        MessageValidator(str(bad))


def test_load_schemas_does_not_mutate_its_inputs() -> None:
    extra = copy.deepcopy(EXTRA)
    load_schemas(extra)
    assert extra == EXTRA


# -- repeated keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, key",
    [
        # the spoofing case: the validator would see the last value, a client the first
        (b'{"type":"CHAT_MESSAGE","timestamp":"2023-05-15T10:30:45Z","senderId":"bob","senderId":"alice",'
         b'"payload":{"chatId":"c1","content":"hi","contentType":"TEXT"}}', "senderId"),
        # the same key spelled with an escape is the same key
        (b'{"type":"CHAT_MESSAGE","timestamp":"2023-05-15T10:30:45Z","senderId":"alice","sender\\u0049d":"alice",'
         b'"payload":{"chatId":"c1","content":"hi","contentType":"TEXT"}}', "senderId"),
        (b'{"type":"CHAT_MESSAGE","timestamp":"2023-05-15T10:30:45Z","senderId":"alice",'
         b'"payload":{"chatId":"c1","content":"hi","content":"bye","contentType":"TEXT"}}', "content"),
        (b'{"type":"BOARD_UPDATE","timestamp":"2023-05-15T10:30:45Z","senderId":"alice",'
         b'"payload":{"boardId":"b1","action":"move","data":{"to":"a","to":"a"}}}', "to"),
        (b'{"type":"CHAT_MESSAGE","type":"CHAT_MESSAGE"}', "type"),
    ],
    ids=["sender", "escaped", "payload", "nested-same-value", "type"],
)
def test_repeated_keys_are_refused(validator: MessageValidator, body: bytes, key: str) -> None:
    destination = "/topic/board/b1" if b"BOARD" in body else "/topic/chat/c1"
    assert reject(validator, body, destination) == {"body": [f'duplicate key "{key}"']}


def test_keys_repeated_in_different_objects_are_fine(validator: MessageValidator) -> None:
    body = with_payload("BOARD_UPDATE", data={"type": "card", "payload": {"type": "x"}})
    accept(validator, body, "/topic/board/b1")


# -- cost ----------------------------------------------------------------------------

HOST_RULES = {
    "messages": {
        "TALLY": {
            "destinations": ["/topic/board/{boardId}"],
            "fields": {
                "payload": {
                    "schema": {
                        "counts": {"type": "dict", "valuesrules": {"type": "integer"}},
                        "names": {"type": "list", "schema": {"type": "string"}},
                    }
                }
            },
        }
    }
}


def hostile(shape: str, n: int) -> Dict[str, Any]:
    """A body of about ``n`` parts that Cerberus alone would take superlinear time on."""
    many = {"f%d" % i: i for i in range(n)}
    if shape == "unknown-in-payload":
        return with_payload("CHAT_MESSAGE", **many)
    if shape == "unknown-top-level":
        return message("CHAT_MESSAGE", **many)
    if shape == "unknown-objects":
        return with_payload("CHAT_MESSAGE", **{k: {"a": [{}]} for k in many})
    if shape == "big-free-dict":
        return with_payload("BOARD_UPDATE", action="rename", data=many)
    if shape == "valuesrules":
        return {"type": "TALLY", "timestamp": TS, "payload": {"counts": {k: "x" for k in many}}}
    if shape == "list-schema":
        return {"type": "TALLY", "timestamp": TS, "payload": {"names": list(range(n))}}
    raise AssertionError(shape)


@pytest.mark.parametrize(
    "shape",
    ["unknown-in-payload", "unknown-top-level", "unknown-objects", "big-free-dict", "valuesrules", "list-schema"],
)
def test_refusing_costs_work_linear_in_the_body(shape: str) -> None:
    # Counted in function calls, not time: 4x the body may cost at most 4x the work.
    from support.cost import count_calls

    custom = MessageValidator(HOST_RULES)
    destination = "/topic/board/b1" if shape in ("big-free-dict", "valuesrules", "list-schema") else "/topic/chat/c1"
    with pytest.raises(Rejection):  # first use: caches, compiled regexes
        custom.validate(json.dumps(hostile(shape, 10)).encode(), destination, "alice")
    counts = []
    for n in (100, 400):
        body = json.dumps(hostile(shape, n)).encode()
        calls, _, error = count_calls(lambda: custom.validate(body, destination, "alice"))
        assert isinstance(error, Rejection) and error.code == "INVALID_MESSAGE"
        # the report stays small whatever the body holds
        assert len(error.details["errors"]) <= validation.MAX_REPORTED_UNKNOWN + 2
        assert len(json.dumps(error.details)) < 2000
        counts.append(calls)
    assert counts[1] <= 4 * counts[0], counts


def test_unknown_fields_are_named_up_to_a_limit_and_counted_beyond(validator: MessageValidator) -> None:
    errors = reject(validator, hostile("unknown-in-payload", 2000), "/topic/chat/c1")
    assert [p for p in errors if p.startswith("payload.f")] == [f"payload.f{i}" for i in range(20)]
    assert errors["payload"] == ["1980 more unknown fields"]
    # other problems of the same body are still reported
    body = hostile("unknown-in-payload", 30)
    body["payload"]["content"] = ""
    body["timestamp"] = "now"
    errors = reject(validator, body, "/topic/chat/c1")
    assert errors["payload.content"] == ["empty values not allowed"] and "timestamp" in errors


def test_too_many_errors_stop_the_report() -> None:
    custom = MessageValidator(HOST_RULES)
    errors = reject(custom, hostile("valuesrules", 500), "/topic/board/b1")
    assert errors["payload.counts"] == [f"more than {validation.MAX_ERRORS} errors"]
    errors = reject(custom, hostile("valuesrules", 3), "/topic/board/b1")
    assert set(errors) == {"payload.counts.f0", "payload.counts.f1", "payload.counts.f2"}


def test_iso_timestamp_is_utc_now_in_the_envelopes_format() -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    stamp = iso_timestamp()
    after = datetime.datetime.now(datetime.timezone.utc)
    assert is_iso8601(stamp) and stamp.endswith("Z")
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert before <= parsed <= after


def test_iso_timestamp_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Etc/GMT-5")  # five hours east of UTC
    time.tzset()
    try:
        stamp = iso_timestamp()
    finally:
        monkeypatch.undo()
        time.tzset()
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs(parsed - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=1)


# -- what the client is told -----------------------------------------------------------
# These build their own validator (not the module's): the schemas are compiled in the
# constructor, and a test of what they say should build them.

IDENTIFIER = "must be 1-128 characters of letters, digits, '_', '-', '.', '@' (not starting with '.')"
LONG_KEY = "k" * 100

# (body, destination, errors): the exact report of each kind of refusal.
REPORTS = [
    pytest.param(message("CHAT_MESSAGE", timestamp="now"), "/topic/chat/c1",
                 {"timestamp": ["must be an ISO-8601 date-time with seconds and a zone, e.g. 2023-05-15T10:30:45Z"]},
                 id="iso8601"),
    pytest.param(with_payload("CHAT_MESSAGE", chatId="c/1"), "/topic/chat/c1", {"payload.chatId": [IDENTIFIER]},
                 id="identifier"),
    pytest.param(with_payload("CHAT_MESSAGE", contentType="HTML"), "/topic/chat/c1",
                 {"payload.contentType": ["unallowed value HTML; allowed: TEXT, MARKDOWN, IMAGE, FILE, LINK"]},
                 id="allowed_in"),
    pytest.param(with_payload("STATUS_UPDATE", status="ONLINE"), "/topic/board/b1",
                 {"payload.status": ["unallowed value ONLINE for entityType task; "
                                     "allowed: TODO, IN_PROGRESS, IN_REVIEW, BLOCKED, DONE, CANCELLED"]},
                 id="allowed_per"),
    # A status that is not a string: its type rule speaks, allowed_per stays silent.
    pytest.param(with_payload("STATUS_UPDATE", status=5), "/topic/board/b1",
                 {"payload.status": ["must be of string type"]}, id="allowed_per-not-a-string"),
    pytest.param(message("CHAT_MESSAGE", senderId=7), "/topic/chat/c1",
                 {"senderId": ["must be of string type"]}, id="envelope-rule-under-type-fields"),
    pytest.param(message("CHAT_MESSAGE", payload=None), "/topic/chat/c1",
                 {"payload": ["required field"]}, id="envelope-required-under-type-fields"),
    pytest.param(message("CHAT_MESSAGE", type=None), "/topic/chat/c1", {"type": ["required field"]},
                 id="no-type"),
    pytest.param(message("CHAT_MESSAGE", type="FOO"), "/topic/chat/c1", {"type": ["unallowed value FOO"]},
                 id="unknown-type"),
    pytest.param(VALID["CHAT_MESSAGE"], "/topic/board/b1",
                 {"type": ["CHAT_MESSAGE may not be sent to this destination (allowed: /topic/chat/{chatId})"]},
                 id="one-destination"),
    pytest.param(VALID["NOTIFICATION"], "/topic/chat/c1",
                 {"type": ["NOTIFICATION may not be sent to this destination (allowed: /topic/announcements, "
                           "/topic/notifications/{userId}, /topic/calendar/{userId})"]},
                 id="several-destinations"),
    pytest.param(('{"%s": 1, "%s": 2}' % (LONG_KEY, LONG_KEY)).encode(), "/topic/chat/c1",
                 {"body": ['duplicate key "%s"' % LONG_KEY[:64]]}, id="long-duplicate-key"),
]


@pytest.mark.parametrize("body, destination, errors", REPORTS)
def test_each_refusal_reports_exactly(body: Any, destination: str, errors: Dict[str, Any]) -> None:
    assert reject(MessageValidator(), body, destination) == errors


def test_a_type_with_no_destination_says_so() -> None:
    custom = MessageValidator()
    custom.add_type("X_TYPE", {"destinations": []})
    errors = reject(custom, {"type": "X_TYPE", "timestamp": TS, "payload": {}}, "/topic/chat/c1")
    assert errors == {"type": ["X_TYPE may not be sent to this destination (allowed: no destination)"]}


def test_a_type_added_later_is_dispatched_to_and_uses_the_vocabularies() -> None:
    custom = MessageValidator()
    custom.add_type("MOVE", {"destinations": ["/topic/board/{boardId}"],
                             "fields": {"payload": {"schema": {"action": {"type": "string", "allowed_in": "boardAction"}}}}})
    accept(custom, {"type": "MOVE", "timestamp": TS, "payload": {"action": "add"}}, "/topic/board/b1")
    assert reject(custom, {"type": "MOVE", "timestamp": TS, "payload": {"action": "fly"}}, "/topic/board/b1") == {
        "payload.action": ["unallowed value fly; allowed: move, add, delete"]
    }
    assert reject(custom, message("CHAT_MESSAGE", type="FOO"), "/topic/chat/c1") == {"type": ["unallowed value FOO"]}


def test_an_envelope_rule_for_the_type_field_reaches_every_type() -> None:
    custom = MessageValidator({"envelope": {"type": {"maxlength": 12}}})
    accept(custom, VALID["NOTIFICATION"], "/topic/announcements")
    assert reject(custom, VALID["STATUS_UPDATE"], "/topic/board/b1") == {"type": ["max length is 12"]}


def test_a_host_type_may_add_top_level_fields_and_leave_out_the_payload() -> None:
    custom = MessageValidator({"messages": {"PING": {
        "destinations": ["/topic/board/{boardId}"],
        "fields": {"payload": {"required": False}, "seq": {"type": "integer", "required": True}},
    }}})
    accept(custom, {"type": "PING", "timestamp": TS, "seq": 1}, "/topic/board/b1")
    assert reject(custom, {"type": "PING", "timestamp": TS}, "/topic/board/b1") == {"seq": ["required field"]}


def test_a_document_without_envelope_or_vocabularies_still_builds() -> None:
    minimal = {"messages": {"PING": {"destinations": ["/topic/presence"]}}}
    custom = MessageValidator(schemas=minimal)
    assert custom.message_types == ("PING",)
    accept(custom, {"type": "PING"}, "/topic/presence")
    with pytest.raises(ConfigError) as info:
        MessageValidator(schemas={"messages": {"PING": {"destinations": ["/topic/presence"],
                                                        "fields": {"kind": {"allowed_in": "kinds"}}}}})
    assert info.value.message == "message type PING: allowed_in names unknown vocabulary 'kinds'"
    empty = MessageValidator(schemas={})
    assert empty.message_types == ()
    assert reject(empty, VALID["CHAT_MESSAGE"], "/topic/chat/c1") == {"type": ["unallowed value CHAT_MESSAGE"]}


@pytest.mark.parametrize("count, errors", [
    (50, {f"payload.counts.f{i}": ["must be of integer type"] for i in range(50)}),
    (51, {"payload.counts": ["more than 50 errors"]}),
])
def test_up_to_max_errors_are_reported_one_by_one(count: int, errors: Dict[str, Any]) -> None:
    assert validation.MAX_ERRORS == 50
    body = {"type": "TALLY", "timestamp": TS, "payload": {"counts": {f"f{i}": "x" for i in range(count)}}}
    assert reject(MessageValidator(HOST_RULES), body, "/topic/board/b1") == errors


def test_too_many_errors_at_the_top_level_are_reported_on_the_body() -> None:
    wide = {"messages": {"WIDE": {"destinations": ["/topic/presence"],
                                  "fields": {f"f{i}": {"type": "integer"} for i in range(60)}}}}
    body: Dict[str, Any] = {"type": "WIDE", "timestamp": TS, "payload": {}, **{f"f{i}": "x" for i in range(60)}}
    assert reject(MessageValidator(wide), body, "/topic/presence") == {"body": ["more than 50 errors"]}


# -- what the operator is told at start-up ----------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"colours": {}}, "unknown key(s) ['colours'] in message schemas (extra)"),
        ({"messages": {"X_TYPE": {"destinations": ["/topic/x"], "fields": {"payload": {"allowed_in": "nope"}}}}},
         "message type X_TYPE: allowed_in names unknown vocabulary 'nope'"),
        ({"messages": {"X_TYPE": {"destinations": ["/topic/x"],
                                  "fields": {"payload": {"anyof": [{"type": "dict"}, {"allowed_in": "nope"}]}}}}},
         "message type X_TYPE: allowed_in names unknown vocabulary 'nope'"),
        ({"messages": {"X_TYPE": {"destinations": ["/topic/x"],
                                  "fields": {"payload": {"allowed_per": {"vocabulary": "boardAction", "field": "a"}}}}}},
         "message type X_TYPE: allowed_per needs a mapping vocabulary, 'boardAction' is a list"),
        ({"messages": {"X_TYPE": {"destinations": ["topic/x"]}}},
         "invalid schema for message type X_TYPE: destination pattern must start and not end with '/': 'topic/x'"),
    ],
    ids=["unknown-key", "unknown-vocabulary", "unknown-vocabulary-in-a-list", "allowed_per-on-a-list", "pattern"],
)
def test_config_errors_say_what_is_wrong(extra: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        MessageValidator(extra)
    assert info.value.message == message


def _with_field(rules: Dict[str, Any]) -> Dict[str, Any]:
    return {"messages": {"X_TYPE": {"destinations": ["/topic/x"],
                                    "fields": {"payload": {"type": "dict", "schema": {"f": rules}}}}}}


UNTYPED = "message type X_TYPE: payload.f: a schema needs type dict (the fields) or list (the rules of each item)"


@pytest.mark.parametrize(
    "rules,message",
    [
        # Cerberus would raise on a list value (or a mapping one) instead of refusing it.
        ({"schema": {"a": {"type": "string"}}}, UNTYPED),
        ({"schema": {"type": "string"}}, UNTYPED),
        ({"type": ["dict", "list"], "schema": {"a": {"type": "string"}}}, UNTYPED),
        ({"type": "list", "schema": {"a": {"type": "string"}}},
         "message type X_TYPE: payload.f: the schema of a list holds the rules of its items, not fields (a)"),
        ({"type": "list", "schema": {"a": {"type": "string"}, "b": {}}},
         "message type X_TYPE: payload.f: the schema of a list holds the rules of its items, not fields (a, b)"),
        ({"type": "list", "schema": ["x"]},
         "message type X_TYPE: payload.f: the schema of a list holds the rules of its items, not fields ()"),
        ({"type": "dict", "schema": {"type": "string"}},
         "message type X_TYPE: payload.f: the schema of a dict maps each field to its rules"),
        ({"type": "dict", "schema": ["x"]},
         "message type X_TYPE: payload.f: the schema of a dict maps each field to its rules"),
        # Found at any depth: a dict's fields, a list's items, and the rules of other rules.
        ({"type": "dict", "schema": {"g": {"schema": {"a": {}}}}},
         "message type X_TYPE: payload.f.g: a schema needs type dict (the fields) or list (the rules of each item)"),
        ({"type": "list", "schema": {"type": "dict", "schema": {"type": "string"}}},
         "message type X_TYPE: payload.f.*: the schema of a dict maps each field to its rules"),
        ({"type": "dict", "valuesrules": {"schema": {"a": {}}}},
         "message type X_TYPE: payload.f: a schema needs type dict (the fields) or list (the rules of each item)"),
        ({"anyof": [{"type": "string"}, {"schema": {"a": {}}}]},
         "message type X_TYPE: payload.f: a schema needs type dict (the fields) or list (the rules of each item)"),
    ],
    ids=["untyped-fields", "untyped-rules", "dict-or-list", "list-of-fields", "list-of-two-fields",
         "list-of-a-list", "dict-of-rules",
         "dict-of-a-list", "nested-field", "list-item", "valuesrules", "anyof"],
)
def test_a_schema_cerberus_would_trip_on_is_refused_at_start_up(rules: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        MessageValidator(_with_field(rules))
    assert info.value.message == message


def test_schemas_of_dicts_and_lists_in_their_own_shape_load_and_validate() -> None:
    item = {"a": {"type": "string"}, "n": {"type": "list", "schema": {"type": "integer"}}}
    validator = MessageValidator(_with_field({"type": "list", "schema": {"type": "dict", "schema": item}}))
    body = {"type": "X_TYPE", "timestamp": "2026-11-30T10:00:00Z", "payload": {"f": [{"a": "x", "n": [1, 2]}]}}
    assert validator.validate(json.dumps(body).encode(), "/topic/x", "u")["payload"]["f"] == [{"a": "x", "n": [1, 2]}]
    body["payload"] = {"f": [{"a": 1, "n": ["z"]}]}
    with pytest.raises(Rejection) as info:
        validator.validate(json.dumps(body).encode(), "/topic/x", "u")
    assert info.value.details["errors"] == {
        "payload.f.0.a": ["must be of string type"], "payload.f.0.n.0": ["must be of integer type"],
    }


def test_config_errors_name_the_document_at_fault(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_schemas(base={"colours": {}})
    assert info.value.message == "unknown key(s) ['colours'] in message schemas (base)"
    with pytest.raises(ConfigError) as info:
        MessageValidator().add_type("X_TYPE", {"fields": {}})
    assert info.value.message == (
        "malformed message schemas (message type X_TYPE): {'messages.X_TYPE.destinations': ['required field']}"
    )
    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigError) as info:
        MessageValidator(str(missing))
    assert info.value.message.startswith(f"cannot read message schemas from {missing}: [Errno 2] ")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", "utf-8")
    with pytest.raises(ConfigError) as info:
        MessageValidator(str(listed))
    assert info.value.message == f"message schemas in {listed} must be a JSON object"


# -- merging ---------------------------------------------------------------------------


def test_extra_schemas_merge_into_a_base_that_lacks_every_section() -> None:
    extra = {
        "vocabularies": {"v": ["a"]},
        "envelope": {"timestamp": {"type": "string"}},
        "messages": {"PING": {"destinations": ["/topic/presence"]}, "GONE": None},
    }
    assert load_schemas(extra, base={}) == {
        "vocabularies": {"v": ["a"]},
        "envelope": {"timestamp": {"type": "string"}},
        "messages": {"PING": {"destinations": ["/topic/presence"]}},
    }


def test_load_schemas_does_not_mutate_its_base() -> None:
    base = default_schemas()
    pristine = copy.deepcopy(base)
    load_schemas(EXTRA, base=base)
    MessageValidator(EXTRA, schemas=base)
    assert base == pristine


# -- where the bundled file is read from -----------------------------------------------


def test_bundled_schemas_are_read_from_the_package_when_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Installed, there is no checkout beside the package: only the package data exists.
    monkeypatch.setattr(validation, "Path", lambda _: tmp_path / "site-packages" / "nexus_tornado" / "policy" / "x.py")
    assert default_schemas() == json.loads(CONFIG_FILE.read_text("utf-8"))


def test_bundled_schemas_are_read_from_the_checkout_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    class NotInstalled:
        @staticmethod
        def files(package: str) -> Any:
            raise ModuleNotFoundError(package)

    monkeypatch.setattr(validation, "resources", NotInstalled)
    assert default_schemas() == json.loads(CONFIG_FILE.read_text("utf-8"))
