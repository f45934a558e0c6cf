"""Xero's limits: declared limits, limit headers, the daily-limit 429, and the core
limiter keeping a finished call's slot until a minute after it finished."""

from datetime import UTC, datetime, timedelta

import pytest

from wisesync.ratelimit import CallLimiter, TargetLimits
from wisesync.testing.clock import ManualClock
from wisesync_xero.limits import LIMITS, LimitState, daily_reset
from wisesync_xero.target import XeroTarget


def test_declared_limits():
    assert XeroTarget.limits == LIMITS
    assert (LIMITS.batch_size, LIMITS.calls_per_minute, LIMITS.concurrency, LIMITS.daily_cap) == (
        50,
        60,
        5,
        5000,
    )


def test_limit_headers_are_kept():
    state = LimitState()
    state.update({"X-MinLimit-Remaining": "12", "X-DayLimit-Remaining": "4321"})
    state.update({"X-AppMinLimit-Remaining": "9999"})
    assert (state.minute_remaining, state.day_remaining, state.app_minute_remaining) == (
        12,
        4321,
        9999,
    )
    state.update({"X-MinLimit-Remaining": "junk"})
    assert state.minute_remaining == 12


def test_answers_to_concurrent_calls_keep_the_lowest_figure_until_they_are_stale():
    state = LimitState()
    for remaining, at in (("57", 0.0), ("56", 0.1), ("58", 0.2), ("59", 0.3)):
        state.update({"X-MinLimit-Remaining": remaining, "X-DayLimit-Remaining": "4996"}, now=at)
    assert state.minute_remaining == 56
    state.update({"X-MinLimit-Remaining": "60", "X-DayLimit-Remaining": "4995"}, now=60.0)
    assert (state.minute_remaining, state.day_remaining) == (60, 4995)


def test_only_the_day_problem_is_a_daily_reset():
    now = datetime(2026, 1, 5, tzinfo=UTC)
    day = {"X-Rate-Limit-Problem": "day", "Retry-After": "73451"}
    assert daily_reset(429, day, now) == now + timedelta(seconds=73451)
    assert daily_reset(429, {"X-Rate-Limit-Problem": "Day"}, now) == now + timedelta(hours=1)
    assert daily_reset(429, {"X-Rate-Limit-Problem": "minute", "Retry-After": "5"}, now) is None
    assert daily_reset(200, day, now) is None


def test_a_slot_is_held_until_a_minute_after_the_call_finished():
    clock = ManualClock()
    limiter = CallLimiter(TargetLimits(calls_per_minute=2), clock)
    with limiter.call():
        clock.advance(0.5)  # the request takes half a second
    with limiter.call():
        pass
    with limiter.call():  # the third waits for the first to age out: from its end
        started = clock.now()
    assert started == pytest.approx(60.5)
