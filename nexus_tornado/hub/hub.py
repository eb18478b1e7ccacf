"""The hub: destinations, their subscribers, persistence before broadcast, replay.

It lives on the IOLoop and is driven only by coroutines and plain calls from the
transport glue; it knows nothing of sockets. Its rules:

* **Persist, then broadcast.** :meth:`Hub.publish` appends the message to the store,
  which assigns the destination's next ``seq``; only then is it delivered, to every
  subscriber of that destination, in ``seq`` order. Appends to one destination are
  serialised in this process; messages other processes appended arrive as change
  signals (:meth:`Hub.stored`, fed by :mod:`.mongo_feed`). Each destination with
  subscribers here has a :class:`~.sequencer.Sequencer` that puts both into strict
  ``seq`` order, delivers each message once, and reads missing ones from the store.
* **Encode once.** A publish builds one :class:`~nexus_tornado.stomp.MessageTemplate`;
  each subscriber renders it with its own subscription id.
* **Replay without gap or duplicate.** :meth:`Hub.subscribe` with ``last_seq`` registers
  the live subscription first (buffering what arrives), reads the store in chunks,
  then merges the buffer and hands over to live delivery, de-duplicating by ``seq``.
  A hole in what it reads is reported only once it is final (:class:`.HolePolicy`).
* **Epochs.** Every MESSAGE names its numbering (``epoch``). A resumed subscription
  whose epoch is not the destination's (or whose ``last_seq`` is beyond the newest)
  gets every retained message of the current epoch, the first marked ``seq-reset``.
* **Delivery tracking** for destinations whose messages wait for offline recipients
  (``/topic/notifications/{userId}``): undelivered messages come first on a new
  subscription; :meth:`Hub.mark_delivered` records deliveries in batches.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import logging
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ..errors import Rejection, StoreUnavailable
from ..policy.destinations import NOTIFICATIONS_PREFIX
from ..stomp import MessageTemplate, is_utf8
from .sequencer import MAX_PAUSE, MIN_PAUSE, Gap, HolePolicy, Sequencer
from .store import Store, StoredMessage
from .subscribers import CatchUp, Floor, MarkFirst, Subscriber
from .templates import after, relayed_headers, template_for, with_gap

log = logging.getLogger("nexus_tornado.hub")


class HubStats:
    """Running totals for the server's metrics; plain integers, so counting stays cheap
    on the delivery path (once per publish or replayed chunk, never per subscriber)."""

    __slots__ = ("published", "delivered", "replayed", "gaps", "by_destination")

    def __init__(self) -> None:
        #: Messages persisted and broadcast by this hub.
        self.published = 0
        #: MESSAGE deliveries handed to subscribers by broadcasts (subscribers per message).
        self.delivered = 0
        #: Stored messages delivered by replays (``last-seq``, undelivered notifications).
        self.replayed = 0
        #: Replayed messages marked with ``gap-from``/``gap-to``.
        self.gaps = 0
        #: Messages published per destination since the owner last took this dict.
        self.by_destination: Dict[str, int] = {}

    def take_destinations(self) -> Dict[str, int]:
        """The per-destination counts so far, starting a new count."""
        taken, self.by_destination = self.by_destination, {}
        return taken


class _Lane:
    """Serialises the appends to one destination, so seq order is broadcast order."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Hub:
    """IOLoop-resident publish/subscribe over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        replay_chunk: int = 500,
        catch_up_buffer: int = 10_000,
        catch_up_bytes: int = 4 * 1024 * 1024,
        recent_templates: int = 4096,
        text_only: bool = False,
        recent_bytes: int = 32 * 1024 * 1024,
        hold: float = 0.1,
        clock_skew: float = 1.0,
    ) -> None:
        self.store = store
        #: Refuse bodies that are not UTF-8 (set while a transport that carries only
        #: text, SockJS, may read the messages).
        self.text_only = text_only
        count_limit = getattr(getattr(store, "retention", None), "max_count", None)
        #: When a hole in a destination's numbering is final (shared by live delivery
        #: and replay).
        self.holes = HolePolicy(store.settle_seconds, hold, clock_skew, count_limit)
        self._sequencers: Dict[str, Sequencer] = {}
        self.replay_chunk = replay_chunk
        self.catch_up_buffer = catch_up_buffer
        #: Most body bytes buffered for one subscriber while it catches up (beyond it,
        #: the buffer is dropped and read from the store again).
        self.catch_up_bytes = catch_up_bytes
        #: The MESSAGE templates of recently published or replayed messages, so that a
        #: crowd of clients catching up on the same messages shares their encoding.
        self._recent: "collections.OrderedDict[Tuple[str, int], MessageTemplate]" = (
            collections.OrderedDict()
        )
        self._recent_limit = recent_templates
        #: Bound of the recent templates' ``footprint()`` in total (``recent_bytes``).
        self.recent_bytes_limit = recent_bytes
        self.recent_bytes = 0
        #: destination -> {subscriber: what receives its deliveries now} (the
        #: subscriber itself, or a stand-in while it catches up).
        self._subscribers: Dict[str, Dict[Subscriber, Subscriber]] = {}
        self._lanes: Dict[str, _Lane] = {}
        self._delivered: Dict[str, Set[int]] = {}
        self._delivered_flush: Optional[asyncio.Future[Any]] = None
        self.stats = HubStats()
        self.on_interest: Optional[Callable[[bool], None]] = None  # first subscriber (True), last gone

    # -- publishing -------------------------------------------------------------

    async def publish(
        self,
        destination: str,
        body: bytes,
        headers: Optional[Mapping[str, str]] = None,
    ) -> StoredMessage:
        """Persist ``body`` in ``destination``, then deliver it to every subscriber.

        ``headers`` are the publisher's own (:func:`relayed_headers` picks those kept).
        Raises :class:`~nexus_tornado.errors.StoreUnavailable` when the store cannot
        take it, and :class:`~nexus_tornado.errors.Rejection` (``INVALID_MESSAGE``) for
        a body that is not UTF-8 while the hub is ``text_only``; nothing is stored or
        delivered then.
        """
        self._refuse_binary(destination, body)
        kept = relayed_headers(headers) if headers else {}
        if self.store.ordered_appends:  # numbered in call order: no lane needed
            message = await self.store.append(destination, body, kept)
            self._published(message)
            return message
        lane = self._lanes.get(destination)
        if lane is None:
            lane = self._lanes[destination] = _Lane()
        lane.users += 1
        try:
            async with lane.lock:
                message = await self.store.append(destination, body, kept)
        finally:
            lane.users -= 1
            if not lane.users:
                del self._lanes[destination]
        self._published(message)
        return message

    async def publish_many(
        self, messages: Sequence[Tuple[str, bytes, Optional[Mapping[str, str]]]]
    ) -> List[Union[StoredMessage, Rejection, StoreUnavailable]]:
        """:meth:`publish` for several ``(destination, body, headers)`` messages, in
        that order: one call to the store for all of them when it numbers appends in
        call order (a batching store writes them together). Returns each message's
        outcome in order: stored (and broadcast), or what refused it."""
        outcomes: List[Union[StoredMessage, Rejection, StoreUnavailable]] = []
        if not self.store.ordered_appends:
            for destination, body, headers in messages:
                try:
                    outcomes.append(await self.publish(destination, body, headers))
                except (Rejection, StoreUnavailable) as exc:
                    outcomes.append(exc)
            return outcomes
        refused: List[Optional[Rejection]] = []
        appends: List[Tuple[str, bytes, Mapping[str, str]]] = []
        for destination, body, headers in messages:
            try:
                self._refuse_binary(destination, body)
            except Rejection as rejection:
                refused.append(rejection)
                continue
            refused.append(None)
            appends.append((destination, body, relayed_headers(headers) if headers else {}))
        stored = iter(await self.store.append_many(appends) if appends else ())
        for refusal in refused:
            outcome = refusal if refusal is not None else next(stored)
            if isinstance(outcome, StoredMessage):
                self._published(outcome)
            outcomes.append(outcome)
        return outcomes

    def _refuse_binary(self, destination: str, body: bytes) -> None:
        if self.text_only and not is_utf8(body):
            raise Rejection(
                "INVALID_MESSAGE",
                "body is not UTF-8 text; the SockJS transports carry only text",
                {"destination": destination},
            )

    def _published(self, message: StoredMessage) -> None:
        self.broadcast(message)
        stats = self.stats
        stats.published += 1
        counts = stats.by_destination
        counts[message.destination] = counts.get(message.destination, 0) + 1

    def broadcast(self, message: StoredMessage) -> None:
        """Deliver an already persisted message to the destination's subscribers (in
        ``seq`` order with the rest: it may wait for earlier numbers)."""
        # Encoded now even without subscribers here: replays of recent messages
        # (a crowd reconnecting) share it.
        self._template(message)
        sequencer = self._sequencers.get(message.destination)
        if sequencer is not None:
            sequencer.offer(message)

    def stored(self, destination: str, seq: int, epoch: Optional[str], message: Optional[StoredMessage] = None) -> None:
        """Another process stored ``seq`` of ``destination``: deliver it (``message``, or read) here."""
        sequencer = self._sequencers.get(destination)
        if sequencer is not None and message is not None:
            sequencer.offer(message)
        elif sequencer is not None:
            sequencer.signal(seq, epoch)

    def needs(self, destination: str, seq: int) -> bool:
        """Whether ``seq`` of ``destination`` is still to be delivered in this process."""
        sequencer = self._sequencers.get(destination)
        return sequencer is not None and sequencer.needs(seq)

    def recheck(self) -> None:
        """Read every subscribed destination for messages this process may have
        missed signals of (the change stream lost its place)."""
        for sequencer in tuple(self._sequencers.values()):
            sequencer.recheck()

    def destinations(self) -> List[str]:
        """Destinations with subscribers in this process."""
        return list(self._subscribers)

    def _emit(self, message: StoredMessage, gap: Optional[Gap], reset: bool) -> None:
        """The sequencer's output: deliver ``message`` to every subscriber, in order."""
        subscribers = self._subscribers.get(message.destination)
        if not subscribers:
            return
        self.stats.delivered += len(subscribers)
        template = self._template(message)
        if gap is not None:
            template = with_gap(template, gap)
        if reset:
            headers = dict(template.headers)
            headers["seq-reset"] = "true"
            template = MessageTemplate(headers, template.body, template.seq)
        for target in tuple(subscribers.values()):
            try:
                target.deliver(template)
            except Exception:
                log.exception("delivery to %r failed", target)

    def _template(self, message: StoredMessage) -> MessageTemplate:
        """The shared template of ``message``, built once while it is recent."""
        key = (message.destination, message.seq)
        template = self._recent.get(key)
        if template is None or template.headers["message-id"] != message.message_id:
            recent = self._recent
            if template is not None:
                self.recent_bytes -= template.footprint()
            template = recent[key] = template_for(message)
            self.recent_bytes += template.footprint()
            while recent and (len(recent) > self._recent_limit or self.recent_bytes > self.recent_bytes_limit):
                self.recent_bytes -= recent.popitem(last=False)[1].footprint()
        return template

    # -- subscribing ------------------------------------------------------------

    def subscriber_count(self, destination: str) -> int:
        return len(self._subscribers.get(destination, ()))

    def subscription_count(self) -> int:
        """Subscriptions over every destination."""
        return sum(len(s) for s in self._subscribers.values())

    def busiest(self, limit: int) -> List[Tuple[str, int]]:
        """The ``limit`` destinations with the most subscribers: ``(destination, count)``."""
        return heapq.nlargest(limit, ((d, len(s)) for d, s in self._subscribers.items()), key=lambda i: i[1])

    def _add(self, destination: str, subscriber: Subscriber, target: Subscriber) -> None:
        subscribers = self._subscribers.get(destination)
        if subscribers is None:
            subscribers = self._subscribers[destination] = {}
            self._sequencers[destination] = Sequencer(
                destination, self.store, self.holes, self._emit, chunk=self.replay_chunk, buffer_limit=self.catch_up_buffer
            )
            if self.on_interest is not None:
                self.on_interest(True)
        subscribers[subscriber] = target

    def _replace(self, destination: str, subscriber: Subscriber, target: Subscriber) -> None:
        """Route ``subscriber``'s deliveries to ``target``, unless it unsubscribed."""
        subscribers = self._subscribers.get(destination)
        if subscribers is not None and subscriber in subscribers:
            subscribers[subscriber] = target

    def unsubscribe(self, destination: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(destination)
        if subscribers is None:
            return
        target = subscribers.pop(subscriber, None)
        if isinstance(target, CatchUp):
            target.abandoned = True  # its replay stops at its next pause
        if not subscribers:
            del self._subscribers[destination]
            sequencer = self._sequencers.pop(destination, None)
            if sequencer is not None:
                sequencer.close()
            if self.on_interest is not None:
                self.on_interest(False)

    def close(self) -> None:
        """Stop every sequencer (at shutdown)."""
        for sequencer in self._sequencers.values():
            sequencer.close()
        self._sequencers.clear()

    async def subscribe(
        self,
        destination: str,
        subscriber: Subscriber,
        last_seq: Optional[int] = None,
        epoch: Optional[str] = None,
        *,
        recipient: bool = True,
    ) -> None:
        """Start delivering ``destination`` to ``subscriber``.

        With ``last_seq``, first every retained message after it (the first one
        carrying ``gap-from``/``gap-to`` when retention dropped part of the range).
        When ``epoch`` is not the destination's current epoch, or ``last_seq`` is
        beyond its newest number, the numbering started again since the client saw
        it: every retained message of the current epoch comes, the first marked
        ``seq-reset: true``. Without ``last_seq``, live only, except on
        delivery-tracked destinations, where the undelivered messages come first to their
        ``recipient`` (someone else watching, say an admin, starts live).
        Raises ``StoreUnavailable`` (and leaves no subscription behind) when history
        cannot be read.
        """
        tracked = recipient and self.tracks_delivery(destination)
        if last_seq is None and not tracked:
            self._add(destination, subscriber, subscriber)
            sequencer = self._sequencers.get(destination)
            if sequencer is not None and sequencer.next is None:
                # The first live subscription here starts after the store's position now.
                try:
                    await sequencer.anchor()
                except BaseException:
                    self.unsubscribe(destination, subscriber)
                    raise
            return
        catch_up = CatchUp(self.catch_up_buffer, self.catch_up_bytes)
        self._add(destination, subscriber, catch_up)
        target = subscriber
        current: Optional[str] = None
        try:
            if last_seq is None:
                delivered = await self._undelivered(destination, subscriber, catch_up)
            else:
                position = await self.store.position(destination)
                current = position.epoch
                if last_seq > position.seq or (epoch and current and epoch != current):
                    # The numbering started again (an in-memory store after a restart,
                    # a new database): the client's numbers no longer apply.
                    last_seq = 0
                    target = MarkFirst(subscriber, {"seq-reset": "true"})
                delivered = await self._replay(destination, target, catch_up, last_seq, position.seq)
        except BaseException:
            self.unsubscribe(destination, subscriber)
            raise
        if self._subscribers.get(destination, {}).get(subscriber) is not catch_up:
            return  # unsubscribed meanwhile
        # No await from here on: the hand-over is atomic on the IOLoop.
        resumed = last_seq is not None
        for seq in sorted(catch_up.buffer):
            if seq > delivered:
                buffered = catch_up.buffer[seq]
                target.deliver(after(buffered, delivered) if resumed else buffered)
                delivered = seq
        self._replace(destination, subscriber, Floor(self, destination, subscriber, target, delivered, resumed))
        sequencer = self._sequencers.get(destination)
        if sequencer is not None:  # may emit at once: to the floor, not the catch-up
            sequencer.start_at(delivered + 1, current)

    async def _replay(
        self,
        destination: str,
        subscriber: Subscriber,
        catch_up: CatchUp,
        last_seq: int,
        newest: int,
    ) -> int:
        """Deliver stored messages after ``last_seq`` up to where live delivery
        stands; return the last seq delivered.

        A message that does not follow the one before carries ``gap-from``/``gap-to``
        once the numbers between are final (:meth:`HolePolicy.final`): dropped by
        retention, or handed out by a writer that died before it wrote (nothing was
        acknowledged for them). Until then the replay waits and reads again: another
        process may be writing them right now.
        """
        cursor = max(0, last_seq)
        noticed: Optional[Tuple[int, float]] = None
        pause = 0.0
        while True:
            await asyncio.sleep(pause)  # lets other clients run between chunks
            overflows = catch_up.overflows
            chunk = await self.store.read_after(destination, cursor, self.replay_chunk)
            stats = self.stats
            now = self.holes.monotonic()
            if noticed is None or noticed[0] != cursor:
                noticed = (cursor, now)
            stalled = False
            for message in chunk:
                # A hole further on than the one awaited was only just noticed.
                since = noticed[1] if cursor == noticed[0] else now
                if message.seq > cursor + 1 and not self.holes.final(
                    message.seq - 1, message, since, max(newest, message.seq)
                ):
                    stalled = True
                    break
                if subscriber.congested():
                    # Paced to what the client takes: a fast reader catching up is
                    # never cut off as a slow consumer, a slow one holds little.
                    await subscriber.drained()
                    if catch_up.abandoned:
                        return cursor
                if message.seq > cursor + 1:
                    stats.gaps += 1
                subscriber.deliver(after(self._template(message), cursor))
                stats.replayed += 1
                cursor = message.seq
            if stalled:
                pause = min(max(pause * 2, self.holes.hold, MIN_PAUSE), MAX_PAUSE)
                continue
            pause = 0.0
            if len(chunk) >= self.replay_chunk or catch_up.overflows != overflows:
                continue
            if subscriber.congested():
                # The hand-over writes the buffered live messages at once: first let
                # the client take the replay, then read what arrived meanwhile.
                await subscriber.drained()
                if subscriber.congested():
                    return cursor  # it stopped reading: its own output bound applies
                continue
            # The store is read to its end; live delivery must start right after.
            sequencer = self._sequencers.get(destination)
            live = min(catch_up.buffer) if catch_up.buffer else (sequencer.next if sequencer else None)
            if live is None or live <= cursor + 1:
                return cursor
            if not chunk and now - noticed[1] >= self.holes.settle:
                return cursor  # nothing more will come from the store
            pause = max(self.holes.hold, MIN_PAUSE) if not chunk else 0.0

    async def _undelivered(
        self, destination: str, subscriber: Subscriber, catch_up: CatchUp
    ) -> int:
        """Deliver undelivered stored messages (merged with live ones, by seq), paced
        to what the client takes; return the last seq delivered or, if higher, the store's
        position before the first read (older ones were delivered, or come next time)."""
        last = 0
        position = (await self.store.position(destination)).seq
        while True:
            overflows = catch_up.overflows
            stored = await self.store.read_undelivered(destination, self.catch_up_buffer)
            if len(stored) >= self.catch_up_buffer:
                position = 0  # more wait than were read: the sequencer reads the rest
            if catch_up.overflows != overflows:
                continue
            pending: Dict[int, MessageTemplate] = {m.seq: self._template(m) for m in stored if m.seq > last}
            self.stats.replayed += len(pending)
            pending.update((seq, t) for seq, t in catch_up.buffer.items() if seq > last)
            catch_up.clear()
            for seq in sorted(pending):
                if subscriber.congested():
                    await subscriber.drained()
                    if catch_up.abandoned:
                        return last
                subscriber.deliver(pending[seq])
                last = seq
            if catch_up.overflows == overflows:
                return max(last, position)
            # Live messages overflowed while the client was taking these: they are
            # stored (undelivered), so read again from where this left off.

    # -- delivery tracking --------------------------------------------------------

    @staticmethod
    def tracks_delivery(destination: str) -> bool:
        """Whether messages of ``destination`` wait for recipients who are offline
        (the notifications destinations)."""
        return destination.startswith(NOTIFICATIONS_PREFIX)

    def mark_delivered(self, destination: str, seqs: Iterable[int]) -> None:
        """Record deliveries; written to the store in one batch per IOLoop turn."""
        self._delivered.setdefault(destination, set()).update(seqs)
        if self._delivered_flush is None:
            self._delivered_flush = asyncio.ensure_future(self._flush_delivered())

    async def _flush_delivered(self) -> None:
        try:
            while self._delivered:
                batch, self._delivered = self._delivered, {}
                for destination, seqs in batch.items():
                    try:
                        await self.store.mark_delivered(destination, sorted(seqs))
                    except Exception:
                        # Not fatal: the messages come again on the next subscription.
                        log.warning(
                            "could not record %d deliveries on %s", len(seqs), destination,
                            exc_info=True,
                        )
        finally:
            self._delivered_flush = None

    async def flush(self) -> None:
        """Wait until recorded deliveries reach the store (used at shutdown)."""
        while self._delivered_flush is not None:
            await self._delivered_flush
