"""Customers, contacts and terms mapped from ConnectWise JSON (no sandbox needed)."""

from decimal import Decimal

import pytest

from wisesync.terms import DueRule, TermKind
from wisesync_connectwise.fields import day, dec, gl_ids, whole_days
from wisesync_connectwise.parties import contact, email_of, term_attributes, terms
from wisesync_connectwise.term_rules import xref_rule

COMPANY = {
    "id": 42,
    "identifier": "OBrien",
    "name": "O'Brien & Sons",
    "accountNumber": "C00042",
    "addressLine1": "1 George St",
    "city": "Sydney",
    "state": "NSW",
    "zip": "2000",
    "country": {"id": 1, "name": "Australia"},
    "phoneNumber": "02 9000 0000",
    "taxIdentifier": "51 824 753 556",
    "defaultContact": {"id": 7, "name": "Aoife O'Brien"},
    "billingContact": {"id": 8, "name": "Accounts"},
    "invoiceToEmailAddress": "ap@obrien.example",
}
CONTACTS = {
    7: {
        "id": 7,
        "firstName": "Aoife",
        "lastName": "O'Brien",
        "communicationItems": [
            {"type": {"name": "Direct"}, "value": "0400 000 000", "communicationType": "Phone"},
            {
                "type": {"name": "Email"},
                "value": "old@obrien.example",
                "communicationType": "Email",
            },
            {
                "type": {"name": "Email"},
                "value": "aoife@obrien.example",
                "communicationType": "Email",
                "defaultFlag": True,
            },
        ],
    },
    8: {"id": 8, "firstName": "Accounts", "lastName": "", "communicationItems": []},
}


def test_contact_with_primary_and_billing():
    c = contact({"id": 42, "name": "x"}, {42: COMPANY}, CONTACTS)
    assert c.source_id == "42"
    assert c.name == "O'Brien & Sons"
    assert c.account_number == "C00042"
    assert c.primary_contact.name == "Aoife O'Brien"
    assert c.primary_contact.email == "aoife@obrien.example"  # the default e-mail wins
    # Billing contact without an e-mail of its own falls back to invoiceToEmailAddress.
    assert (c.billing_contact.name, c.billing_contact.email) == ("Accounts", "ap@obrien.example")
    assert c.address.line1 == "1 George St" and c.address.country == "Australia"
    assert c.tax_number == "51 824 753 556" and c.phone == "02 9000 0000"


def test_contact_without_billing_or_primary_contact():
    bare = {k: v for k, v in COMPANY.items() if k not in ("defaultContact", "billingContact")}
    c = contact({"id": 42}, {42: bare}, {})
    assert c.primary_contact is None and c.billing_contact is None
    assert c.name == "O'Brien & Sons"


def test_record_account_number_wins_and_unknown_company_uses_the_reference():
    c = contact({"id": 9, "identifier": "Cafe", "name": "Café Zürich"}, {}, {}, account_number="C9")
    assert (c.source_id, c.name, c.account_number) == ("9", "Café Zürich", "C9")
    assert contact(None, {}, {}) is None


def test_email_of_reads_communication_items():
    assert email_of(CONTACTS[7]) == "aoife@obrien.example"
    assert email_of(CONTACTS[8]) is None
    assert email_of(None) is None


def test_terms_days_come_from_the_xref_then_usable_days():
    assert terms("Net 30", "30", "30").due_days == 30
    assert terms("Net 14", "14", 14).due_days == 14
    due = terms("Due on receipt", "0", 0)
    assert due.due_days == 0 and due.xref == "0"
    eom = terms("EOM", "", 0)
    assert eom.due_days is None and eom.xref is None and eom.name == "EOM"
    assert terms("EOM", None, None).due_days is None
    assert terms("Net 30", "", 30).due_days == 30  # days usable without an xref
    assert terms("Net 30", "Net 30", "30").due_days == 30  # QBO-style xref names the term
    assert terms(None, None, None) is None


def test_field_readers_keep_decimals_and_dates():
    assert dec(Decimal("1.2345678")) == Decimal("1.2345678")
    assert dec("0.0000001") == Decimal("0.0000001")
    assert dec(None) == 0
    assert str(day("2025-04-25T00:00:00Z")) == "2025-04-25"
    assert day("") is None and day("garbage") is None
    assert whole_days("20") == 20 and whole_days("") is None and whole_days(-1) is None
    assert gl_ids("1010, 1011,1012,1010") == ["1010", "1011", "1012"]
    assert gl_ids([5, 6]) == ["5", "6"] and gl_ids(None) == []


#: Terms Xref -> the rule it names (kind, day)
XREF_RULES = """
EOM                        days_after_month_end 0
End of Month               days_after_month_end 0
EOM+15                     days_after_month_end 15
Net 30 EOM                 days_after_month_end 30
10 days after end of month days_after_month_end 10
20 EOM                     day_of_next_month 20
20th of following month    day_of_next_month 20
1st of next month          day_of_next_month 1
15th of the month          day_of_month 15
OFFOLLOWINGMONTH 20        day_of_next_month 20
ofcurrentmonth 5           day_of_month 5
DAYSAFTERBILLMONTH 7       days_after_month_end 7
"""


@pytest.mark.parametrize(
    ("xref", "kind", "day"),
    [
        (row[:27].strip(), TermKind(row[27:].split()[0]), int(row[27:].split()[1]))
        for row in XREF_RULES.strip().splitlines()
    ],
)
def test_terms_beyond_days_are_read_from_the_xref(xref, kind, day):
    assert xref_rule(xref) == DueRule(kind, day)
    t = terms("Special", xref, 0)
    # not "due on receipt" (dueDays 0) and not TERMS_XREF: the rule travels in attributes
    assert t.due_days is None
    assert term_attributes(xref) == {"terms_type": str(kind), "terms_day": str(day)}


@pytest.mark.parametrize("xref", ["30", "Net 30", "", None, "32 EOM", "0 of next month", "soon"])
def test_anything_else_is_not_a_rule(xref):
    assert xref_rule(xref) is None
    assert term_attributes(xref) == {}


def test_xero_days_name_is_a_days_term():
    t = terms("Net 45", "DAYSAFTERBILLDATE 45", 0)
    assert t.due_days == 45 and term_attributes("DAYSAFTERBILLDATE 45") == {}
