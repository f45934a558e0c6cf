"""Small readers for ConnectWise JSON values: amounts, dates, references, text.

The client parses every response with ``parse_float=Decimal``, so amounts
arrive as :class:`~decimal.Decimal` (or int) with all of ConnectWise's up to 7
decimals; these helpers keep them that way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from wisesync.money import to_decimal


def dec(value: Any, field: str = "amount") -> Decimal:
    """An amount as a Decimal (None and "" are zero; floats refused)."""
    return to_decimal(value, field=field)


def opt_dec(value: Any, field: str = "amount") -> Decimal | None:
    """An amount, or None when absent."""
    return None if value is None or value == "" else to_decimal(value, field=field)


def day(value: Any) -> date | None:
    """The calendar date of a ConnectWise date string (``2025-04-25T00:00:00Z``).

    ConnectWise stores document dates as midnight UTC of the local date, so the
    date part is taken as written, without a timezone shift.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            return None


def text(value: Any) -> str | None:
    """Stripped text, None when empty."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def ref_id(value: Any) -> int | None:
    """The ``id`` of a reference object (``{"id": 7, "name": ...}``), or an int as is."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ref_name(value: Any, *keys: str) -> str | None:
    """The first non-empty of ``keys`` (default ``name``, ``identifier``) of a reference."""
    if isinstance(value, str):
        return text(value)
    if not isinstance(value, dict):
        return None
    for key in keys or ("name", "identifier"):
        found = text(value.get(key))
        if found:
            return found
    return None


def whole_days(value: Any) -> int | None:
    """A whole, non-negative number of days from an int or a digit string; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value >= 0 else None
    raw = str(value).strip()
    return int(raw) if raw.isdigit() else None


def gl_ids(value: Any) -> list[str]:
    """GL entry ids from the export's comma-separated string (or a list), in order, unique."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    seen: dict[str, None] = {}
    for item in items:
        ident = str(item).strip()
        if ident:
            seen.setdefault(ident, None)
    return list(seen)
