"""The stable content hash of a record: business fields only, canonical text."""

from __future__ import annotations

import hashlib
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from wisesync.money import canonical

# Fields that describe the delivery, not the record: they never change the hash.
_VOLATILE = frozenset(
    {"event_id", "produced_at", "run_id", "trigger", "attempt", "content_hash", "source_messages"}
)


@cache
def _names(cls: type) -> tuple[str, ...]:
    """The hashed field names of a dataclass, in declaration order (computed once)."""
    return tuple(f.name for f in fields(cls) if f.name not in _VOLATILE)


def _canon(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in _PLAIN:
        return value
    if kind is Decimal:
        return canonical(value)
    if kind is list or kind is tuple:
        return [_canon(v) for v in value]
    if hasattr(kind, "__dataclass_fields__"):
        return [(name, _canon(getattr(value, name))) for name in _names(kind)]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return sorted((str(k), _canon(v)) for k, v in value.items())
    if isinstance(value, Decimal):
        return canonical(value)
    return value


_PLAIN = frozenset({str, int, bool, float, bytes})


def content_hash(record: Any) -> str:
    """SHA-256 over the canonical form of a record's business content."""
    return hashlib.sha256(repr(_canon(record)).encode()).hexdigest()
