"""The seeded tenant: deterministic, scalable, and holding every scenario case."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from wisesync import money
from wisesync.money import round_money
from wisesync_connectwise.sandbox import ConnectWiseSandbox, generate
from wisesync_connectwise.sandbox.seed import EXPENSE_CASES, INVOICE_CASES, PROCUREMENT_CASES


def full_export(app: ConnectWiseSandbox) -> dict:
    s = app.state
    return app.glexport(s.unposted_invoices(), s.unposted_expenses(), s.unposted_procurement(), {})


def snapshot(app: ConnectWiseSandbox) -> str:
    v = app.views
    s = app.state
    return money.dumps(
        {
            "export": full_export(app),
            "companies": [v.company(c) for c in s.companies.values()],
            "contacts": [v.contact(c) for c in s.contacts.values()],
            "invoices": [v.invoice(i) for i in s.invoices.values()],
            "unposted": [v.unposted_invoice(i) for i in s.unposted_invoices()],
            "gl": [v.gl_account(a) for a in s.gl_accounts.values()],
        },
        sort_keys=True,
    )


def test_same_seed_same_data_other_seed_other_data():
    kw = {"invoices": 80, "expenses": 20, "procurement": 12, "customers": 15}
    a = snapshot(ConnectWiseSandbox(7, **kw))
    assert a == snapshot(ConnectWiseSandbox(7, **kw))
    assert a != snapshot(ConnectWiseSandbox(8, **kw))


def test_counts_scale_and_ids_stay_unique():
    started = time.perf_counter()
    state = generate(5, invoices=3000, expenses=300, procurement=200, customers=150)
    assert time.perf_counter() - started < 5
    assert (len(state.invoices), len(state.expenses), len(state.procurement)) == (3000, 300, 200)
    gl_ids = [
        g
        for kind in ("invoices", "expenses", "procurement")
        for rec in getattr(state, kind).values()
        for g in rec.gl_ids()
    ]
    assert len(gl_ids) == len(set(gl_ids)) == len(state.gl_index)
    numbers = [i.number for i in state.invoices.values()]
    assert len(set(numbers)) == len(numbers)
    assert all(
        c.account_number.startswith("C") and len(c.account_number) == 6
        for c in state.companies.values()
        if "Client" in c.types
    )


def test_no_cases_gives_only_clean_mappings():
    app = ConnectWiseSandbox(1, invoices=50, expenses=10, procurement=5, cases=False)
    export = full_export(app)
    assert app.cases == {}
    for tx in export["transactions"]:
        assert tx["billingTermsXref"] != ""
        for line in tx["detail"]:
            assert line["accountNumber"] in {"200:", "210:", "220:", "260:", "820"}
            assert line["taxCodeXref"] in {"OUTPUT", "EXEMPTOUTPUT"}


@pytest.fixture(scope="module")
def demo() -> ConnectWiseSandbox:
    return ConnectWiseSandbox(0)


@pytest.fixture(scope="module")
def export(demo) -> dict:
    return full_export(demo)


def tx(demo, export, case):
    number = demo.case(case)
    return next(t for t in export["transactions"] if t["documentNumber"] == number)


def test_every_case_is_seeded(demo):
    assert set(demo.cases) == set(INVOICE_CASES) | set(EXPENSE_CASES) | set(PROCUREMENT_CASES)


def test_invoice_shapes(demo, export):
    assert tx(demo, export, "agreement")["billingType"] == "Agreement"
    memo = tx(demo, export, "credit_memo")
    assert memo["billingType"] == "CreditMemo" and memo["total"] < 0
    # the detail rows are the credit side: signed against the header
    assert all(d["quantity"] >= 0 and d["total"] >= 0 for d in memo["detail"])
    standard = tx(demo, export, "standard")
    assert standard["total"] > 0
    assert all(d["quantity"] <= 0 and d["total"] <= 0 for d in standard["detail"])
    product = next(d for d in standard["detail"] if d["glTypeId"] == "RP")
    assert product["cost"] == -product["quantity"] * product["itemCost"]  # extended cost
    assert len(tx(demo, export, "many_lines")["detail"]) == 61  # 60 lines + the tax line
    assert tx(demo, export, "zero_total")["total"] == 0
    assert max(len(d["memo"]) for d in tx(demo, export, "long_description")["detail"]) > 4000
    large = tx(demo, export, "large_amounts")
    assert large["total"] > 500_000


def test_rounding_case_totals_are_reproduced_by_no_ledger(demo, export):
    lines = tx(demo, export, "rounding")["detail"][:-1]
    assert len(lines) == 4
    for line in lines:
        qty, price = Decimal(str(line["quantity"])), Decimal(str(line["itemPrice"]))
        total = Decimal(str(line["total"]))
        assert -qty.as_tuple().exponent == 7 or -price.as_tuple().exponent == 7
        assert total != round_money(qty * price)  # QBO: Amount == round(Qty * UnitPrice, 2)
        q4, p4 = qty.quantize(Decimal("0.0001")), price.quantize(Decimal("0.0001"))
        assert total != round_money(q4 * p4)  # Xero: 4 decimals


def test_header_mismatch_case(demo, export):
    for case, delta in (("totals_mismatch", Decimal("3.5")), ("adjustment_large", Decimal(0))):
        t = tx(demo, export, case)
        lines = sum(Decimal(str(d["total"])) for d in t["detail"])
        assert Decimal(str(t["total"])) + lines == delta


def test_adjustment_cases_are_consistent_exports_at_their_own_tax_rate(demo, export):
    # ConnectWise taxes the total at its tax code's rate; the xref is OUTPUT (10% in the
    # ledger), so the ledger's total differs although the export adds up
    cases = (("adjustment_small", "0.105", "51.98"), ("adjustment_large", "0.15", "99"))
    for case, rate, tax in cases:
        t = tx(demo, export, case)
        st = [d for d in t["detail"] if d["glTypeId"] == "ST"]
        assert [Decimal(str(d["total"])) for d in st] == [-Decimal(tax)]
        assert {d["taxCodeXref"] for d in t["detail"]} == {"OUTPUT"}
        assert {Decimal(str(d["taxRate"])) for d in t["detail"]} == {Decimal(rate)}


def test_ledger_rounding_case_prices_at_five_decimals(demo, export):
    (line, _tax) = tx(demo, export, "ledger_rounding")["detail"]
    assert Decimal(str(line["itemPrice"])) == Decimal("0.03902")
    assert Decimal(str(line["total"])) == Decimal("-58.53")  # 1500 x 0.03902 = 58.53


def test_mapping_and_ledger_error_cases(demo, export):
    # accounts laid out by the GL caption: Account + (empty) Sub Account, ":" between
    assert tx(demo, export, "mapping_empty")["detail"][0]["accountNumber"] == ":"
    npid = tx(demo, export, "no_npid")["detail"][0]
    assert npid["accountNumber"] == "200:" and npid["glClass"].split("-")[2] == ""
    assert tx(demo, export, "standard")["detail"][0]["glClass"] == "Sydney-Managed Services-LABOR"
    assert tx(demo, export, "account_4999")["detail"][0]["accountNumber"] == "4999:"
    assert tx(demo, export, "account_477")["detail"][0]["accountNumber"] == "477:"
    assert tx(demo, export, "standard")["accountNumber"] == "610"  # system accounts: plain
    assert tx(demo, export, "tracking_perth")["detail"][0]["glClass"].startswith("Perth-")
    assert tx(demo, export, "gst99")["detail"][0]["taxCodeXref"] == "GST99"
    exempt = tx(demo, export, "exempt")
    assert exempt["salesTax"] == 0 and exempt["detail"][0]["taxCodeXref"] == "EXEMPTOUTPUT"
    mixed = tx(demo, export, "mixed_tax")["detail"]
    assert {d["taxCodeXref"] for d in mixed[:-1]} == {"OUTPUT", "EXEMPTOUTPUT"}
    product = next(d for d in tx(demo, export, "standard")["detail"] if d["glTypeId"] == "RP")
    assert product["glItemId"] == "HW-LAPTOP"


def test_terms_and_contact_cases(demo, export):
    eom = tx(demo, export, "terms_eom")
    assert eom["billingTerms"]["name"] == "EOM" and eom["billingTermsXref"] == ""
    assert tx(demo, export, "standard")["billingTermsXref"] in {"30", "14", "0"}
    companies = {c.id: c for c in demo.state.companies.values()}
    nobill = companies[tx(demo, export, "no_billing_contact")["company"]["id"]]
    assert nobill.billing_contact_id is None and nobill.default_contact_id is not None
    noprimary = companies[tx(demo, export, "no_primary_contact")["company"]["id"]]
    assert noprimary.default_contact_id is None and noprimary.billing_contact_id is not None
    none = companies[tx(demo, export, "no_contacts")["company"]["id"]]
    assert none.billing_contact_id is None and none.default_contact_id is None
    assert tx(demo, export, "unicode_name")["company"]["name"] == "Café Zürich"
    assert tx(demo, export, "apostrophe_name")["company"]["name"] == "O'Brien & Sons Plumbing"
    assert tx(demo, export, "quote_name")["company"]["name"] == 'The "Byte" Shop'
    assert all(c["accountNumber"].startswith("C0") for c in export["customers"])


def test_finance_hold_is_seeded_but_not_exported(demo, export):
    held = demo.case("finance_hold")
    assert demo.invoice_by_number(held)["status"]["name"] == "Finance Hold"
    assert held not in {t["documentNumber"] for t in export["transactions"]}


def test_expense_cases(demo, export):
    by_id = {e["id"]: e for e in export["expenses"]}
    reimb = by_id[int(demo.case("reimbursable"))]
    assert "offset" not in reimb and reimb["total"] > 0 and reimb["apAccountNumber"] == "800"
    assert reimb["company"]["id"] != 2  # billable to a customer
    card = by_id[int(demo.case("non_reimbursable"))]
    assert card["offset"]["accountNumber"] == "880"
    assert card["offset"]["total"] == -card["total"]
    personal = by_id[int(demo.case("personal"))]
    assert personal["total"] < 0
    assert by_id[int(demo.case("expense_mapping_empty"))]["accountNumber"] == ":"
    rows = {
        r["id"]: r for r in (demo.views.unposted_expense(e) for e in demo.state.unposted_expenses())
    }
    assert rows[reimb["id"]]["classification"] == "Reimbursable"
    assert rows[card["id"]]["classification"] == "NonReimbursable"
    assert rows[personal["id"]]["classification"] == "Personal"


def test_procurement_cases(demo, export):
    receipts = {p["purchaseDetail"][0]["id"]: p for p in export["purchaseTransactions"]}
    freight = receipts[int(demo.case("receipt_freight"))]
    pf = [d for d in freight["purchaseDetail"] if d["glTypeId"] == "PF"]
    assert freight["freightAmount"] == 45 and len(pf) == 1 and pf[0]["total"] == -45
    lines = sum(Decimal(str(d["total"])) for d in freight["purchaseDetail"])
    tax = sum(Decimal(str(d["total"])) for d in freight["purchaseDetailTax"])
    assert Decimal(str(freight["total"])) == -(lines + tax) > 0
    laptops = freight["purchaseDetail"][0]
    assert (laptops["quantity"], laptops["itemCost"], laptops["cost"]) == (-3, 1420, 4260)
    assert freight["purchaseDetailTax"][0]["quantity"] == 0
    assert len(receipts[int(demo.case("receipt_multi"))]["purchaseDetail"]) == 6
    # adjustments and transfers carry no GL entry ids: their id is the unposted row's
    # unpostedProductId (the sandbox's convention)
    rows = {
        r["id"]: r
        for r in (demo.views.unposted_procurement(p) for p in demo.state.unposted_procurement())
    }
    adjustments = {a["id"]: a for a in export["adjustmentTransactions"]}
    shrink_row = rows[int(demo.case("inventory_adjustment"))]
    assert shrink_row["procurementType"] == "Adjustment" and "purchaseOrder" not in shrink_row
    shrink = adjustments[shrink_row["unpostedProductId"]]
    detail = shrink["adjustmentDetail"][0]
    assert (detail["quantity"], detail["cost"], detail["total"]) == (-2, 241.5, -483)
    assert detail["item"]["identifier"] == "HW-DOCK" and shrink["accountNumber"] == "630"
    transfers = {t["id"]: t for t in export["inventoryTransfers"]}
    move = transfers[rows[int(demo.case("inventory_transfer"))]["unpostedProductId"]]
    assert (move["quantity"], move["total"], move["offset"]["total"]) == (4, 5680, -5680)
    assert (move["accountNumber"], move["offset"]["accountNumber"]) == ("631", "630")


def test_expense_bill_case(demo, export):
    bill = next(b for b in export["expenseBills"] if b["id"] == int(demo.case("expense_bill")))
    assert len(bill["detail"]) == 2 and bill["member"]["identifier"] == "mnguyen"
    totals = [Decimal(str(d["total"])) for d in bill["detail"]]
    assert Decimal(str(bill["total"])) == sum(totals) == Decimal("39.60") + Decimal("64.24")
    assert all(isinstance(d["id"], list) and d["reimbursable"] for d in bill["detail"])
    assert bill["id"] not in {e["id"] for e in export["expenses"]}


def test_other_invoice_kinds_and_currency(demo, export):
    assert tx(demo, export, "down_payment")["billingType"] == "DownPayment"
    assert tx(demo, export, "progress")["billingType"] == "Progress"
    tax_only = tx(demo, export, "tax_only")
    assert [d["glTypeId"] for d in tax_only["detail"]] == ["ST"]
    assert tax_only["total"] == Decimal("48.2") == -tax_only["detail"][0]["total"]
    assert tax_only["detail"][0]["taxNote"] == "AUTOSTAX" and tax_only["detail"][0]["quantity"] == 0
    zero = tx(demo, export, "zero_line")
    assert zero["total"] == 0 and [d["total"] for d in zero["detail"]] == [0]
    kiwi = tx(demo, export, "foreign_currency")
    assert kiwi["currency"]["currencyCode"] == "NZD"
    assert {d["currency"]["currencyCode"] for d in kiwi["detail"]} == {"NZD"}
    customer = next(c for c in export["customers"] if c["company"]["id"] == kiwi["company"]["id"])
    assert customer["currency"]["currencyCode"] == "NZD"
    assert tx(demo, export, "standard")["currency"]["currencyCode"] == "AUD"


def test_reference_data_matches_the_scenario(demo):
    v, s = demo.views, demo.state
    terms = {t["name"]: t for t in (v.billing_term(i) for i in s.terms)}
    assert (terms["Net 30"]["dueDays"], terms["Net 30"]["termsXref"]) == (30, "30")
    assert terms["EOM"]["termsXref"] == ""
    statuses = {b["name"]: b for b in (v.billing_status(i) for i in s.statuses)}
    assert statuses["Finance Hold"]["closedFlag"] is False
    xrefs = {t["levelOneTaxCodeXref"] for t in (v.tax_code(i) for i in s.tax_codes)}
    assert xrefs == {
        "OUTPUT",
        "INPUT",
        "EXEMPTOUTPUT",
        "EXEMPTEXPENSES",
        "NONE",
        "BASEXCLUDED",
        "GST99",
    }
    caption = v.gl_caption()
    assert caption["segment4"] == "Non-Product ID" and caption["segment4type"] == "Class"
    codes = {i.identifier for i in s.items.values()}
    assert codes == {"HW-LAPTOP", "HW-DOCK", "SW-M365", "SW-AV"}
