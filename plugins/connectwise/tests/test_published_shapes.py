"""The extractor against ConnectWise's published shapes (no sandbox): GL export signs,
GL captions account resolution, every record type, holds with a reason."""

from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import pytest

from wisesync.events.models import RecordEvent, RecordType
from wisesync.protocols import Held
from wisesync_connectwise import samples
from wisesync_connectwise.layout import GLLayout
from wisesync_connectwise.sandbox.schema import document as schema_document

D = Decimal
ALL = ["invoice", "credit_memo", "expense", "procurement"]
#: the one copy of the published schema: the sandbox's (its hash is checked there)
SCHEMA = schema_document()


def check(payload, definition: str) -> None:
    """Validate against the published schema (numbers as JSON numbers)."""
    doc = json.loads(json.dumps(payload, default=float))
    schema = {"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]}
    jsonschema.Draft202012Validator(schema).validate(doc)


def extract(tenant: samples.Tenant, types=ALL) -> list[RecordEvent | Held]:
    return samples.extract(tenant, types)


def validate_tenant(tenant: samples.Tenant) -> None:
    client = samples.TenantClient(tenant)
    for path, name in (
        ("unpostedinvoices", "UnpostedInvoice"),
        ("unpostedexpenses", "UnpostedExpense"),
        ("unpostedprocurement", "UnpostedProcurement"),
    ):
        for row in tenant.unposted(path):
            check(row, name)
    export = client.post_json(
        "x", {"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}
    ).body
    check(export, "GLExport")
    check(samples.CAPTION, "GLCaption")
    for row in samples.GL_ACCOUNTS:
        check(row, "GLAccount")


def balanced(e: RecordEvent) -> bool:
    lines = sum((x.line_amount for x in e.lines), D(0))
    tax = sum((x.tax_amount for x in e.lines), D(0))
    if e.subtype in ("adjustment", "transfer"):
        return lines == 0 and e.totals.tax == 0
    return lines == e.totals.subtotal and tax == e.totals.tax and lines + tax == e.totals.total


def test_invoice_detail_lines_are_the_credit_side():
    unposted, txn = samples.invoice(1, [(D("2.5"), D(165)), (D(1), D("3798"))])
    tenant = samples.Tenant(invoices=[(unposted, txn)])
    validate_tenant(tenant)
    (e,) = extract(tenant)
    assert isinstance(e, RecordEvent) and e.record_type is RecordType.INVOICE
    assert [x.line_amount for x in e.lines] == [D("412.50"), D("3798")]
    assert [x.quantity for x in e.lines] == [D("2.5"), D(1)]
    assert [x.unit_amount for x in e.lines] == [D(165), D(3798)]
    assert e.totals.total == D(str(txn["total"])) and e.totals.tax == D("421.05")
    assert balanced(e)
    # "4001:" (an empty sub-account segment) is account 4001, classes split by the layout
    assert [x.gl_account for x in e.lines] == ["4001", "4002"]
    assert e.lines[1].tracking.location == "Brisbane-North"
    assert e.lines[0].item_code == "LABOR"
    assert e.attributes["ar_account"] == "1100" and e.currency == "AUD"
    assert e.reference == "PO-1"


def test_credit_memo_has_positive_amounts():
    unposted, txn = samples.invoice(2, [(D(3), D(10))], credit=True)
    assert txn["total"] < 0 and txn["detail"][0]["total"] > 0
    tenant = samples.Tenant(invoices=[(unposted, txn)])
    validate_tenant(tenant)
    (e,) = extract(tenant)
    assert e.record_type is RecordType.CREDIT_MEMO and e.subtype == "credit_memo"
    assert (e.lines[0].quantity, e.lines[0].line_amount) == (D(3), D(30))
    assert (e.totals.tax, e.totals.total) == (D(3), D(33)) and balanced(e)


def test_a_detail_with_the_header_sign_is_held_totals_mismatch():
    unposted, txn = samples.invoice(3, [(D(1), D(35))], rate=D("0.2"))
    for d in txn["detail"]:
        d["total"] = -d["total"]  # the old sandbox's shape: 42.00 = -35.00 + 7.00
    (h,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert isinstance(h, Held) and h.code == "SOURCE_TOTALS_MISMATCH"
    assert "-35.00" in h.text and "42.00" in h.text and h.source_id == "3"


@pytest.mark.parametrize("kind", ["Agreement", "DownPayment", "Progress", "Miscellaneous"])
def test_invoice_kinds(kind):
    unposted, txn = samples.invoice(4, [(D(1), D(100))], kind=kind)
    (e,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert isinstance(e, RecordEvent) and balanced(e) and e.totals.total == D(110)


def test_tax_only_and_zero_line_invoices():
    unposted, txn = samples.invoice(5, [(D(1), D(100))])
    txn["detail"] = txn["detail"][1:]  # only the ST line: -10
    txn["total"] = unposted["total"] = D(10)
    zero_u, zero_t = samples.invoice(6, [(D(1), D(100))])
    zero_t["detail"] = []
    zero_t["total"] = zero_u["total"] = zero_t["salesTax"] = D(0)
    tax_only, zero = extract(samples.Tenant(invoices=[(unposted, txn), (zero_u, zero_t)]))
    assert isinstance(tax_only, RecordEvent) and balanced(tax_only)
    assert tax_only.totals.tax == D(10) and tax_only.lines[0].gl_account == "2200"
    assert isinstance(zero, Held) and zero.code == "SOURCE_FIELD_INVALID" and "detail" in zero.text


def test_percent_string_fails_that_record_alone():
    good = samples.invoice(7, [(D(1), D(10))])
    bad = samples.invoice(8, [(D(1), D(10))])
    bad[1]["detail"][0]["taxRate"] = "20.00%"
    got = extract(samples.Tenant(invoices=[good, bad]))
    assert isinstance(got[0], RecordEvent)
    assert isinstance(got[1], Held) and got[1].code == "SOURCE_FIELD_INVALID"
    assert "detail[0].taxRate" in got[1].text and "percent" in got[1].text


def test_rounding_to_the_currency_with_a_message():
    unposted, txn = samples.invoice(9, [(D(3), D("33.3333333"))])
    txn["detail"][0]["total"] = D("-99.9999999")
    (e,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert isinstance(e, RecordEvent) and e.lines[0].line_amount == D("100.00")
    assert any(m.code == "SOURCE_AMOUNT_ROUNDED" for m in e.source_messages)
    assert e.lines[0].unit_amount == D("33.3333")


def test_missing_export_entry_is_held_not_skipped():
    unposted, _ = samples.invoice(10, [(D(1), D(10))])
    tenant = samples.Tenant(invoices=[(unposted, {})])
    tenant.invoices = [(unposted, {"id": 999, "documentNumber": "OTHER", "total": D(1)})]
    (h,) = extract(tenant)
    assert isinstance(h, Held) and h.code == "SOURCE_RECORD_GONE"


def test_customer_currency_and_foreign_invoice():
    unposted, txn = samples.invoice(11, [(D(1), D(10))], code="USD", company=44)
    tenant = samples.Tenant(
        invoices=[(unposted, txn)],
        customers=[{"company": samples.company_ref(44), "currency": samples.currency("USD")}],
    )
    validate_tenant(tenant)
    (e,) = extract(tenant)
    assert e.currency == "USD" and e.attributes["customer_currency"] == "USD"
    assert "exchange_rate" not in e.attributes  # not a published GL export field


def test_expense_and_expense_bill():
    u1, e1 = samples.expense(31, D("110"), D("10"))
    u2, _ = samples.expense(32, D("50"), D("0"))
    u3, _ = samples.expense(33, D("25.5"), D("0"))
    bill = samples.expense_bill(900, [(32, D("50")), (33, D("25.5"))])
    tenant = samples.Tenant(expenses=[(u1, e1)], bills=[([u2, u3], bill)])
    validate_tenant(tenant)
    got = {x.source_id: x for x in extract(tenant, ["expense"])}
    exp = got["31"]
    assert (exp.totals.total, exp.totals.tax, exp.lines[0].gl_account) == (D(110), D(10), "6100:10")
    assert exp.attributes["ap_account"] == "2100"
    b = got["32"]
    assert isinstance(b, RecordEvent) and b.document_number == "EB-900"
    assert [x.line_amount for x in b.lines] == [D(50), D("25.5")] and b.totals.total == D("75.5")
    assert set(b.source_batch_ids) >= {"32", "33"} and b.attributes["expense_bill"] == "true"
    assert isinstance(got["33"], Held) and got["33"].code == "SOURCE_RECORD_COMBINED"


def test_purchase_receipt_as_exported():
    unposted, ptx = samples.purchase(41, [(D(50), D("0.25")), (D(2), D("12.5"))], freight=D(5))
    tenant = samples.Tenant(procurement=[(unposted, "purchase", ptx)])
    validate_tenant(tenant)
    (e,) = extract(tenant, ["procurement"])
    assert isinstance(e, RecordEvent) and e.subtype == "receipt"
    first = e.lines[0]
    assert (first.quantity, first.unit_amount, first.line_amount) == (D(50), D("0.25"), D("12.50"))
    assert first.gl_account == "1300" and e.lines[-1].gl_account == "5100"
    assert e.totals.total == unposted["total"] and balanced(e)
    assert e.date.isoformat() == "2025-04-10"


def test_adjustment_and_transfer_are_balanced_journals():
    ua, adj = samples.adjustment(51, [(3, D("4.5")), (-1, D("10"))])
    ut, tr = samples.transfer(52, D(2), D("7.25"))
    tenant = samples.Tenant(procurement=[(ua, "adjustment", adj), (ut, "transfer", tr)])
    validate_tenant(tenant)
    a, t = extract(tenant, ["procurement"])
    assert a.subtype == "adjustment" and t.subtype == "transfer"
    assert [x.line_amount for x in a.lines] == [D("13.50"), D("-10"), D("-3.50")]
    assert [x.gl_account for x in a.lines] == ["1300", "1300", "5300"]
    assert a.lines[0].unit_amount == D("4.5") and a.lines[1].quantity == -1
    assert a.totals.total == D("13.50") and a.attributes["reason"] == "Stock count"
    assert a.document_number == "ADJ51"
    assert [x.line_amount for x in t.lines] == [D("14.50"), D("-14.50")]
    assert [x.gl_account for x in t.lines] == ["1310", "1300"] and balanced(t)
    assert a.source_batch_ids == ["51"] and t.source_batch_ids == ["52", "520"]


def test_unknown_gl_type_and_us_dates():
    unposted, txn = samples.invoice(61, [(D(1), D(10))])
    txn["detail"][0]["glTypeId"] = "ZZ"
    (h,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert h.code == "SOURCE_FIELD_INVALID" and "detail[0].glTypeId" in h.text
    unposted, txn = samples.invoice(62, [(D(1), D(10))])
    txn["documentDate"] = "5/1/2014 5:21:58 AM"
    (e,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert e.date.isoformat() == "2014-05-01"


def test_layout_resolves_accounts_by_the_mapping_rows():
    layout = GLLayout.from_api([samples.CAPTION], samples.GL_ACCOUNTS)
    assert layout.account_number("4001:") == "4001"
    assert layout.account_number("4001") == "4001"
    assert layout.account_number("6100:10") == "6100:10"
    assert layout.account_number(":") is None
    assert layout.account_number("7777:") == "7777"  # no mapping row: the layout alone
    assert layout.account_number("7777-01") == "7777-01"  # an unknown sub-account is kept
    single = GLLayout.from_api([{"segment1": "Account", "segment1type": "Account"}], [])
    assert single.account_number("4001:") == "4001" and single.account_number("200") == "200"
    assert GLLayout().account_number(" 4001: ") == "4001"  # no captions readable
    assert layout.split_class("Brisbane-North-Hardware-HW")["location"] == "Brisbane-North"


def test_header_only_freight_is_a_line_without_an_account():
    unposted, ptx = samples.purchase(71, [(D(4), D("2.5"))], freight=D(5))
    ptx["purchaseDetail"] = ptx["purchaseDetail"][:1]  # freight only on the header
    (e,) = extract(samples.Tenant(procurement=[(unposted, "purchase", ptx)]), ["procurement"])
    assert [x.line_amount for x in e.lines] == [D(10), D(5)] and balanced(e)
    assert e.lines[1].gl_account is None
    assert [m.code for m in e.source_messages] == ["GL_MAPPING_MISSING"]


def test_seventeen_significant_digits_are_rounded_with_a_message():
    unposted, ptx = samples.purchase(72, [(D(3), D("0.1"))])
    ptx["purchaseDetail"][0]["itemCost"] = D("0.10000000000000001")
    (e,) = extract(samples.Tenant(procurement=[(unposted, "purchase", ptx)]), ["procurement"])
    assert e.lines[0].unit_amount == D("0.1000") and balanced(e)
    assert any("itemCost" in m.text for m in e.source_messages if m.code == "SOURCE_AMOUNT_ROUNDED")


def test_two_export_entries_with_one_id_hold_the_record():
    first = samples.invoice(73, [(D(1), D(10))])
    twin = (dict(first[0], id=999), dict(first[1]))
    got = extract(samples.Tenant(invoices=[first, twin]))
    assert [x.code for x in got] == ["SOURCE_FIELD_INVALID"]
    assert "ambiguous" in got[0].text


def test_a_tiny_quantity_rounds_to_four_decimals_and_the_amount_stays():
    unposted, txn = samples.invoice(74, [(D(1), D(10))], rate=D(0))
    txn["total"] = unposted["total"] = D("99999999999999")
    txn["detail"][0].update(quantity=D("-1E-12"), total=D("-99999999999999"), itemPrice=D(7))
    ua, adj = samples.adjustment(75, [(1, D(5))])
    adj["adjustmentDetail"][0]["quantity"] = 2**40
    adj["adjustmentDetail"][0]["cost"] = D("1E+14")
    e, a = extract(
        samples.Tenant(invoices=[(unposted, txn)], procurement=[(ua, "adjustment", adj)])
    )
    line = e.lines[0]
    assert (line.quantity, line.unit_amount, line.line_amount) == (
        1,
        D("99999999999999"),
        D("99999999999999"),
    )
    assert any("detail[0].quantity" in m.text for m in e.source_messages) and balanced(e)
    assert a.lines[0].quantity == 2**40 and a.lines[0].unit_amount == D("0.0000") and balanced(a)


def test_a_credit_memo_that_lost_its_type_is_held_not_posted_as_a_negative_invoice():
    unposted, txn = samples.invoice(76, [(D(3), D(10))], credit=True)
    unposted["invoiceType"] = None
    (h,) = extract(samples.Tenant(invoices=[(unposted, txn)]))
    assert isinstance(h, Held) and h.code == "SOURCE_FIELD_INVALID"
    assert "negative total" in h.text and "invoiceType" in h.text
