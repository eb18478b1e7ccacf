"""schema_check: the compiled accept path gives Cerberus' answers; unknown fields stripped.

The compiled checks may only ever accept what Cerberus accepts: they are compared with
Cerberus itself (the validator each message type is built with) over every message of
the validation table and thousands of variants of it, under the bundled schemas and
under host schemas that add types, vocabularies and rules.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from nexus_tornado.errors import Rejection
from nexus_tornado.policy.schema_check import compile_mapping, is_iso8601, strip_unknown
from nexus_tornado.policy.validation import MAX_REPORTED_UNKNOWN, MessageValidator, default_schemas
from support.messages import TS, VALID

# Values every field is tried with: each JSON type, empty and over-long values,
# near-misses of the regexes and vocabularies, and values valid for some other field.
POOL: List[Any] = [
    None, "", "x", " ", "x" * 100, "x" * 101, "x" * 2000, "x" * 2001, 0, 1, 5.5, True, False,
    [], ["TEXT"], [1, 2], {}, {"a": 1}, {"card": "k1"},
    "CHAT_MESSAGE", "NOTIFICATION", "STATUS_UPDATE", "BOARD_UPDATE", "chat_message",
    TS, "2023-05-15T10:30:45.123+02:00", "2023-02-30T00:00:00Z", "2023-05-15T10:30:45Z\n",
    "2023-05-15T10:30:45+25:00", "2023-05-15",
    "alice", "mallory", "c1", "c/1", ".c1", "b1", "t-7", "a" * 128, "a" * 129,
    "TEXT", "MARKDOWN", "HTML", "move", "MOVE", "rename",
    "task", "user", "project", "event", "spaceship", "TODO", "ONLINE", "DONE", "done",
    "SYSTEM_ALERT", "INFO\n", "info", "A" * 64, "A" * 65,
]

EXTRA: Dict[str, Any] = {
    "vocabularies": {"sprintStatus": ["PLANNED", "RUNNING"]},
    "envelope": {"timestamp": {"required": False}},
    "messages": {
        "TASK_COMMENT": {
            "destinations": ["/topic/board/{boardId}"],
            "fields": {
                "senderId": {"required": True},
                "payload": {
                    "schema": {
                        "boardId": {"type": "string", "required": True, "check_with": "identifier"},
                        "text": {"type": "string", "required": True, "minlength": 2, "maxlength": 10},
                        "state": {"type": "string", "allowed_in": "sprintStatus", "nullable": True},
                        "tags": {"type": "list", "allowed": ["a", "b"], "empty": True},
                        "score": {"type": ["integer", "float"], "meta": {"unit": "points"}},
                        "ratio": {"type": "number"},
                        "flag": {"type": "boolean"},
                        "extra": {"type": "dict", "allow_unknown": True, "schema": {"k": {"type": "string"}}},
                        "code": {"regex": "[a-z]+", "empty": False},
                        # empty allowed, but the vocabulary still applies to ""
                        "mood": {"type": "string", "empty": True, "allowed_in": "sprintStatus"},
                    }
                },
            },
        },
        "OPEN_NOTE": {
            "destinations": ["/topic/board/{boardId}"],
            "allowUnknown": True,
            "fields": {"payload": {"require_all": True, "schema": {"boardId": {"type": "string"}}}},
        },
    },
}
COMMENT: Dict[str, Any] = {
    "type": "TASK_COMMENT",
    "timestamp": TS,
    "senderId": "alice",
    "payload": {
        "boardId": "b1", "text": "ok", "state": "RUNNING", "tags": ["a"], "score": 3,
        "ratio": 0.5, "flag": False, "extra": {"k": "v", "other": 1}, "code": "abc",
        "mood": "PLANNED",
    },
}
NOTE: Dict[str, Any] = {
    "type": "OPEN_NOTE",
    "timestamp": TS,
    "payload": {"boardId": "b1"},
    "anything": [1],
}


def variants(message: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """``message``, then each top-level and payload field deleted, replaced by every pool
    value, and joined by unknown fields; then pairs of payload changes."""
    yield message
    for key in list(message) + ["extra"]:
        changed = copy.deepcopy(message)
        changed.pop(key, None)
        yield changed
        for value in POOL:
            changed = copy.deepcopy(message)
            changed[key] = copy.deepcopy(value)
            yield changed
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return
    keys = list(payload) + ["extra", "color"]
    for key in keys:
        for value in [...] + POOL:
            changed = copy.deepcopy(message)
            if value is ...:
                changed["payload"].pop(key, None)
            else:
                changed["payload"][key] = copy.deepcopy(value)
            yield changed
    for (k1, v1), (k2, v2) in itertools.islice(
        itertools.combinations(itertools.product(keys, POOL[::5]), 2), 0, None, 7
    ):
        if k1 != k2:
            changed = copy.deepcopy(message)
            changed["payload"][k1] = copy.deepcopy(v1)
            changed["payload"][k2] = copy.deepcopy(v2)
            yield changed


def compare(validator: MessageValidator, name: str, message: Dict[str, Any]) -> Tuple[int, int]:
    """Check the compiled verdict of type ``name`` against Cerberus'; return (accepted,
    refused) counts."""
    kind = validator._types[name]
    assert kind.accepts is not None, "the schema should compile"
    document = json.loads(json.dumps(message))  # exactly what a parsed body holds
    expected = kind.validator.validate(document)
    got = kind.accepts(document)
    assert got == expected, (message, kind.validator.errors)
    return (1, 0) if got else (0, 1)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_compiled_checks_agree_with_cerberus_on_the_bundled_schemas(kind: str) -> None:
    validator = MessageValidator()
    totals = [0, 0]
    for message in variants(VALID[kind]):
        accepted, refused = compare(validator, kind, message)
        totals[0] += accepted
        totals[1] += refused
    # Both verdicts were exercised, many times.
    assert totals[0] >= 10 and totals[1] >= 100, totals


@pytest.mark.parametrize("message", [COMMENT, NOTE], ids=["rules", "allow-unknown"])
def test_compiled_checks_agree_with_cerberus_on_host_schemas(message: Dict[str, Any]) -> None:
    validator = MessageValidator(EXTRA)
    totals = [0, 0]
    for variant in variants(message):
        accepted, refused = compare(validator, message["type"], variant)
        totals[0] += accepted
        totals[1] += refused
    assert totals[0] >= 10 and totals[1] >= 10, totals


@pytest.mark.parametrize(
    "rules",
    [
        {"type": "integer", "min": 1},
        {"type": "string", "coerce": "upper"},
        {"type": "string", "default": "x"},
        {"anyof": [{"type": "string"}, {"type": "integer"}]},
        {"type": "list", "schema": {"type": "string"}},
        {"schema": {"a": {"type": "string"}}},  # no type: Cerberus checks a list item by item
        {"type": "dict", "valuesrules": {"type": "string"}},
        {"type": "dict", "schema": {"a": {"type": "string"}}, "allow_unknown": {"type": "string"}},
        {"type": "string", "check_with": "something_else"},
        {"type": "custom_type"},
    ],
    ids=repr,
)
def test_rules_it_does_not_implement_leave_the_decision_to_cerberus(rules: Dict[str, Any]) -> None:
    assert compile_mapping({"field": rules}, False, False, {}) is None
    assert compile_mapping({"field": {"type": "string"}}, False, False, {}) is not None


def test_a_host_type_with_other_rules_is_validated_by_cerberus_alone() -> None:
    extra = {
        "messages": {
            "SCORE": {
                "destinations": ["/topic/board/{boardId}"],
                "fields": {"payload": {"schema": {"points": {"type": "integer", "min": 0}}}},
            }
        }
    }
    validator = MessageValidator(extra)
    assert validator._types["SCORE"].accepts is None
    good = {"type": "SCORE", "timestamp": TS, "payload": {"points": 3}}
    assert validator.validate(json.dumps(good), "/topic/board/b1", "alice") == good
    with pytest.raises(Exception) as caught:
        validator.validate(json.dumps({**good, "payload": {"points": -1}}), "/topic/board/b1", "alice")
    assert list(caught.value.details["errors"]) == ["payload.points"]  # type: ignore[attr-defined]


# -- host schemas, rule by rule -----------------------------------------------------


def host_validator(fields: Dict[str, Any], vocabularies: Optional[Dict[str, Any]] = None) -> MessageValidator:
    """The validator of a host app that adds the type ``HOST_NOTE``, whose payload has ``fields``."""
    extra: Dict[str, Any] = {
        "messages": {
            "HOST_NOTE": {"destinations": ["/topic/board/{boardId}"], "fields": {"payload": {"schema": fields}}}
        }
    }
    if vocabularies is not None:
        extra["vocabularies"] = vocabularies
    return MessageValidator(extra)


def errors_for(validator: MessageValidator, payload: Dict[str, Any], **fields: Any) -> Dict[str, List[str]]:
    """The errors ``validator`` reports for a ``HOST_NOTE`` of ``payload`` (and top-level ``fields``),
    ``{}`` when it accepts it; a compiled check must first give Cerberus' verdict."""
    message = {"type": "HOST_NOTE", "timestamp": TS, "payload": payload, **fields}
    kind = validator._types["HOST_NOTE"]
    if kind.accepts is not None:
        document = json.loads(json.dumps(message))
        assert kind.accepts(document) == kind.validator.validate(document), kind.validator.errors
    try:
        assert validator.validate(json.dumps(message), "/topic/board/b1", "alice") == message
    except Rejection as refused:
        errors: Dict[str, List[str]] = refused.details["errors"]
        return errors
    return {}


def test_a_host_allowed_list_of_integers_accepts_its_values_and_refuses_others() -> None:
    validator = host_validator({"level": {"type": "integer", "allowed": [1, 2]}})
    assert validator._types["HOST_NOTE"].accepts is not None
    assert errors_for(validator, {"level": 1}) == {}
    assert errors_for(validator, {"level": 3}) == {"payload.level": ["unallowed value 3"]}


def test_a_host_maxlength_counts_the_items_of_a_list() -> None:
    validator = host_validator({"items": {"type": "list", "maxlength": 2}})
    assert validator._types["HOST_NOTE"].accepts is not None
    assert errors_for(validator, {"items": [1]}) == {}
    assert errors_for(validator, {"items": [1, 2, 3]}) == {"payload.items": ["max length is 2"]}


def test_a_host_check_with_given_as_a_list_is_left_to_cerberus() -> None:
    validator = host_validator({"at": {"type": "string", "check_with": ["iso8601"]}})
    assert validator._types["HOST_NOTE"].accepts is None
    assert errors_for(validator, {"at": TS}) == {}
    assert errors_for(validator, {"at": "2023-05-15"}) == {
        "payload.at": ["must be an ISO-8601 date-time with seconds and a zone, e.g. 2023-05-15T10:30:45Z"]
    }


def test_empty_allowed_still_holds_an_empty_string_to_allowed_per() -> None:
    # Cerberus' empty drops only its own rules for "", not ours (as for allowed_in, `mood` above).
    validator = host_validator(
        {
            "kind": {"type": "string"},
            "status": {"type": "string", "empty": True, "allowed_per": {"vocabulary": "statuses", "field": "kind"}},
        },
        {"statuses": {"task": ["TODO", "DONE"]}},
    )
    assert validator._types["HOST_NOTE"].accepts is not None
    assert errors_for(validator, {"kind": "task", "status": "TODO"}) == {}
    assert errors_for(validator, {"status": ""}) == {}  # no kind: allowed_per stays silent
    assert errors_for(validator, {"kind": "task", "status": ""}) == {
        "payload.status": ["unallowed value  for kind task; allowed: TODO, DONE"]
    }


def test_empty_allowed_still_holds_an_empty_dict_to_its_schema() -> None:
    validator = host_validator(
        {"data": {"type": "dict", "empty": True, "schema": {"a": {"type": "string", "required": True}}}}
    )
    assert validator._types["HOST_NOTE"].accepts is not None
    assert errors_for(validator, {"data": {"a": "x"}}) == {}
    assert errors_for(validator, {"data": {}}) == {"payload.data.a": ["required field"]}


def test_strip_unknown_walks_the_schema_of_a_field_without_a_type() -> None:
    # A message type refuses such a field at start-up (validation._schema_problem); the
    # function itself still walks it, as Cerberus does for a mapping value.
    schema = {"f": {"schema": {"a": {"type": "string"}}}}
    stripped = strip_unknown({"f": {"a": "x", "b": 1}}, schema, False, 20)
    assert stripped == ({"f": {"a": "x"}}, {"f.b": ["unknown field"]})
    assert strip_unknown({"f": ["x"]}, schema, False, 20) == ({"f": ["x"]}, {})


def test_a_dict_sent_for_a_list_with_a_schema_is_reported_by_its_type_alone() -> None:
    # The list's schema describes its items: the dict's keys are no fields of it.
    validator = host_validator({"tags": {"type": "list", "schema": {"type": "string"}}})
    assert errors_for(validator, {"tags": ["a"]}) == {}
    assert errors_for(validator, {"tags": {"a": 1}}) == {"payload.tags": ["must be of list type"]}


def test_an_unknown_field_two_levels_down_is_reported_under_its_full_path() -> None:
    validator = host_validator(
        {"d": {"type": "dict", "schema": {"e": {"type": "dict", "schema": {"k": {"type": "string"}}}}}}
    )
    assert errors_for(validator, {"d": {"e": {"k": "v"}}}) == {}
    assert errors_for(validator, {"d": {"e": {"k": "v", "zz": 1}}}) == {"payload.d.e.zz": ["unknown field"]}


def test_the_unknown_fields_past_the_limit_are_counted_in_the_singular_and_the_plural() -> None:
    validator = host_validator({"k": {"type": "string"}})
    payload = {"f%d" % i: i for i in range(MAX_REPORTED_UNKNOWN + 1)}
    errors = errors_for(validator, payload, g0=0, g1=1)
    named = {"payload.f%d" % i: ["unknown field"] for i in range(MAX_REPORTED_UNKNOWN)}
    assert errors == {**named, "payload": ["1 more unknown field"], "body": ["2 more unknown fields"]}


# -- strip_unknown ---------------------------------------------------------------------

SCHEMA: Dict[str, Any] = {
    "type": {"type": "string"},
    "payload": {
        "type": "dict",
        "schema": {
            "kind": {"type": "string"},
            "status": {"type": "string", "allowed_per": {"vocabulary": "v", "field": "kind2"}},
            "open": {"type": "dict", "allow_unknown": True, "schema": {"a": {"type": "string"}}},
        },
    },
}


def test_strip_unknown_removes_and_reports_unknown_fields_at_every_level() -> None:
    document = {
        "type": "T",
        "color": "red",
        "payload": {"kind": "k", "size": 3, "open": {"a": "x", "b": 1}, "kind2": "k"},
    }
    stripped, errors = strip_unknown(document, SCHEMA, False, 20)
    assert stripped == {"type": "T", "payload": {"kind": "k", "open": {"a": "x", "b": 1}, "kind2": "k"}}
    assert errors == {"color": ["unknown field"], "payload.size": ["unknown field"]}
    assert document["color"] == "red" and document["payload"]["size"] == 3  # input untouched


def test_strip_unknown_names_at_most_limit_fields() -> None:
    document: Dict[str, Any] = {"type": "T", "payload": {"f%d" % i: i for i in range(1000)}}
    document.update({"g%d" % i: i for i in range(30)})
    stripped, errors = strip_unknown(document, SCHEMA, False, 20)
    assert stripped == {"type": "T", "payload": {}}
    named = [path for path, messages in errors.items() if messages == ["unknown field"]]
    assert len(named) == 20
    # Named in document order (the payload's first 20), the others counted per level.
    assert named == ["payload.f%d" % i for i in range(20)]
    assert errors["payload"] == ["980 more unknown fields"]
    assert errors["body"] == ["30 more unknown fields"]


def test_strip_unknown_leaves_levels_that_allow_unknown_fields_and_mistyped_values() -> None:
    document = {"type": "T", "x": 1, "payload": "not a dict"}
    assert strip_unknown(document, SCHEMA, True, 20) == (document, {})
    stripped, errors = strip_unknown(document, SCHEMA, False, 20)
    assert stripped == {"type": "T", "payload": "not a dict"} and list(errors) == ["x"]


@pytest.mark.parametrize(
    "value, valid",
    [
        ("2023-05-15T10:30:45Z", True),
        ("2024-02-29T23:59:59.123456789+05:30", True),
        ("2024-02-29T23:59:59.1234567890+05:30", False),  # a tenth fraction digit
        ("2024-02-29T23:59:59Z" + "x" * 60000, False),  # long: refused before the cache
        ("2023-02-29T00:00:00Z", False),
        ("2023-05-15T10:30:45+24:00", False),
        ("2023-05-15T10:30:45+23:60", False),
        ("2023-05-15T10:30:45", False),
        ("2023-05-15T10:30:45Z ", False),
    ],
)
def test_is_iso8601(value: str, valid: bool) -> None:
    assert is_iso8601(value) is valid


def test_bundled_schemas_compile() -> None:
    validator = MessageValidator()
    assert all(kind.accepts is not None for kind in validator._types.values())
    assert sorted(validator._types) == sorted(default_schemas()["messages"])
