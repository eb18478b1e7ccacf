"""The per-user SEND rate limit: at most ``limit`` SENDs in any ``window`` seconds.

The window is a *sliding log*: each user's accepted SEND times (at most ``limit`` of
them) are kept, and a SEND is admitted when fewer than ``limit`` fall within the last
``window`` seconds. Unlike a fixed window or a token bucket it never admits more than
``limit`` SENDs in any ``window``-long span, and the refusal can say exactly when the
oldest counted SEND leaves the window (``retryAfter``). Refused SENDs are not counted.

The key is the user id, so every connection of one user draws on one budget: build one
limiter per process (the :class:`~nexus_tornado.policy.guard.Guard` holds it) and share
it. Memory is bounded by ``limit`` timestamps per user who sent within the last two
windows: a sweep, run at most once per window from :meth:`check`, drops every user whose
newest SEND has left the window. The clock is injected (``time.monotonic`` by default) so tests
drive time. Meant for one IOLoop thread; it does no locking.

Several processes: :attr:`SendRateLimiter.shared` (a :class:`SharedCounts`, kept on
MongoDB by :mod:`nexus_tornado.hub.mongo_limits`) counts a user's SENDs with the other
processes. A user whose connections are all on this process keeps the local log (each
admission is reported, a few at a time); a user seen on several processes is admitted
by an atomic update of one shared log (:meth:`SendRateLimiter.admit`).
"""

from __future__ import annotations

import collections
import logging
import math
import time
from typing import Callable, Deque, Dict, Iterable, Optional

from ..errors import ConfigError, Rejection, RejectionCode, StoreUnavailable

__all__ = ["SendRateLimiter", "SharedCounts", "UserBytes"]

log = logging.getLogger("nexus_tornado.policy.limits")


class SharedCounts:
    """Per-user counts shared with other processes (interface; on MongoDB:
    :class:`~nexus_tornado.hub.mongo_limits.MongoLimits`). Its calls raise
    :class:`~nexus_tornado.errors.StoreUnavailable` when the shared store cannot answer."""

    async def connect(self, user_id: str, cap: int) -> bool:  # pragma: no cover - interface
        """Count one more connection of the user on every process, unless that makes
        more than ``cap``: then count nothing and return ``False``."""
        raise NotImplementedError

    def disconnect(self, user_id: str) -> None:  # pragma: no cover - interface
        """One connection :meth:`connect` counted is gone."""
        raise NotImplementedError

    async def ready(self, user_id: str) -> None:  # pragma: no cover - interface
        """Return once the user's SENDs may be admitted (or counted locally): the
        local admissions not reported yet are below the bound."""
        raise NotImplementedError

    def shared(self, user_id: str) -> bool:  # pragma: no cover - interface
        """Whether the user's SENDs are admitted through :meth:`admit` (the user is, or
        was lately, on another process too)."""
        raise NotImplementedError

    async def admit(self, user_id: str) -> Optional[float]:  # pragma: no cover - interface
        """Count one SEND in the shared log; ``None`` when admitted, else the seconds
        until the oldest counted one leaves the window."""
        raise NotImplementedError

    def sent(self, user_id: str) -> None:  # pragma: no cover - interface
        """The local log admitted one SEND of the user (to report)."""
        raise NotImplementedError


class SendRateLimiter:
    """At most ``limit`` SENDs per ``window`` seconds per user id (sliding log)."""

    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"send rate limit must be a positive integer, not {limit!r}")
        if not window > 0:
            raise ConfigError(f"send rate window must be positive seconds, not {window!r}")
        self.limit = limit
        self.window = float(window)
        self._clock = clock
        self._sends: Dict[str, Deque[float]] = {}
        self._last_sweep = clock()
        #: The counts shared with other processes (``None``: this process only).
        self.shared: Optional[SharedCounts] = None

    @property
    def tracked_users(self) -> int:
        """How many users currently hold state (for tests and metrics)."""
        return len(self._sends)

    def check(self, user_id: str) -> None:
        """Count one SEND by ``user_id``, or raise ``Rejection("RATE_LIMITED")``.

        ``details.retryAfter`` is the number of seconds (> 0, to the millisecond,
        rounded up) until the oldest counted SEND leaves the window.
        """
        now = self._clock()
        self._sweep(now)
        sends = self._sends.get(user_id)
        if sends is None:
            sends = self._sends[user_id] = collections.deque(maxlen=self.limit)
        cutoff = now - self.window
        while sends and sends[0] <= cutoff:
            sends.popleft()
        if len(sends) >= self.limit:
            raise self.refusal(user_id, sends[0] + self.window - now)
        sends.append(now)
        if self.shared is not None:
            self.shared.sent(user_id)

    async def admit(self, user_id: str) -> None:
        """:meth:`check`, with the other processes: a user on several of them is
        counted in the shared log (one atomic update), any other in the local one."""
        shared = self.shared
        if shared is not None:
            try:
                await shared.ready(user_id)
                if shared.shared(user_id):
                    retry_after = await shared.admit(user_id)
                    if retry_after is not None:
                        raise self.refusal(user_id, retry_after)
                    return
            except StoreUnavailable as exc:
                log.warning("SEND of %s counted on this process only: %s", user_id, exc.log_detail)
        self.check(user_id)

    def refusal(self, user_id: str, retry_after: float) -> Rejection:
        """The ``RATE_LIMITED`` refusal, ``retry_after`` seconds (rounded up to the
        millisecond, at least one) before one more SEND is admitted."""
        retry_after = max(math.ceil(retry_after * 1000) / 1000, 0.001)
        log.debug("SEND by %s rate limited; retry after %.3f s", user_id, retry_after)
        return Rejection(
            RejectionCode.RATE_LIMITED,
            f"more than {self.limit} messages in {self.window:g} seconds",
            details={"retryAfter": retry_after},
        )

    def seed(self, user_id: str, ages: Iterable[float]) -> None:
        """Make the user's local log the SENDs ``ages`` seconds old (the shared log, as
        last read): what the user sent on other processes counts here too."""
        now = self._clock()
        times = sorted(now - age for age in ages if age < self.window)
        if times:
            self._sends[user_id] = collections.deque(times[-self.limit:], maxlen=self.limit)
        else:
            self._sends.pop(user_id, None)

    def remaining(self, user_id: str) -> int:
        """SENDs ``user_id`` may still make right now (does not count one)."""
        sends = self._sends.get(user_id)
        if not sends:
            return self.limit
        cutoff = self._clock() - self.window
        return self.limit - sum(1 for t in sends if t > cutoff)

    def _sweep(self, now: float) -> None:
        """Drop users whose newest SEND has left the window; at most once per window."""
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        cutoff = now - self.window
        idle = [user for user, sends in self._sends.items() if not sends or sends[-1] <= cutoff]
        for user in idle:
            del self._sends[user]


class UserBytes:
    """Bytes each user holds somewhere, over all of their connections, under one bound.

    The glue reports changes (``adjust``) and asks before taking more (``admits``);
    users holding nothing are forgotten, so memory follows the users holding bytes.
    Used for the frames held in uncommitted transactions (``max_transaction_bytes``).
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"byte limit must be a positive integer, not {limit!r}")
        self.limit = limit
        self._held: Dict[str, int] = {}

    def held(self, user_id: str) -> int:
        return self._held.get(user_id, 0)

    def admits(self, user_id: str, size: int) -> bool:
        """Whether ``user_id`` may take ``size`` bytes more."""
        return self._held.get(user_id, 0) + size <= self.limit

    def adjust(self, user_id: str, delta: int) -> None:
        held = self._held.get(user_id, 0) + delta
        if held > 0:
            self._held[user_id] = held
        else:
            self._held.pop(user_id, None)

