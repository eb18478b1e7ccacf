"""Liveness and readiness, for load balancers and orchestrators.

- **Liveness** (:class:`LivenessHandler`, ``health_path``; the command's ``/healthz``):
  200 whenever the IOLoop answers a request. It never asks the store: a database
  outage must not get healthy processes restarted.
- **Readiness** (:class:`ReadinessHandler`, ``readiness_path``; the command's
  ``/readyz``): 503 while the store cannot take writes or the server is shutting down,
  200 otherwise. :class:`Readiness` probes the store with a write every
  ``readiness_interval`` seconds (one probe at a time; a probe that hangs counts as
  failed after the store's own timeout), and a failed store operation of any client
  marks the server unready at once, until the next probe succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, Optional

import tornado.web

from ..hub.store import Store
from ..glue.services import Services
from ..transport.body_limit import BodyLimitMixin

log = logging.getLogger("nexus_tornado.ops.health")


class Readiness:
    """Whether the plugin can take messages now: the store takes writes, no shutdown."""

    def __init__(self, store: Store, services: Services, interval: float) -> None:
        self.store = store
        self.services = services
        self.interval = interval
        self.store_ok = True
        #: What the last failure was (for the response body and the log).
        self.detail = ""
        self.changed_at = time.time()
        self._task: Optional["asyncio.Task[None]"] = None
        self._probing = False

    @property
    def ready(self) -> bool:
        return self.store_ok and not self.services.closing

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def store_failed(self, operation: str, error: BaseException) -> None:
        """A store operation failed: unready until a probe succeeds."""
        self._set(False, "%s failed: %s" % (operation, _detail(error)))

    async def probe(self) -> bool:
        """Probe the store once now; return whether it took the write."""
        if self._probing:
            return self.store_ok
        self._probing = True
        try:
            await self.store.probe()
        except Exception as exc:
            self._set(False, "probe failed: %s" % _detail(exc))
        else:
            self._set(True, "")
        finally:
            self._probing = False
        return self.store_ok

    def status(self) -> Dict[str, Any]:
        return {
            "ready": self.ready,
            "store": "ok" if self.store_ok else "unavailable",
            "closing": self.services.closing,
            "since": self.changed_at,
            **({"detail": self.detail} if self.detail else {}),
        }

    def _set(self, ok: bool, detail: str) -> None:
        if ok != self.store_ok:
            self.changed_at = time.time()
            if ok:
                log.info("store takes writes again: ready")
            else:
                log.warning("store cannot take writes (%s): not ready", detail)
        self.store_ok = ok
        self.detail = detail

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.probe()


def _detail(error: BaseException) -> str:
    """What went wrong, for the log and the readiness body (never client data)."""
    detail = getattr(error, "log_detail", None) or type(error).__name__
    return detail if len(detail) <= 200 else detail[:197] + "..."


class LivenessHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """``GET``: 200 while the IOLoop answers."""

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.write({"status": "ok"})


class ReadinessHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """``GET``: 200 when ready, 503 when the store cannot take writes or shutting down."""

    def initialize(self, readiness: Readiness, public: bool = False) -> None:
        self.readiness = readiness
        #: Served to anyone: the body leaves out ``detail`` (a store error can name
        #: internal hosts); operators read it on the admin address and in the log.
        self.public = public

    def get(self) -> None:
        status = self.readiness.status()
        if self.public:
            status.pop("detail", None)
        self.set_status(200 if status["ready"] else 503)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(status))
