"""Message handlers and after-store listeners: the host app's business logic.

The seed's processing workflow puts a handler between receiving a message and
persisting it, and backend services after it. A SEND goes::

    guard (rate limit, ACL, schema, business rules)
      -> handlers matching its type and destination, in registration order
      -> store (seq assigned) -> broadcast
      -> after-store listeners, off the delivery path

A **handler** is an async callable ``handler(inbound) -> Optional[dict]`` receiving an
:class:`Inbound` (principal, destination, the validated envelope, the destination's
ids). It may

- return ``None``: accept the message as it is;
- return a dict: the message to store instead (a changed copy: a normalised timestamp,
  server-side fields); the next handler gets that one;
- raise :class:`~nexus_tornado.errors.Rejection` with a wire-contract code and details:
  the sender gets a normal rejection (non-fatal, with a tracking id), nothing is stored;
- raise anything else, or run longer than ``handler_timeout``: the sender gets
  ``SERVER_ERROR`` with a tracking id, the trace is logged under it, nothing is stored.

Messages to one destination that some handler matches pass their handlers one at a
time, in arrival order, and are stored in that order (the handler of ``seq`` n finished
before the one of ``seq`` n+1 started). Handlers await; a slow one holds up only its own
destination, never other connections or destinations.

An **after-store listener** is an async (or plain) callable ``listener(stored)``
receiving a :class:`StoredEvent` (the message with its ``seq``) once the message is
persisted and broadcast. Listeners run in the background, per destination in ``seq``
order; a failure is logged with a tracking id, the destination and the ``seq`` (logger
``nexus_tornado.pipeline``). Past ``listener_backlog`` waiting calls, or
``listener_backlog_bytes`` of messages waiting for theirs (each message counted once,
body and headers, however many listeners it has), the publisher waits for the backlog
to shrink (back-pressure, never a silent drop), and ``NexusPlugin.close`` lets the
backlog drain; what is unfinished at its deadline is logged, then cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import ConfigError, NexusError, Rejection, RejectionCode, tracking_id
from .hub.documents import is_document, refuse_publish
from .hub.hub import Hub
from .hub.store import StoredMessage
from .policy.destinations import DestinationPattern
from .policy.principal import Principal

__all__ = [
    "REJECTION_CODES",
    "Handler",
    "HandlerFailed",
    "Inbound",
    "Listener",
    "MessagePipeline",
    "StoredEvent",
]

log = logging.getLogger("nexus_tornado.pipeline")

#: The codes a handler may refuse a message with (the wire contract's, but
#: ``SERVER_ERROR``, which says the server failed, not the message).
REJECTION_CODES = frozenset(code for code in RejectionCode if code is not RejectionCode.SERVER_ERROR)


@dataclass
class Inbound:
    """A validated message on its way to the store, as a handler sees it."""

    #: Who sent it: the SEND's user, or the backend service of an HTTP publish.
    principal: Principal
    destination: str
    #: The validated envelope ``{"type", "timestamp", "senderId", "payload"}`` (a copy:
    #: change it and return it, or return a new dict).
    message: Dict[str, Any]
    #: The placeholder values of the handler's destination pattern (``{"chatId": "c1"}``).
    ids: Dict[str, str] = field(default_factory=dict)
    #: The SEND frame's headers (empty for HTTP publishes).
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.message.get("type", ""))


@dataclass(frozen=True)
class StoredEvent:
    """A persisted message, as an after-store listener sees it."""

    destination: str
    seq: int
    #: The stored envelope, parsed (``None`` when the body is not a JSON object).
    message: Optional[Dict[str, Any]]
    #: Who sent it (``None`` for the host app's own ``plugin.publish``/``notify``).
    principal: Optional[Principal]
    #: The stored record: body bytes, message id, headers, timestamp.
    stored: StoredMessage
    #: The placeholder values of the listener's destination pattern.
    ids: Dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> Optional[str]:
        kind = (self.message or {}).get("type")
        return kind if isinstance(kind, str) else None


Handler = Callable[[Inbound], Awaitable[Optional[Dict[str, Any]]]]
Listener = Callable[[StoredEvent], Union[None, Awaitable[None]]]


class HandlerFailed(NexusError):
    """A handler raised, timed out or returned something that is not a message."""


def _pattern(destination: Optional[str]) -> Optional[DestinationPattern]:
    """``/topic/chat/{chatId}`` as is; a ``*`` segment is an unnamed placeholder."""
    if destination is None:
        return None
    segments = destination.split("/")
    anonymous = 0
    for i, segment in enumerate(segments):
        if segment == "*":
            anonymous += 1
            segments[i] = "{_%d}" % anonymous
    try:
        return DestinationPattern("/".join(segments))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class _Entry:
    fn: Callable[..., Any]
    type: Optional[str]
    pattern: Optional[DestinationPattern]

    def match(self, kind: Optional[str], destination: str) -> Optional[Dict[str, str]]:
        if self.type is not None and kind != self.type:
            return None
        if self.pattern is None:
            return {}
        ids = self.pattern.match(destination)
        if ids is None:
            return None
        return {k: v for k, v in ids.items() if not k.startswith("_")}

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)


def _entry(fn: Callable[..., Any], type: Optional[str], destination: Optional[str], what: str) -> _Entry:
    if not callable(fn):
        raise ConfigError("%s %r is not callable" % (what, fn))
    if type is not None and (not isinstance(type, str) or not type):
        raise ConfigError("%s type must be a message type name" % what)
    return _Entry(fn, type, _pattern(destination))


def encode(message: Mapping[str, Any]) -> bytes:
    """A message as the compact UTF-8 JSON the store keeps."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class MessagePipeline:
    """Handlers before the store, listeners after it, for one plugin.

    ``timeout``: longest a handler may run, seconds. ``backlog``: most listener calls
    waiting to run before publishers wait for them; ``backlog_bytes``: most bytes of
    messages (body and headers) those calls may hold.
    """

    def __init__(self, hub: Hub, *, timeout: float = 10.0, backlog: int = 10_000,
                 backlog_bytes: int = 32 * 1024 * 1024) -> None:
        self.hub = hub
        self.timeout = timeout
        self.backlog = backlog
        self.backlog_bytes = backlog_bytes
        self._handlers: List[_Entry] = []
        self._listeners: List[_Entry] = []
        self._lanes: Dict[str, asyncio.Lock] = {}
        self._lane_users: Dict[str, int] = {}
        #: destination -> listener calls waiting, worked off by one task per destination;
        #: the last call of each message carries the message's size (0 for the others).
        self._queues: Dict[str, Deque[Tuple[_Entry, StoredEvent, int]]] = {}
        #: destination -> the listener call running now, and the task working them off.
        self._running: Dict[str, Tuple[_Entry, StoredEvent, int]] = {}
        self._workers: "Dict[str, asyncio.Future[None]]" = {}
        self._pending = 0
        #: Bytes of the messages whose listener calls are waiting or running.
        self._pending_bytes = 0
        #: Publishers waiting for room, in arrival order.
        self._admission: Deque[object] = collections.deque()
        self._drained: Optional[asyncio.Event] = None
        #: Listener calls that raised (each logged with its tracking id).
        self.listener_failures = 0

    # -- registration ---------------------------------------------------------------

    def add_handler(self, fn: Handler, *, type: Optional[str] = None, destination: Optional[str] = None) -> None:
        """Run ``fn`` on every message of ``type`` (any, if ``None``) to a destination
        matching ``destination`` (any, if ``None``) before it is stored."""
        self._handlers.append(_entry(fn, type, destination, "handler"))

    def add_listener(self, fn: Listener, *, type: Optional[str] = None, destination: Optional[str] = None) -> None:
        """Call ``fn`` with every stored message of ``type`` to ``destination``."""
        self._listeners.append(_entry(fn, type, destination, "listener"))

    # -- publishing -----------------------------------------------------------------

    async def publish(
        self,
        principal: Principal,
        destination: str,
        message: Dict[str, Any],
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> StoredMessage:
        """Run the handlers on a validated ``message``, store and broadcast what they
        pass, then queue the listeners. ``body`` is the message as received (stored
        unchanged when no handler changed it).

        Raises ``Rejection`` (a handler refused), :class:`HandlerFailed`, or
        ``StoreUnavailable``; nothing is stored then.
        """
        refuse_publish(destination)
        kind = message.get("type")
        matched = [(e, ids) for e in self._handlers for ids in (e.match(kind, destination),) if ids is not None]
        # Room in the listener backlog is taken before the message is stored: a crowd of
        # publishers behind slow listeners waits here, not with its messages queued.
        reserved = 0
        if any(e.match(kind, destination) is not None for e in self._listeners):
            reserved = (len(body) if body is not None else len(encode(message))) + _headers_size(headers or {})
            await self._admit(reserved)
        try:
            if not matched:
                stored = await self.hub.publish(destination, body if body is not None else encode(message), headers)
            else:
                stored, message = await self._publish_handled(matched, principal, destination, message, body, headers)
        except BaseException:
            self._release(reserved)
            raise
        await self.stored(stored, message, principal, reserved=reserved)
        return stored

    def handles(self, destination: str) -> bool:
        """Whether a handler may run on messages to ``destination`` (whatever their type)."""
        return any(entry.pattern is None or entry.pattern.match(destination) is not None for entry in self._handlers)

    async def publish_many(
        self,
        principal: Principal,
        messages: Sequence[Tuple[str, Dict[str, Any], Optional[bytes], Optional[Mapping[str, str]]]],
    ) -> List[Union[StoredMessage, Exception]]:
        """:meth:`publish` for several ``(destination, message, body, headers)`` of
        one sender, in that order, each with its own outcome (the stored message, or
        what :meth:`publish` would have raised). Without handlers for any of them they
        go to the store in one call (a batching store writes them together); else one
        after the other."""
        if len(messages) < 2 or any(
            self.handles(destination) or is_document(destination) for destination, _, _, _ in messages
        ):
            outcomes: List[Union[StoredMessage, Exception]] = []
            for destination, message, body, headers in messages:
                try:
                    outcomes.append(await self.publish(principal, destination, message, body, headers))
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes
        reserved: List[int] = []
        appends: List[Tuple[str, bytes, Optional[Mapping[str, str]]]] = []
        try:
            for destination, message, body, headers in messages:
                data = body if body is not None else encode(message)
                size = 0
                if any(e.match(message.get("type"), destination) is not None for e in self._listeners):
                    size = len(data) + _headers_size(headers or {})
                    await self._admit(size)
                reserved.append(size)
                appends.append((destination, data, headers))
            results = await self.hub.publish_many(appends)
        except BaseException:
            for size in reserved:
                self._release(size)
            raise
        for (_, message, _, _), size, result in zip(messages, reserved, results):
            if isinstance(result, StoredMessage):
                await self.stored(result, message, principal, reserved=size)
            else:
                self._release(size)
        return list(results)

    async def _publish_handled(
        self,
        matched: List[Tuple["_Entry", Dict[str, str]]],
        principal: Principal,
        destination: str,
        message: Dict[str, Any],
        body: Optional[bytes],
        headers: Optional[Mapping[str, str]],
    ) -> Tuple[StoredMessage, Dict[str, Any]]:
        lane = self._lanes.get(destination)
        if lane is None:
            lane = self._lanes[destination] = asyncio.Lock()
        self._lane_users[destination] = self._lane_users.get(destination, 0) + 1
        try:
            async with lane:
                final, changed = await self._run_handlers(matched, principal, destination, message, headers or {})
                data = encode(final) if changed or body is None else body
                stored = await self.hub.publish(destination, data, headers)
        finally:
            self._lane_users[destination] -= 1
            if not self._lane_users[destination]:
                del self._lane_users[destination]
                del self._lanes[destination]
        return stored, final

    async def _run_handlers(
        self,
        matched: List[Tuple[_Entry, Dict[str, str]]],
        principal: Principal,
        destination: str,
        message: Dict[str, Any],
        headers: Mapping[str, str],
    ) -> Tuple[Dict[str, Any], bool]:
        current = message
        changed = False
        for entry, ids in matched:
            inbound = Inbound(principal, destination, json.loads(encode(current)), dict(ids), headers)
            try:
                result = await asyncio.wait_for(entry.fn(inbound), self.timeout)
            except Rejection as rejection:
                if rejection.code not in REJECTION_CODES:
                    raise HandlerFailed(
                        "handler %s refused with code %s, not one of %s"
                        % (entry.name, rejection.code, ", ".join(sorted(str(c) for c in REJECTION_CODES)))
                    ) from rejection
                rejection.log_detail = "handler %s: %s" % (entry.name, rejection.log_detail)
                raise
            except asyncio.TimeoutError:
                raise HandlerFailed("handler %s took longer than %g s" % (entry.name, self.timeout)) from None
            except Exception as exc:
                raise HandlerFailed("handler %s raised %s" % (entry.name, type(exc).__name__)) from exc
            if result is None:
                if inbound.message != current:
                    current, changed = inbound.message, True
                continue
            if not isinstance(result, dict) or not isinstance(result.get("type"), str):
                raise HandlerFailed("handler %s returned %r, not a message (a dict with a type)" % (entry.name, type(result).__name__))
            try:
                encode(result)
            except (TypeError, ValueError) as exc:
                raise HandlerFailed("handler %s returned a message that is not JSON: %s" % (entry.name, exc)) from None
            current, changed = result, True
        return current, changed

    # -- after-store listeners --------------------------------------------------------

    async def stored(
        self,
        stored: StoredMessage,
        message: Optional[Dict[str, Any]] = None,
        principal: Optional[Principal] = None,
        *,
        reserved: int = 0,
    ) -> None:
        """Queue the listeners of a persisted message (parsed from its body when
        ``message`` is not given); waits only while the backlog is full. ``reserved``:
        the backlog bytes :meth:`publish` took for it before storing it."""
        self._release(reserved)
        if not self._listeners:
            return
        if message is None:
            message = _parse(stored.body)
        kind = message.get("type") if message is not None else None
        calls = []
        for entry in self._listeners:
            ids = entry.match(kind if isinstance(kind, str) else None, stored.destination)
            if ids is not None:
                event = StoredEvent(stored.destination, stored.seq, message, principal, stored, ids)
                calls.append((entry, event, 0))
        if not calls:
            return
        # The message is held until its last call is done: that call carries its size.
        size = message_size(stored)
        entry, event, _ = calls[-1]
        calls[-1] = (entry, event, size)
        self._pending_bytes += size
        # Queued at once (no await before), so listeners see a destination in seq order.
        queue = self._queues.get(stored.destination)
        start = queue is None
        if queue is None:
            queue = self._queues[stored.destination] = collections.deque()
        queue.extend(calls)
        self._pending += len(calls)
        if start:
            self._workers[stored.destination] = asyncio.ensure_future(self._work(stored.destination, queue))
        if self._full:
            log.warning("listener backlog full (%d calls, %d bytes): the publisher waits",
                        self._pending, self._pending_bytes)
            while self._full:
                if self._drained is None:
                    self._drained = asyncio.Event()
                await self._drained.wait()

    @property
    def _full(self) -> bool:
        return self._pending > self.backlog or self._pending_bytes > self.backlog_bytes

    async def _admit(self, size: int) -> None:
        """Wait until the backlog has room for ``size`` more bytes (at once when it is
        empty, whatever the size), then take it; publishers are let in in arrival order."""
        ticket = object()
        self._admission.append(ticket)
        try:
            while self._admission[0] is not ticket or (
                self._pending_bytes and self._pending_bytes + size > self.backlog_bytes
            ):
                if self._drained is None:
                    self._drained = asyncio.Event()
                await self._drained.wait()
        finally:
            self._admission.remove(ticket)
            self._wake()  # the next in line
        self._pending_bytes += size

    def _release(self, size: int) -> None:
        if size:
            self._pending_bytes -= size
            self._wake()

    def _wake(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    @property
    def idle(self) -> bool:
        """True when no listener call is waiting or running."""
        return self._pending == 0

    @property
    def pending(self) -> int:
        """Listener calls waiting or running."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        """Bytes of the messages whose listener calls are waiting or running (or about
        to be: room taken by publishers storing their message)."""
        return self._pending_bytes

    @property
    def waiting(self) -> int:
        """Publishers waiting for room in the listener backlog before storing."""
        return len(self._admission)

    def unfinished(self) -> List[str]:
        """The listener calls running or waiting, as ``listener(destination seq N)``."""
        calls = list(self._running.values())
        calls.extend(call for queue in self._queues.values() for call in queue)
        return ["%s(%s seq %d)" % (entry.name, event.destination, event.seq) for entry, event, _ in calls]

    async def _work(self, destination: str, queue: Deque[Tuple[_Entry, StoredEvent, int]]) -> None:
        try:
            while queue:
                entry, event, size = queue.popleft()
                self._running[destination] = (entry, event, size)
                try:
                    result = entry.fn(event)
                    if inspect.isawaitable(result):
                        await asyncio.wait_for(result, self.timeout)
                except Exception as exc:
                    self.listener_failures += 1
                    tid = tracking_id()
                    detail = "took longer than %g s" % self.timeout if isinstance(exc, asyncio.TimeoutError) else "failed"
                    log.error(
                        "after-store listener %s %s on %s seq %d [trackingId=%s]",
                        entry.name, detail, destination, event.seq, tid, exc_info=True,
                    )
                finally:
                    self._running.pop(destination, None)
                    self._pending -= 1
                    self._pending_bytes -= size
                    self._wake()  # every waiter checks again for its own room
        finally:
            if self._queues.get(destination) is queue:
                del self._queues[destination]
                self._workers.pop(destination, None)

    async def cancel(self) -> int:
        """Drop the listener calls still waiting and cancel those running (a shutdown
        out of time: :meth:`unfinished` named them); return how many there were."""
        dropped = self._pending
        for queue in self._queues.values():
            self._pending_bytes -= sum(size for _, _, size in queue)
            queue.clear()
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._pending = 0
        self._wake()
        return dropped


def message_size(stored: StoredMessage) -> int:
    """What a stored message weighs in the listener backlog: body and headers, bytes."""
    return len(stored.body) + _headers_size(stored.headers)


def _headers_size(headers: Mapping[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in headers.items())


def _parse(body: bytes) -> Optional[Dict[str, Any]]:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
