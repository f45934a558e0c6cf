"""Due dates under each payment-term rule (wisesync.terms): what the ledgers' term types
mean, month lengths and year ends included."""

from __future__ import annotations

from datetime import date

import pytest

from wisesync import terms as t
from wisesync.events.models import RecordEvent, RecordType, Terms
from wisesync.terms import DueRule, TermKind, due_on, record_due_date, rule_attributes, rule_of

K = TermKind


@pytest.mark.parametrize(
    ("kind", "day", "issued", "due"),
    [
        (K.DAYS_AFTER_DATE, 30, date(2026, 1, 15), date(2026, 2, 14)),
        (K.DAYS_AFTER_DATE, 0, date(2026, 1, 15), date(2026, 1, 15)),
        (K.DAYS_AFTER_MONTH_END, 0, date(2026, 2, 3), date(2026, 2, 28)),
        (K.DAYS_AFTER_MONTH_END, 0, date(2028, 2, 3), date(2028, 2, 29)),  # leap year
        (K.DAYS_AFTER_MONTH_END, 20, date(2026, 12, 31), date(2027, 1, 20)),
        (K.DAY_OF_NEXT_MONTH, 20, date(2026, 1, 1), date(2026, 2, 20)),
        (K.DAY_OF_NEXT_MONTH, 20, date(2026, 1, 31), date(2026, 2, 20)),
        (K.DAY_OF_NEXT_MONTH, 31, date(2026, 1, 10), date(2026, 2, 28)),  # clamped
        (K.DAY_OF_NEXT_MONTH, 5, date(2026, 12, 15), date(2027, 1, 5)),  # year end
        (K.DAY_OF_MONTH, 25, date(2026, 3, 2), date(2026, 3, 25)),
        (K.DAY_OF_MONTH, 31, date(2026, 4, 2), date(2026, 4, 30)),  # clamped
        (K.DAY_OF_MONTH, 10, date(2026, 3, 20), date(2026, 3, 20)),  # never before the date
    ],
)
def test_due_dates(kind, day, issued, due):
    assert due_on(DueRule(kind, day), issued) == due


def test_the_unconfirmed_inferences_are_switchable(monkeypatch):
    monkeypatch.setattr(t, "CLAMP_TO_MONTH_END", False)
    monkeypatch.setattr(t, "NEVER_BEFORE_DOCUMENT", False)
    assert due_on(DueRule(K.DAY_OF_NEXT_MONTH, 31), date(2026, 1, 10)) == date(2026, 3, 3)
    assert due_on(DueRule(K.DAY_OF_MONTH, 10), date(2026, 3, 20)) == date(2026, 3, 10)


@pytest.mark.parametrize(("kind", "day"), [(K.DAY_OF_MONTH, 0), (K.DAY_OF_NEXT_MONTH, 32)])
def test_a_day_outside_the_month_is_refused(kind, day):
    with pytest.raises(ValueError):
        DueRule(kind, day)


def _record(**kw) -> RecordEvent:
    return RecordEvent(
        "acme", "src", "ledger", RecordType.INVOICE, "1", date=date(2026, 1, 5), **kw
    )


def test_the_rule_travels_in_attributes_else_the_terms_days_count():
    rule = DueRule(K.DAY_OF_NEXT_MONTH, 20)
    rec = _record(terms=Terms("20 EOM", "20 EOM", None), attributes=rule_attributes(rule))
    assert rule_of(rec) == rule and record_due_date(rec) == date(2026, 2, 20)
    days = _record(terms=Terms("Net 14", "14", 14))
    assert rule_of(days) == DueRule(K.DAYS_AFTER_DATE, 14)
    assert record_due_date(days) == date(2026, 1, 19)
    assert rule_of(_record(terms=Terms("EOM", None, None))) is None  # TERMS_XREF
    broken = _record(attributes={"terms_type": "fortnightly", "terms_day": "2"})
    assert rule_of(broken) is None
