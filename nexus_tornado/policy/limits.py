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

Several processes: :attr:`SendRateLimiter.elsewhere` (set by the cluster state on
MongoDB, :mod:`nexus_tornado.hub.mongo_cluster`) says how many SENDs of a user the
*other* processes accepted within their window, as of their last report; a SEND is
admitted while this process's count plus that stays under ``limit``. Each process
reports its own counts (:meth:`SendRateLimiter.counts`). The slack is what other
processes accepted since their last report (one ``cluster_interval``).
"""

from __future__ import annotations

import collections
import logging
import math
import time
from typing import Callable, Deque, Dict

from ..errors import ConfigError, Rejection, RejectionCode

__all__ = ["SendRateLimiter", "UserBytes"]

log = logging.getLogger("nexus_tornado.policy.limits")


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
        #: SENDs of a user other processes accepted within the window (0: one process).
        self.elsewhere: Callable[[str], int] = _none

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
        if len(sends) + self.elsewhere(user_id) >= self.limit:
            oldest = sends[0] if sends else now
            retry_after = math.ceil((oldest + self.window - now) * 1000) / 1000
            retry_after = max(retry_after, 0.001)
            log.debug("SEND by %s rate limited; retry after %.3f s", user_id, retry_after)
            raise Rejection(
                RejectionCode.RATE_LIMITED,
                f"more than {self.limit} messages in {self.window:g} seconds",
                details={"retryAfter": retry_after},
            )
        sends.append(now)

    def counts(self) -> Dict[str, int]:
        """SENDs per user accepted here within the window (what this process reports)."""
        cutoff = self._clock() - self.window
        counts = {user: sum(1 for t in sends if t > cutoff) for user, sends in self._sends.items()}
        return {user: n for user, n in counts.items() if n}

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


def _none(user_id: str) -> int:
    return 0
