"""One record never stops a run: building each record is guarded, and a record that
cannot be read or does not add up is held with its reason, never published.

A held record is reported like a billing-status hold: a HELD result with the message
(SOURCE_FIELD_INVALID naming the field, SOURCE_TOTALS_MISMATCH naming both figures,
SOURCE_RECORD_GONE for a row the export no longer has), so it shows in the review, and
the next run extracts it again once it is fixed in ConnectWise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from wisesync.events.models import RecordEvent, RecordType
from wisesync.protocols import Held
from wisesync_connectwise.amounts import TotalsMismatch
from wisesync_connectwise.fields import FieldInvalid, int_id

log = logging.getLogger(__name__)

#: Counts of records held because building them raised something unexpected (a bug, not
#: bad data); tests assert it stays at zero.
UNEXPECTED: dict[str, int] = {"count": 0}


def held(record_type: RecordType, source_id: str, number: str | None, code: str, text: str) -> Held:
    """A held record with its reason."""
    return Held(
        record_type=record_type,
        source_id=source_id,
        code=code,
        text=text,
        document_number=number,
    )


def guard(
    record_type: RecordType,
    source_id: str,
    number: str | None,
    build: Callable[[], RecordEvent],
) -> RecordEvent | Held:
    """``build()``, or the record held with the reason it could not be built."""
    name = f"{record_type} {number or source_id}"
    try:
        return build()
    except FieldInvalid as exc:
        return held(record_type, source_id, number, "SOURCE_FIELD_INVALID", f"{name}: {exc}")
    except TotalsMismatch as exc:
        return held(record_type, source_id, number, "SOURCE_TOTALS_MISMATCH", f"{name}: {exc}")
    except Exception as exc:  # a bug must still not lose the other records of the run
        UNEXPECTED["count"] += 1
        log.exception("could not build %s", name)
        return held(
            record_type,
            source_id,
            number,
            "SOURCE_FIELD_INVALID",
            f"{name}: could not be read ({type(exc).__name__}: {str(exc)[:120]})",
        )


def row_id(
    row: Any, n: int, record_type: RecordType, *keys: str
) -> Generator[Held, None, int | None]:
    """The id of an unposted row (the first of ``keys`` present); a row without a readable
    id is yielded as held (SOURCE_FIELD_INVALID) and None returned."""
    if not isinstance(row, dict):
        yield held(record_type, f"row-{n}", None, "SOURCE_FIELD_INVALID", f"row {n}: not an object")
        return None
    key = next((k for k in keys if row.get(k) is not None), keys[-1])
    try:
        return int_id(row.get(key), key)
    except FieldInvalid as exc:
        shown = row.get(keys[-1])
        readable = isinstance(shown, int) and not isinstance(shown, bool)
        yield held(
            record_type,
            str(shown) if readable else f"row-{n}",
            None,
            "SOURCE_FIELD_INVALID",
            f"unposted row {n}: {exc}",
        )
        return None


def built(
    found: Any,
    record_type: RecordType,
    source_id: str,
    number: str | None,
    build: Callable[[Any], RecordEvent],
) -> RecordEvent | Held:
    """``found`` when it is already a hold (no export entry), else the guarded
    ``build(found)``."""
    if isinstance(found, Held):
        return found
    return guard(record_type, source_id, number, lambda: build(found))


def readable_rows(
    page: Any, record_type: Callable[[Any], RecordType], *keys: str
) -> Generator[Held, None, dict[int, dict[str, Any]]]:
    """The page's rows by id (a row listed twice once); rows without a readable id are
    yielded as held."""
    good: dict[int, dict[str, Any]] = {}
    for n, row in enumerate(page if isinstance(page, list) else []):
        ident = yield from row_id(row, n, record_type(row), *keys)
        if ident is not None:
            good.setdefault(ident, row)
    return good
