"""RecordEvent -> Xero document: types, numbers, status, dates, lines, warnings."""

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from xero_testkit import customer, line, record, reference

from wisesync.config import CompanyOptions
from wisesync.events.models import Person, RecordType, Terms
from wisesync.messages import Severity
from wisesync_xero.mapping import DESCRIPTION_MAX, plan
from wisesync_xero.settings import Approval

TRACKING = {"location": "Location", "department": "Department"}
OPTS = CompanyOptions(require_item_code=True)


def build(rec, options=OPTS, ref=None):
    return plan(rec, ref or reference(), options, TRACKING)


def codes(p):
    return [m.code for m in p.messages]


def test_invoice_becomes_authorised_accrec_with_numbers_dates_and_lines():
    rec = record(
        line("75", "2", location="Sydney", department="Projects"),
        number="10042",
        reference="PO-77",
    )
    p = build(rec)
    assert p.ok and p.messages == []
    body = p.body
    assert body["Type"] == "ACCREC"
    assert body["InvoiceNumber"] == "10042"
    assert body["Reference"] == "PO-77"
    assert body["Status"] == "AUTHORISED"
    assert body["Date"] == "2026-01-05"
    assert body["DueDate"] == "2026-02-04"  # Net 30
    assert body["LineAmountTypes"] == "Exclusive"
    assert "Contact" not in body  # resolved per batch
    (ln,) = body["LineItems"]
    assert ln == {
        "Description": "Remote support",
        "Quantity": D("2.0000"),
        "UnitAmount": D("75.0000"),
        "AccountCode": "200",
        "ItemCode": "LABOR",
        "TaxType": "OUTPUT",
        "Tracking": [
            {"Name": "Location", "Option": "Sydney"},
            {"Name": "Department", "Option": "Projects"},
        ],
    }
    assert p.expected_total == D("165.00")


def test_draft_and_sent_flag_options():
    rec = record(line())
    draft = plan(rec, reference(), OPTS, TRACKING, Approval(invoice_status="DRAFT", mark_sent=True))
    assert draft.body["Status"] == "DRAFT"
    assert "SentToContact" not in draft.body  # only on approved invoices
    sent = plan(rec, reference(), OPTS, TRACKING, Approval(mark_sent=True))
    assert sent.body["SentToContact"] is True
    assert "SentToContact" not in build(rec).body


def test_bill_status_applies_to_bills_and_credit_notes():
    def build(rec):
        return plan(rec, reference(), OPTS, TRACKING, Approval(bill_status="DRAFT"))

    bill = build(record(line(account="429", tax="INPUT"), record_type=RecordType.EXPENSE))
    note = build(record(line(), record_type=RecordType.CREDIT_MEMO))
    inv = build(record(line()))
    assert bill.body["Status"] == note.body["Status"] == "DRAFT"
    assert inv.body["Status"] == "AUTHORISED"


def test_credit_memo_is_accreccredit_with_credit_note_number():
    p = build(record(line(), record_type=RecordType.CREDIT_MEMO, number="CM-9", reference="r"))
    assert p.body["Type"] == "ACCRECCREDIT"
    assert p.body["CreditNoteNumber"] == "CM-9"
    assert "InvoiceNumber" not in p.body
    assert p.body["Reference"] == "r"
    assert p.kind.endpoint == "CreditNotes"


def test_negative_invoice_becomes_credit_note_with_positive_amounts():
    rec = record(line("-50", tax_amount="-5"), total="-55.00")
    p = build(rec)
    assert p.body["Type"] == "ACCRECCREDIT"
    assert p.body["LineItems"][0]["UnitAmount"] == D("50.0000")
    assert p.expected_total == D("55.00")


def test_expense_is_accpay_without_reference_field():
    rec = record(
        line("40", account="429", item="EXPENSE", tax="INPUT"),
        record_type=RecordType.EXPENSE,
        number="EXP-7",
        reference="batch-7",
        terms=None,
        subtype="reimbursable",
    )
    p = build(rec)
    assert p.ok
    assert p.body["Type"] == "ACCPAY"
    assert p.body["InvoiceNumber"] == "EXP-7"  # shown as "Reference" on a Xero bill
    assert "Reference" not in p.body  # the API's Reference is ACCREC only
    assert "DueDate" not in p.body  # no terms, no CW due date: Xero's default


def test_personal_expense_is_a_credit_bill():
    rec = record(
        line("40", account="429", item="EXPENSE", tax="INPUT"),
        record_type=RecordType.EXPENSE,
        subtype="personal",
        terms=None,
    )
    p = build(rec)
    assert p.body["Type"] == "ACCPAYCREDIT"
    assert p.body["CreditNoteNumber"] == rec.document_number
    assert p.body["LineItems"][0]["UnitAmount"] == D("40.0000")


def test_procurement_receipt_is_a_bill_and_a_one_sided_adjustment_is_refused():
    receipt = record(
        line("10", account="300", item="HW-LAPTOP", tax="INPUT"),
        record_type=RecordType.PROCUREMENT,
        subtype="receipt",
    )
    assert build(receipt).body["Type"] == "ACCPAY"
    adjustment = record(
        line("-241.5", "1", account="300", item="HW-LAPTOP", tax=None),
        record_type=RecordType.PROCUREMENT,
        subtype="adjustment",
        contact=None,
    )
    p = build(adjustment)
    assert not p.ok and p.kind.is_journal
    assert set(codes(p)) == {"RECORD_INVALID"}
    texts = " ".join(m.text for m in p.messages)
    assert "at least two" in texts and "does not balance" in texts


def test_terms_without_days_warn_and_leave_due_date_to_xero():
    p = build(record(line(), terms=Terms("EOM", None, None)))
    assert p.ok
    assert "DueDate" not in p.body
    (msg,) = p.messages
    assert msg.code == "TERMS_XREF" and msg.severity is Severity.WARNING
    assert "EOM" in msg.text


def test_record_due_date_used_when_there_are_no_terms():
    p = build(record(line(), terms=None, due_date=date(2026, 3, 1)))
    assert p.body["DueDate"] == "2026-03-01"
    assert p.messages == []


def test_no_billing_contact_warnings():
    none = customer(3, primary_contact=None, billing_contact=None)
    primary_only = customer(4, billing_contact=None)
    p1 = build(record(line(), contact=none))
    p2 = build(record(line(), contact=primary_only))
    assert codes(p1) == ["NO_BILLING_CONTACT"] and "no primary or billing" in p1.messages[0].text
    assert codes(p2) == ["NO_BILLING_CONTACT"] and "Pat Primary" in p2.messages[0].text
    assert p1.ok and p2.ok
    bill = record(line(account="429", tax="INPUT"), record_type=RecordType.EXPENSE, contact=none)
    assert "NO_BILLING_CONTACT" not in codes(build(bill))


def test_long_description_is_cut_with_a_warning():
    text = "x" * (DESCRIPTION_MAX + 500)
    p = build(record(line("10", description="short"), line("10", description=text)))
    desc = p.body["LineItems"][1]["Description"]
    assert len(desc) == DESCRIPTION_MAX
    (msg,) = p.messages
    assert msg.code == "DESCRIPTION_TRUNCATED" and msg.line == 1


def test_empty_description_gets_a_fallback():
    p = build(record(line("10", description="  ")))
    assert p.body["LineItems"][0]["Description"] == "LABOR"


def test_seven_decimal_lines_get_a_rounding_line_on_the_rounding_account():
    lines = [line("0.3333333", "1", tax="EXEMPTOUTPUT", description=f"l{i}") for i in range(3)]
    rec = record(*lines, total="1.00")
    p = build(rec)
    assert p.ok
    assert codes(p) == ["ROUNDING_APPLIED"]
    extra = p.body["LineItems"][-1]
    assert extra["Description"] == "Rounding"
    assert extra["AccountCode"] == "860"
    assert extra["TaxType"] == "BASEXCLUDED"
    assert extra["UnitAmount"] == D("0.0100")
    assert "ItemCode" not in extra


def test_rounding_account_option_wins():
    lines = [line("0.3333333", "1", tax="EXEMPTOUTPUT") for _ in range(3)]
    p = build(record(*lines, total="1.00"), CompanyOptions(rounding_account="429"))
    assert p.body["LineItems"][-1]["AccountCode"] == "429"


def test_no_rounding_account_in_xero_is_an_error_when_one_is_needed():
    lines = [line("0.3333333", "1", tax="EXEMPTOUTPUT") for _ in range(3)]
    p = build(record(*lines, total="1.00"), ref=reference(rounding=False))
    assert not p.ok
    assert codes(p) == ["LEDGER_ACCOUNT_MISSING"]
    # a balanced record does not need one
    assert build(record(line()), ref=reference(rounding=False)).ok


def test_header_total_difference_adds_an_adjustment_line_with_the_item():
    rec = record(line("150", tax_amount="15"), total="168.50")
    p = build(rec)
    assert p.ok
    assert codes(p) == ["ADJUSTMENT_APPLIED"]
    adj = p.body["LineItems"][-1]
    assert adj["ItemCode"] == "WISESYNC_ADJUSTMENT"
    assert adj["AccountCode"] == "860"  # default: the rounding account
    assert adj["UnitAmount"] == D("3.5000")
    assert adj["TaxType"] == "BASEXCLUDED"
    assert p.expected_total == D("168.50")


def test_adjustment_accounts_for_sales_and_purchases():
    opts = CompanyOptions(adjustment_sales_account="260", adjustment_purchase_account="429")
    sale = build(record(line("150", tax_amount="15"), total="168.50"), opts)
    assert sale.body["LineItems"][-1]["AccountCode"] == "260"
    bill = record(
        line("100", account="429", item="EXPENSE", tax="INPUT"),
        total="112.00",
        record_type=RecordType.EXPENSE,
    )
    b = build(bill, opts)
    assert b.body["LineItems"][-1]["AccountCode"] == "429"
    assert b.body["LineItems"][-1]["TaxType"] == "NONE"  # 429's INPUT is 10%; NONE is 0%


def test_adjustment_over_the_cap_fails_the_record():
    p = build(record(line("150", tax_amount="15"), total="190.00"))
    assert not p.ok and p.body is None
    (msg,) = p.messages
    assert msg.code == "ADJUSTMENT_OVER_CAP" and msg.severity is Severity.ERROR
    assert "25.00" in msg.text and "10.00" in msg.text


def test_cap_from_options():
    p = build(
        record(line("150", tax_amount="15"), total="190.00"), CompanyOptions(adjustment_cap=D("50"))
    )
    assert p.ok and codes(p) == ["ADJUSTMENT_APPLIED"]


def test_adjustment_without_the_item_in_xero_is_sent_account_only():
    ref = reference()
    ref.items.pop("WISESYNC_ADJUSTMENT")
    p = build(record(line("150", tax_amount="15"), total="168.50"), ref=ref)
    assert "ItemCode" not in p.body["LineItems"][-1]


def test_per_line_tax_difference_becomes_an_adjustment():
    # CW taxed the subtotal (0.15 -> 0.015 -> 0.02); Xero taxes each line (0.005 -> 0.01, x3)
    lines = [line("0.05", tax_amount="0.005") for _ in range(3)]
    p = build(record(*lines, total="0.17"))
    assert codes(p) == ["ADJUSTMENT_APPLIED"]
    assert p.body["LineItems"][-1]["UnitAmount"] == D("-0.0100")
    assert p.expected_total == D("0.17")


def test_zero_total_invoice_posts_without_extra_lines():
    p = build(record(line("0", tax_amount="0"), total="0.00"))
    assert p.ok and p.messages == []
    assert len(p.body["LineItems"]) == 1
    assert p.expected_total == D("0.00")


def test_inclusive_amounts():
    rec = replace(
        record(line("110", tax_amount="10"), total="110.00"), line_amounts_include_tax=True
    )
    p = build(rec)
    assert p.body["LineAmountTypes"] == "Inclusive"
    assert p.messages == [] and p.expected_total == D("110.00")


def test_line_without_tax_code_sends_the_account_default_tax_type():
    p = build(record(line(tax=None, tax_amount="10")))
    assert p.body["LineItems"][0]["TaxType"] == "OUTPUT"
    assert p.messages == []


def test_currency_and_url():
    rec = record(line(), currency="aud", attributes={"url": "https://cw.example/inv/1"})
    p = build(rec)
    assert p.body["CurrencyCode"] == "AUD"
    assert p.body["Url"] == "https://cw.example/inv/1"


@pytest.mark.parametrize("contact", [customer(5, billing_contact=Person("Solo", None))])
def test_body_never_holds_floats(contact):
    p = build(record(line("19.99", "3"), contact=contact))

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert not isinstance(value, float)

    walk(p.body)


def test_our_documents_stay_within_xeros_limits():
    options = OPTS
    long_ref = record(line(description="d" * 5000), reference="R" * 300)
    p = plan(long_ref, reference(), options, TRACKING)
    assert p.ok
    assert len(p.body["Reference"]) == 255 and len(p.body["LineItems"][0]["Description"]) == 4000
    assert {m.code for m in p.messages} == {"REFERENCE_TRUNCATED", "DESCRIPTION_TRUNCATED"}
    for number in ("N" * 256, "INV-Ü1"):
        refused = plan(record(line(), number=number), reference(), options, TRACKING)
        assert [m.code for m in refused.messages] == ["RECORD_INVALID"]
