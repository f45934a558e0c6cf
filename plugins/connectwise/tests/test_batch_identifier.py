"""Accounting batch identifiers: at most 50 characters, deterministic, distinct."""

from wisesync.events.models import RecordType
from wisesync_connectwise.acknowledge import MAX_IDENTIFIER, batch_identifier, group_identifier


def test_plain_identifier_names_company_type_and_source_id():
    assert batch_identifier("acme", RecordType.INVOICE, "871429") == "WS-acme-INV-871429"
    assert batch_identifier("acme", "credit_memo", "12") == "WS-acme-CM-12"
    assert batch_identifier("acme", RecordType.EXPENSE, "12") == "WS-acme-EXP-12"
    assert batch_identifier("acme", RecordType.PROCUREMENT, "P-12") == "WS-acme-PRC-P-12"


def test_long_parts_stay_within_50_and_unique():
    company = "a" * 31
    seen = set()
    for sid in ("9" * 40 + "1", "9" * 40 + "2", "x" * 60):
        ident = batch_identifier(company, RecordType.PROCUREMENT, sid)
        assert len(ident) <= MAX_IDENTIFIER
        assert ident == batch_identifier(company, RecordType.PROCUREMENT, sid)
        seen.add(ident)
    assert len(seen) == 3


def test_unsafe_characters_cannot_reach_the_condition():
    ident = batch_identifier("acme", RecordType.PROCUREMENT, 'PO #1, Slip "A"')
    assert '"' not in ident and " " not in ident and "," not in ident


def test_group_identifier_is_order_independent():
    a = group_identifier("acme", [("invoice", "1"), ("expense", "2")])
    b = group_identifier("acme", [("expense", "2"), ("invoice", "1")])
    assert a == b and len(a) <= MAX_IDENTIFIER
    assert a != group_identifier("acme", [("invoice", "1")])
