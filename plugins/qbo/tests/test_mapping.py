"""Record -> QBO entity, from the sandbox seed's reference data (no HTTP): entities and
signs, items, QBO's amount rule and the rounding line, terms, tracking, settings."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from qbo_testkit import VOCABULARY

from wisesync.company import CompanyConfig, CompanyOptions
from wisesync.events.models import RecordType, Terms
from wisesync.testing.records import RecordBuilder
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.mapping import QBO, plan
from wisesync_qbo.reference import LISTS, ReferenceData, parse
from wisesync_qbo.sandbox import QboSandbox
from wisesync_qbo.settings import DEFAULT_TRACKING

OPTIONS = CompanyOptions(require_item_code=True)


@pytest.fixture(scope="module")
def ref() -> ReferenceData:
    app = QboSandbox(seed=1)
    company = app.company()
    rows = {e: company.all(e) for e in LISTS}
    rows["Preferences"] = [company.preferences()]
    rows["CompanyInfo"] = [company.company_info()]
    return parse(rows, 0.0)


@pytest.fixture()
def b() -> RecordBuilder:
    return RecordBuilder(VOCABULARY, prefix="M-")


def codes(p) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.code for m in p.messages]


def test_entities_and_signs(ref, b) -> None:
    assert plan(b.record(b.line()), ref, OPTIONS, DEFAULT_TRACKING).entity.name == "Invoice"
    negative = plan(b.record(b.line("-50")), ref, OPTIONS, DEFAULT_TRACKING)
    assert negative.entity.name == "CreditMemo" and negative.expected_total == D("55.00")
    assert negative.body["Line"][0]["Amount"] == D("50.00")
    bill = plan(
        b.record(b.line(account="429", tax="INPUT"), record_type=RecordType.EXPENSE),
        ref,
        OPTIONS,
        DEFAULT_TRACKING,
    )
    assert bill.entity.name == "Bill" and bill.ok, bill.messages
    assert (
        bill.body["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["name"]
        == "General Expenses"
    )
    ret = plan(
        b.record(b.line("-20", account="310", tax="INPUT"), record_type=RecordType.PROCUREMENT),
        ref,
        OPTIONS,
        DEFAULT_TRACKING,
    )
    assert ret.entity.name == "VendorCredit"


def test_a_line_without_a_non_product_id_takes_the_item_on_its_account(ref, b) -> None:
    loose = CompanyOptions(require_item_code=False)
    p = plan(b.record(b.line(account="220", item=None)), ref, loose, DEFAULT_TRACKING)
    assert p.body["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "PROJECT"
    none = plan(b.record(b.line(account="200", item=None)), ref, OPTIONS, DEFAULT_TRACKING)
    assert codes(none) == ["GL_MAPPING_MISSING"]
    gone = plan(b.record(b.line(item="OLD-SUPPORT")), ref, OPTIONS, DEFAULT_TRACKING)
    assert codes(gone) == ["LEDGER_ACCOUNT_MISSING"] and "inactive" in gone.messages[0].text


def test_amount_rule_keeps_connectwise_prices_and_adds_a_rounding_line(ref, b) -> None:
    """ConnectWise rounds the price to cents before multiplying; QBO wants Amount =
    round(Qty x UnitPrice, 2) on the 7-decimal price: the line keeps ConnectWise's Qty and
    UnitPrice, QBO's product is the Amount, and a rounding line keeps the total."""
    qty, price = D("2.5000000"), D("10.1234567")
    line = b.line(str(price), str(qty), tax="EXEMPTOUTPUT")
    line.line_amount = D("25.30")  # round(2.5 x 10.12, 2): ConnectWise's total
    p = plan(b.record(line, total="25.30"), ref, OPTIONS, DEFAULT_TRACKING)
    first, rounding = p.body["Line"]
    detail = first["SalesItemLineDetail"]
    assert (detail["Qty"], detail["UnitPrice"]) == (qty, price)
    assert first["Amount"] == QBO.line_amount(qty, price) == D("25.31")
    assert rounding["Amount"] == D("-0.01") and "ROUNDING_APPLIED" in codes(p)
    assert p.expected_total == D("25.30")
    # a gap beyond half a cent per unit is no price rounding (a discount): the price is
    # re-derived from the total and no rounding line is needed
    line.line_amount = D("20.00")
    discounted = plan(b.record(line, total="20.00"), ref, OPTIONS, DEFAULT_TRACKING)
    assert discounted.body["Line"][0]["SalesItemLineDetail"]["UnitPrice"] == D("8.0000000")
    assert "ROUNDING_APPLIED" not in codes(discounted)


def test_terms_tracking_and_tax(ref, b) -> None:
    p = plan(
        b.record(b.line(department="Projects", location="Sydney")), ref, OPTIONS, DEFAULT_TRACKING
    )
    assert p.body["SalesTermRef"]["name"] == "Net 30" and p.body["DueDate"] == "2026-02-04"
    assert p.body["Line"][0]["SalesItemLineDetail"]["ClassRef"]["name"] == "Projects"
    assert p.body["DepartmentRef"]["name"] == "Sydney"
    assert p.body["GlobalTaxCalculation"] == "TaxExcluded"
    assert (
        p.body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == ref.tax_code("OUTPUT").id
    )
    eom = plan(b.record(b.line(), terms=Terms("EOM", None, None)), ref, OPTIONS, DEFAULT_TRACKING)
    assert "TERMS_XREF" in codes(eom) and "DueDate" not in eom.body
    purchase_code = plan(b.record(b.line(tax="INPUT")), ref, OPTIONS, DEFAULT_TRACKING)
    assert codes(purchase_code) == ["TAX_CODE_INVALID"]  # INPUT has no sales rate


def test_settings_are_checked_without_echoing_a_pasted_secret() -> None:
    def company(**qbo) -> CompanyConfig:  # type: ignore[no-untyped-def]
        return CompanyConfig(key="acme", name="Acme", ledger="qbo", settings={"qbo": qbo})

    good = company(client_id_env="A_ID", client_secret_env="A_SECRET", realm_id="9130")
    assert qbo_settings.check(good) == []
    assert qbo_settings.load(good).token_url.endswith("/oauth2/v1/tokens/bearer")
    bad = company(
        client_id_env="A_ID",
        client_secret_env="s3cr3t-value-pasted",
        realm_id="abc",
        refresh_token_env="A_REFRESH",
        base_url="http://quickbooks.example.com",
        tracking={"department": "klass"},
        colour="blue",
    )
    problems = {p.key: p.message for p in qbo_settings.check(bad)}
    assert set(problems) == {
        "qbo.client_secret_env",
        "qbo.realm_id",
        "qbo.base_url",
        "qbo.tracking",
        "qbo.colour",
    }
    assert "s3cr3t" not in " ".join(problems.values())


def test_term_rules_set_the_due_date_and_match_a_term_by_its_definition(ref, b) -> None:
    def planned(kind: str, day: int, name: str = "Special"):  # type: ignore[no-untyped-def]
        rec = b.record(
            b.line(),
            terms=Terms(name, None, None),
            attributes={"terms_type": kind, "terms_day": str(day)},
        )
        return plan(rec, ref, OPTIONS, DEFAULT_TRACKING)

    following = planned("day_of_next_month", 20)  # dated 2026-01-05
    assert following.body["DueDate"] == "2026-02-20" and "TERMS_XREF" not in codes(following)
    assert "SalesTermRef" not in following.body  # no such Term yet: created when posting
    month_end = planned("days_after_month_end", 15)
    assert month_end.body["DueDate"] == "2026-02-15" and "SalesTermRef" not in month_end.body
    # a days rule under another name still finds the Term with those days
    days = planned("days_after_date", 14, name="Fortnight")
    assert days.body["SalesTermRef"]["name"] == "Net 14" and days.body["DueDate"] == "2026-01-19"
