"""Which GL export entry belongs to which unposted row, by the fields both publish.

A row whose entry is missing is held SOURCE_RECORD_GONE (it left the Accounting
Interface between the list and the export); one that two entries claim, or an export
part that is not a list, is held SOURCE_FIELD_INVALID. No row is skipped silently.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from wisesync.events.models import RecordType
from wisesync.protocols import Held
from wisesync_connectwise.expenses import bill_expense_ids
from wisesync_connectwise.fields import FieldInvalid, int_id
from wisesync_connectwise.holds import held
from wisesync_connectwise.procurement import match_keys, procurement_gl_ids

GONE = "is not in the GL export: it left the Accounting Interface meanwhile (posted, deleted "
GONE += "or batched elsewhere); nothing was published"
PROCUREMENT_KINDS = {"purchase": "purchase", "adjustment": "adjustment", "transfer": "transfer"}


def _entries(export: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str | None]:
    raw = export.get(name)
    if raw is None:
        return [], None
    if not isinstance(raw, list):
        return [], f"the GL export's {name} is a {type(raw).__name__}, not a list"
    return [e for e in raw if isinstance(e, dict)], None


def _key(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None


@dataclass(slots=True)
class Index:
    """One part of a GL export (``transactions``, ``expenses``), indexed by some fields."""

    name: str
    fields: tuple[str, ...]
    entries: list[dict[str, Any]]
    by: list[dict[str, list[dict[str, Any]]]]
    problem: str | None = None

    @classmethod
    def of(cls, export: dict[str, Any], name: str, *fields: str) -> Index:
        """Index ``export[name]`` by each of ``fields``."""
        entries, problem = _entries(export, name)
        by = []
        for f in fields:
            found: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for e in entries:
                value = _key(e.get(f))
                if value is not None:
                    found[value].append(e)
            by.append(found)
        return cls(name, fields, entries, by, problem)

    def find(
        self, record_type: RecordType, source_id: str, *values: str | None
    ) -> dict[str, Any] | Held:
        """The one entry whose first field is ``values[0]``, else second ``values[1]``..."""
        if self.problem:
            return held(record_type, source_id, None, "SOURCE_FIELD_INVALID", self.problem)
        for f, found, value in zip(self.fields, self.by, values, strict=False):
            hits = found.get(value, []) if value is not None else []
            if len(hits) == 1:
                return hits[0]
            if hits:
                return held(
                    record_type,
                    source_id,
                    None,
                    "SOURCE_FIELD_INVALID",
                    f"the GL export has {len(hits)} {self.name} with {f} {value!r}: "
                    "which one is this record's is ambiguous",
                )
        return held(record_type, source_id, None, "SOURCE_RECORD_GONE", f"{source_id} {GONE}")


def bills_by_expense(
    export: dict[str, Any],
) -> dict[int, tuple[dict[str, Any], list[int] | FieldInvalid]]:
    """Expense id -> (its expense bill, the ids the bill covers or why they are unreadable)."""
    entries, _ = _entries(export, "expenseBills")
    out: dict[int, tuple[dict[str, Any], list[int] | FieldInvalid]] = {}
    for bill in entries:
        try:
            covered: list[int] | FieldInvalid = bill_expense_ids(bill)
        except FieldInvalid as exc:
            covered = exc
        for ident in _readable_ids(bill):
            if ident in out and out[ident][0] is not bill:
                out[ident] = (bill, FieldInvalid("expenseBills", ident, "in two expense bills"))
            else:
                out[ident] = (bill, covered)
    return out


def _readable_ids(bill: dict[str, Any]) -> list[int]:
    found = []
    for d in bill.get("detail") or [] if isinstance(bill.get("detail"), list) else []:
        ids = d.get("id") if isinstance(d, dict) else None
        for ident in ids if isinstance(ids, list) else []:
            try:
                found.append(int_id(ident, "id"))
            except FieldInvalid:
                continue  # the bill's covered list reports it
    return found


@dataclass(slots=True)
class ProcurementIndex:
    """Purchase transactions by GL entry id; adjustments and transfers by their ids."""

    purchases: list[dict[str, Any]] = field(default_factory=list)
    by_gl: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    adjustments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    transfers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, export: dict[str, Any]) -> ProcurementIndex:
        """Index the procurement parts of a GL export."""
        out = cls()
        out.purchases, p1 = _entries(export, "purchaseTransactions")
        adjustments, p2 = _entries(export, "adjustmentTransactions")
        transfers, p3 = _entries(export, "inventoryTransfers")
        out.problems = [p for p in (p1, p2, p3) if p]
        for p in out.purchases:
            for gl in procurement_gl_ids(p):
                out.by_gl.setdefault(gl, []).append(p)
        for a in adjustments:
            if (key := _key(a.get("id"))) is not None:
                out.adjustments.setdefault(key, []).append(a)
        for t in transfers:
            for key in {_key(t.get("id")), _key(t.get("transferId"))} - {None}:
                out.transfers.setdefault(f"{key}", []).append(t)
        return out

    def find(self, ident: int, row: dict[str, Any]) -> tuple[str, Any] | Held:
        """``("purchase" | "adjustment" | "transfer", entry)`` of the row, or it held."""
        kind = RecordType.PROCUREMENT
        if self.problems:
            return held(kind, str(ident), None, "SOURCE_FIELD_INVALID", "; ".join(self.problems))
        raw = row.get("procurementType")
        wanted = PROCUREMENT_KINDS.get(raw.strip().lower()) if isinstance(raw, str) else None
        if raw not in (None, "") and wanted is None:
            return held(
                kind,
                str(ident),
                None,
                "SOURCE_FIELD_INVALID",
                f"procurementType = {raw!r}: not Purchase, Adjustment or Transfer",
            )
        if wanted in (None, "purchase"):
            hits = {id(p): p for p in self.by_gl.get(str(ident), [])}
            if len(hits) == 1:
                return "purchase", next(iter(hits.values()))
            if hits:
                return self._ambiguous(ident, "purchaseTransactions", len(hits))
        keys = match_keys(row)
        if wanted in (None, "adjustment"):
            for key in keys:
                hits_a = self.adjustments.get(key, [])
                if len(hits_a) == 1:
                    return "adjustment", hits_a[0]
                if hits_a:
                    return self._ambiguous(ident, "adjustmentTransactions", len(hits_a))
        if wanted in (None, "transfer"):
            for key in [str(ident), *keys]:
                if self.transfers.get(key):
                    return "transfer", self.transfers[key]
        return held(kind, str(ident), None, "SOURCE_RECORD_GONE", f"{ident} {GONE}")

    @staticmethod
    def _ambiguous(ident: int, part: str, count: int) -> Held:
        return held(
            RecordType.PROCUREMENT,
            str(ident),
            None,
            "SOURCE_FIELD_INVALID",
            f"the GL export has {count} {part} for unposted row {ident}: ambiguous",
        )
