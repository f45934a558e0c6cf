"""Client-side call limiting per (company, target), so a ledger never has to say 429.

A :class:`CallLimiter` enforces the limits a target declares (calls per minute,
calls per second, concurrent calls, calls per day) with sliding windows, and can
be paused until a time the server names (Retry-After, daily reset). The clock is
injectable so benchmarks can run Xero's real limits on a scaled clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wisesync.errors import DailyLimitReached


@dataclass(frozen=True, slots=True)
class TargetLimits:
    """What a target declares about its API.

    Attributes:
        batch_size: most documents in one posting call.
        calls_per_minute: sliding 60 s window (Xero 60, QBO 500), None = unlimited.
        calls_per_second: sliding 1 s window (QBO 10), None = unlimited.
        concurrency: calls in flight at once (Xero 5).
        daily_cap: calls per rolling day (Xero 5,000), None = unlimited.
        in_flight_s: how long after a call was sent it may still take effect at the
            ledger: the client's read timeout (60 s) plus the server's own tail. A poster
            that finds a record ``claimed`` by a poster that died or lost its lock waits
            until the claim is this old before asking the ledger whether the record is
            there, so a write still in flight is found, not posted a second time.
    """

    batch_size: int = 50
    calls_per_minute: int | None = None
    calls_per_second: int | None = None
    concurrency: int = 1
    daily_cap: int | None = None
    in_flight_s: float = 90.0


class Clock:
    """Wall time and sleep; replaced by a scaled clock in benchmarks."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock(Clock):
    """A clock that runs ``factor`` times faster than real time (for simulations)."""

    def __init__(self, factor: float):
        self.factor = factor
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.factor

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.factor)


class CallLimiter:
    """Sliding-window and concurrency limiter for one organisation's API.

    Use ``with limiter.call(): response = session.get(...)``. Thread-safe. A call
    takes its window slot when it starts and keeps it until a window span after it
    finished (the server counts it on arrival, somewhere in between).
    """

    def __init__(self, limits: TargetLimits, clock: Clock | None = None, *, system: str = "ledger"):
        self.limits = limits
        self.clock = clock or Clock()
        self.system = system
        self._lock = threading.Condition()
        self._minute: deque[float] = deque()
        self._second: deque[float] = deque()
        self._day: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._mine = threading.local()
        self.calls = 0
        self.waited_seconds = 0.0

    def thread_calls(self) -> int:
        """Calls started through this limiter by the calling thread (the poster counts a
        chunk's calls with it while other chunks of the company use the same limiter)."""
        return getattr(self._mine, "calls", 0)

    @contextmanager
    def before_each_call(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` in the calling thread each time it has a slot and is about to send,
        for the duration of the block (nested blocks add hooks).

        The poster fences a chunk's calls with it: the hook stamps the chunk's journal
        claims with the send time on the session that holds the company's posting lock,
        and raises when that session is gone, so a poster that lost its lock sends
        nothing more. A hook that raises gives the slot back and the call is not made.
        """
        hooks = getattr(self._mine, "before_call", ())
        self._mine.before_call = (*hooks, hook)
        try:
            yield
        finally:
            self._mine.before_call = hooks

    def pause_for(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a server's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    def _delay(self, now: float) -> float:
        """Seconds until a call may start now; 0 if it may. Caller holds the lock."""
        lim = self.limits
        for window, span, cap in (
            (self._minute, 60.0, lim.calls_per_minute),
            (self._second, 1.0, lim.calls_per_second),
        ):
            while window and window[0] <= now - span:
                window.popleft()
            if cap is not None and len(window) >= cap:
                return window[0] + span - now
        while self._day and self._day[0] <= now - 86400:
            self._day.popleft()
        if lim.daily_cap is not None and len(self._day) >= lim.daily_cap:
            reset_in = self._day[0] + 86400 - now
            raise DailyLimitReached(self.system, datetime.now(UTC) + timedelta(seconds=reset_in))
        return max(0.0, self._paused_until - now)

    @contextmanager
    def call(self) -> Iterator[None]:
        """Wait for a free slot under every limit, then hold it for one call."""
        with self._lock:
            while True:
                if self._in_flight >= max(1, self.limits.concurrency):
                    self._lock.wait(0.05)
                    continue
                now = self.clock.now()
                delay = self._delay(now)
                if delay <= 0:
                    break
                self._lock.release()
                try:
                    self.clock.sleep(min(delay, 1.0))
                    self.waited_seconds += min(delay, 1.0)
                finally:
                    self._lock.acquire()
            for window in (self._minute, self._second, self._day):
                window.append(now)
            self._in_flight += 1
            self.calls += 1
        self._mine.calls = self.thread_calls() + 1
        try:
            for hook in getattr(self._mine, "before_call", ()):
                hook()
            yield
        finally:
            with self._lock:
                self._restamp(now, self.clock.now())
                self._in_flight -= 1
                self._lock.notify_all()

    def _restamp(self, started: float, finished: float) -> None:
        """Move a finished call's minute/second slot from its start to its end time.

        The server counted the call when it arrived, which is after it started here;
        keeping the start time would free the slot up to one network latency too early
        and, at the edge of a full window, earn a 429. ``finished`` is not earlier than
        any stamp in the windows, so they stay sorted. Caller holds the lock.
        """
        if finished <= started:
            return
        for window in (self._minute, self._second):
            try:
                window.remove(started)
            except ValueError:  # already aged out of the window
                continue
            window.append(finished)


def unlimited() -> CallLimiter:
    """A limiter that never waits (tests of code that takes a limiter)."""
    return CallLimiter(TargetLimits(batch_size=1000, concurrency=1000))


Sleeper = Callable[[float], None]
