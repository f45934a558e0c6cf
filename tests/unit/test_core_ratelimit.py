"""CallLimiter on a fake clock: per-minute, per-second, concurrency, pauses, daily cap."""

from __future__ import annotations

import threading
import time

import pytest

from wisesync.errors import DailyLimitReached
from wisesync.ratelimit import CallLimiter, ScaledClock, TargetLimits, unlimited
from wisesync.testing.clock import ManualClock


def calls(limiter: CallLimiter, n: int, clock: ManualClock) -> list[float]:
    """Make ``n`` calls; return the clock time at which each one started."""
    started = []
    for _ in range(n):
        with limiter.call():
            started.append(clock.now())
    return started


def test_calls_per_minute() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(calls_per_minute=60), clock)
    started = calls(limiter, 60, clock)
    assert clock.slept == 0 and set(started) == {1000.0}  # the first 60 go at once
    started = calls(limiter, 61, clock)
    # the 61st call of the minute waits until the first one leaves the window
    assert started[0] == pytest.approx(1060.0)
    assert started[59] == pytest.approx(1060.0)
    assert started[60] == pytest.approx(1120.0)
    assert limiter.calls == 121
    assert limiter.waited_seconds == pytest.approx(120.0)


def test_sliding_window_frees_slots_as_they_age() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(calls_per_minute=3), clock)
    calls(limiter, 1, clock)  # t=1000
    clock.advance(30)
    calls(limiter, 2, clock)  # t=1030
    assert clock.slept == 0
    (fourth,) = calls(limiter, 1, clock)
    assert fourth == pytest.approx(1060.0)  # only the t=1000 call had to age out


def test_calls_per_second() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(calls_per_second=10, calls_per_minute=500), clock)
    started = calls(limiter, 25, clock)
    assert started[:10] == [1000.0] * 10
    assert started[10:20] == [pytest.approx(1001.0)] * 10
    assert started[20:] == [pytest.approx(1002.0)] * 5
    # never more than 10 starts inside any 1-second window
    for i in range(len(started) - 10):
        assert started[i + 10] - started[i] >= 1.0 - 1e-9


def test_both_windows_apply_together() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(calls_per_second=10, calls_per_minute=15), clock)
    started = calls(limiter, 16, clock)
    assert started[10] == pytest.approx(1001.0)  # per-second limit
    assert started[15] == pytest.approx(1060.0)  # per-minute limit


def test_concurrency_is_enforced_across_threads() -> None:
    limiter = CallLimiter(TargetLimits(concurrency=2), ManualClock(1000.0))
    release = threading.Event()
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    entered = 0

    def worker() -> None:
        nonlocal in_flight, peak, entered
        with limiter.call():
            with lock:
                in_flight += 1
                entered += 1
                peak = max(peak, in_flight)
            release.wait(5)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while entered < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # give a third caller every chance to (wrongly) get in
    assert entered == 2
    release.set()
    for t in threads:
        t.join(5)
    assert entered == 5 and peak == 2 and limiter.calls == 5


def test_concurrency_slot_is_released_when_the_call_fails() -> None:
    limiter = CallLimiter(TargetLimits(concurrency=1), ManualClock(1000.0))
    with pytest.raises(RuntimeError), limiter.call():
        raise RuntimeError("request failed")
    done = threading.Event()

    def again() -> None:
        with limiter.call():
            done.set()

    threading.Thread(target=again).start()
    assert done.wait(2), "the failed call kept its concurrency slot"


def test_pause_for_holds_every_caller() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(), clock)
    calls(limiter, 1, clock)
    limiter.pause_for(30)
    limiter.pause_for(5)  # a shorter Retry-After does not shorten the pause
    (started,) = calls(limiter, 1, clock)
    assert started == pytest.approx(1030.0)
    assert limiter.waited_seconds == pytest.approx(30.0)
    (after,) = calls(limiter, 1, clock)
    assert after == pytest.approx(1030.0)  # the pause is over


def test_daily_cap_raises_daily_limit_reached() -> None:
    clock = ManualClock(1000.0)
    limiter = CallLimiter(TargetLimits(daily_cap=3), clock, system="Xero")
    calls(limiter, 3, clock)
    with pytest.raises(DailyLimitReached) as info, limiter.call():
        pytest.fail("a call over the daily cap must not start")
    assert info.value.system == "Xero"
    assert "daily API limit" in str(info.value)
    assert limiter.calls == 3
    clock.advance(86400 - 1)
    with pytest.raises(DailyLimitReached):
        calls(limiter, 1, clock)
    clock.advance(1)  # a rolling day after the first call
    calls(limiter, 3, clock)
    assert limiter.calls == 6
    with pytest.raises(DailyLimitReached):
        calls(limiter, 1, clock)


def test_xero_limits_on_a_scaled_clock() -> None:
    """Xero's real limits (60/min) on a clock 600x faster: 61 calls take 60 simulated s."""
    clock = ScaledClock(600.0)
    limiter = CallLimiter(TargetLimits(calls_per_minute=60, concurrency=5), clock)
    start, wall = clock.now(), time.monotonic()
    for _ in range(61):
        with limiter.call():
            pass
    assert clock.now() - start >= 60.0
    assert time.monotonic() - wall < 5  # 60 simulated seconds in about 0.1 real ones


def test_unlimited_never_waits() -> None:
    limiter = unlimited()
    for _ in range(2000):
        with limiter.call():
            pass
    assert limiter.waited_seconds == 0 and limiter.calls == 2000


def test_before_each_call_hooks_run_in_their_thread_and_a_raising_hook_stops_the_call() -> None:
    limiter = unlimited()
    stamps: list[str] = []

    def call_once() -> None:
        with limiter.call():
            pass

    other_thread_calls = threading.Thread(target=call_once)
    with limiter.before_each_call(lambda: stamps.append("outer")):
        with limiter.call():
            pass
        other_thread_calls.start()  # another thread's calls are not this block's
        other_thread_calls.join()
        with limiter.before_each_call(lambda: stamps.append("inner")), limiter.call():
            pass
    with limiter.call():  # outside the block: no hook
        pass
    assert stamps == ["outer", "outer", "inner"]

    def lost() -> None:
        raise RuntimeError("lock lost")

    sent = []
    with (
        pytest.raises(RuntimeError, match="lock lost"),
        limiter.before_each_call(lost),
        limiter.call(),
    ):
        sent.append(1)
    assert sent == [], "the call was not made"
    with limiter.call():  # and its slot was given back
        pass
    assert limiter._in_flight == 0
