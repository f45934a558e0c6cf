"""The shared scenario (docs/sandbox-scenario.md): every case the ConnectWise sandbox seeds,
extracted by the ConnectWise plugin and posted by this one into the Xero sandbox, gets
its code; nothing fails the spec; each posted record is in Xero once."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from wisesync.config import AppConfig, CompanyOptions
from wisesync.events.models import RecordType, Status
from wisesync.messages import has_errors
from wisesync.protocols import Held, PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync_xero.limits import LIMITS
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget

cw_sandbox = pytest.importorskip("wisesync_connectwise.sandbox")
cw_testing = pytest.importorskip("wisesync_connectwise.testing")
cw_extract = pytest.importorskip("wisesync_connectwise.extract")

ERRORS = {
    "account_477": "LEDGER_ACCOUNT_MISSING",
    "account_4999": "LEDGER_ACCOUNT_MISSING",
    "mapping_empty": "GL_MAPPING_MISSING",
    "no_npid": "GL_MAPPING_MISSING",
    "expense_mapping_empty": "GL_MAPPING_MISSING",
    "gst99": "TAX_CODE_INVALID",
    # ConnectWise's 15% tax code against Xero's 10% OUTPUT: 33.00 apart, over the cap
    "adjustment_large": "ADJUSTMENT_OVER_CAP",
}
WARNINGS = {
    "rounding": "SOURCE_AMOUNT_ROUNDED",  # 7-decimal figures rounded at extraction
    "ledger_rounding": "ROUNDING_APPLIED",  # a 5-dp price: Xero's 4-dp unit is 0.03 short
    "adjustment_small": "ADJUSTMENT_APPLIED",  # 10.5% in ConnectWise, 10% in Xero: 2.48
    "long_description": "DESCRIPTION_TRUNCATED",
    "no_billing_contact": "NO_BILLING_CONTACT",
    "no_contacts": "NO_BILLING_CONTACT",
    "terms_eom": "TERMS_XREF",
    "tracking_perth": "TRACKING_MISSING",
}
CLEAN = {
    "standard", "agreement", "credit_memo", "exempt", "zero_total", "unicode_name",
    "apostrophe_name", "quote_name", "large_amounts", "mixed_tax", "receipt_freight",
    "receipt_multi", "reimbursable", "non_reimbursable", "no_primary_contact",
    "down_payment", "progress", "foreign_currency", "expense_bill",
    "inventory_adjustment", "inventory_transfer",
}  # fmt: skip
#: records the extractor holds: ConnectWise's export of them is inconsistent (header total
#: not what the details add up to), unreadable (no lines at all) or held by billing status
HELD = {
    "totals_mismatch": "SOURCE_TOTALS_MISMATCH",
    "zero_line": "SOURCE_FIELD_INVALID",
    "finance_hold": "BILLING_STATUS_HOLD",
}


@pytest.fixture(scope="module")
def scenario():
    cw = cw_sandbox.start_sandbox(seed=0)
    xero = start_sandbox(seed=0)
    try:
        creds = xero.app.credentials()
        comp = cw_testing.company_for(cw, options=CompanyOptions(require_item_code=True))
        comp = replace(
            comp,
            settings={
                **comp.settings,
                "xero": {
                    "grant": "client_credentials",
                    "client_id_env": "XID",
                    "client_secret_env": "XS",
                    "base_url": xero.url,
                    "identity_url": xero.url,
                },
            },
        )
        base = cw_testing.runtime_for(cw, XID=creds.client_id, XS=creds.client_secret)
        rt = PluginRuntime(config=AppConfig(companies=(comp,)), environ=base.environ)
        types = [RecordType.INVOICE, RecordType.CREDIT_MEMO, RecordType.EXPENSE,
                 RecordType.PROCUREMENT]  # fmt: skip
        extracted = list(cw_extract.ConnectWiseSource(rt).extract(comp, types))
        events = [e for e in extracted if not isinstance(e, Held)]
        held = [h for h in extracted if isinstance(h, Held)]
        target = XeroTarget(rt)
        ctx = target.prepare(comp, CallLimiter(LIMITS))
        results = {}
        for start in range(0, len(events), 50):  # as the poster does
            chunk = events[start : start + 50]
            valid = []
            for event in chunk:
                messages = target.validate(event, ctx)
                if has_errors(messages):
                    results[event.source_id] = (Status.FAILED, messages, event)
                else:
                    valid.append(event)
            for event, outcome in zip(valid, target.post(valid, ctx), strict=True):
                results[event.source_id] = (outcome.status, outcome.messages, event)
        yield cw.app, xero.app, results, held
        cw.app.assert_published_shapes()
    finally:
        cw.stop()
        xero.stop()


def _result(cw_app, results, case):
    ref = str(cw_app.cases[case])
    for status, messages, event in results.values():
        if ref in (event.source_id, event.document_number):
            # the poster reports the source's messages with the target's
            return status, {m.code for m in [*messages, *event.source_messages]}, event
    raise AssertionError(f"case {case} ({ref}) was not extracted")


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_cases(scenario, case):
    cw_app, _, results, _ = scenario
    status, codes, _ = _result(cw_app, results, case)
    assert status is Status.FAILED and ERRORS[case] in codes, codes


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_warning_cases_post_with_their_code(scenario, case):
    cw_app, _, results, _ = scenario
    status, codes, _ = _result(cw_app, results, case)
    assert status is Status.POSTED and WARNINGS[case] in codes, codes


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_clean_cases_post(scenario, case):
    cw_app, _, results, _ = scenario
    status, codes, _ = _result(cw_app, results, case)
    assert status is Status.POSTED, codes
    assert not {"GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "TAX_CODE_INVALID"} & codes


def test_personal_expense_is_a_credit_bill_unless_its_account_is_a_bank_account(scenario):
    cw_app, xero_app, results, _ = scenario
    status, codes, event = _result(cw_app, results, "personal")
    account = xero_app.org().account_by_code(event.lines[0].gl_account)
    if account is not None and account["Type"] == "BANK":
        # the seed maps Expense Offset to 090, a bank account: Xero refuses it on lines
        assert status is Status.FAILED and "LEDGER_ACCOUNT_MISSING" in codes
    else:
        assert status is Status.POSTED
        doc = xero_app.credit_note_by_number(event.document_number)
        assert doc["Type"] == "ACCPAYCREDIT"


def test_tax_only_invoice_fails_rather_than_posting_a_wrong_total(scenario):
    # Xero computes a line's tax from its amount and rate, and this target never sends a
    # TaxAmount, so tax on no base (ConnectWise's tax-only invoice) cannot be reproduced:
    # the record fails alone and nothing reaches Xero.
    cw_app, xero_app, results, _ = scenario
    status, codes, event = _result(cw_app, results, "tax_only")
    assert status is Status.FAILED and codes
    assert xero_app.invoice_by_number(event.document_number) is None


@pytest.mark.parametrize(
    ("case", "description", "amount"),
    [("ledger_rounding", "Rounding", "0.03"), ("adjustment_small", "Adjustment", "2.48")],
)
def test_corrections_bring_xero_to_the_connectwise_total(scenario, case, description, amount):
    # a consistent export the ledger computes differently: the rounding line takes what
    # 4-dp unit amounts lose (58.53 vs 58.50), the adjustment line the tax rates' gap
    # (10.5% of 495.00 in ConnectWise vs 10% in Xero); Xero's total is ConnectWise's
    cw_app, xero_app, results, _ = scenario
    _, _, event = _result(cw_app, results, case)
    doc = xero_app.invoice_by_number(event.document_number)
    extra = [li for li in doc["LineItems"] if li.get("Description") == description]
    assert [Decimal(str(li["LineAmount"])) for li in extra] == [Decimal(amount)]
    assert Decimal(str(doc["Total"])) == event.totals.total


@pytest.mark.parametrize("case", sorted(HELD))
def test_held_cases_are_not_extracted(scenario, case):
    cw_app, _, results, held = scenario
    ref = str(cw_app.cases[case])
    assert all(ref not in (e.source_id, e.document_number) for _, _, e in results.values())
    assert [h.code for h in held if ref in (h.source_id, h.document_number)] == [HELD[case]]


def test_nothing_failed_the_spec_and_each_posted_record_is_in_xero_once(scenario):
    _, xero_app, results, _ = scenario
    assert xero_app.spec_violations == []
    posted = [e for status, _, e in results.values() if status is Status.POSTED]
    journals = [e for e in posted if e.subtype in ("adjustment", "transfer")]
    docs = [*xero_app.invoices(), *xero_app.credit_notes()]
    assert len(docs) + len(journals) == len(posted)
    numbers = [d.get("InvoiceNumber") or d.get("CreditNoteNumber") for d in docs]
    assert sorted(numbers) == sorted(e.document_number for e in posted if e not in journals)
    narrations = [j["Narration"] for j in xero_app.manual_journals()]
    assert len(narrations) == len(journals)
    for e in journals:  # the ConnectWise reference is in the narration
        assert [n for n in narrations if e.document_number in n], e.document_number
