"""Validation errors and warnings, with Xero's wording, before any call."""

from decimal import Decimal as D

from xero_testkit import line, record, reference

from wisesync.config import CompanyOptions
from wisesync.events.models import Line, RecordType
from wisesync.messages import CATALOG, Severity
from wisesync_xero.mapping import plan

TRACKING = {"location": "Location", "department": "Department"}


def check(rec, options=None):
    return plan(rec, reference(), options or CompanyOptions(require_item_code=True), TRACKING)


def only(p, code):
    found = [m for m in p.messages if m.code == code]
    assert found, f"no {code} in {p.messages}"
    return found


def test_line_without_account_is_gl_mapping_missing():
    p = check(record(line(), line(account=None)))
    (msg,) = only(p, "GL_MAPPING_MISSING")
    assert msg.line == 1 and msg.severity is Severity.ERROR
    assert "GL account" in msg.text
    assert not p.ok and p.body is None


def test_missing_item_code_only_when_required():
    rec = record(line(item=None))
    (msg,) = only(check(rec), "GL_MAPPING_MISSING")
    assert "Non-Product ID" in msg.text
    assert check(rec, CompanyOptions(require_item_code=False)).ok
    bill = record(line(account="429", item=None, tax="INPUT"), record_type=RecordType.EXPENSE)
    assert check(bill).ok  # purchase lines are coded to accounts


def test_a_broken_line_does_not_also_report_an_adjustment():
    # GST99 is unknown, so Xero's total cannot include the 10% ConnectWise charged
    p = check(record(line(tax="GST99", tax_amount="10")))
    assert [m.code for m in p.messages] == ["TAX_CODE_INVALID"]


def test_description_only_line_is_allowed():
    text_line = Line("Notes for the customer", D(0), D(0), D(0))
    p = check(record(line(), text_line))
    assert p.ok
    assert p.body["LineItems"][1] == {"Description": "Notes for the customer"}


def test_unknown_account_uses_xeros_words():
    (msg,) = only(check(record(line(account="4999"))), "LEDGER_ACCOUNT_MISSING")
    assert msg.text == "Account code '4999' is not a valid code for this document."
    assert msg.line == 0


def test_archived_account_uses_xeros_words():
    (msg,) = only(check(record(line(account="477"))), "LEDGER_ACCOUNT_MISSING")
    assert msg.text.startswith("Account code '477' has been archived, or has been deleted.")


def test_bank_and_control_accounts_are_not_valid_on_lines():
    for code in ("090", "610"):
        (msg,) = only(check(record(line(account=code))), "LEDGER_ACCOUNT_MISSING")
        assert "not a valid code" in msg.text


def test_unknown_tax_type():
    (msg,) = only(check(record(line(tax="GST99"))), "TAX_CODE_INVALID")
    assert msg.text == (
        "The TaxType code 'GST99' does not exist or cannot be used for this type of transaction."
    )


def test_purchase_tax_on_a_sale_and_sales_tax_on_a_bill():
    only(check(record(line(tax="INPUT"))), "TAX_CODE_INVALID")
    bill = record(line(account="429", tax="OUTPUT"), record_type=RecordType.EXPENSE)
    only(check(bill), "TAX_CODE_INVALID")


def test_tracking_missing_warns_by_default_and_drops_the_option():
    p = check(record(line(location="Perth", department="Projects")))
    (msg,) = only(p, "TRACKING_MISSING")
    assert msg.severity is Severity.WARNING
    assert "Perth" in msg.text and "Location" in msg.text
    assert p.ok
    assert p.body["LineItems"][0]["Tracking"] == [{"Name": "Department", "Option": "Projects"}]


def test_tracking_missing_halts_when_configured():
    p = check(record(line(location="Perth")), CompanyOptions(tracking_missing="halt"))
    (msg,) = only(p, "TRACKING_MISSING")
    assert msg.severity is Severity.ERROR
    assert not p.ok


def test_tracking_option_match_is_case_insensitive_and_uses_xeros_spelling():
    p = check(record(line(location="sydney")))
    assert p.body["LineItems"][0]["Tracking"] == [{"Name": "Location", "Option": "Sydney"}]


def test_unknown_item_code():
    (msg,) = only(check(record(line(item="NOPE"))), "LEDGER_VALIDATION")
    assert "NOPE" in msg.text


def test_item_code_longer_than_xero_allows():
    (msg,) = only(check(record(line(item="X" * 31))), "LEDGER_VALIDATION")
    assert "30" in msg.text


def test_record_level_problems():
    assert only(check(record(line(), contact=None)), "RECORD_INVALID")
    empty = record(line())
    empty.lines = []
    assert only(check(empty), "RECORD_INVALID")
    nameless = record(line())
    nameless.document_number = " "
    assert only(check(nameless), "RECORD_INVALID")


def test_several_problems_are_all_reported():
    p = check(record(line(account="4999", tax="GST99", location="Perth"), line(account=None)))
    assert {m.code for m in p.messages} == {
        "LEDGER_ACCOUNT_MISSING",
        "TAX_CODE_INVALID",
        "TRACKING_MISSING",
        "GL_MAPPING_MISSING",
    }


def test_every_code_is_in_the_catalog():
    p = check(record(line(account="4999", tax="GST99", location="Perth", item="NOPE")))
    assert all(m.code in CATALOG for m in p.messages)
