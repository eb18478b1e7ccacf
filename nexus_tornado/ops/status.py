"""The operator's page: live connections, busiest destinations, rates, rejections.

:class:`Activity` samples the running totals every :data:`SAMPLE_SECONDS` seconds and
keeps the last :data:`SAMPLES` samples (five minutes); :class:`StatusDataHandler`
serves them with the live numbers as JSON, and :class:`StatusPageHandler` a page
(``status.html``: plain ES5 and inline SVG, nothing from a CDN) that polls it and
draws messages/s and rejections/s.

Destination names can carry user ids (``/topic/notifications/alice``): mount the page
(``status_path``) only where operators, not the public, can reach it.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional

import tornado.escape
import tornado.web
from tornado.ioloop import PeriodicCallback

from .. import __version__
from ..hub.hub import Hub
from ..glue.services import Services
from ..transport.body_limit import BodyLimitMixin

#: Seconds between two samples.
SAMPLE_SECONDS = 2.0
#: Samples kept (5 minutes).
SAMPLES = 150
#: Destinations listed as the busiest.
TOP = 10

PAGE = Path(__file__).resolve().parent / "status.html"


class Activity:
    """Samples of the totals, for rates and the chart."""

    def __init__(self, services: Services, hub: Hub, interval: float = SAMPLE_SECONDS) -> None:
        self.services = services
        self.hub = hub
        self.interval = interval
        self.samples: Deque[Dict[str, Any]] = collections.deque(maxlen=SAMPLES)
        #: Per-sample message counts by destination (the top of each sample only).
        self._destinations: Deque[Dict[str, int]] = collections.deque(maxlen=SAMPLES)
        self._timer: Optional[PeriodicCallback] = None

    def start(self) -> None:
        self.sample()
        self._timer = PeriodicCallback(self.sample, self.interval * 1000)
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def sample(self) -> None:
        stats, hub_stats = self.services.stats, self.hub.stats
        self.samples.append({
            "t": time.time(),
            "published": hub_stats.published,
            "delivered": hub_stats.delivered + hub_stats.replayed,
            "rejections": sum(stats.rejections.values()),
            "connections": len(self.services.connections),
        })
        counts = self.hub.stats.take_destinations()
        if len(counts) > 4 * TOP:
            counts = dict(sorted(counts.items(), key=lambda item: -item[1])[: 4 * TOP])
        self._destinations.append(counts)

    def snapshot(self) -> Dict[str, Any]:
        """What the page shows, now."""
        services, stats = self.services, self.services.stats
        transports: Dict[str, int] = {}
        for connection in list(services.connections):
            name = connection.transport or "unknown"
            transports[name] = transports.get(name, 0) + 1
        recent: Dict[str, int] = {}
        for sample in self._destinations:
            for destination, count in sample.items():
                recent[destination] = recent.get(destination, 0) + count
        window = (self.samples[-1]["t"] - self.samples[0]["t"]) if len(self.samples) > 1 else 0.0
        return {
            "version": __version__,
            "now": time.time(),
            "closing": services.closing,
            "connections": sum(transports.values()),
            "transports": transports,
            "users_online": len(services.presence.online()),
            "subscriptions": self.hub.subscription_count(),
            "published": self.hub.stats.published,
            "rejections": dict(stats.rejections),
            "closes": dict(stats.closed),
            "busiest_by_subscribers": self.hub.busiest(TOP),
            "busiest_by_messages": _top(recent, TOP),
            "window_seconds": window,
            "samples": list(self.samples),
        }


def _top(counts: Dict[str, int], limit: int) -> List[Any]:
    return [[d, n] for d, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]]


class StatusDataHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """``GET``: :meth:`Activity.snapshot` as JSON."""

    def initialize(self, activity: Activity) -> None:
        self.activity = activity

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.write(self.activity.snapshot())


class StatusPageHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """``GET``: the page, which polls ``data_path``."""

    def initialize(self, data_path: str) -> None:
        self.data_path = data_path

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        )
        self.write(PAGE.read_text(encoding="utf-8").replace("{{DATA_PATH}}", tornado.escape.json_encode(self.data_path)))
