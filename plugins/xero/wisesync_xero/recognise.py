"""Is a document in Xero the one wisesync wrote for a record?

A document is ours when it carries what we wrote into it: the same type, number, date,
and the ``Reference``, ``Url`` and ``CurrencyCode`` we sent (each compared only when the
record has one). Never its contact: a contact can be renamed, renumbered or merged into
another in Xero after we posted, and two ConnectWise customers may share a name, so a
contact comparison made wisesync disown its own documents after a crash (and report
them failed while they were in Xero).

The total is not part of the mark (Xero may round a document differently from what we
expected, and that document is still ours); a duplicate refusal on a write compares it
too, and among several candidates for a bill (whose numbers Xero does not keep unique)
the one with the expected total wins.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from wisesync_xero.documents import KINDS
from wisesync_xero.mapping import Plan, record_marks

_MS_DATE = re.compile(r"/Date\((-?\d+)")


def element_date(element: dict[str, Any]) -> str | None:
    """The document date of a Xero element as ``YYYY-MM-DD`` (from ``DateString``, a
    plain ``Date`` or Xero's ``/Date(ms+0000)/``)."""
    for key in ("DateString", "Date"):
        value = str(element.get(key) or "")
        found = _MS_DATE.match(value)
        if found:
            return datetime.fromtimestamp(int(found.group(1)) / 1000, UTC).date().isoformat()
        if re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return None


def written_marks(plan: Plan) -> dict[str, str]:
    """What wisesync writes into the document for ``plan`` (and so can recognise)."""
    record = plan.record
    marks = {"Type": plan.kind.type, "Number": plan.number.casefold()}
    if record.date is not None:
        marks["Date"] = record.date.isoformat()
    return {**marks, **record_marks(record, plan.kind)}


def element_marks(plan: Plan, element: dict[str, Any]) -> dict[str, str]:
    """The same fields as :func:`written_marks`, read from a Xero element."""
    kind = KINDS.get(str(element.get("Type")))
    marks = {
        "Type": kind.type if kind else str(element.get("Type")),
        "Number": str(element.get(plan.kind.number_field) or "").strip().casefold(),
    }
    date = element_date(element)
    if date:
        marks["Date"] = date
    for key in ("Reference", "CurrencyCode", "Url"):
        if element.get(key):
            marks[key] = str(element[key]).strip()
    if "CurrencyCode" in marks:
        marks["CurrencyCode"] = marks["CurrencyCode"].upper()
    return marks


def differences(plan: Plan, element: dict[str, Any]) -> list[str]:
    """What differs between what we wrote for ``plan`` and ``element`` (empty: it is ours)."""
    ours = written_marks(plan)
    theirs = element_marks(plan, element)
    return [
        f"{key} {theirs[key]!r} instead of {value!r}" if key in theirs else f"no {key}"
        for key, value in ours.items()
        if theirs.get(key) != value
    ]
