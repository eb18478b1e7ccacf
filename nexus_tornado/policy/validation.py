"""SEND body validation: JSON envelope, per-type Cerberus schemas, business rules.

The schemas are data (``schemas.json`` in the ``nexus_tornado.config`` package, format
described in its ``$comment`` and in ``docs/security.md``); the host app may pass its own
document to add message types or override ours (:func:`load_schemas`). Every
Cerberus validator is built once, when :class:`MessageValidator` is constructed; a
schema that Cerberus refuses is a :class:`~nexus_tornado.errors.ConfigError` at start-up.

A body passes, in this order (the seed's validation workflow):

1. it is UTF-8 JSON whose top level is an object;
2. schema: ``type`` names a known message type, then that type's schema (envelope
   ``{"type", "timestamp", "senderId", "payload"}`` plus its payload rules);
3. business rules: the type may be sent to this destination; ``senderId``, when
   present, equals the authenticated user; every payload field named like a
   placeholder of the destination pattern (``chatId``, ``boardId``) equals that id.

Any failure raises ``Rejection(RejectionCode.INVALID_MESSAGE, text, details={"errors": {...}})``
where ``errors`` maps dotted field paths (``payload.content``, ``body``) to lists of
messages.

Cost: a body is parsed once; an object with a repeated key is refused (subscribers'
parsers may keep another of the values than ours did). A valid message is accepted by
checks compiled from its type's schema (:mod:`.schema_check`); only a refused one runs
Cerberus, for the error report, and then on a document stripped of the fields no
schema knows (reported here, at most :data:`MAX_REPORTED_UNKNOWN` by name) and with at
most :data:`MAX_ERRORS` errors collected. So no body costs more than time linear in
its size.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from cerberus import SchemaError, Validator  # type: ignore[import-untyped]

from ..errors import ConfigError, Rejection, RejectionCode
from .destinations import DestinationPattern, is_valid_id
from .schema_check import MappingCheck, compile_mapping, is_iso8601, strip_unknown

__all__ = [
    "MAX_ERRORS",
    "MAX_REPORTED_UNKNOWN",
    "MessageValidator",
    "SchemaSource",
    "default_schemas",
    "flatten_errors",
    "iso_timestamp",
    "load_schemas",
]

#: A schema document: a mapping, or the path of a JSON file holding one.
SchemaSource = Union[Mapping[str, Any], str, Path]

_SCHEMA_FILE = "schemas.json"
_TOP_LEVEL_KEYS = ("$comment", "vocabularies", "envelope", "messages")

#: Unknown fields named in one refusal; more are counted, not named.
MAX_REPORTED_UNKNOWN = 20
#: Errors Cerberus may collect for one body before it is stopped (it re-sorts its error
#: list on every error, so the count must stay small); the refusal then says so.
MAX_ERRORS = 50



def iso_timestamp() -> str:
    """The current UTC time as an envelope's ``timestamp`` (which ``schema_check.is_iso8601``
    accepts): ``2026-11-25T10:00:00.123456Z``. Server-made envelopes (presence,
    notifications) carry it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The shape of a schema document, checked (with Cerberus) before any of it is used.
_DOCUMENT_SHAPE: Dict[str, Any] = {
    "$comment": {"type": ["string", "list"]},
    "vocabularies": {
        "type": "dict",
        "keysrules": {"type": "string"},
        "valuesrules": {
            "anyof": [
                {"type": "list", "schema": {"type": "string"}},
                {
                    "type": "dict",
                    "keysrules": {"type": "string"},
                    "valuesrules": {"type": "list", "schema": {"type": "string"}},
                },
            ]
        },
    },
    "envelope": {"type": "dict", "keysrules": {"type": "string"}, "valuesrules": {"type": "dict"}},
    "messages": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": "[A-Z][A-Z0-9_]*"},
        "valuesrules": {
            "type": "dict",
            "nullable": True,
            "schema": {
                "destinations": {"type": "list", "required": True, "schema": {"type": "string"}},
                "fields": {
                    "type": "dict",
                    "keysrules": {"type": "string"},
                    "valuesrules": {"type": "dict"},
                },
                "allowUnknown": {"type": "boolean"},
                "senders": {"type": "list", "schema": {"type": "string"}},
            },
        },
    },
}


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> "re.Pattern[str]":
    return re.compile(pattern)


class _TooManyErrors(Exception):
    """Raised inside Cerberus once a (sub-)document has :data:`MAX_ERRORS` errors."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class _SchemaValidator(Validator):
    """Cerberus with our rules; ``vocabularies`` arrives as a validator config keyword."""

    def _error(self, *args: Any) -> None:
        # Every error, of this document or a child's, is added through the one-argument
        # form; stop before the list (sorted on each addition) grows large.
        if len(args) == 1 and len(self._errors) + len(args[0]) > MAX_ERRORS:
            raise _TooManyErrors(".".join(str(p) for p in self.document_path) or "body")
        super()._error(*args)

    @property
    def _vocabularies(self) -> Mapping[str, Any]:
        vocabularies: Mapping[str, Any] = self._config.get("vocabularies", {})
        return vocabularies

    def _validate_regex(self, pattern: str, field: str, value: Any) -> None:
        """Cerberus' ``regex``, but matching the whole string: its own appends ``$``,
        which lets a trailing newline through.

        The rule's arguments are validated against this schema:
        {'type': 'string'}
        """
        if isinstance(value, str) and _compiled(pattern).fullmatch(value) is None:
            self._error(field, f"value does not match regex '{pattern}'")

    def _validate_allowed_in(self, vocabulary: str, field: str, value: Any) -> None:
        """The value is in the named vocabulary (a list), or a key of it (a mapping).

        The rule's arguments are validated against this schema:
        {'type': 'string'}
        """
        allowed = self._vocabularies[vocabulary]
        if isinstance(value, str) and value not in allowed:
            self._error(field, f"unallowed value {value}; allowed: {', '.join(allowed)}")

    def _validate_allowed_per(self, constraint: Mapping[str, str], field: str, value: Any) -> None:
        """The value is in ``vocabulary[document[field]]`` (e.g. a status per entityType).

        When the other field is missing or not a key of the vocabulary, that field's own
        rules report it and this one stays silent.

        The rule's arguments are validated against this schema:
        {'type': 'dict', 'schema': {
            'vocabulary': {'type': 'string', 'required': True},
            'field': {'type': 'string', 'required': True}}}
        """
        by_key = self._vocabularies[constraint["vocabulary"]]
        key = self.document.get(constraint["field"])
        if not isinstance(value, str) or not isinstance(key, str) or key not in by_key:
            return
        allowed = by_key[key]
        if value not in allowed:
            self._error(
                field,
                f"unallowed value {value} for {constraint['field']} {key}; "
                f"allowed: {', '.join(allowed)}",
            )

    def _check_with_iso8601(self, field: str, value: Any) -> None:
        if isinstance(value, str) and not is_iso8601(value):
            self._error(field, "must be an ISO-8601 date-time with seconds and a zone, e.g. 2023-05-15T10:30:45Z")

    def _check_with_identifier(self, field: str, value: Any) -> None:
        if isinstance(value, str) and not is_valid_id(value):
            self._error(
                field, "must be 1-128 characters of letters, digits, '_', '-', '.', '@' (not starting with '.')"
            )


def flatten_errors(tree: Mapping[Any, Any], prefix: str = "") -> Dict[str, List[str]]:
    """Turn Cerberus' nested ``errors`` into ``{"payload.content": ["max length is 2000"]}``."""
    flat: Dict[str, List[str]] = {}
    for field, items in tree.items():
        path = f"{prefix}.{field}" if prefix else str(field)
        for item in items:
            if isinstance(item, Mapping):
                for sub_path, messages in flatten_errors(item, path).items():
                    flat.setdefault(sub_path, []).extend(messages)
            else:
                flat.setdefault(path, []).append(str(item))
    return flat


def _read_document(source: SchemaSource) -> Dict[str, Any]:
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    try:
        with open(source, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read message schemas from {source}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"message schemas in {source} must be a JSON object")
    return document


def default_schemas() -> Dict[str, Any]:
    """The bundled ``schemas.json`` (package ``nexus_tornado.config``), as a fresh dict.

    In a source checkout that is not installed, ``config/`` sits next to the package
    rather than inside it; the file is then read from there.
    """
    try:
        text = resources.files("nexus_tornado.config").joinpath(_SCHEMA_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        checkout = Path(__file__).resolve().parents[2] / "config" / _SCHEMA_FILE
        text = checkout.read_text("utf-8")
    document: Dict[str, Any] = json.loads(text)
    return document


def _check_shape(document: Mapping[str, Any], origin: str) -> None:
    unknown = sorted(set(document) - set(_TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in message schemas ({origin})")
    checker = Validator(_DOCUMENT_SHAPE)
    if not checker.validate(dict(document)):
        raise ConfigError(f"malformed message schemas ({origin}): {flatten_errors(checker.errors)}")


def load_schemas(extra: Optional[SchemaSource] = None, *, base: Optional[SchemaSource] = None) -> Dict[str, Any]:
    """The schema document in force: ``base`` (default: the bundled file) with ``extra``
    merged over it.

    Merging, per top-level key of ``extra``: ``vocabularies`` replace ours by name;
    ``envelope`` rules are merged into ours field by field, rule by rule; ``messages``
    replace ours by type name (``null`` removes a type), so a new type brings its full
    entry (``destinations``, ``fields``, optional ``allowUnknown``).
    """
    document = default_schemas() if base is None else _read_document(base)
    _check_shape(document, "base")
    if extra is None:
        return document
    overrides = _read_document(extra)
    _check_shape(overrides, "extra")
    vocabularies = document.setdefault("vocabularies", {})
    vocabularies.update(overrides.get("vocabularies", {}))
    envelope = document.setdefault("envelope", {})
    for field, rules in overrides.get("envelope", {}).items():
        envelope[field] = {**envelope.get(field, {}), **rules}
    messages = document.setdefault("messages", {})
    for name, entry in overrides.get("messages", {}).items():
        if entry is None:
            messages.pop(name, None)
        else:
            messages[name] = entry
    return document


def _vocabulary_references(schema: Any) -> List[Tuple[str, str]]:
    """Every ``(rule, vocabulary)`` an ``allowed_in``/``allowed_per`` rule names."""
    found: List[Tuple[str, str]] = []
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key == "allowed_in" and isinstance(value, str):
                found.append((key, value))
            elif key == "allowed_per" and isinstance(value, Mapping):
                found.append((key, str(value.get("vocabulary"))))
            else:
                found.extend(_vocabulary_references(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(_vocabulary_references(item))
    return found


#: Rules whose value is itself a set of rules, or a list of such sets.
_NESTED_RULES = ("keysrules", "valuesrules")
_NESTED_RULE_LISTS = ("allof", "anyof", "noneof", "oneof", "items")


def _schema_problem(rules: Any, path: str) -> Optional[str]:
    """Why a field's rules would make Cerberus fail on some input rather than refuse it
    (``None``: they would not). Cerberus reads a ``schema`` as the fields of a dict or
    as the rules of each item of a list, by the value it meets: a field that may be
    either, or whose ``schema`` has the other shape, raises on the value it did not
    expect."""
    if not isinstance(rules, Mapping):
        return None
    # Rule sets inside these rules, with the path they apply to.
    inside: List[Tuple[Any, str]] = [(rules.get(name), path) for name in _NESTED_RULES]
    for name in _NESTED_RULE_LISTS:
        value = rules.get(name)
        inside.extend((item, path) for item in (value if isinstance(value, list) else ()))
    if "schema" in rules:
        declared = rules.get("type")
        types = {declared} if isinstance(declared, str) else set(declared or ())
        inner = rules["schema"]
        if ("dict" in types) == ("list" in types):
            return f"{path}: a schema needs type dict (the fields) or list (the rules of each item)"
        if "dict" in types:
            if not isinstance(inner, Mapping) or not all(isinstance(r, Mapping) for r in inner.values()):
                return f"{path}: the schema of a dict maps each field to its rules"
            inside.extend((field_rules, f"{path}.{field}") for field, field_rules in inner.items())
        else:
            unknown = sorted(set(inner) - set(_SchemaValidator.rules)) if isinstance(inner, Mapping) else []
            if not isinstance(inner, Mapping) or unknown:
                return f"{path}: the schema of a list holds the rules of its items, not fields ({', '.join(unknown)})"
            inside.append((inner, f"{path}.*"))
    for inner_rules, inner_path in inside:
        problem = _schema_problem(inner_rules, inner_path)
        if problem:
            return problem
    return None


class _MessageType:
    """One message type, ready to use: its validator, its compiled accept check (``None``
    when its schema uses rules :mod:`.schema_check` does not implement), its destination
    patterns and the roles that may send it (``None``: whoever the destination's ACL
    lets send)."""

    def __init__(
        self,
        name: str,
        validator: _SchemaValidator,
        destinations: List[DestinationPattern],
        vocabularies: Mapping[str, Any],
        senders: Optional[Tuple[str, ...]] = None,
    ) -> None:
        self.name = name
        self.validator = validator
        self.destinations = destinations
        self.senders = senders
        self.accepts: Optional[MappingCheck] = compile_mapping(
            validator.schema, validator.allow_unknown, validator.require_all, vocabularies
        )

    def errors(self, message: Mapping[str, Any]) -> Dict[str, List[str]]:
        """Cerberus' report on ``message`` (empty when valid), in time linear in its size."""
        if self.accepts is not None and self.accepts(message):
            return {}
        validator = self.validator
        document, errors = strip_unknown(message, validator.schema, validator.allow_unknown, MAX_REPORTED_UNKNOWN)
        try:
            if not validator.validate(document):
                for path, messages in flatten_errors(validator.errors).items():
                    errors.setdefault(path, []).extend(messages)
        except _TooManyErrors as exc:
            errors.setdefault(exc.path, []).append(f"more than {MAX_ERRORS} errors")
        return errors

    def match_destination(self, destination: str) -> Optional[Dict[str, str]]:
        for pattern in self.destinations:
            ids = pattern.match(destination)
            if ids is not None:
                return ids
        return None


class MessageValidator:
    """Validates SEND bodies against a schema document; all validators built here, once.

    ``schemas`` is the document in force (default: :func:`load_schemas` of the bundled
    file merged with ``extra_schemas``).
    """

    def __init__(
        self,
        extra_schemas: Optional[SchemaSource] = None,
        *,
        schemas: Optional[SchemaSource] = None,
    ) -> None:
        document = load_schemas(extra_schemas, base=schemas)
        self._vocabularies: Dict[str, Any] = document.get("vocabularies", {})
        self._envelope: Dict[str, Any] = document.get("envelope", {})
        self._types: Dict[str, _MessageType] = {}
        for name, entry in document.get("messages", {}).items():
            self._types[name] = self._build_type(name, entry, self._envelope, self._vocabularies)
        self._dispatcher = self._build_dispatcher()

    def _build_dispatcher(self) -> _SchemaValidator:
        # Picks the type first, so each type's schema can give precise errors.
        return _SchemaValidator(
            {"type": {"type": "string", "required": True, "allowed": sorted(self._types)}},
            allow_unknown=True,
        )

    def add_type(self, name: str, entry: Mapping[str, Any]) -> None:
        """Add (or replace) one message type, given as an entry of the document's
        ``messages`` (``destinations``, ``fields``, ``allowUnknown``, ``senders``), checked
        and built now: a bad entry is a :class:`ConfigError` here, not at the first message."""
        _check_shape({"messages": {name: dict(entry)}}, "message type %s" % name)
        self._types[name] = self._build_type(name, entry, self._envelope, self._vocabularies)
        self._dispatcher = self._build_dispatcher()

    def senders_for(self, message_type: str) -> Optional[Tuple[str, ...]]:
        """The roles that may send ``message_type`` (``None``: no restriction)."""
        return self._types[message_type].senders

    @property
    def message_types(self) -> Tuple[str, ...]:
        """The known message type names."""
        return tuple(sorted(self._types))

    def knows_type(self, name: str) -> bool:
        """Whether ``name`` is a known message type."""
        return name in self._types

    def destinations_for(self, message_type: str) -> Tuple[str, ...]:
        """The destination patterns ``message_type`` may be sent to."""
        return tuple(p.pattern for p in self._types[message_type].destinations)

    @staticmethod
    def _build_type(
        name: str, entry: Mapping[str, Any], envelope: Mapping[str, Any], vocabularies: Mapping[str, Any]
    ) -> _MessageType:
        schema: Dict[str, Any] = copy.deepcopy(dict(envelope))
        for field, rules in entry.get("fields", {}).items():
            schema[field] = {**schema.get(field, {}), **copy.deepcopy(rules)}
        schema["type"] = {**schema.get("type", {"type": "string"}), "required": True, "allowed": [name]}
        for field, rules in schema.items():
            problem = _schema_problem(rules, field)
            if problem:
                raise ConfigError(f"message type {name}: {problem}")
        for rule, vocabulary in _vocabulary_references(schema):
            if vocabulary not in vocabularies:
                raise ConfigError(f"message type {name}: {rule} names unknown vocabulary {vocabulary!r}")
            if rule == "allowed_per" and not isinstance(vocabularies[vocabulary], Mapping):
                raise ConfigError(f"message type {name}: allowed_per needs a mapping vocabulary, {vocabulary!r} is a list")
        try:
            validator = _SchemaValidator(
                schema,
                allow_unknown=bool(entry.get("allowUnknown", False)),
                vocabularies=vocabularies,
            )
            destinations = [DestinationPattern(p) for p in entry.get("destinations", [])]
        except (SchemaError, ValueError) as exc:
            raise ConfigError(f"invalid schema for message type {name}: {exc}") from None
        senders = entry.get("senders")
        return _MessageType(
            name, validator, destinations, vocabularies, None if senders is None else tuple(senders)
        )

    # -- validation ----------------------------------------------------------------

    def validate(
        self, body: Union[bytes, str], destination: str, sender_id: Optional[str]
    ) -> Dict[str, Any]:
        """Return the parsed message, or raise ``Rejection("INVALID_MESSAGE")``.

        ``sender_id`` is the authenticated user; ``None`` (a server-side publish) skips
        the ``senderId`` rule but nothing else.
        """
        message = self._parse(body)
        name = message.get("type")
        kind = self._types.get(name) if isinstance(name, str) else None
        if kind is None:
            # Only the type field matters here (the dispatcher allows any other).
            self._dispatcher.validate({"type": name} if "type" in message else {})
            raise self._rejection(flatten_errors(self._dispatcher.errors))
        errors = kind.errors(message)
        if errors:
            raise self._rejection(errors)
        errors = self._business_errors(kind, message, destination, sender_id)
        if errors:
            raise self._rejection(errors)
        return message

    @staticmethod
    def _parse(body: Union[bytes, str]) -> Dict[str, Any]:
        if isinstance(body, (bytes, bytearray, memoryview)):
            try:
                text = bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                raise MessageValidator._rejection({"body": ["must be UTF-8 text"]}) from None
        else:
            text = body
        try:
            message = _DECODER.decode(text)
        except _DuplicateKey as exc:
            raise MessageValidator._rejection({"body": [str(exc)]}) from None
        except (ValueError, RecursionError):
            raise MessageValidator._rejection({"body": ["must be a JSON document"]}) from None
        if not isinstance(message, dict):
            raise MessageValidator._rejection({"body": ["must be a JSON object"]})
        return message

    @staticmethod
    def _business_errors(
        kind: _MessageType, message: Mapping[str, Any], destination: str, sender_id: Optional[str]
    ) -> Dict[str, List[str]]:
        errors: Dict[str, List[str]] = {}
        ids = kind.match_destination(destination)
        if ids is None:
            allowed = ", ".join(p.pattern for p in kind.destinations) or "no destination"
            errors["type"] = [f"{kind.name} may not be sent to this destination (allowed: {allowed})"]
        sender = message.get("senderId")
        if sender is not None and sender_id is not None and sender != sender_id:
            errors["senderId"] = ["must equal the authenticated user"]
        payload = message.get("payload", {})
        for name, value in (ids or {}).items():
            if name in payload and payload[name] != value:
                errors[f"payload.{name}"] = [f"must equal the destination's {name} ({value})"]
        return errors

    @staticmethod
    def _rejection(errors: Dict[str, List[str]]) -> Rejection:
        path, messages = next(iter(sorted(errors.items())))
        summary = f"invalid message: {path}: {messages[0]}"
        if len(errors) > 1:
            summary += f" (and {len(errors) - 1} more)"
        return Rejection(RejectionCode.INVALID_MESSAGE, summary, details={"errors": errors})


class _DuplicateKey(ValueError):
    """An object of the body names the same key twice."""


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """A JSON object as a dict, refusing a repeated key: parsers differ on which value
    wins (ours keeps the last, many keep the first), so a relayed body with one could
    mean one thing to the validator and another to a subscriber."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey("duplicate key %s" % json.dumps(key[:64]))
            seen.add(key)
    return document


def _refuse_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (RFC 8259); Python's parser accepts them."""
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every body (``json.loads`` with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
