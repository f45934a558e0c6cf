"""Xero's API rate limits, per tenant, on an injectable clock (the windows are
the shared sandbox kit, :mod:`wisesync.testing.ratelimit`).

Per tenant: 60 calls in a rolling minute, 5,000 in a rolling day, 5 in flight; per app:
10,000 a minute over all tenants. Every API response carries ``X-MinLimit-Remaining``,
``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``; a refused call is a 429 with
``X-Rate-Limit-Problem: minute | day | appminute | concurrent`` and, for the minute and
day limits, ``Retry-After`` in whole seconds. Refused calls are not counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from wisesync.ratelimit import Clock
from wisesync.testing.ratelimit import Window


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a sandbox enforces (Xero's defaults)."""

    per_minute: int = 60
    per_day: int = 5000
    concurrent: int = 5
    app_per_minute: int = 10000


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one call: ``problem`` None when admitted."""

    problem: str | None
    retry_after: int | None
    headers: dict[str, str]


class RateLimiter:
    """Admits or refuses calls; thread-safe."""

    def __init__(self, clock: Clock, limits: Limits | None = None):
        self.clock = clock
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._minute: dict[str, Window] = {}
        self._day: dict[str, Window] = {}
        self._in_flight: dict[str, int] = {}
        self._app = Window(60.0)

    def _headers(self, tenant: str, now: float) -> dict[str, str]:
        lim = self.limits
        minute = self._minute.setdefault(tenant, Window(60.0)).trim(now)
        day = self._day.setdefault(tenant, Window(86400.0)).trim(now)
        app = self._app.trim(now)
        return {
            "X-MinLimit-Remaining": str(max(0, lim.per_minute - minute)),
            "X-DayLimit-Remaining": str(max(0, lim.per_day - day)),
            "X-AppMinLimit-Remaining": str(max(0, lim.app_per_minute - app)),
        }

    def admit(self, tenant: str) -> Admission:
        """Count one call for ``tenant`` or refuse it; call :meth:`release` after an admit."""
        lim = self.limits
        with self._lock:
            now = self.clock.now()
            headers = self._headers(tenant, now)
            minute, day = self._minute[tenant], self._day[tenant]
            checks = (
                ("day", day, lim.per_day),
                ("minute", minute, lim.per_minute),
                ("appminute", self._app, lim.app_per_minute),
            )
            for name, window, cap in checks:
                if len(window.hits) >= cap:
                    retry = window.retry_after(now)
                    return Admission(name, retry, {**headers, "Retry-After": str(retry)})
            if self._in_flight.get(tenant, 0) >= lim.concurrent:
                return Admission("concurrent", None, headers)
            for window in (minute, day, self._app):
                window.hits.append(now)
            self._in_flight[tenant] = self._in_flight.get(tenant, 0) + 1
            return Admission(None, None, self._headers(tenant, now))

    def release(self, tenant: str) -> None:
        """The admitted call for ``tenant`` finished."""
        with self._lock:
            self._in_flight[tenant] = max(0, self._in_flight.get(tenant, 0) - 1)

    def remaining(self, tenant: str) -> dict[str, str]:
        """The current limit headers for ``tenant`` without counting a call."""
        with self._lock:
            return self._headers(tenant, self.clock.now())

    def reset(self) -> None:
        """Forget every window (sandbox reset)."""
        with self._lock:
            self._minute.clear()
            self._day.clear()
            self._in_flight.clear()
            self._app = Window(60.0)
