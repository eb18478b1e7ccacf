"""Request bodies refused over a limit before they are read (413), on every handler.

A plain Tornado handler gets its request body whole, in memory, before any of its own
code runs (up to the ``HTTPServer``'s ``max_body_size``, 100 MB by default), whatever
its method, path or credentials: a few large POSTs to any endpoint, even one that
takes no body, cost the process their size in memory. A handler with
:class:`BodyLimitMixin` first in its bases streams its body instead and

- answers 413 from ``Content-Length`` at once, before a byte of the body is read
  (Tornado then closes the connection rather than read the rest);
- answers 413 as soon as a chunked body passes the limit, having kept at most the
  limit in memory;
- keeps what it accepted in :attr:`body` (and ``request.body``, with form arguments
  parsed, once :meth:`read_body` is called from the verb method).

The limit is the handler's own (:meth:`request_body_limit`), so it holds under a host
app's ``HTTPServer`` as well as under the command's. :func:`with_body_limit` gives a
subclass with another limit, for handlers a plugin mounts with a configured one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type, TypeVar, cast

if TYPE_CHECKING:  # pragma: no cover
    from tornado.web import RequestHandler as MixinBase
else:
    MixinBase = object

log = logging.getLogger("nexus_tornado.transport.body_limit")

#: Default limit of handlers that take no body or a small one, bytes.
DEFAULT_BODY_LIMIT = 8 * 1024

#: ``max_body_size`` of a limited request as far as Tornado is concerned: the handler
#: counts itself (Tornado's own check answers a bare 400 and closes).
_UNBOUNDED = 1 << 62

_H = TypeVar("_H")


class BodyLimitMixin(MixinBase):
    """Streams the request body, refusing it with 413 beyond :meth:`request_body_limit`.

    Mix in first: ``class Handler(BodyLimitMixin, tornado.web.RequestHandler)``.
    """

    # What @tornado.web.stream_request_body sets; inherited by every subclass.
    _stream_request_body = True

    #: Largest body accepted, bytes (see :meth:`request_body_limit`).
    body_limit: int = DEFAULT_BODY_LIMIT

    _nexus_body: Optional[bytearray] = None
    _nexus_body_refused = False
    _nexus_body_read = False

    def request_body_limit(self) -> int:
        """The limit for this request (override to take it from settings)."""
        return self.body_limit

    def prepare(self) -> Any:
        self._nexus_body = bytearray()
        limit = self.request_body_limit()
        connection: Any = self.request.connection
        connection.set_max_body_size(_UNBOUNDED)
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            self._refuse_body("a body of %s bytes" % length, limit)
            return None
        parent: Any = super()
        prepare = getattr(parent, "prepare", None)
        return prepare() if prepare is not None else None

    def data_received(self, chunk: bytes) -> None:
        body = self._nexus_body
        if self._nexus_body_refused or body is None:
            return
        limit = self.request_body_limit()
        if len(body) + len(chunk) > limit:
            self._nexus_body = bytearray()
            self._refuse_body("a streamed body", limit)
            return
        body.extend(chunk)

    @property
    def body(self) -> bytes:
        """The body accepted so far (all of it once the verb method runs)."""
        return bytes(self._nexus_body or b"")

    def read_body(self) -> bytes:
        """Put the body where plain handlers look for it: ``request.body`` and, for a
        form, ``request.body_arguments`` (call it from the verb method)."""
        if not self._nexus_body_read:
            self._nexus_body_read = True
            self.request.body = self.body
            self.request._parse_body()
        return self.request.body

    def refuse_body(self, limit: int) -> None:
        """Answer a body over ``limit`` bytes (override for another format)."""
        self.set_status(413)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("Request body too large (limit %d bytes).\n" % limit)

    def _refuse_body(self, what: str, limit: int) -> None:
        self._nexus_body_refused = True
        if self._finished:
            return
        log.info("refused %s %s from %s: %s over the limit of %d", self.request.method,
                 self.request.path, self.request.remote_ip, what, limit)
        self.clear()
        self.refuse_body(limit)


_limited: Dict[Tuple[type, int], type] = {}


def with_body_limit(handler: Type[_H], limit: int) -> Type[_H]:
    """``handler`` (a :class:`BodyLimitMixin` subclass) with a limit of ``limit`` bytes
    (the same class for the same arguments)."""
    if not issubclass(handler, BodyLimitMixin):
        raise TypeError("%s does not limit its body" % handler.__name__)
    if handler.body_limit == limit:
        return handler
    key = (handler, limit)
    if key not in _limited:
        _limited[key] = type(handler.__name__, (handler,), {"body_limit": limit, "__module__": handler.__module__})
    return cast(Type[_H], _limited[key])


__all__ = ["BodyLimitMixin", "DEFAULT_BODY_LIMIT", "with_body_limit"]
