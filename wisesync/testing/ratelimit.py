"""Sliding-window rate limiting for sandboxes, on the injectable sandbox clock.

A sandbox that answers 429 like its API counts calls in rolling windows:
:class:`Window` is one window (calls in the last ``span`` seconds and how long until
a slot frees); :class:`WindowLimiter` admits at most ``limit`` calls per key (a
tenant, a company) in any ``span`` seconds. Both read time from a
:class:`wisesync.ratelimit.Clock`, so a :class:`~wisesync.testing.clock.ManualClock`
moves them in tests and the real clock serves ``wisesync sandbox``. A refused call
is not counted.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from wisesync.ratelimit import Clock


class Window:
    """The calls counted in the last ``span`` seconds (not thread-safe: guard it)."""

    def __init__(self, span: float):
        self.span = span
        self.hits: deque[float] = deque()

    def trim(self, now: float) -> int:
        """Forget calls older than the span; how many remain."""
        while self.hits and self.hits[0] <= now - self.span:
            self.hits.popleft()
        return len(self.hits)

    def wait(self, now: float) -> float:
        """Seconds until the oldest counted call leaves the window (0 when empty)."""
        return max(0.0, self.hits[0] + self.span - now) if self.hits else 0.0

    def retry_after(self, now: float) -> int:
        """:meth:`wait` as a ``Retry-After`` value: whole seconds, at least 1."""
        return max(1, math.ceil(self.wait(now)))


class WindowLimiter:
    """At most ``limit`` calls per key in any ``span`` seconds; thread-safe."""

    def __init__(self, limit: float, span: float = 1.0, clock: Clock | None = None):
        self.limit = limit
        self.span = span
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}

    def check(self, key: str = "") -> float | None:
        """None when the call is admitted (and counted), else the seconds to wait."""
        with self._lock:
            now = self.clock.now()
            window = self._windows.setdefault(key, Window(self.span))
            if window.trim(now) >= self.limit:
                return window.wait(now)
            window.hits.append(now)
            return None

    def remaining(self, key: str = "") -> int:
        """Calls ``key`` may still make in the current window."""
        with self._lock:
            window = self._windows.setdefault(key, Window(self.span))
            return max(0, int(self.limit) - window.trim(self.clock.now()))

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()
