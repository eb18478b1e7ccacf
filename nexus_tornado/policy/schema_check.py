"""Linear-time companions of the Cerberus message schemas.

Cerberus is the rule language of the message schemas (:mod:`.validation`) and stays the
authority on what is valid and on what an error says. Run on every SEND it is costly in
two ways: a few hundred microseconds for a small valid message (each call rebuilds and
re-checks its child schemas), and time superlinear in the number of errors it collects
(every error re-sorts the list so far: a body of 2,000 unknown fields took seconds).
This module keeps both off the IOLoop:

- :func:`compile_mapping` turns a schema into plain Python checks that answer only
  "valid or not", for the rules the bundled schemas use (``type``, ``required``,
  ``nullable``, ``empty``, ``minlength``/``maxlength``, ``allowed``, ``regex``,
  ``schema`` of a dict, ``allow_unknown``/``require_all`` as booleans, ``meta``, and our
  ``check_with`` ``iso8601``/``identifier``, ``allowed_in``, ``allowed_per``), each with
  Cerberus 1.3's semantics, including which rules a ``null`` or an empty value skips.
  A message it accepts is one Cerberus accepts (the tests compare the two over the whole
  validation table and generated variants of it); a message it refuses goes to Cerberus
  for the error report. A schema with any other rule compiles to ``None``: Cerberus
  then decides alone.
- :func:`strip_unknown` removes, in one pass, the fields no schema level knows, so
  Cerberus only ever sees a document of the schema's own fields; the unknown ones are
  reported here, at most ``limit`` by name.

Both cost time linear in the size of the document, once it is parsed.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections import abc
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from cerberus import Validator  # type: ignore[import-untyped]

from .destinations import is_valid_id

__all__ = [
    "MappingCheck",
    "compile_mapping",
    "is_iso8601",
    "strip_unknown",
]

#: ``check(document) -> bool``: True when Cerberus would accept ``document``.
MappingCheck = Callable[[Mapping[str, Any]], bool]
# ``check(value, containing document) -> bool`` for one field.
_FieldCheck = Callable[[Any, Mapping[str, Any]], bool]

#: RFC 3339 profile of ISO 8601: full date, ``T``, time with seconds, optional
#: fraction, and a zone (``Z`` or ``+hh:mm``/``-hh:mm``), so instants are unambiguous.
_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))"
)

#: The Python types ``json.loads`` produces; a value of another type takes the slow,
#: ``isinstance``-based type check.
_JSON_SAMPLES: Tuple[Any, ...] = ({}, [], "", 0, 0.0, True, None)

#: Rules :func:`compile_mapping` implements (any other makes it return ``None``).
_SUPPORTED_RULES = frozenset(
    {
        "type", "required", "nullable", "empty", "minlength", "maxlength", "allowed",
        "regex", "check_with", "allowed_in", "allowed_per", "schema", "allow_unknown",
        "require_all", "meta",
    }
)
#: ``check_with`` names that :func:`compile_mapping` knows (ours, in the validator).
_CHECKS: Dict[str, Callable[[str], bool]] = {}

# Rules that read other fields: a level holding one is never stripped (Cerberus
# would see a different document).
_CROSS_FIELD_RULES = ("dependencies", "excludes")


@functools.lru_cache(maxsize=1024)
def is_iso8601(value: str) -> bool:
    """An RFC 3339 date-time with seconds and a zone, naming a real instant.

    Cached: messages sent within the same second carry the same timestamp."""
    found = _ISO8601.fullmatch(value)
    if found is None:
        return False
    year, month, day, hour, minute, second, zone_h, zone_m = found.groups()
    try:
        datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return False
    return zone_h is None or (int(zone_h) <= 23 and int(zone_m) <= 59)


_CHECKS["iso8601"] = is_iso8601
_CHECKS["identifier"] = is_valid_id


def _type_check(names: Any) -> Optional[Callable[[Any], bool]]:
    """Cerberus' ``type`` rule for ``names`` (one or a list), or None if unknown."""
    types = (names,) if isinstance(names, str) else names
    if not isinstance(types, (list, tuple)) or not types:
        return None
    definitions = []
    for name in types:
        definition = Validator.types_mapping.get(name)
        if definition is None:
            return None  # a custom type of a subclass: Cerberus' business
        definitions.append(definition)

    def slow(value: Any) -> bool:
        return any(
            isinstance(value, d.included_types) and not isinstance(value, d.excluded_types)
            for d in definitions
        )

    # Values parsed from JSON have exact types: decide those with one set lookup.
    accepted: FrozenSet[type] = frozenset(type(s) for s in _JSON_SAMPLES if slow(s))
    known: FrozenSet[type] = frozenset(type(s) for s in _JSON_SAMPLES)

    def check(value: Any) -> bool:
        kind = type(value)
        if kind in known:
            return kind in accepted
        return slow(value)

    return check


_ITERABLE_JSON = frozenset({dict, list, str})
_SCALAR_JSON = frozenset({int, float, bool, type(None)})


def _is_iterable(value: Any) -> bool:
    """``isinstance(value, Iterable)`` (Cerberus' test), quick for parsed JSON."""
    kind = type(value)
    if kind in _ITERABLE_JSON:
        return True
    if kind in _SCALAR_JSON:
        return False
    return isinstance(value, abc.Iterable)


def _is_sized(value: Any) -> bool:
    """``isinstance(value, Sized)`` (Cerberus' test for ``empty``), quick for parsed JSON."""
    kind = type(value)
    if kind in _ITERABLE_JSON:
        return True
    if kind in _SCALAR_JSON:
        return False
    return isinstance(value, abc.Sized)


def _compile_field(
    rules: Mapping[str, Any],
    allow_unknown: bool,
    require_all: bool,
    vocabularies: Mapping[str, Any],
) -> Optional[_FieldCheck]:
    """One field's rules as a check, with Cerberus' order: ``nullable``, ``type``,
    ``empty`` (which drops the length, ``allowed``, ``regex`` and ``check_with`` rules
    for an empty value), then the rest."""
    if not isinstance(rules, Mapping) or not set(rules) <= _SUPPORTED_RULES:
        return None
    nullable = bool(rules.get("nullable", False))
    type_ok: Optional[Callable[[Any], bool]] = None
    if "type" in rules and rules["type"]:
        type_ok = _type_check(rules["type"])
        if type_ok is None:
            return None
    has_empty = "empty" in rules
    empty_ok = bool(rules.get("empty", True))
    # (check, dropped for an empty value)
    checks: List[Tuple[Callable[[Any, Mapping[str, Any]], bool], bool]] = []

    if "maxlength" in rules:
        most = rules["maxlength"]
        checks.append((lambda v, d: not (_is_iterable(v) and len(v) > most), True))
    if "minlength" in rules:
        least = rules["minlength"]
        checks.append((lambda v, d: not (_is_iterable(v) and len(v) < least), True))
    if "allowed" in rules:
        allowed = rules["allowed"]

        def allowed_check(v: Any, d: Mapping[str, Any]) -> bool:
            if _is_iterable(v) and not isinstance(v, str):
                return all(x in allowed for x in v)
            return v in allowed

        checks.append((allowed_check, True))
    if "regex" in rules:
        if not isinstance(rules["regex"], str):
            return None
        pattern = re.compile(rules["regex"])
        checks.append((lambda v, d: not isinstance(v, str) or pattern.fullmatch(v) is not None, True))
    if "check_with" in rules:
        predicate = _CHECKS.get(rules["check_with"]) if isinstance(rules["check_with"], str) else None
        if predicate is None:
            return None
        checks.append((lambda v, d: not isinstance(v, str) or predicate(v), True))
    if "allowed_in" in rules:
        vocabulary = vocabularies.get(rules["allowed_in"])
        if vocabulary is None:
            return None
        checks.append((lambda v, d: not isinstance(v, str) or v in vocabulary, False))
    if "allowed_per" in rules:
        constraint = rules["allowed_per"]
        if not isinstance(constraint, Mapping):
            return None
        by_key = vocabularies.get(str(constraint.get("vocabulary")))
        other = str(constraint.get("field"))
        if not isinstance(by_key, Mapping):
            return None

        def allowed_per(v: Any, d: Mapping[str, Any]) -> bool:
            key = d.get(other)
            if not isinstance(v, str) or not isinstance(key, str) or key not in by_key:
                return True
            return v in by_key[key]

        checks.append((allowed_per, False))
    if "schema" in rules:
        # Only for a dict: a list value would be checked item by item (another shape).
        if rules.get("type") != "dict" or not isinstance(rules["schema"], Mapping):
            return None
        child_unknown = rules.get("allow_unknown", allow_unknown)
        child_require_all = rules.get("require_all", require_all)
        if not isinstance(child_unknown, bool) or not isinstance(child_require_all, bool):
            return None
        nested = compile_mapping(rules["schema"], child_unknown, child_require_all, vocabularies)
        if nested is None:
            return None
        # The type check before it let only mappings through (or a null, handled first).
        checks.append((lambda v, d: nested(v), False))

    always = tuple(c for c, _ in checks)
    unless_empty = tuple(c for c, dropped in checks if not dropped)

    def check(value: Any, document: Mapping[str, Any]) -> bool:
        if value is None:
            return nullable  # the remaining rules pass a null (ours only read strings)
        if type_ok is not None and not type_ok(value):
            return False
        if has_empty and _is_sized(value) and len(value) == 0:
            if not empty_ok:
                return False
            return all(c(value, document) for c in unless_empty)
        for c in always:
            if not c(value, document):
                return False
        return True

    return check


def compile_mapping(
    schema: Mapping[Any, Any],
    allow_unknown: Any,
    require_all: Any,
    vocabularies: Mapping[str, Any],
) -> Optional[MappingCheck]:
    """``schema`` (a Cerberus schema of a mapping) as a check, or ``None`` when it uses a
    rule or option this module does not implement."""
    if not isinstance(allow_unknown, bool) or not isinstance(require_all, bool):
        return None
    fields: Dict[Any, _FieldCheck] = {}
    required: List[Any] = []
    for name, rules in schema.items():
        check = _compile_field(rules, allow_unknown, require_all, vocabularies)
        if check is None:
            return None
        fields[name] = check
        if rules.get("required", require_all) is True:
            required.append(name)
    required_fields = tuple(required)

    def check_mapping(document: Mapping[str, Any]) -> bool:
        for name in required_fields:
            if name not in document:
                return False
        get = fields.get
        for name, value in document.items():
            field = get(name)
            if field is None:
                if not allow_unknown:
                    return False
            elif not field(value, document):
                return False
        return True

    return check_mapping


def strip_unknown(
    document: Mapping[str, Any],
    schema: Mapping[Any, Any],
    allow_unknown: Any,
    limit: int,
) -> Tuple[Dict[str, Any], Dict[str, List[str]]]:
    """``document`` without the fields its schema does not know, and their errors.

    Walks the levels Cerberus would walk (a field's ``schema`` when its value is a
    mapping of an accepted type) where unknown fields are not allowed, in one pass.
    Returns a copy of the levels that changed and ``{"payload.color": ["unknown field"]}``
    for at most ``limit`` fields; the rest are counted under their level's path
    (``"body"`` for the top level): ``{"payload": ["1990 more unknown fields"]}``.
    """
    errors: Dict[str, List[str]] = {}
    hidden: Dict[str, int] = {}
    reported = [0]

    def walk(level: Mapping[str, Any], rules_of: Mapping[Any, Any], unknown_ok: Any, path: str) -> Dict[str, Any]:
        keep: Dict[str, Any] = {}
        guarded = unknown_ok is not False or any(
            isinstance(r, Mapping) and any(k in r for k in _CROSS_FIELD_RULES) for r in rules_of.values()
        )
        referenced = {
            r["allowed_per"].get("field")
            for r in rules_of.values()
            if isinstance(r, Mapping) and isinstance(r.get("allowed_per"), Mapping)
        }
        for name, value in level.items():
            rules = rules_of.get(name)
            if rules is None:
                if guarded or name in referenced:
                    keep[name] = value
                    continue
                if reported[0] < limit:
                    reported[0] += 1
                    errors[f"{path}.{name}" if path else str(name)] = ["unknown field"]
                else:
                    hidden[path or "body"] = hidden.get(path or "body", 0) + 1
                continue
            if (
                isinstance(value, Mapping)
                and isinstance(rules, Mapping)
                and isinstance(rules.get("schema"), Mapping)
            ):
                type_ok = _type_check(rules["type"]) if rules.get("type") else None
                if type_ok is None or type_ok(value):
                    value = walk(
                        value,
                        rules["schema"],
                        rules.get("allow_unknown", unknown_ok),
                        f"{path}.{name}" if path else str(name),
                    )
            keep[name] = value
        return keep

    stripped = walk(document, schema, allow_unknown, "")
    for path, count in hidden.items():
        errors.setdefault(path, []).append(f"{count} more unknown field{'s' if count > 1 else ''}")
    return stripped, errors
