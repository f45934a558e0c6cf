"""Small readers for ConnectWise JSON values: amounts, dates, references, text.

The client parses every response with ``parse_float=Decimal``, so amounts
arrive as :class:`~decimal.Decimal` (or int) with all of ConnectWise's up to 7
decimals; these helpers keep them that way.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from wisesync.money import ZERO, MoneyError, to_decimal

_TOO_BIG = Decimal(10) ** 15


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


# --- strict readers: one unreadable value fails its record, not the run ---------------------


class FieldInvalid(ValueError):
    """A ConnectWise value the extractor cannot read; fails (holds) its record alone.

    ``field`` is the path of the value in the ConnectWise response
    (``detail[2].taxRate``), ``why`` says what is wrong with it.
    """

    def __init__(self, field: str, value: Any, why: str):
        self.field, self.value, self.why = field, value, why
        shown = repr(value)
        super().__init__(f"{field} = {shown[:60]}{'...' if len(shown) > 60 else ''}: {why}")


def amount(value: Any, field: str) -> Decimal:
    """A number as an exact Decimal; None / "" are zero.

    Refused (FieldInvalid): booleans, floats (precision already lost), percent strings
    (``"20.00%"``), text that is not a plain number, NaN and infinities, and magnitudes
    no ledger can hold (over 10^15).
    """
    if value is None or value == "":
        return ZERO
    if isinstance(value, (bool, float)):
        raise FieldInvalid(field, value, f"expected a number, got a {type(value).__name__}")
    if isinstance(value, str) and "%" in value:
        raise FieldInvalid(field, value, "a percent string where a number is expected")
    if not isinstance(value, (int, Decimal, str)):
        raise FieldInvalid(field, value, f"expected a number, got a {type(value).__name__}")
    try:
        out = to_decimal(value, field=field)
    except MoneyError as exc:
        raise FieldInvalid(field, value, "not a number") from exc
    if not out.is_finite():
        raise FieldInvalid(field, value, "not a finite number")
    if abs(out) >= _TOO_BIG:
        raise FieldInvalid(field, value, "larger than any ledger amount (10^15)")
    return out


def opt_amount(value: Any, field: str) -> Decimal | None:
    """:func:`amount`, or None when absent."""
    return None if value is None or value == "" else amount(value, field)


#: ConnectWise's own GL export sample writes some detail dates as US local time
#: ("5/1/2014 5:21:58 AM", zynksoftware/Zynk-Workflow, Exporting GL Batches). The month/day
#: order is inferred from that sample (unconfirmed): see :data:`US_DATES`.
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?\s*[AaPp][Mm])?$")
#: Read ``M/D/YYYY`` dates (unconfirmed order; False refuses them as SOURCE_FIELD_INVALID).
US_DATES = True


def date_of(value: Any, field: str, *, required: bool = False) -> date | None:
    """The calendar date of a ConnectWise date value (ISO ``2025-04-25T00:00:00Z``, or the
    ``5/1/2014 5:21:58 AM`` form of the export sample). None when absent (FieldInvalid when
    ``required``); FieldInvalid when present but unreadable."""
    if value is None or value == "":
        if required:
            raise FieldInvalid(field, value, "missing")
        return None
    if not isinstance(value, str):
        raise FieldInvalid(field, value, f"expected a date string, got a {type(value).__name__}")
    found = day(value)
    if found is not None:
        return found
    us = _US_DATE.match(value.strip()) if US_DATES else None
    if us:
        try:
            return date(int(us[3]), int(us[1]), int(us[2]))
        except ValueError:
            pass
    raise FieldInvalid(field, value, "not a date ConnectWise writes (ISO 8601 or M/D/YYYY)")


def int_id(value: Any, field: str) -> int:
    """A record id: a positive int (or digit string); FieldInvalid otherwise."""
    if isinstance(value, bool):
        raise FieldInvalid(field, value, "expected an id, got a boolean")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value() and value > 0:
        return int(value)
    raise FieldInvalid(field, value, "missing or not a positive whole number")


def obj(value: Any, field: str) -> dict[str, Any]:
    """A nested object; None is empty; FieldInvalid for any other type."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise FieldInvalid(field, value, f"expected an object, got a {type(value).__name__}")


def rows(value: Any, field: str) -> list[dict[str, Any]]:
    """A list of objects; None is empty; FieldInvalid for any other shape."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldInvalid(field, value, f"expected a list, got a {type(value).__name__}")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise FieldInvalid(f"{field}[{n}]", item, "expected an object")
    return value


def string(value: Any, field: str) -> str | None:
    """Text as :func:`text`, but only from a string or a number (FieldInvalid otherwise)."""
    if value is None or (isinstance(value, (str, int, Decimal)) and not isinstance(value, bool)):
        return text(value)
    raise FieldInvalid(field, value, f"expected text, got a {type(value).__name__}")


def flag(value: Any, field: str, default: bool = False) -> bool:
    """A boolean; None is ``default``; FieldInvalid for anything else."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise FieldInvalid(field, value, "expected true or false")
