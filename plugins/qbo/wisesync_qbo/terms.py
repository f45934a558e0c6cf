"""A record's payment term as a QuickBooks Term (``SalesTermRef``) and ``DueDate``.

Every document with a term is sent with its ``DueDate`` computed by
:func:`wisesync.terms.due_on`, and with the ``SalesTermRef`` of the QBO Term that means
the same, so QBO shows the term it falls due by. A Term (qbo.md section 2) has either
``DueDays`` (QBO's STANDARD type) or ``DayOfMonthDue`` with ``DueNextMonthDays``
(DATE_DRIVEN: due on that day of the month, or of the next month when the document is
dated less than ``DueNextMonthDays`` before it). The rules as Terms:

* N days after the document date: ``DueDays`` N;
* day D of the following month: ``DayOfMonthDue`` D, ``DueNextMonthDays`` D (every
  document of the month is less than D days before day D, so all fall in the next
  month; unconfirmed reading of DueNextMonthDays);
* day D of the document's month: ``DayOfMonthDue`` D, ``DueNextMonthDays`` 0;
* end of the month: ``DayOfMonthDue`` 31 (that QBO takes a short month's last day is
  unconfirmed); N > 0 days after the end of the month has no Term: the document carries
  only its due date.

The Term is found among the company's Terms by its definition, preferring one with the
ConnectWise term's name (the Terms Xref names a QBO Term, as Wise-Sync users set it up);
a missing one is created under the ConnectWise term's name (31 characters, QBO's limit),
once, in the same call for a whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wisesync.events.models import RecordEvent
from wisesync.terms import DueRule, TermKind, due_on, rule_of
from wisesync_qbo.reference import Named, ReferenceData

if TYPE_CHECKING:
    from wisesync_qbo.client import QboClient
    from wisesync_qbo.mapping import Plan

NAME_MAX = 31


def term_shape(rule: DueRule) -> dict[str, int] | None:
    """The Term fields that mean ``rule`` (None when no QBO Term does)."""
    if rule.kind is TermKind.DAYS_AFTER_DATE:
        return {"DueDays": rule.day}
    if rule.kind is TermKind.DAY_OF_NEXT_MONTH:
        return {"DayOfMonthDue": rule.day, "DueNextMonthDays": rule.day}
    if rule.kind is TermKind.DAY_OF_MONTH:
        return {"DayOfMonthDue": rule.day, "DueNextMonthDays": 0}
    if rule.day == 0:
        return {"DayOfMonthDue": 31, "DueNextMonthDays": 0}
    return None


def shape_of(term: Named) -> dict[str, int]:
    """A known Term's definition, as :func:`term_shape` writes it."""
    if term.days is not None:
        return {"DueDays": term.days}
    if term.day_of_month is not None:
        return {"DayOfMonthDue": term.day_of_month, "DueNextMonthDays": term.next_month_days or 0}
    return {}


def term_name(record: RecordEvent, rule: DueRule) -> str:
    """The name a new Term gets: the ConnectWise term's, else the rule in words."""
    name = " ".join(((record.terms and record.terms.name) or rule.describe()).split())
    return name[:NAME_MAX]


def find_term(ref: ReferenceData, shape: dict[str, int], name: str) -> Named | None:
    """The active Term defined as ``shape``: the one named ``name`` if it is, else any."""
    named = ref.term(name)
    if named is not None and shape_of(named) == shape:
        return named
    for term in ref.terms.values():
        if term.active and shape_of(term) == shape:
            return term
    return None


def wanted(record: RecordEvent) -> tuple[DueRule, dict[str, int]] | None:
    """The record's rule and the Term shape it needs (None without one QBO can hold)."""
    rule = rule_of(record)
    shape = term_shape(rule) if rule is not None else None
    return None if rule is None or shape is None else (rule, shape)


def ensure_terms(client: QboClient, ref: ReferenceData, plans: Sequence[Plan]) -> None:
    """Give each plan whose term has no ``SalesTermRef`` yet the Term it needs, creating
    the missing Terms in one ``/batch`` call (a refused one leaves its documents with
    their due date only)."""
    missing: dict[str, tuple[str, dict[str, int]]] = {}
    for plan in plans:
        if plan.body is None or "SalesTermRef" in plan.body:
            continue
        need = wanted(plan.record)
        if need is None:
            continue
        name = term_name(plan.record, need[0])
        if find_term(ref, need[1], name) is None:
            key = repr(sorted(need[1].items()))
            if ref.term(name) is not None:  # the name is taken by another definition
                name = need[0].describe()[:NAME_MAX]
            missing.setdefault(key, (name, need[1]))
    if missing:
        items = [
            {"bId": str(n), "operation": "create", "Term": {"Name": name, **shape}}
            for n, (name, shape) in enumerate(missing.values())
        ]
        for answer in client.batch(items):
            row = answer.get("Term")
            if isinstance(row, dict) and row.get("Id"):
                ref.add_term(row)
    for plan in plans:
        if plan.body is None or "SalesTermRef" in plan.body:
            continue
        need = wanted(plan.record)
        found = find_term(ref, need[1], term_name(plan.record, need[0])) if need else None
        if found is not None:
            plan.body["SalesTermRef"] = {"value": found.id, "name": found.name}


def apply_terms(record: RecordEvent, ref: ReferenceData, body: dict[str, Any]) -> bool:
    """Set ``DueDate`` (and ``SalesTermRef`` when a Term matches) from the record's term;
    False when the record has a term without a usable rule (TERMS_XREF)."""
    rule = rule_of(record)
    if rule is None:
        return False
    if record.date is not None:
        body["DueDate"] = due_on(rule, record.date).isoformat()
    shape = term_shape(rule)
    found = find_term(ref, shape, term_name(record, rule)) if shape else None
    if found is not None:
        body["SalesTermRef"] = {"value": found.id, "name": found.name}
    return True
