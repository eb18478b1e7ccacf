"""SendRateLimiter: sliding window per user, driven by a fake clock."""

from __future__ import annotations

from typing import Any, List, Optional, Set, Tuple

import pytest

from nexus_tornado.errors import ConfigError, Rejection, StoreUnavailable
from nexus_tornado.policy.limits import SendRateLimiter, SharedCounts


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def refused(limiter: SendRateLimiter, user: str) -> Rejection:
    with pytest.raises(Rejection) as caught:
        limiter.check(user)
    assert caught.value.code == "RATE_LIMITED"
    return caught.value


def test_defaults_are_100_per_minute() -> None:
    limiter = SendRateLimiter(clock=FakeClock())
    assert (limiter.limit, limiter.window) == (100, 60.0)


def test_101st_send_in_a_minute_is_refused_with_retry_after() -> None:
    clock = FakeClock()
    limiter = SendRateLimiter(clock=clock)
    for _ in range(100):
        limiter.check("alice")
    rejection = refused(limiter, "alice")
    assert rejection.details == {"retryAfter": 60.0}
    assert rejection.message == "more than 100 messages in 60 seconds"


def test_retry_after_counts_from_the_oldest_send() -> None:
    clock = FakeClock()
    limiter = SendRateLimiter(clock=clock)
    for _ in range(100):
        limiter.check("alice")
        clock.advance(0.5)  # 100 sends over 50 s
    clock.advance(-0.5 + 0.25)  # now = start + 49.75
    assert refused(limiter, "alice").details["retryAfter"] == pytest.approx(10.25)


def test_retry_after_is_positive_up_to_the_last_instant() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=1, window=60.0, clock=clock)
    limiter.check("alice")
    clock.now = 59.9999999
    retry = refused(limiter, "alice").details["retryAfter"]
    assert isinstance(retry, float) and retry > 0


def test_retry_after_is_at_least_a_millisecond_where_float_rounding_gives_zero() -> None:
    # The oldest send is still (just) in the window, yet oldest + window - now rounds to
    # 0.0: the client is told to wait a millisecond, never 0.
    sent_at, now = 16370.887284248909, 16430.887284248907
    assert sent_at > now - 60.0 and sent_at + 60.0 - now == 0.0
    clock = FakeClock(sent_at)
    limiter = SendRateLimiter(limit=1, window=60.0, clock=clock)
    limiter.check("alice")
    clock.now = now
    assert refused(limiter, "alice").details["retryAfter"] == 0.001


def test_window_slides() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=3, window=60.0, clock=clock)
    for t in (0.0, 10.0, 20.0):
        clock.now = t
        limiter.check("alice")
    clock.now = 59.0
    refused(limiter, "alice")
    clock.now = 60.0  # the send at t=0 leaves the window: one slot frees
    limiter.check("alice")
    assert refused(limiter, "alice").details["retryAfter"] == pytest.approx(10.0)
    clock.now = 70.0  # the send at t=10 leaves
    limiter.check("alice")
    refused(limiter, "alice")


def test_window_is_not_fixed() -> None:
    # A fixed one-minute window would allow 3 at 59 s and 3 more at 61 s.
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=3, window=60.0, clock=clock)
    clock.now = 59.0
    for _ in range(3):
        limiter.check("alice")
    clock.now = 61.0
    refused(limiter, "alice")


def test_refused_sends_are_not_counted() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=2, window=60.0, clock=clock)
    limiter.check("alice")
    limiter.check("alice")
    for t in range(1, 60):
        clock.now = float(t)
        refused(limiter, "alice")
    clock.now = 60.0
    limiter.check("alice")  # would be refused if refusals had been counted


def test_users_are_independent() -> None:
    clock = FakeClock()
    limiter = SendRateLimiter(limit=5, clock=clock)
    for _ in range(5):
        limiter.check("alice")
    refused(limiter, "alice")
    for _ in range(5):
        limiter.check("bob")
    refused(limiter, "bob")
    assert limiter.remaining("carol") == 5


def test_one_user_shares_one_budget_across_connections() -> None:
    # Two connections of alice call the same limiter with her user id.
    limiter = SendRateLimiter(limit=4, clock=FakeClock())
    for connection in ("conn-1", "conn-2", "conn-1", "conn-2"):
        limiter.check("alice")
    refused(limiter, "alice")


def test_remaining() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=3, window=60.0, clock=clock)
    assert limiter.remaining("alice") == 3
    limiter.check("alice")
    limiter.check("alice")
    assert limiter.remaining("alice") == 1
    clock.now = 60.0
    assert limiter.remaining("alice") == 3


def test_idle_users_are_dropped() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(clock=clock)
    for n in range(10000):
        limiter.check(f"user-{n}")
    assert limiter.tracked_users == 10000
    clock.now = 30.0
    limiter.check("recent")
    clock.now = 61.0  # the 10,000 are idle; "recent" sent 31 s ago
    limiter.check("late")
    assert limiter.tracked_users == 2
    clock.now = 122.0
    limiter.check("late")
    assert limiter.tracked_users == 1


def test_state_stays_bounded_under_churn() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=10, window=60.0, clock=clock)
    peak = 0
    for n in range(20000):  # a new user every 0.1 s: about 600 per window
        clock.now = n * 0.1
        limiter.check(f"user-{n}")
        peak = max(peak, limiter.tracked_users)
    assert peak <= 1201  # at most two windows' worth


def test_a_dropped_user_starts_afresh() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(limit=2, window=60.0, clock=clock)
    limiter.check("alice")
    limiter.check("alice")
    clock.now = 200.0
    limiter.check("bob")  # sweeps alice away
    limiter.check("alice")
    limiter.check("alice")
    refused(limiter, "alice")


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "100", None])
def test_bad_limits_are_config_errors(limit: Any) -> None:
    with pytest.raises(ConfigError):
        SendRateLimiter(limit)


@pytest.mark.parametrize("window", [0, -60.0])
def test_bad_windows_are_config_errors(window: float) -> None:
    with pytest.raises(ConfigError):
        SendRateLimiter(10, window)


def test_user_bytes_bound_each_user_and_forget_those_holding_nothing() -> None:
    from nexus_tornado.policy.limits import UserBytes

    held = UserBytes(1000)
    assert held.admits("a", 1000) and not held.admits("a", 1001)
    held.adjust("a", 600)
    assert not held.admits("a", 401) and held.admits("a", 400) and held.admits("b", 1000)
    held.adjust("a", -600)
    assert held.held("a") == 0 and held._held == {}
    with pytest.raises(ConfigError):
        UserBytes(0)


def test_a_seed_makes_sends_made_elsewhere_count_here() -> None:
    clock = FakeClock()
    limiter = SendRateLimiter(10, 60.0, clock=clock)
    limiter.seed("u", [59.0] + [1.0] * 6 + [61.0])  # the last one already left the window
    for _ in range(3):
        limiter.check("u")
    assert refused(limiter, "u").details == {"retryAfter": 1.0}  # the 59 s old one leaves first
    limiter.check("other")  # others are unaffected
    limiter.seed("u", [])  # nothing left in the shared log
    limiter.check("u")
    assert limiter.remaining("u") == 9


class Shared(SharedCounts):
    """Counts shared with other processes: ``users`` are on several, the shared log
    admits ``room`` more SENDs; records what the limiter asked."""

    def __init__(self, users: Set[str], room: int) -> None:
        self.users, self.room = users, room
        self.calls: List[Tuple[str, str]] = []
        self.down = False

    async def ready(self, user_id: str) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.calls.append(("ready", user_id))

    def shared(self, user_id: str) -> bool:
        return user_id in self.users

    async def admit(self, user_id: str) -> Optional[float]:
        self.calls.append(("admit", user_id))
        if self.room <= 0:
            return 12.3454
        self.room -= 1
        return None

    def sent(self, user_id: str) -> None:
        self.calls.append(("sent", user_id))


@pytest.mark.gen_test
async def test_admit_counts_a_shared_user_in_the_shared_log_and_any_other_locally() -> None:
    limiter = SendRateLimiter(3, 60.0, clock=FakeClock())
    shared = Shared({"spread"}, room=1)
    limiter.shared = shared
    await limiter.admit("spread")
    with pytest.raises(Rejection) as caught:
        await limiter.admit("spread")
    assert caught.value.code == "RATE_LIMITED" and caught.value.details == {"retryAfter": 12.346}
    await limiter.admit("home")  # one process: the local log, reported
    assert shared.calls == [("ready", "spread"), ("admit", "spread"), ("ready", "spread"), ("admit", "spread"),
                            ("ready", "home"), ("sent", "home")]
    assert limiter.remaining("home") == 2 and limiter.remaining("spread") == 3


@pytest.mark.gen_test
async def test_admit_falls_back_to_the_local_log_when_the_shared_one_cannot_answer() -> None:
    limiter = SendRateLimiter(1, 60.0, clock=FakeClock())
    shared = Shared({"spread"}, room=5)
    shared.down = True
    limiter.shared = shared
    await limiter.admit("spread")
    with pytest.raises(Rejection):
        await limiter.admit("spread")
    assert ("admit", "spread") not in shared.calls


@pytest.mark.parametrize(
    "args, message",
    [
        ((0,), "send rate limit must be a positive integer, not 0"),
        (("100",), "send rate limit must be a positive integer, not '100'"),
        ((10, 0), "send rate window must be positive seconds, not 0"),
        ((10, -60.0), "send rate window must be positive seconds, not -60.0"),
    ],
)
def test_config_errors_name_the_bad_value(args: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SendRateLimiter(*args)
    assert info.value.message == message


def test_a_window_under_a_second_is_allowed() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(1, 0.5, clock=clock)
    limiter.check("alice")
    assert refused(limiter, "alice").details == {"retryAfter": 0.5}
    clock.now = 0.5
    limiter.check("alice")


def test_a_refusal_is_logged_with_the_user_and_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(1, 60.0, clock=clock)
    limiter.check("alice")
    clock.now = 15.0
    with caplog.at_level("DEBUG", logger="nexus_tornado.policy.limits"):
        refused(limiter, "alice")
    assert caplog.messages == ["SEND by alice rate limited; retry after 45.000 s"]


def test_a_send_exactly_one_window_old_is_no_longer_counted() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(10, 60.0, clock=clock)
    limiter.check("a")
    clock.now = 60.0
    assert limiter.remaining("a") == 10


def test_the_sweep_runs_once_a_window_has_passed_to_the_instant() -> None:
    clock = FakeClock(0.0)
    limiter = SendRateLimiter(10, 60.0, clock=clock)
    limiter.check("a")
    clock.now = 60.0  # a window since the last sweep; a's send is exactly one window old
    limiter.check("b")
    assert limiter.tracked_users == 1


def test_the_sweep_runs_at_most_once_per_window() -> None:
    clock = FakeClock(1000.0)
    limiter = SendRateLimiter(10, 60.0, clock=clock)
    clock.now = 1059.0
    limiter.check("a")
    clock.now = 1060.0
    limiter.check("b")  # sweeps (a is recent); the next sweep is due at 1120
    clock.now = 1119.5
    limiter.check("c")  # a is idle now, but no sweep is due yet
    assert limiter.tracked_users == 3
    clock.now = 1120.0
    limiter.check("c")  # the sweep is due: a and b (sent at 1060) are idle
    assert limiter.tracked_users == 1


@pytest.mark.parametrize(
    "limit, message",
    [
        (0, "byte limit must be a positive integer, not 0"),
        (1.5, "byte limit must be a positive integer, not 1.5"),
        (True, "byte limit must be a positive integer, not True"),
        ("100", "byte limit must be a positive integer, not '100'"),
    ],
)
def test_bad_byte_limits_are_config_errors(limit: Any, message: str) -> None:
    from nexus_tornado.policy.limits import UserBytes

    with pytest.raises(ConfigError) as info:
        UserBytes(limit)
    assert info.value.message == message


def test_user_bytes_keep_each_users_running_total() -> None:
    from nexus_tornado.policy.limits import UserBytes

    held = UserBytes(1)  # the smallest bound there is
    assert held.admits("a", 1) and not held.admits("a", 2)
    held.adjust("a", 1)
    assert held.held("a") == 1 and not held.admits("a", 1)
    held = UserBytes(1000)
    held.adjust("a", 600)
    held.adjust("b", 50)
    held.adjust("a", 100)
    assert (held.held("a"), held.held("b")) == (700, 50)
    held.adjust("a", -699)
    assert held.held("a") == 1
    # Releasing for a user holding nothing is harmless.
    held.adjust("c", 0)
    held.adjust("c", -10)
    assert held.held("c") == 0 and held.held("b") == 50
