"""A clock tests move by hand, shared by every test and sandbox that needs one.

:class:`ManualClock` implements :class:`wisesync.ratelimit.Clock`: ``now()`` reads a
counter, ``sleep()`` advances it at once (and records how long was asked), so a retry
policy, a call limiter, token expiry or a sandbox's rate-limit window can be driven
without waiting. The ``manual_clock`` fixture (:mod:`wisesync.testing.fixtures`) hands
one to a test.
"""

from __future__ import annotations

import threading

from wisesync.ratelimit import Clock


class ManualClock(Clock):
    """Manual time: ``advance(1801)`` expires every 30-minute token; ``sleep`` advances.

    Attributes:
        sleeps: every positive sleep asked for, in order.
    """

    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Current reading in seconds."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Sleeping advances the clock instead of blocking, and is recorded."""
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        with self._lock:
            self._now += max(0.0, seconds)

    @property
    def slept(self) -> float:
        """Total seconds slept."""
        with self._lock:
            return sum(self.sleeps)
