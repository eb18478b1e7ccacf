"""Log lines: plain text that no client value can break, or JSON objects.

:class:`TextFormatter` (the command's default, ``--log-format text``) writes
``time LEVEL logger: message``, one record per line: control characters in the message
(a newline in a JSON key of a refused message, in a token's ``sub``, in any value a
client chose) are written escaped (``\\n``, ``\\x1b``, ``\\u2028``), so no client can
forge a line; a traceback follows on lines of its own, each indented.

:class:`JsonFormatter` writes ``{"time", "level", "logger", "message", ...}``; a record
logged with ``extra={"nexus": {...}}`` (the connection's open, close and rejection lines:
``event``, ``conn``, ``user``, ``transport``, ``ip``, ``reason``, ``code``,
``trackingId``) carries those fields too, and a traceback goes in ``exc_info``. Every
text passes through :func:`~nexus_tornado.ops.log_redaction.redact` first, so an
``access_token`` query value never reaches the log. The command uses it with
``--log-format json``; a host app installs either on its own handler::

    handler.setFormatter(TextFormatter())   # or JsonFormatter()
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Dict, List

from .log_redaction import redact


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + ".%03dZ" % int(record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "nexus", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if value not in (None, "") and key not in entry:
                    entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, separators=(",", ":"), default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: What could end or rewrite a line: C0 controls but tab, DEL, C1 controls, and the
#: Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_one(match: "re.Match[str]") -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r"}.get(char)
    if named is not None:
        return named
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROLS.sub(_escape_one, text)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` lines whose message cannot hold a line break or another control
    character; a traceback or stack comes after, each of its lines indented (and
    escaped), so no line of it can pass for a record of its own."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: Any = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(redact(record.getMessage()))
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        blocks: List[str] = []
        if record.exc_info:
            blocks.append(self.formatException(record.exc_info))
        elif record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            text += "".join("\n    " + escape_controls(line) for line in redact(block).splitlines())
        return text


def configure(level: str, fmt: str) -> None:
    """Set up the root logger for the command: ``fmt`` is ``text`` or ``json``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
