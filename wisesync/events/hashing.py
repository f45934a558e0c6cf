"""The stable content hash of a record: business fields only, canonical text."""

from __future__ import annotations

import hashlib
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from wisesync.money import canonical

# Fields that describe the delivery, not the record: they never change the hash.
_VOLATILE = frozenset(
    {"event_id", "produced_at", "run_id", "trigger", "attempt", "content_hash", "source_messages"}
)


def _canon(value: Any) -> Any:
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value):
        return [
            (f.name, _canon(getattr(value, f.name)))
            for f in fields(value)
            if f.name not in _VOLATILE
        ]
    if isinstance(value, dict):
        return sorted((str(k), _canon(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def content_hash(record: Any) -> str:
    """SHA-256 over the canonical form of a record's business content."""
    return hashlib.sha256(repr(_canon(record)).encode()).hexdigest()
