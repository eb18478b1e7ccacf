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
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

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


#: The longest string :data:`_ISO8601` can match: ``2023-05-15T10:30:45.123456789+05:30``.
_ISO8601_MAX = 35


def is_iso8601(value: str) -> bool:
    """An RFC 3339 date-time with seconds and a zone, naming a real instant."""
    return len(value) <= _ISO8601_MAX and _is_iso8601(value)


@functools.lru_cache(maxsize=1024)
def _is_iso8601(value: str) -> bool:
    """:func:`is_iso8601` for strings short enough to match; cached (messages sent
    within the same second carry the same timestamp, and no entry is long)."""
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

    def check(value: Any) -> bool:
        return any(
            isinstance(value, d.included_types) and not isinstance(value, d.excluded_types)
            for d in definitions
        )

    return check


_ITERABLE_JSON = frozenset({dict, list, str})
_SCALAR_JSON = frozenset({int, float, bool, type(None)})
_JSON_TYPES = _ITERABLE_JSON | _SCALAR_JSON


def _abc_test(abc_class: type) -> Callable[[Any], bool]:
    """``isinstance(value, abc_class)``, quick for parsed JSON: its types answer from a
    set, anything else asks the ABC (Cerberus' own test)."""

    def test(value: Any) -> bool:
        kind = type(value)
        if kind in _ITERABLE_JSON:
            return True
        if kind in _SCALAR_JSON:
            return False
        return isinstance(value, abc_class)
    return test


#: Cerberus' tests for a container (``allowed``, ``schema``) and for ``empty``.
_is_iterable = _abc_test(abc.Iterable)
_is_sized = _abc_test(abc.Sized)


def _allowed(value: Any, allowed: Any) -> bool:
    """Cerberus' ``allowed``: every item of a container, or the value itself."""
    if _is_iterable(value) and not isinstance(value, str):
        return all(x in allowed for x in value)
    return value in allowed


class _Source:
    """The lines of a generated check function and the objects they name.

    Values from the schema (field names, limits, vocabularies, patterns) never become
    source text: each is bound to a generated name (``K3``) in the function's globals.
    """

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.names: Dict[str, Any] = {
            "MISSING": _MISSING,
            "JSON_TYPES": _JSON_TYPES,
            "is_iterable": _is_iterable,
            "is_sized": _is_sized,
            "allowed": _allowed,
        }

    def bind(self, value: Any) -> str:
        name = "K%d" % len(self.names)
        self.names[name] = value
        return name

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


_MISSING = object()


def _field_lines(
    out: _Source,
    depth: int,
    rules: Mapping[str, Any],
    allow_unknown: bool,
    require_all: bool,
    vocabularies: Mapping[str, Any],
) -> bool:
    """Append the checks of one field's value ``v`` (not null, present) to ``out``,
    with Cerberus' order: ``type`` (which ends the checks when it fails), ``empty``
    (which drops the length, ``allowed``, ``regex`` and ``check_with`` rules for an
    empty value), then the rest. False when a rule is not implemented."""
    if "type" in rules and rules["type"]:
        slow = _type_check(rules["type"])
        if slow is None:
            return False
        # Values parsed from JSON have exact types: one set lookup decides those.
        accepted = frozenset(type(s) for s in _JSON_SAMPLES if slow(s))
        out.add(depth, "t = type(v)")
        out.add(depth, "if (t not in %s) if t in JSON_TYPES else not %s(v):" % (out.bind(accepted), out.bind(slow)))
        out.add(depth + 1, "return False")
    # (line of a check that fails when true, dropped for an empty value)
    checks: List[Tuple[str, bool]] = []
    # (A string, the usual value, takes the short way in each.)
    if "maxlength" in rules:
        most = out.bind(rules["maxlength"])
        checks.append(("(len(v) > %s) if type(v) is str else (is_iterable(v) and len(v) > %s)" % (most, most), True))
    if "minlength" in rules:
        least = out.bind(rules["minlength"])
        checks.append(("(len(v) < %s) if type(v) is str else (is_iterable(v) and len(v) < %s)" % (least, least), True))
    if "allowed" in rules:
        values = out.bind(rules["allowed"])
        checks.append(("(v not in %s) if type(v) is str else not allowed(v, %s)" % (values, values), True))
    if "regex" in rules:
        if not isinstance(rules["regex"], str):
            return False
        match = out.bind(re.compile(rules["regex"]).fullmatch)
        checks.append(("isinstance(v, str) and %s(v) is None" % match, True))
    if "check_with" in rules:
        predicate = _CHECKS.get(rules["check_with"]) if isinstance(rules["check_with"], str) else None
        if predicate is None:
            return False
        checks.append(("isinstance(v, str) and not %s(v)" % out.bind(predicate), True))
    if "allowed_in" in rules:
        vocabulary = vocabularies.get(rules["allowed_in"])
        if vocabulary is None:
            return False
        checks.append(("isinstance(v, str) and v not in %s" % out.bind(vocabulary), False))
    if "allowed_per" in rules:
        constraint = rules["allowed_per"]
        if not isinstance(constraint, Mapping):
            return False
        by_key = vocabularies.get(str(constraint.get("vocabulary")))
        if not isinstance(by_key, Mapping):
            return False
        # The other field's value picks the list; missing or unknown, it stays silent.
        key = "d.get(%s)" % out.bind(str(constraint.get("field")))
        vocabulary = out.bind(by_key)
        checks.append((
            "isinstance(v, str) and isinstance(%s, str) and %s in %s and v not in %s[%s]"
            % (key, key, vocabulary, vocabulary, key),
            False,
        ))
    if "schema" in rules:
        # Only for a dict: a list value would be checked item by item (another shape).
        if rules.get("type") != "dict" or not isinstance(rules["schema"], Mapping):
            return False
        child_unknown = rules.get("allow_unknown", allow_unknown)
        child_require_all = rules.get("require_all", require_all)
        nested = compile_mapping(rules["schema"], child_unknown, child_require_all, vocabularies)
        if nested is None:
            return False
        # The type check before it let only mappings through (a null never gets here).
        checks.append(("not %s(v)" % out.bind(nested), False))

    if "empty" in rules:
        out.add(depth, "if is_sized(v) and len(v) == 0:")
        if not rules["empty"]:
            out.add(depth + 1, "return False")
        else:
            kept = [line for line, dropped in checks if not dropped]
            for line in kept:
                out.add(depth + 1, "if %s:" % line)
                out.add(depth + 2, "return False")
            if not kept:
                out.add(depth + 1, "pass")
        out.add(depth, "else:")
        depth += 1
    for line, _ in checks:
        out.add(depth, "if %s:" % line)
        out.add(depth + 1, "return False")
    out.add(depth, "pass")
    return True


def compile_mapping(
    schema: Mapping[Any, Any],
    allow_unknown: Any,
    require_all: Any,
    vocabularies: Mapping[str, Any],
) -> Optional[MappingCheck]:
    """``schema`` (a Cerberus schema of a mapping) as a check, or ``None`` when it uses a
    rule or option this module does not implement.

    The check is one generated function (no call per field or rule): unknown fields
    first, then each field of the schema in turn, present or missing."""
    if not isinstance(allow_unknown, bool) or not isinstance(require_all, bool):
        return None
    out = _Source()
    out.add(0, "def check(d):")
    if not allow_unknown:
        out.add(1, "if not %s.issuperset(d):" % out.bind(frozenset(schema)))
        out.add(2, "return False")
    for name, rules in schema.items():
        if not isinstance(rules, Mapping) or not set(rules) <= _SUPPORTED_RULES:
            return None
        out.add(1, "v = d.get(%s, MISSING)" % out.bind(name))
        out.add(1, "if v is MISSING:")
        out.add(2, "return False" if rules.get("required", require_all) is True else "pass")
        out.add(1, "elif v is None:")
        # A null skips the other rules (ours only look at strings).
        out.add(2, "pass" if rules.get("nullable", False) else "return False")
        out.add(1, "else:")
        if not _field_lines(out, 2, rules, allow_unknown, require_all, vocabularies):
            return None
        out.add(2, "pass")
    out.add(1, "return True")
    namespace = dict(out.names)
    exec(compile("\n".join(out.lines), "<schema check>", "exec"), namespace)  # noqa: S102 - our own source
    check: MappingCheck = namespace["check"]
    return check


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
