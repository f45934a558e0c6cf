"""Build ConnectWise ``conditions`` query strings safely.

ConnectWise's condition language quotes strings in double quotes
(``company/identifier="ACME"``), leaves numbers and booleans bare
(``closedFlag=false``), puts instants in square brackets
(``lastUpdated > [2016-08-20T18:04:26Z]``), lists values in parentheses
(``id in (3,2,4)``) and tests for null with ``= null``. Every value that goes into
a condition passes through :func:`literal`, so a name such as ``O'Brien "Bros"``
cannot break out of its quotes. URL encoding is left to ``requests``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">=", "contains", "like", "not like"})


def literal(value: Any) -> str:
    """A value as it is written in a condition.

    Strings are double-quoted with ``\\`` and ``"`` backslash-escaped; bools are
    ``true``/``false``; ints and Decimals are bare; datetimes are ``[...Z]`` in UTC;
    None is ``null``. Floats are refused (money is never a float in wisesync).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a condition datetime must be timezone-aware")
        return "[" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "]"
    if isinstance(value, date):
        return "[" + value.strftime("%Y-%m-%dT00:00:00Z") + "]"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise TypeError(f"cannot write {type(value).__name__} {value!r} in a ConnectWise condition")


def field(name: str) -> str:
    """Check a field path (``company/id``): only names and slashes, nothing to inject."""
    if not _FIELD.match(name):
        raise ValueError(f"{name!r} is not a ConnectWise field path")
    return name


def compare(name: str, op: str, value: Any) -> str:
    """``name op value`` with the value quoted, e.g. ``compare("status/name", "=", "Open")``."""
    if op not in _OPERATORS:
        raise ValueError(f"unknown condition operator {op!r}")
    return f"{field(name)} {op} {literal(value)}"


def eq(name: str, value: Any) -> str:
    """``name = value``."""
    return compare(name, "=", value)


def in_(name: str, values: Iterable[Any]) -> str:
    """``name in (v1,v2,...)``; at least one value."""
    items = [literal(v) for v in values]
    if not items:
        raise ValueError(f"{name} in (): the list is empty")
    return f"{field(name)} in ({','.join(items)})"


def and_(*parts: str | None) -> str:
    """Join non-empty conditions with ``and``, each parenthesised when it has an ``or``."""
    kept = [f"({p})" if " or " in p else p for p in parts if p]
    return " and ".join(kept)


def or_(*parts: str | None) -> str:
    """Join non-empty conditions with ``or`` (:func:`and_` parenthesises the result)."""
    return " or ".join(f"({p})" if " and " in p else p for p in parts if p)
