"""The hub without sockets: persistence before broadcast, order, replay hand-over, gaps,
delivery tracking. Driven on a Tornado IOLoop by pytest-tornado."""

from __future__ import annotations

import asyncio
from typing import Any, List, Mapping

import pytest

from nexus_tornado.errors import Rejection, StoreUnavailable
from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.store import Retention, StoredMessage
from nexus_tornado.hub.subscribers import Subscriber
from nexus_tornado.stomp import MessageTemplate


class Inbox(Subscriber):
    __slots__ = ("templates",)

    def __init__(self) -> None:
        self.templates: List[MessageTemplate] = []

    def deliver(self, template: MessageTemplate) -> None:
        self.templates.append(template)

    @property
    def seqs(self) -> List[int]:
        return [int(t.headers["seq"]) for t in self.templates]


class SlowStore(MemoryStore):
    """Yields to the loop inside every read, so publishes interleave with a replay."""

    async def read_after(self, destination: str, after_seq: int, limit: int) -> List[StoredMessage]:
        await asyncio.sleep(0.001)
        return await super().read_after(destination, after_seq, limit)

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        await asyncio.sleep(0)
        return await super().append(destination, body, headers)


class BrokenStore(MemoryStore):
    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        raise StoreUnavailable("down")


@pytest.mark.gen_test
async def test_publish_persists_then_delivers_in_seq_order() -> None:
    store = MemoryStore()
    hub = Hub(store)
    inbox = Inbox()
    await hub.subscribe("/topic/chat/a", inbox)
    messages = await asyncio.gather(*(hub.publish("/topic/chat/a", b"%d" % i) for i in range(20)))
    assert sorted(m.seq for m in messages) == list(range(1, 21))
    assert inbox.seqs == list(range(1, 21))
    assert [m.seq for m in await store.read_after("/topic/chat/a", 0, 100)] == list(range(1, 21))
    first = inbox.templates[0]
    assert first.headers["destination"] == "/topic/chat/a"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["message-id"] == messages[0].message_id


class OrderedStore(MemoryStore):
    """The in-memory store declaring what it does: numbering appends as called."""

    ordered_appends = True


@pytest.mark.parametrize("store_class", [MemoryStore, OrderedStore, BrokenStore])
@pytest.mark.gen_test
async def test_publish_many_gives_each_message_its_outcome_in_order(store_class: Any) -> None:
    hub = Hub(store_class(), text_only=True)
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    given = [("/d", b"one", None), ("/d", b"\xff", {"content-type": "text/plain"}), ("/d", b"two", {"x-a": "b"})]

    outcomes = await hub.publish_many(given)

    assert isinstance(outcomes[1], Rejection) and outcomes[1].code == "INVALID_MESSAGE"
    if store_class is BrokenStore:
        assert [type(o) for o in outcomes] == [StoreUnavailable, Rejection, StoreUnavailable]
        assert inbox.templates == [] and hub.stats.published == 0
        return
    assert [(o.seq, o.body) for o in outcomes if isinstance(o, StoredMessage)] == [(1, b"one"), (2, b"two")]
    assert [t.body for t in inbox.templates] == [b"one", b"two"] and inbox.seqs == [1, 2]
    assert hub.stats.published == 2


@pytest.mark.gen_test
async def test_concurrent_publishes_to_one_destination_broadcast_in_seq_order() -> None:
    hub = Hub(SlowStore())
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    await asyncio.gather(*(hub.publish("/d", b"x") for _ in range(50)))
    assert inbox.seqs == list(range(1, 51))


@pytest.mark.gen_test
async def test_nothing_is_broadcast_when_the_store_refuses() -> None:
    hub = Hub(BrokenStore())
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    with pytest.raises(StoreUnavailable):
        await hub.publish("/d", b"x")
    assert inbox.templates == []


@pytest.mark.gen_test
async def test_replay_hand_over_has_no_gap_and_no_duplicate_under_load() -> None:
    hub = Hub(SlowStore(), replay_chunk=7)
    for _ in range(30):
        await hub.publish("/d", b"old")
    inbox = Inbox()

    async def publisher() -> None:
        for _ in range(40):
            await hub.publish("/d", b"new")

    await asyncio.gather(publisher(), hub.subscribe("/d", inbox, last_seq=10))
    assert inbox.seqs == list(range(11, 71))


@pytest.mark.gen_test
async def test_catch_up_buffer_overflow_falls_back_to_the_store() -> None:
    hub = Hub(SlowStore(), replay_chunk=5, catch_up_buffer=3)
    for _ in range(20):
        await hub.publish("/d", b"old")
    inbox = Inbox()

    async def publisher() -> None:
        for _ in range(30):
            await hub.publish("/d", b"new")

    await asyncio.gather(publisher(), hub.subscribe("/d", inbox, last_seq=0))
    assert inbox.seqs == list(range(1, 51))


@pytest.mark.gen_test
async def test_replay_marks_what_retention_dropped() -> None:
    hub = Hub(MemoryStore(Retention(max_age_seconds=None, max_count=5)))
    for _ in range(12):
        await hub.publish("/d", b"x")
    inbox = Inbox()
    await hub.subscribe("/d", inbox, last_seq=3)
    assert inbox.seqs == [8, 9, 10, 11, 12]
    first = inbox.templates[0].headers
    assert (first["gap-from"], first["gap-to"]) == ("4", "7")
    assert "gap-from" not in inbox.templates[1].headers


@pytest.mark.gen_test
async def test_gap_with_nothing_retained_rides_on_the_next_live_message() -> None:
    hub = Hub(MemoryStore(Retention(max_age_seconds=None, max_count=1)))
    for _ in range(3):
        await hub.publish("/d", b"x")
    inbox = Inbox()
    await hub.subscribe("/d", inbox, last_seq=3)
    assert inbox.seqs == []
    await hub.publish("/d", b"y")
    assert inbox.seqs == [4]
    assert "gap-from" not in inbox.templates[0].headers


@pytest.mark.gen_test
async def test_undelivered_notifications_come_first_then_live() -> None:
    store = MemoryStore()
    hub = Hub(store)
    destination = "/topic/notifications/u1"
    for _ in range(3):
        await hub.publish(destination, b"n")
    await store.mark_delivered(destination, [1])
    inbox = Inbox()
    await hub.subscribe(destination, inbox)
    assert inbox.seqs == [2, 3]
    await hub.publish(destination, b"live")
    assert inbox.seqs == [2, 3, 4]
    hub.mark_delivered(destination, [2, 3, 4])
    await hub.flush()
    assert await store.read_undelivered(destination, 10) == []
    assert await store.is_delivered(destination, 4) is True


@pytest.mark.gen_test
async def test_someone_else_watching_notifications_starts_live() -> None:
    store = MemoryStore()
    hub = Hub(store)
    destination = "/topic/notifications/u1"
    await hub.publish(destination, b"waiting")
    watcher = Inbox()
    await hub.subscribe(destination, watcher, recipient=False)
    assert watcher.seqs == []
    await hub.publish(destination, b"live")
    assert watcher.seqs == [2]
    assert [m.seq for m in await store.read_undelivered(destination, 10)] == [1, 2]


@pytest.mark.gen_test
async def test_unsubscribe_stops_delivery_and_forgets_empty_destinations() -> None:
    hub = Hub(MemoryStore())
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    hub.unsubscribe("/d", inbox)
    await hub.publish("/d", b"x")
    assert inbox.templates == []
    assert hub.subscriber_count("/d") == 0


@pytest.mark.gen_test
async def test_a_failing_subscriber_does_not_stop_the_others(caplog: Any) -> None:
    class Exploding(Subscriber):
        __slots__ = ()

        def deliver(self, template: MessageTemplate) -> None:
            raise RuntimeError("boom")

    hub = Hub(MemoryStore())
    inbox = Inbox()
    await hub.subscribe("/d", Exploding())
    await hub.subscribe("/d", inbox)
    await hub.publish("/d", b"x")
    assert inbox.seqs == [1]
    assert "delivery to" in caplog.text


class OverlapCheckingStore(MemoryStore):
    """Records how many appends to one destination are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            return await super().append(destination, body, headers)
        finally:
            self.in_flight -= 1


@pytest.mark.gen_test
async def test_appends_to_one_destination_never_overlap_and_lanes_are_freed() -> None:
    store = OverlapCheckingStore()
    hub = Hub(store)
    inbox = Inbox()
    await hub.subscribe("/d", inbox)

    async def wave(delay: int) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        await asyncio.gather(*(hub.publish("/d", b"x") for _ in range(5)))

    await asyncio.gather(*(wave(d) for d in range(6)))
    assert store.most == 1
    assert inbox.seqs == list(range(1, 31))
    assert hub._lanes == {}


class OrderedOverlappingStore(OverlapCheckingStore):
    """Numbers appends in call order (as a store batching its writes does) and so says
    it needs no lane; the number is taken before the append yields."""

    ordered_appends = True

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        message = await MemoryStore.append(self, destination, body, headers)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            return message
        finally:
            self.in_flight -= 1


@pytest.mark.gen_test
async def test_a_store_numbering_in_call_order_gets_one_destinations_appends_together() -> None:
    store = OrderedOverlappingStore()
    hub = Hub(store)
    inbox = Inbox()
    await hub.subscribe("/d", inbox)

    published = await asyncio.gather(*(hub.publish("/d", b"%d" % i) for i in range(10)))

    assert store.most == 10  # no lane: all ten in flight at once
    assert [m.seq for m in published] == list(range(1, 11))
    assert inbox.seqs == list(range(1, 11))
    assert hub._lanes == {}


class VisibleBeforeBroadcastStore(MemoryStore):
    """Makes a message readable before its append returns, as a remote database does."""

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        message = await super().append(destination, body, headers)
        for _ in range(5):
            await asyncio.sleep(0)
        return message


@pytest.mark.gen_test
async def test_replay_does_not_duplicate_a_message_whose_broadcast_is_late() -> None:
    hub = Hub(VisibleBeforeBroadcastStore())
    await hub.publish("/d", b"1")
    inbox = Inbox()
    publishing = asyncio.ensure_future(hub.publish("/d", b"2"))
    await asyncio.sleep(0)  # seq 2 is stored, its broadcast not yet done
    await hub.subscribe("/d", inbox, last_seq=0)
    await publishing
    await hub.publish("/d", b"3")
    assert inbox.seqs == [1, 2, 3]


@pytest.mark.gen_test
async def test_unsubscribing_during_catch_up_leaves_nothing_behind() -> None:
    hub = Hub(SlowStore(), replay_chunk=2)
    for _ in range(10):
        await hub.publish("/d", b"x")
    inbox = Inbox()
    catching_up = asyncio.ensure_future(hub.subscribe("/d", inbox, last_seq=0))
    await asyncio.sleep(0.002)
    hub.unsubscribe("/d", inbox)
    await catching_up
    assert hub.subscriber_count("/d") == 0
    delivered = len(inbox.templates)
    await hub.publish("/d", b"after")
    assert len(inbox.templates) == delivered


@pytest.mark.gen_test
async def test_last_seq_beyond_a_restarted_numbering_replays_the_new_numbering_marked_reset() -> None:
    hub = Hub(MemoryStore())  # a fresh in-memory store: the numbering starts again at 1
    await hub.publish("/d", b"1")
    inbox = Inbox()
    await hub.subscribe("/d", inbox, last_seq=50)
    assert inbox.seqs == [1]
    await hub.publish("/d", b"2")
    await hub.publish("/d", b"3")
    assert inbox.seqs == [1, 2, 3]
    # The first message says the numbering started again; the others do not.
    assert inbox.templates[0].headers["seq-reset"] == "true"
    assert "seq-reset" not in inbox.templates[1].headers


@pytest.mark.gen_test
async def test_every_message_names_its_epoch_and_a_new_store_has_a_new_one() -> None:
    old, new = MemoryStore(), MemoryStore()
    assert old.epoch != new.epoch
    hub = Hub(new)
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    await hub.publish("/d", b"1")
    assert inbox.templates[0].headers["epoch"] == new.epoch


@pytest.mark.gen_test
async def test_a_resume_from_another_epoch_gets_the_whole_new_numbering_marked_reset() -> None:
    """After a restart the client's last-seq 3 is below the newest 10: only the epoch
    tells it apart from a resume in the same numbering (no silent 4..10)."""
    before = MemoryStore()
    hub = Hub(MemoryStore())
    for n in range(10):
        await hub.publish("/d", b"%d" % n)
    inbox = Inbox()
    await hub.subscribe("/d", inbox, last_seq=3, epoch=before.epoch)
    assert inbox.seqs == list(range(1, 11))
    assert inbox.templates[0].headers["seq-reset"] == "true"
    assert all("seq-reset" not in t.headers for t in inbox.templates[1:])
    same = Inbox()
    await hub.subscribe("/d", same, last_seq=3, epoch=hub.store.epoch)  # type: ignore[attr-defined]
    assert same.seqs == list(range(4, 11))
    assert all("seq-reset" not in t.headers for t in same.templates)


class LosesOneNumber(MemoryStore):
    """Hands out seq ``lost`` without writing it, like a writer that died in between."""

    def __init__(self, lost: int) -> None:
        super().__init__()
        self.lost = lost

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        log = self._log(destination)
        if log.last_seq + 1 == self.lost:
            log.last_seq += 1
        return await super().append(destination, body, headers)


@pytest.mark.gen_test
async def test_a_number_never_written_is_reported_as_a_gap_on_replay_and_live() -> None:
    hub = Hub(LosesOneNumber(lost=3))
    for _ in range(3):
        await hub.publish("/d", b"x")  # seqs 1, 2, 4
    replayed = Inbox()
    await hub.subscribe("/d", replayed, last_seq=0)
    assert replayed.seqs == [1, 2, 4]
    assert all("gap-from" not in t.headers for t in replayed.templates[:2])
    assert (replayed.templates[2].headers["gap-from"], replayed.templates[2].headers["gap-to"]) == ("3", "3")

    hub2 = Hub(LosesOneNumber(lost=6))
    for _ in range(4):
        await hub2.publish("/d", b"x")  # seqs 1..4
    resumed = Inbox()
    await hub2.subscribe("/d", resumed, last_seq=4)
    await hub2.publish("/d", b"y")  # seq 5
    await hub2.publish("/d", b"z")  # seq 7: 6 was lost
    assert resumed.seqs == [5, 7]
    assert "gap-from" not in resumed.templates[0].headers
    # Live delivery after the hand-over is not checked message by message (that is the
    # hot path): only the first message after a resumed subscription's floor is.
    live = Inbox()
    await hub2.subscribe("/d", live, last_seq=5)
    assert live.seqs == [7]
    assert (live.templates[0].headers["gap-from"], live.templates[0].headers["gap-to"]) == ("6", "6")


@pytest.mark.gen_test
async def test_clients_catching_up_share_the_templates_of_recent_messages() -> None:
    hub = Hub(MemoryStore(), recent_templates=10)
    live = Inbox()
    await hub.subscribe("/d", live)
    for _ in range(5):
        await hub.publish("/d", b"x")
    first, second = Inbox(), Inbox()
    await hub.subscribe("/d", first, last_seq=0)
    await hub.subscribe("/d", second, last_seq=0)
    assert first.seqs == second.seqs == [1, 2, 3, 4, 5]
    # The replays reuse what the broadcast encoded, and share it with each other.
    assert all(a is b for a, b in zip(live.templates, first.templates))
    assert all(a is b for a, b in zip(first.templates, second.templates))
    for _ in range(20):
        await hub.publish("/d", b"y")
    assert len(hub._recent) == 10  # bounded


@pytest.mark.gen_test
async def test_publisher_headers_are_passed_on_but_not_the_servers_own() -> None:
    """STOMP 1.2 "MESSAGE": user headers of the SEND reach every MESSAGE, and so does
    its content-type; seq, message-id and the like are the server's; credentials
    never leave."""
    hub = Hub(MemoryStore())
    inbox = Inbox()
    await hub.subscribe("/topic/chat/h", inbox)
    await hub.publish(
        "/topic/chat/h",
        b"{}",
        {
            "destination": "/topic/chat/h", "receipt": "r", "content-length": "2", "seq": "99",
            "message-id": "forged", "epoch": "x", "gap-from": "1", "transaction": "t",
            "AUTHORIZATION": "Bearer jwt", "passcode": "jwt",
            "content-type": "text/plain", "reply-to": "/topic/chat/h", "x-trace": "a:b\nc",
        },
    )
    headers = dict(inbox.templates[0].headers)
    message_id = headers.pop("message-id")
    assert message_id != "forged"
    assert headers.pop("epoch") == hub.store.epoch  # type: ignore[attr-defined]  # the store's, not "x"
    assert headers == {
        "destination": "/topic/chat/h", "seq": "1", "content-type": "text/plain",
        "reply-to": "/topic/chat/h", "x-trace": "a:b\nc",
    }
    replayed = Inbox()
    await hub.subscribe("/topic/chat/h", replayed, last_seq=0)
    assert dict(replayed.templates[0].headers)["x-trace"] == "a:b\nc"


@pytest.mark.gen_test
async def test_text_only_hub_refuses_bodies_that_are_not_utf8() -> None:
    store = MemoryStore()
    hub = Hub(store, text_only=True)
    inbox = Inbox()
    await hub.subscribe("/topic/chat/t", inbox)
    with pytest.raises(Rejection) as info:
        await hub.publish("/topic/chat/t", b"\xff\xfe")
    assert info.value.code == "INVALID_MESSAGE"
    assert await store.last_seq("/topic/chat/t") == 0 and inbox.templates == []
    await hub.publish("/topic/chat/t", "é ✓".encode())  # UTF-8 beyond ASCII is text
    assert inbox.seqs == [1]
    # Without text_only (no SockJS), any bytes are taken.
    other = Hub(MemoryStore())
    await other.subscribe("/topic/chat/t", inbox)
    await other.publish("/topic/chat/t", b"\xff\xfe")
    assert inbox.templates[-1].binary


@pytest.mark.gen_test
async def test_recent_templates_are_bounded_by_bytes() -> None:
    hub = Hub(MemoryStore(), recent_bytes=1024 * 1024)
    for _ in range(100):
        await hub.publish("/d", b"x" * 60_000)
    assert 0 < hub.recent_bytes <= 1024 * 1024
    assert hub.recent_bytes == sum(t.footprint() for t in hub._recent.values())
    assert len(hub._recent) < 100


class Throttled(Inbox):
    """A client that takes its output only when the hub waits for it."""

    __slots__ = ("unsent", "waits", "most")

    def __init__(self) -> None:
        super().__init__()
        self.unsent = self.waits = self.most = 0

    def deliver(self, template: MessageTemplate) -> None:
        super().deliver(template)
        self.unsent += len(template.body)
        self.most = max(self.most, self.unsent)

    def congested(self) -> bool:
        return self.unsent > 100_000

    async def drained(self) -> None:
        self.waits += 1
        await asyncio.sleep(0)
        self.unsent = 0


@pytest.mark.gen_test
async def test_replay_waits_for_a_congested_subscriber_to_drain() -> None:
    hub = Hub(MemoryStore())
    for _ in range(50):
        await hub.publish("/d", b"x" * 30_000)
    reader = Throttled()
    await hub.subscribe("/d", reader, 0)
    assert reader.seqs == list(range(1, 51))
    assert reader.waits >= 10
    assert reader.most <= 100_000 + 30_000  # never more than one message past the mark
    await hub.publish("/d", b"live")
    assert reader.seqs[-1] == 51


@pytest.mark.gen_test
async def test_undelivered_notifications_are_paced_too() -> None:
    hub = Hub(MemoryStore())
    for _ in range(50):
        await hub.publish("/topic/notifications/u", b"x" * 30_000)
    reader = Throttled()
    await hub.subscribe("/topic/notifications/u", reader)
    assert reader.seqs == list(range(1, 51))
    assert reader.most <= 130_000 and reader.waits >= 10


@pytest.mark.gen_test
async def test_live_messages_past_the_catch_up_bytes_are_read_from_the_store() -> None:
    store = SlowStore()
    hub = Hub(store, replay_chunk=5, catch_up_bytes=10_000)
    for _ in range(20):
        await hub.publish("/d", b"x" * 3000)
    reader = Inbox()
    subscribing = asyncio.ensure_future(hub.subscribe("/d", reader, 0))
    for _ in range(20):
        await hub.publish("/d", b"y" * 3000)
    await subscribing
    await hub.publish("/d", b"z")
    assert reader.seqs == list(range(1, 42))


class TwoStepStore(MemoryStore):
    """Numbers and writes in two steps, as a MongoDB append of another process does:
    ``number()`` hands out a seq, ``write()`` stores its message later (or never)."""

    settle_seconds = 3.0

    def number(self, destination: str) -> int:
        log = self._log(destination)
        log.last_seq += 1
        return log.last_seq

    def write(self, destination: str, seq: int) -> StoredMessage:
        log = self._log(destination)
        message = StoredMessage(destination, seq, "id%d" % seq, b"x", {}, self._clock(), self.epoch)
        log.messages.append(message)
        log.messages = type(log.messages)(sorted(log.messages, key=lambda m: m.seq))
        return message


@pytest.mark.gen_test(timeout=30)
async def test_a_replay_waits_for_a_number_being_written_instead_of_reporting_a_gap() -> None:
    """The replay half of the false gap: 1 is numbered (by another process) but not yet
    written when the replay reads 2. The replay waits and delivers 1 then 2, unmarked."""
    store = TwoStepStore()
    hub = Hub(store, hold=0.01)
    first = store.number("/d")
    store.write("/d", store.number("/d"))
    inbox = Inbox()
    replay = asyncio.ensure_future(hub.subscribe("/d", inbox, last_seq=0, epoch=store.epoch))
    await asyncio.sleep(0.2)
    assert not replay.done() and inbox.seqs == []
    store.write("/d", first)
    await replay
    assert inbox.seqs == [1, 2]
    assert all("gap-from" not in t.headers for t in inbox.templates)
    hub.close()


@pytest.mark.gen_test
async def test_a_paced_replay_stops_when_its_subscriber_leaves() -> None:
    hub = Hub(MemoryStore())
    for _ in range(50):
        await hub.publish("/d", b"x" * 30_000)

    class Leaving(Throttled):
        async def drained(self) -> None:
            hub.unsubscribe("/d", self)
            await super().drained()

    reader = Leaving()
    await hub.subscribe("/d", reader, 0)
    assert 0 < len(reader.seqs) < 10
    assert hub.subscriber_count("/d") == 0


class TwoWriters(MemoryStore):
    """Numbers and writes in two steps, as an append of another MongoDB process does."""

    settle_seconds = 5.0

    def number(self, destination: str) -> int:
        log = self._log(destination)
        log.last_seq += 1
        return log.last_seq

    def write(self, destination: str, seq: int) -> StoredMessage:
        log = self._log(destination)
        message = StoredMessage(destination, seq, "id%d" % seq, b"{}", {}, self._clock(), self.epoch)
        log.messages = type(log.messages)(sorted([*log.messages, message], key=lambda m: m.seq))
        return message


@pytest.mark.gen_test
async def test_a_live_subscription_gets_both_of_two_racing_appends_whichever_arrives_first() -> None:
    """The first live subscription of this process: another process numbers 3 and
    writes it late, this one stores 4 and broadcasts it at once. Both came after the
    subscription, so both reach it, in order, with no gap mark; 2 (older) does not."""
    for local_first in (True, False):
        store = TwoWriters()
        hub = Hub(store, hold=0.01)
        for _ in range(2):
            store.write("/d", store.number("/d"))
        inbox = Inbox()
        await hub.subscribe("/d", inbox)
        remote = store.number("/d")
        local = store.write("/d", store.number("/d"))
        if local_first:
            hub.broadcast(local)
            store.write("/d", remote)
            hub.stored("/d", remote, store.epoch)
        else:
            store.write("/d", remote)
            hub.stored("/d", remote, store.epoch)
            hub.broadcast(local)
        for _ in range(400):
            if len(inbox.seqs) >= 2:
                break
            await asyncio.sleep(0.005)
        assert inbox.seqs == [3, 4], local_first
        assert not any("gap-from" in t.headers for t in inbox.templates)
        hub.close()


@pytest.mark.gen_test
async def test_a_notification_subscription_with_nothing_waiting_starts_at_the_position() -> None:
    """Nothing undelivered: the next notification comes alone, with no gap mark and
    without the delivered ones before it."""
    store = MemoryStore()
    hub = Hub(store)
    destination = "/topic/notifications/u1"
    for _ in range(5):
        await hub.publish(destination, b"n")
    await store.mark_delivered(destination, [1, 2, 3, 4, 5])
    inbox = Inbox()
    await hub.subscribe(destination, inbox)
    await hub.publish(destination, b"live")
    assert inbox.seqs == [6]
    assert "gap-from" not in inbox.templates[0].headers


@pytest.mark.gen_test
async def test_a_replay_waiting_for_a_number_reads_with_pauses_even_without_a_hold() -> None:
    class Counting(TwoWriters):
        reads = 0

        async def read_after(self, destination: str, after_seq: int, limit: int) -> List[StoredMessage]:
            self.reads += 1
            return await super().read_after(destination, after_seq, limit)

    store = Counting()
    hub = Hub(store, hold=0.0)
    missing = store.number("/d")
    store.write("/d", store.number("/d"))
    inbox = Inbox()
    replay = asyncio.ensure_future(hub.subscribe("/d", inbox, last_seq=0))
    await asyncio.sleep(0.3)
    assert inbox.seqs == [] and 1 <= store.reads <= 12
    store.write("/d", missing)
    await asyncio.wait_for(replay, 30)
    assert inbox.seqs == [1, 2]
    hub.close()


@pytest.mark.gen_test
async def test_a_message_handed_over_whole_is_delivered_without_a_read_and_needs_says_what_is_due() -> None:
    class Unreadable(TwoWriters):
        async def read_after(self, destination: str, after_seq: int, limit: int) -> List[StoredMessage]:
            raise StoreUnavailable("no reads")

    store = Unreadable()
    hub = Hub(store)
    store.write("/d", store.number("/d"))
    assert not hub.needs("/d", 2)  # nobody here wants /d
    inbox = Inbox()
    await hub.subscribe("/d", inbox)
    assert not hub.needs("/d", 1) and hub.needs("/d", 2)
    remote = store.write("/d", store.number("/d"))
    hub.stored("/d", remote.seq, remote.epoch, remote)
    assert inbox.seqs == [2] and inbox.templates[0].body == b"{}"
    assert not hub.needs("/d", 2) and hub.needs("/d", 3)
    hub.unsubscribe("/d", inbox)
    assert not hub.needs("/d", 3)


@pytest.mark.gen_test
async def test_the_hub_says_when_a_destination_gains_its_first_subscriber_and_loses_its_last() -> None:
    hub = Hub(MemoryStore())
    told: List[bool] = []
    hub.on_interest = told.append
    first, second = Inbox(), Inbox()
    await hub.subscribe("/d", first)
    await hub.subscribe("/d", second, last_seq=0)
    assert told == [True] and hub.destinations() == ["/d"]
    hub.unsubscribe("/d", first)
    assert told == [True]
    hub.unsubscribe("/d", second)
    assert told == [True, False] and hub.destinations() == []


@pytest.mark.gen_test
async def test_resumes_racing_on_a_destination_new_here_each_get_every_message() -> None:
    """Several clients resume at once on a destination nobody here subscribed to (a
    process died and its clients came over), while messages keep coming: the first to
    hand over starts live delivery, and what that emits at once reaches it too."""
    class ReadThenWait(MemoryStore):
        """Answers a read with what was stored when it started (as a database does)."""

        async def read_after(self, destination: str, after_seq: int, limit: int) -> List[StoredMessage]:
            messages = await super().read_after(destination, after_seq, limit)
            await asyncio.sleep(0.002)
            return messages

    for _ in range(20):
        hub = Hub(ReadThenWait(), replay_chunk=3)
        for _ in range(5):
            await hub.publish("/d", b"old")
        inboxes = [Inbox() for _ in range(3)]

        async def publisher() -> None:
            for _ in range(15):
                await hub.publish("/d", b"new")
                await asyncio.sleep(0.001)

        await asyncio.gather(publisher(), *(hub.subscribe("/d", inbox, last_seq=n) for n, inbox in enumerate(inboxes)))
        for n, inbox in enumerate(inboxes):
            assert inbox.seqs == list(range(n + 1, 21)), (n, inbox.seqs)
        hub.close()
