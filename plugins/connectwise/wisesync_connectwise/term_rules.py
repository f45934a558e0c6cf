"""Billing terms beyond "N days", read from the term's Terms Xref.

ConnectWise's ``BillingTerm`` has only ``dueDays`` and ``termsXref`` (the published
schema; the GL export carries them as ``dueDays`` and ``billingTermsXref``): there is no
term type. The Terms Xref is the field Wise-Sync users maintain for the ledger, so a term
that is not "N days after the invoice date" is written there, in one of these forms
(case and spacing do not matter; ``N`` and ``D`` are whole numbers):

==========================================  ==========================================
Terms Xref                                   Rule (:class:`~wisesync.terms.TermKind`)
==========================================  ==========================================
``EOM``, ``End of month``                    0 days after the end of the month
``EOM+N``, ``EOM N``, ``Net N EOM``,         N days after the end of the month
``N days after end of month``
``D EOM``, ``Dth of following month``,       day D of the following month
``D of next month``, ``D following month``
``Dth of month``, ``D of current month``,    day D of the document's month
``D of this month``
Xero's own names: ``DAYSAFTERBILLDATE N``,   as Xero means them
``DAYSAFTERBILLMONTH N``,
``OFCURRENTMONTH D``, ``OFFOLLOWINGMONTH D``
==========================================  ==========================================

``D EOM`` meaning "day D of the next month" follows the Australian trade usage ("20 EOM":
the 20th of the month after the invoice); that ConnectWise users write it so is
unconfirmed. A plain number stays "N days" (the terms' ``due_days``).
"""

from __future__ import annotations

import re

from wisesync.terms import DueRule, TermKind

_N = r"(\d{1,3})"
_TH = r"(?:st|nd|rd|th)?"
_PATTERNS: tuple[tuple[re.Pattern[str], TermKind | None], ...] = tuple(
    (re.compile(p), kind)
    for p, kind in (
        (r"(?:net )?(?:eom|end of (?:the )?month)", TermKind.DAYS_AFTER_MONTH_END),
        (rf"(?:eom|end of (?:the )?month) ?\+? ?{_N}(?: days?)?", TermKind.DAYS_AFTER_MONTH_END),
        (rf"net {_N} (?:days? )?eom", TermKind.DAYS_AFTER_MONTH_END),
        (rf"{_N} days? after (?:the )?end of (?:the )?month", TermKind.DAYS_AFTER_MONTH_END),
        (rf"{_N}{_TH} eom", TermKind.DAY_OF_NEXT_MONTH),
        (rf"{_N}{_TH} (?:of )?(?:the )?(?:following|next) month", TermKind.DAY_OF_NEXT_MONTH),
        (rf"{_N}{_TH} (?:of )?(?:the )?(?:current |this )?month", TermKind.DAY_OF_MONTH),
        (rf"(daysafterbilldate|daysafterbillmonth|ofcurrentmonth|offollowingmonth) {_N}", None),
    )
)
_XERO_KINDS = {
    "daysafterbilldate": TermKind.DAYS_AFTER_DATE,
    "daysafterbillmonth": TermKind.DAYS_AFTER_MONTH_END,
    "ofcurrentmonth": TermKind.DAY_OF_MONTH,
    "offollowingmonth": TermKind.DAY_OF_NEXT_MONTH,
}


def xref_rule(xref: str | None) -> DueRule | None:
    """The rule a Terms Xref names (the table above), or None for anything else (a plain
    number of days, a ledger term name, empty)."""
    if not xref:
        return None
    text = " ".join(xref.replace("-", " ").replace(",", " ").split()).casefold()
    for pattern, kind in _PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        groups = found.groups()
        if kind is None:
            kind, groups = _XERO_KINDS[groups[0]], groups[1:]
        day = int(groups[0]) if groups else 0
        try:
            return DueRule(kind, day)
        except ValueError:
            return None  # e.g. day 0 or 32 of a month: not a usable term
    return None
