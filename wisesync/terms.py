"""Payment terms beyond "N days": the rule a record's due date follows, ledger-neutral.

A source says how a document falls due as a :class:`DueRule` (a :class:`TermKind` and a
day count or day of month). It travels in the record's attributes (``terms_type``,
``terms_day``, see :func:`rule_attributes`) so the Avro schema stays as it is; a record
without them falls back to its terms' ``due_days`` (days after the document date).

:func:`due_on` computes the due date the way the ledgers describe their term types:

* ``days_after_date`` N: the document date + N days;
* ``days_after_month_end`` N: the last day of the document's month + N days (0 is "end
  of month");
* ``day_of_month`` D: day D of the document's month;
* ``day_of_next_month`` D: day D of the month after the document's.

A day past the month's end is the month's last day (day 31 in February is the 28th or
29th). Unconfirmed inferences, kept switchable here: that the ledgers clamp rather than
roll into the next month (:data:`CLAMP_TO_MONTH_END`), and that ``day_of_month`` D for a
document dated after day D is due on the document date rather than before it
(:data:`NEVER_BEFORE_DOCUMENT`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from wisesync.events.models import RecordEvent

#: unconfirmed: a day past the month's end is the month's last day (not the next month's)
CLAMP_TO_MONTH_END = True
#: unconfirmed: "day D of the current month" is never before the document date
NEVER_BEFORE_DOCUMENT = True

TYPE_ATTRIBUTE = "terms_type"
DAY_ATTRIBUTE = "terms_day"


class TermKind(StrEnum):
    """How a term counts to the due date."""

    DAYS_AFTER_DATE = "days_after_date"
    DAYS_AFTER_MONTH_END = "days_after_month_end"
    DAY_OF_MONTH = "day_of_month"
    DAY_OF_NEXT_MONTH = "day_of_next_month"


#: the largest day each kind accepts (days: what ledgers accept; days of month: 31)
DAY_MAX = {
    TermKind.DAYS_AFTER_DATE: 999,
    TermKind.DAYS_AFTER_MONTH_END: 999,
    TermKind.DAY_OF_MONTH: 31,
    TermKind.DAY_OF_NEXT_MONTH: 31,
}


@dataclass(frozen=True, slots=True)
class DueRule:
    """A term: its kind and its day (a day count, or a day of the month 1-31)."""

    kind: TermKind
    day: int

    def __post_init__(self) -> None:
        low = 1 if self.kind in (TermKind.DAY_OF_MONTH, TermKind.DAY_OF_NEXT_MONTH) else 0
        if not low <= self.day <= DAY_MAX[self.kind]:
            raise ValueError(f"{self.kind} day {self.day} is outside {low}-{DAY_MAX[self.kind]}")

    @property
    def by_days(self) -> bool:
        """The plain "N days after the document date" term."""
        return self.kind is TermKind.DAYS_AFTER_DATE

    def describe(self) -> str:
        """The rule in words, for messages."""
        return {
            TermKind.DAYS_AFTER_DATE: f"{self.day} days after the document date",
            TermKind.DAYS_AFTER_MONTH_END: f"{self.day} days after the end of the month",
            TermKind.DAY_OF_MONTH: f"day {self.day} of the document's month",
            TermKind.DAY_OF_NEXT_MONTH: f"day {self.day} of the following month",
        }[self.kind]


def _day_in(year: int, month: int, day: int) -> date:
    last = calendar.monthrange(year, month)[1]
    if day > last and not CLAMP_TO_MONTH_END:
        return date(year, month, last) + timedelta(days=day - last)
    return date(year, month, min(day, last))


def _next_month(d: date) -> tuple[int, int]:
    return (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)


def due_on(rule: DueRule, document_date: date) -> date:
    """The due date of a document dated ``document_date`` under ``rule``."""
    d = document_date
    if rule.kind is TermKind.DAYS_AFTER_DATE:
        return d + timedelta(days=rule.day)
    if rule.kind is TermKind.DAYS_AFTER_MONTH_END:
        month_end = date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])
        return month_end + timedelta(days=rule.day)
    if rule.kind is TermKind.DAY_OF_MONTH:
        due = _day_in(d.year, d.month, rule.day)
        return max(due, d) if NEVER_BEFORE_DOCUMENT else due
    year, month = _next_month(d)
    return _day_in(year, month, rule.day)


def rule_attributes(rule: DueRule | None) -> dict[str, str]:
    """The record attributes that carry ``rule`` (empty for None)."""
    if rule is None:
        return {}
    return {TYPE_ATTRIBUTE: str(rule.kind), DAY_ATTRIBUTE: str(rule.day)}


def rule_of(record: RecordEvent) -> DueRule | None:
    """The record's term: its ``terms_type``/``terms_day`` attributes, else its terms'
    ``due_days`` as days after the document date; None when it has neither (or the
    attributes are unreadable, which a source never produces)."""
    kind = record.attributes.get(TYPE_ATTRIBUTE)
    day = record.attributes.get(DAY_ATTRIBUTE)
    if kind and day:
        try:
            return DueRule(TermKind(kind), int(day))
        except ValueError:
            return None
    if record.terms is not None and record.terms.due_days is not None:
        try:
            return DueRule(TermKind.DAYS_AFTER_DATE, record.terms.due_days)
        except ValueError:
            return None
    return None


def record_due_date(record: RecordEvent) -> date | None:
    """The record's due date under its term (None without a term or a document date)."""
    rule = rule_of(record)
    if rule is None or record.date is None:
        return None
    return due_on(rule, record.date)
