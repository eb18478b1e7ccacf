"""Prometheus metrics of one plugin, on a registry of its own.

Everything is named ``nexus_*``. Most numbers are plain counters that the STOMP glue
(:class:`~nexus_tornado.glue.services.ServerStats`), the sessions
(:class:`~nexus_tornado.stomp.FrameCounts`) and the hub
(:class:`~nexus_tornado.hub.hub.HubStats`) bump as they work; they are turned into
metric families only when ``/metrics`` is scraped (:class:`StatsCollector`), so the
delivery path pays one integer addition per publish, not a Prometheus call per
subscriber. Store latency and errors are observed per store operation
(:class:`TimedStore`), the event-loop lag by a timer (:class:`LoopLagMonitor`).

Each plugin owns a ``CollectorRegistry``, so several plugins in one process (or one
test run) never collide; the host app can scrape ``plugin.metrics.registry`` itself or
mount :class:`MetricsHandler` with the ``metrics_path`` setting. The metric list is in
docs/operations.md.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Mapping, Optional, cast

import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..errors import RejectionCode
from ..hub.store import Store
from ..transport.body_limit import BodyLimitMixin

if TYPE_CHECKING:  # pragma: no cover
    from ..hub.hub import Hub
    from ..glue.services import Services

#: Key of the :class:`Metrics` object in handler ``initialize`` arguments.
METRICS_KEY = "metrics"

#: Store latency buckets, seconds: a healthy store answers in milliseconds; the top
#: buckets catch a store that is timing out (``mongo_timeout`` is 5 s by default).
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Event-loop lag buckets, seconds.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: How often the event-loop lag is measured, seconds.
LAG_INTERVAL = 0.5


class Metrics:
    """The registry of one plugin and the instruments that are not plain counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        #: Store operation times and failures, by operation (see :class:`StoreTimings`).
        self.store = StoreTimings()
        registry.register(self.store)
        self.loop_lag = Histogram(
            "nexus_event_loop_lag_seconds", "How late a timer due every %g s ran: time the IOLoop was busy." % LAG_INTERVAL,
            buckets=LAG_BUCKETS, registry=registry,
        )
        self.loop_lag_last = Gauge(
            "nexus_event_loop_lag_last_seconds", "The event-loop lag last measured.", registry=registry,
        )
        self.stream_lag = Gauge(
            "nexus_stream_lag_seconds",
            "How far behind the shared store's event stream this process is, by stream "
            "(the age of the newest message the change stream brought, when it came).",
            ["stream"], registry=registry,
        )

    def collect_from(self, services: "Services", hub: "Hub") -> None:
        """Export the running totals of ``services`` and ``hub`` (once, at set-up)."""
        self.registry.register(StatsCollector(services, hub))

    def observe_stream_lag(self, seconds: float, stream: str = "messages") -> None:
        """The hook for cross-process fan-out: how far behind its stream this process is."""
        self.stream_lag.labels(stream).set(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class StatsCollector(Collector):
    """Turns the running totals into metric families at scrape time."""

    def __init__(self, services: "Services", hub: "Hub") -> None:
        self.services = services
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        services, hub = self.services, self.hub
        stats, hub_stats = services.stats, hub.stats

        info = GaugeMetricFamily("nexus_info", "nexus-tornado's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        live: Dict[str, int] = {}
        for connection in list(services.connections):
            transport = connection.transport or "unknown"
            live[transport] = live.get(transport, 0) + 1
        yield _labelled(GaugeMetricFamily, "nexus_connections", "Open connections, by transport.", "transport", live)
        yield _labelled(CounterMetricFamily, "nexus_connections_opened", "Connections opened, by transport.", "transport", stats.opened)
        yield _labelled(CounterMetricFamily, "nexus_connections_closed", "Connections closed, by reason.", "reason", stats.closed)
        yield CounterMetricFamily(
            "nexus_slow_consumer_closes", "Connections closed because the client did not take its output (max_pending_output).",
            value=stats.closed.get("slow consumer", 0),
        )
        yield GaugeMetricFamily("nexus_subscriptions", "Live subscriptions over every destination.", value=hub.subscription_count())
        yield GaugeMetricFamily("nexus_users_online", "Users with at least one connection.", value=len(services.presence.online()))

        yield _labelled(CounterMetricFamily, "nexus_frames_received", "STOMP frames received, by command.", "command", stats.frames.received)
        sent = dict(stats.frames.sent)
        sent["MESSAGE"] = hub_stats.delivered + hub_stats.replayed + stats.messages_sent
        yield _labelled(CounterMetricFamily, "nexus_frames_sent", "STOMP frames sent, by command.", "command", sent)

        yield CounterMetricFamily("nexus_messages_published", "Messages persisted and broadcast.", value=hub_stats.published)
        yield CounterMetricFamily(
            "nexus_messages_delivered", "Live deliveries: messages broadcast times the subscribers each reached.",
            value=hub_stats.delivered,
        )
        yield CounterMetricFamily(
            "nexus_messages_replayed", "Stored messages delivered by replays (last-seq, undelivered notifications).",
            value=hub_stats.replayed,
        )
        yield CounterMetricFamily(
            "nexus_replay_gaps", "Replayed messages marked gap-from/gap-to (history dropped by retention or never written).",
            value=hub_stats.gaps,
        )
        yield _labelled(
            CounterMetricFamily, "nexus_rejections", "Frames refused on /user/queue/errors, by code.", "code", stats.rejections
        )
        yield CounterMetricFamily(
            "nexus_rate_limited", "SENDs refused by the per-user rate limit (sends_per_minute).",
            value=stats.rejections.get(RejectionCode.RATE_LIMITED.value, 0),
        )


def _labelled(family: Any, name: str, documentation: str, label: str, values: Mapping[str, int]) -> Metric:
    metric = family(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], value)
    return metric


class _Timing:
    """One operation's latency histogram and failure count, as plain numbers."""

    __slots__ = ("buckets", "total", "errors")

    def __init__(self) -> None:
        self.buckets = [0] * (len(STORE_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0
        self.errors = 0


class StoreTimings(Collector):
    """``nexus_store_operation_seconds`` and ``nexus_store_errors_total``.

    Kept as plain counts (a bisect and two additions per operation) and turned into
    metric families at scrape time: cheaper on the publish path than a
    ``prometheus_client.Histogram``, which takes a lock per observation.
    """

    def __init__(self) -> None:
        self.operations: Dict[str, _Timing] = {}

    def timing(self, operation: str) -> _Timing:
        timing = self.operations.get(operation)
        if timing is None:
            timing = self.operations[operation] = _Timing()
        return timing

    def observe(self, timing: _Timing, seconds: float) -> None:
        timing.buckets[bisect.bisect_left(STORE_BUCKETS, seconds)] += 1
        timing.total += seconds

    def collect(self) -> Iterator[Metric]:
        seconds = HistogramMetricFamily(
            "nexus_store_operation_seconds", "Time store operations took, by operation (append, read_after, ...).",
            labels=["operation"],
        )
        errors = CounterMetricFamily(
            "nexus_store_errors", "Store operations that failed (the store was down, slow or refused), by operation.",
            labels=["operation"],
        )
        for operation, timing in sorted(self.operations.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(STORE_BUCKETS + (float("inf"),), timing.buckets):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
            seconds.add_metric([operation], buckets, timing.total)
            errors.add_metric([operation], timing.errors)
        yield seconds
        yield errors


class TimedStore:
    """Stands in for a store, reporting each coroutine call's time and failure to
    :class:`StoreTimings` by method name (``append``, ``read_after``, ...).

    The hub works through it. Everything else (attributes, plain methods) is the
    store's own, so a store's features and class attributes reach the hub unchanged;
    ``inner`` is the store itself.
    """

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self._timings = metrics.store
        #: Called with the operation's name and the error when one fails (readiness listens).
        self.on_failure: Optional[Callable[[str, BaseException], None]] = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapped = self._timed(name, attribute)
        setattr(self, name, wrapped)  # found directly from now on
        return wrapped

    def _timed(self, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        timings = self._timings
        timing = timings.timing(operation)
        clock = time.perf_counter

        async def call(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return await method(*args, **kwargs)
            except Exception as exc:
                timing.errors += 1
                if self.on_failure is not None:
                    self.on_failure(operation, exc)
                raise
            finally:
                timings.observe(timing, clock() - started)

        return call

    def as_store(self) -> Store:
        """This object, typed as the store it stands in for."""
        return cast(Store, self)


class LoopLagMonitor:
    """Measures how late a timer due every :data:`LAG_INTERVAL` seconds runs."""

    def __init__(self, metrics: Metrics, interval: float = LAG_INTERVAL) -> None:
        self.metrics = metrics
        self.interval = interval
        self._handle: Optional[asyncio.TimerHandle] = None
        self._due = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.interval
        self._handle = loop.call_at(self._due, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        lag = max(0.0, now - self._due)
        self.metrics.loop_lag.observe(lag)
        self.metrics.loop_lag_last.set(lag)
        self._due = now + self.interval
        self._handle = loop.call_at(self._due, self._fire)


class MetricsHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """``GET``: the plugin's metrics in Prometheus' text format."""

    def initialize(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.write(self.metrics.exposition())
