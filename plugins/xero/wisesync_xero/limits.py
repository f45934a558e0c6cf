"""Xero's API limits and the response headers that report them (reference/xero.md section 4).

Per tenant: 60 calls in a rolling minute, 5 in flight, 5,000 a day. The poster
enforces :data:`LIMITS` with a :class:`~wisesync.ratelimit.CallLimiter` before each
call, so Xero should never have to refuse one; the headers are still read because
other apps share the tenant's budget:

* ``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining``: kept on the client for metrics
  and tests;
* a 429 with ``X-Rate-Limit-Problem: minute`` (or ``appminute``, ``concurrent``):
  :class:`wisesync.http.ApiClient` pauses the limiter for ``Retry-After`` and retries;
* a 429 with ``X-Rate-Limit-Problem: day``: :class:`~wisesync.errors.DailyLimitReached`
  with the reset time, so the poster parks the company's records without failing them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wisesync.http import retry_after_seconds
from wisesync.ratelimit import TargetLimits

LIMITS = TargetLimits(batch_size=50, calls_per_minute=60, concurrency=5, daily_cap=5000)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


#: Responses to calls made at the same time arrive in any order; within this many
#: seconds of the last reading the lower figure is the true one.
CONCURRENT_READINGS_S = 5.0


@dataclass(slots=True)
class LimitState:
    """What is left of a tenant's limits, from the ``X-*Limit-Remaining`` headers.

    Calls in flight together (reference data is four GETs at once) answer in any
    order, so the last response read is not the latest count: a figure only rises
    (the rolling minute moved on, the day reset) once the last reading is
    :data:`CONCURRENT_READINGS_S` old.
    """

    minute_remaining: int | None = None
    day_remaining: int | None = None
    app_minute_remaining: int | None = None
    read_at: float = float("-inf")

    def update(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Take the ``X-*Limit-Remaining`` headers of a response (absent ones are kept)."""
        now = time.monotonic() if now is None else now
        fresh = now - self.read_at < CONCURRENT_READINGS_S
        seen = False
        for attr, name in (
            ("minute_remaining", "X-MinLimit-Remaining"),
            ("day_remaining", "X-DayLimit-Remaining"),
            ("app_minute_remaining", "X-AppMinLimit-Remaining"),
        ):
            value = _int(headers.get(name))
            if value is None:
                continue
            seen = True
            kept = getattr(self, attr)
            if not fresh or kept is None or value < kept:
                setattr(self, attr, value)
        if seen:
            self.read_at = now


def daily_reset(
    status: int, headers: Mapping[str, str], now: datetime | None = None
) -> datetime | None:
    """When a response is Xero's daily-limit 429, the time the limit resets; else None.

    Without a usable ``Retry-After`` the reset is assumed an hour away (the poster
    tries again then).
    """
    if status != 429 or (headers.get("X-Rate-Limit-Problem") or "").strip().lower() != "day":
        return None
    now = now or datetime.now(UTC)
    wait = retry_after_seconds(headers)
    return now + timedelta(seconds=wait if wait is not None else 3600)
