"""Log lines as JSON objects, one per line, for log collectors.

:class:`JsonFormatter` writes ``{"time", "level", "logger", "message", ...}``; a record
logged with ``extra={"nexus": {...}}`` (the connection's open, close and rejection lines:
``event``, ``conn``, ``user``, ``transport``, ``ip``, ``reason``, ``code``,
``trackingId``) carries those fields too, and a traceback goes in ``exc_info``. Every
text passes through :func:`~nexus_tornado.ops.log_redaction.redact` first, so an
``access_token`` query value never reaches the log. The command uses it with
``--log-format json``; a host app installs it on its own handler::

    handler.setFormatter(JsonFormatter())
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict

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


def configure(level: str, fmt: str) -> None:
    """Set up the root logger for the command: ``fmt`` is ``text`` or ``json``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
