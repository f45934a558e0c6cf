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


@dataclass(slots=True)
class LimitState:
    """The last limit headers Xero sent for a tenant."""

    minute_remaining: int | None = None
    day_remaining: int | None = None
    app_minute_remaining: int | None = None

    def update(self, headers: Mapping[str, str]) -> None:
        """Take the ``X-*Limit-Remaining`` headers of a response (absent ones are kept)."""
        for attr, name in (
            ("minute_remaining", "X-MinLimit-Remaining"),
            ("day_remaining", "X-DayLimit-Remaining"),
            ("app_minute_remaining", "X-AppMinLimit-Remaining"),
        ):
            value = _int(headers.get(name))
            if value is not None:
                setattr(self, attr, value)


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
