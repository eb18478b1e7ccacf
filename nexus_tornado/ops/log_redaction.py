"""Keep tokens out of Tornado's access log.

The wire contract accepts the JWT as the ``access_token`` query argument of the SockJS
and WebSocket URLs (for clients that cannot set CONNECT headers). Tornado's access log
writes every request line, query included, so without this the token would land in the
log (``101 GET /stomp/websocket?access_token=eyJ...``), and a failing handler's log
line carries the request too. :func:`install` adds a filter to Tornado's loggers that
replaces the argument's value with ``***``; the rest of the line is kept.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable

#: ``access_token=<value>`` in a URL: the value is a JWT (base64url parts and dots),
#: possibly percent-encoded.
_TOKEN_ARGUMENT = re.compile(r"(?i)(access_token=)[A-Za-z0-9._~%+/=-]*")

#: Tornado's loggers: request lines, handler failures (which log the request), the rest.
TORNADO_LOGGERS = ("tornado.access", "tornado.application", "tornado.general")


def redact(text: str) -> str:
    """``text`` with every ``access_token`` query value replaced by ``***``."""
    return _TOKEN_ARGUMENT.sub(r"\1***", text)


class TokenRedactor(logging.Filter):
    """Rewrites a record that mentions ``access_token=`` without its value (never drops it).

    The message is formatted first, since the URL may hide in any argument (Tornado
    passes the request object itself when a handler fails).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message.lower():
            record.msg = redact(message)
            record.args = ()
        return True


def install(logger_names: Iterable[str] = TORNADO_LOGGERS) -> None:
    """Add the redacting filter to each of ``logger_names`` once (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())
