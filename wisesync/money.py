"""Money helpers: Decimal end to end, rounding the way ledgers round.

Nothing in wisesync holds money in a float. API bodies are parsed with
:func:`loads` (``parse_float=Decimal``) and written with :func:`dumps`, which
writes Decimals as JSON numbers without passing through float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import simplejson

CENT = Decimal("0.01")
ZERO = Decimal("0")


class MoneyError(ValueError):
    """A value that should be an amount is not one."""


def to_decimal(value: Any, *, field: str = "amount") -> Decimal:
    """Turn an API value (str, int, Decimal; never float) into a Decimal.

    ``None`` and ``""`` become zero. A float is refused: it has already lost
    precision, and the fix is to parse the source JSON with :func:`loads`.
    """
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise MoneyError(f"{field}: expected an amount, got a boolean")
    if isinstance(value, float):
        raise MoneyError(f"{field}: got a float ({value!r}); parse JSON with wisesync.money.loads")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"{field}: {value!r} is not a number") from exc


def round_money(value: Decimal, places: int = 2) -> Decimal:
    """Round half away from zero to ``places`` decimals, as Xero and QBO do."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt(value: Decimal | None) -> str:
    """Format an amount for people: two decimals at least, no exponent."""
    if value is None:
        return ""
    q = value if value.as_tuple().exponent < -2 else value.quantize(CENT)
    return f"{q:f}"


def canonical(value: Decimal) -> str:
    """A canonical text form for hashing and events: no exponent, no trailing zeros."""
    # fixed-point text, trailing fractional zeros dropped: exact at any precision
    # (normalize() would round to the context's 28 digits)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as a Decimal."""
    return simplejson.loads(text, use_decimal=True)


def dumps(obj: Any, **kwargs: Any) -> str:
    """Write JSON with Decimals as exact fixed-point JSON numbers (``0.0000001``, never
    ``1E-7``: some APIs refuse exponents), with no float round trip.

    ``str()`` of a Decimal is already fixed-point unless its exponent is positive or it is
    below 1E-6, and then it reads ``<digits>E+<n>`` / ``E-<n>``. So the document is written
    as it is, and only when that text holds an ``E+`` or ``E-`` anywhere (such a Decimal,
    or a string that happens to contain one) is it written again with every Decimal
    rewritten as fixed-point text. Same output either way; the common case skips a copy of
    the whole document.
    """
    text = simplejson.dumps(obj, use_decimal=True, **kwargs)
    if "E+" not in text and "E-" not in text:
        return text
    return simplejson.dumps(_fixed_point(obj), use_decimal=True, **kwargs)


def _fixed_point(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return simplejson.RawJSON(f"{obj:f}") if obj.is_finite() else obj
    if isinstance(obj, dict):
        return {k: _fixed_point(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_fixed_point(v) for v in obj]
    return obj
