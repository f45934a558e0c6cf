"""A record's payment term as Xero's: the invoice's ``DueDate`` and the contact's
``PaymentTerms``.

Decision: every document with a term is sent with its ``DueDate`` computed here
(:func:`wisesync.terms.due_on`), because Xero requires a due date on an AUTHORISED
invoice and would otherwise take the contact's (or organisation's) default, which need
not be the invoice's term. The contact additionally gets the term as its
``PaymentTerms.Sales`` (customers) or ``.Bills`` (vendors) when wisesync creates or
updates it, so documents raised in Xero by hand fall due the same way.

Xero's term types (``PaymentTermType`` in the Accounting OpenAPI): DAYSAFTERBILLDATE,
DAYSAFTERBILLMONTH, OFCURRENTMONTH, OFFOLLOWINGMONTH; ``Day`` is documented as 0-31, so
a term of more than 31 days is not written to the contact (its documents still carry
their due date).
"""

from __future__ import annotations

from typing import Any

from wisesync.events.models import RecordEvent
from wisesync.terms import DueRule, TermKind, rule_of

XERO_TYPES = {
    TermKind.DAYS_AFTER_DATE: "DAYSAFTERBILLDATE",
    TermKind.DAYS_AFTER_MONTH_END: "DAYSAFTERBILLMONTH",
    TermKind.DAY_OF_MONTH: "OFCURRENTMONTH",
    TermKind.DAY_OF_NEXT_MONTH: "OFFOLLOWINGMONTH",
}
DAY_MAX = 31  # PaymentTerm Bill.Day: "Day of Month (0-31)"


def term_element(rule: DueRule | None) -> dict[str, Any] | None:
    """``{"Day": .., "Type": ..}`` for ``rule`` (None when Xero cannot hold it)."""
    if rule is None or rule.day > DAY_MAX:
        return None
    return {"Day": rule.day, "Type": XERO_TYPES[rule.kind]}


def contact_terms(record: RecordEvent, *, sales: bool) -> dict[str, Any] | None:
    """The contact's ``PaymentTerms`` for ``record``'s term: ``Sales`` for a customer,
    ``Bills`` for a vendor; None when the record has no term Xero can hold."""
    element = term_element(rule_of(record))
    if element is None:
        return None
    return {"Sales" if sales else "Bills": element}
