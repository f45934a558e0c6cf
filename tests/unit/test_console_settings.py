"""The Options page's fields: what they accept, and stored values applied over the config."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wisesync.config import CompanyConfig
from wisesync.console.reviewpage import PageFilter
from wisesync.console.settings import SYNC_ALL_LABEL, core_fields
from wisesync.events.models import RecordType
from wisesync.store.options import apply_stored

FIELDS = {f.name: f for f in core_fields()}


def test_fields_normalise_what_the_form_sent_or_say_what_is_wrong() -> None:
    assert FIELDS["sync_all"].label == SYNC_ALL_LABEL == "Show the Sync All button"
    assert FIELDS["sync_all"].normalise("") == "off"
    assert FIELDS["sync_all"].normalise("on") == "on"
    assert FIELDS["record_types"].normalise("expense,invoice") == "invoice,expense"
    with pytest.raises(ValueError, match="tick at least one"):
        FIELDS["record_types"].normalise("")
    with pytest.raises(ValueError, match="tick at least one"):
        FIELDS["record_types"].normalise("invoice,bogus")
    assert FIELDS["hold_billing_statuses"].normalise(" Finance Hold , ,Disputed ") == (
        "Finance Hold,Disputed"
    )
    assert FIELDS["options.adjustment_cap"].normalise("5") == "5.00"
    for bad in ("-1", "1.001", "ten"):
        with pytest.raises(ValueError, match="Adjustment cap"):
            FIELDS["options.adjustment_cap"].normalise(bad)


def test_stored_values_override_the_configuration() -> None:
    company = CompanyConfig(key="acme", name="Acme", ledger="xero")
    assert apply_stored(company, {}) is company
    changed = apply_stored(
        company,
        {
            "sync_all": "on",
            "record_types": "invoice,expense",
            "hold_billing_statuses": "Finance Hold",
            "options.adjustment_cap": "25.00",
            "xero.invoice_status": "DRAFT",
            "xero.mark_sent": "on",
            "options.unknown_field": "ignored",
            "someplugin.key": "ignored: not this company's source or ledger",
        },
    )
    assert changed.sync_all is True
    assert changed.record_types == (RecordType.INVOICE, RecordType.EXPENSE)
    assert changed.hold_billing_statuses == ("Finance Hold",)
    assert changed.options.adjustment_cap == Decimal("25.00")
    assert changed.settings["xero"] == {"invoice_status": "DRAFT", "mark_sent": True}
    assert "someplugin" not in changed.settings
    assert company.settings == {}  # the configured company is not changed
    assert apply_stored(company, {"hold_billing_statuses": ""}).hold_billing_statuses == ()


def test_the_review_filter_reads_bad_query_values_as_any() -> None:
    flt = PageFilter.from_query({"page": "x", "status": "failed", "type": "invoice"})
    assert flt == PageFilter("failed", "", "invoice", 1)
    assert flt.query(page=2) == {"status": "failed", "type": "invoice", "page": 2}
    assert PageFilter.from_query({"page": "-3"}).page == 1
