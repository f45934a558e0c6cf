"""Issue #9's done-criterion: after a full Sync All of a 2,000-record seeded ConnectWise
sandbox, every document in the Xero sandbox equals its ConnectWise header total, with the
right sign and document kind, for every record type (invoices, credit memos, expenses,
expense bills, purchases, inventory adjustments and transfers as manual journals).

The Sync All runs in process, as the poster does (extract, validate, post in chunks of
50): the pipeline's transport adds nothing to the amounts. Runtime: measured on 2
cores (2,000 records: extraction, 2,000 postings, the comparison). It is slower than
30 s (66 s measured on the shared 2-core machine) because it is the done-criterion of
issue #9 at its stated size; nothing smaller proves it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest

from wisesync.config import AppConfig
from wisesync.events.models import RecordEvent, RecordType, Status
from wisesync.messages import has_errors
from wisesync.protocols import Held, PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync_xero.limits import LIMITS
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget

cw_sandbox = pytest.importorskip("wisesync_connectwise.sandbox")
cw_testing = pytest.importorskip("wisesync_connectwise.testing")
cw_extract = pytest.importorskip("wisesync_connectwise.extract")

TYPES = [RecordType.INVOICE, RecordType.CREDIT_MEMO, RecordType.EXPENSE, RecordType.PROCUREMENT]
JOURNALS = ("adjustment", "transfer")


@pytest.fixture(scope="module")
def synced():
    cw = cw_sandbox.start_sandbox(seed=0, records=2000)
    xero = start_sandbox(seed=0)
    try:
        creds = xero.app.credentials()
        comp = cw_testing.company_for(cw)
        xero_section = {
            "grant": "client_credentials",
            "client_id_env": "XID",
            "client_secret_env": "XS",
            "base_url": xero.url,
            "identity_url": xero.url,
        }
        comp = replace(comp, settings={**comp.settings, "xero": xero_section})
        base = cw_testing.runtime_for(cw, XID=creds.client_id, XS=creds.client_secret)
        rt = PluginRuntime(config=AppConfig(companies=(comp,)), environ=base.environ)
        extracted = list(cw_extract.ConnectWiseSource(rt).extract(comp, TYPES))
        events = [e for e in extracted if isinstance(e, RecordEvent)]
        target = XeroTarget(rt)
        ctx = target.prepare(comp, CallLimiter(LIMITS))
        posted: list[tuple[RecordEvent, str]] = []
        failed: list[RecordEvent] = []
        for start in range(0, len(events), 50):
            valid = []
            for event in events[start : start + 50]:
                messages = [*target.validate(event, ctx), *event.source_messages]
                (failed.append(event) if has_errors(messages) else valid.append(event))
            for event, outcome in zip(valid, target.post(valid, ctx), strict=True):
                if outcome.status is Status.POSTED:
                    posted.append((event, outcome.ledger_id))
                else:
                    failed.append(event)
        yield cw.app, xero.app, extracted, posted, failed
        cw.app.assert_published_shapes()
    finally:
        cw.stop()
        xero.stop()


def header_total(cw_app, event: RecordEvent) -> Decimal:
    """The ConnectWise header total of ``event``'s record, read from the sandbox's own
    state (not from the export the extractor read): an invoice's total (negative for a
    credit memo), an expense's amount plus tax (a bill: of every expense it covers), a
    receipt's lines, freight and tax, an adjustment's or transfer's moved value."""
    if event.record_type in (RecordType.INVOICE, RecordType.CREDIT_MEMO):
        return Decimal(str(cw_app.invoice_by_number(event.document_number)["total"]))
    with cw_app.lock:
        state = cw_app.state
        if event.record_type == RecordType.EXPENSE:
            ids = (event.attributes.get("expense_ids") or event.source_id).split(",")
            return sum(
                (state.expenses[int(i)].amount + state.expenses[int(i)].tax for i in ids),
                Decimal(0),
            )
        rec = state.procurement[int(event.source_id)]
        if rec.kind == "Purchase":
            return rec.subtotal + rec.tax(state.tax_rate(rec.tax_code_id))
        return sum((line.total for line in rec.lines), Decimal(0))


def _documents(xero_app) -> dict[str, dict]:
    """Every Xero document by its id: invoices and bills, credit notes, manual journals."""
    docs = {d["InvoiceID"]: d for d in xero_app.invoices()}
    docs |= {d["CreditNoteID"]: d for d in xero_app.credit_notes()}
    docs |= {d["ManualJournalID"]: d for d in xero_app.manual_journals()}
    return docs


def _kind(event: RecordEvent) -> str:
    """The Xero document ``event`` must become."""
    if event.subtype in JOURNALS:
        return "JOURNAL"
    if event.record_type == RecordType.INVOICE:
        return "ACCREC"
    if event.record_type == RecordType.CREDIT_MEMO:
        return "ACCRECCREDIT"
    if event.record_type == RecordType.EXPENSE and event.subtype == "personal":
        return "ACCPAYCREDIT"  # a personal expense on a company card is owed back
    return "ACCPAY"


def test_every_xero_document_equals_its_connectwise_header_total(synced):
    cw_app, xero_app, extracted, posted, failed = synced
    assert sum(1 for e in extracted if not isinstance(e, Held)) >= 1900
    docs = _documents(xero_app)
    # one document per posted record, no other document
    assert sorted(docs) == sorted(ledger_id for _, ledger_id in posted)
    kinds: Counter[str] = Counter()
    for event, ledger_id in posted:
        doc = docs[ledger_id]
        header = header_total(cw_app, event)
        kind = _kind(event)
        kinds[f"{event.record_type}/{kind}"] += 1
        if kind == "JOURNAL":
            lines = [Decimal(str(x["LineAmount"])) for x in doc["JournalLines"]]
            assert sum(lines) == 0, event.document_number
            debits = sum(a for a in lines if a > 0)
            assert debits == abs(header), (event.document_number, debits, header)
            continue
        assert doc["Type"] == kind, (event.document_number, doc["Type"], kind)
        total = Decimal(str(doc["Total"]))
        assert total > 0 or header == 0, (event.document_number, total)
        # ConnectWise keeps a credit document negative; Xero's credit note is positive
        assert total == abs(header), (event.document_number, total, header)
    # every record type reached Xero, each as the document it must be
    for expected in ("invoice/ACCREC", "credit_memo/ACCRECCREDIT", "expense/ACCPAY",
                     "procurement/ACCPAY", "procurement/JOURNAL"):  # fmt: skip
        assert kinds[expected], (expected, kinds)
    assert any(e.attributes.get("expense_bill") for e, _ in posted)
    assert {e.subtype for e, _ in posted if e.subtype in JOURNALS} == set(JOURNALS)
    assert xero_app.spec_violations == []
    print({"posted": dict(kinds), "failed": len(failed)})


def test_what_did_not_post_failed_alone_and_left_nothing_in_xero(synced):
    _, xero_app, extracted, posted, failed = synced
    held = [h for h in extracted if isinstance(h, Held)]
    events = [e for e in extracted if isinstance(e, RecordEvent)]
    assert len(posted) + len(failed) == len(events)
    # the seeded error cases fail; the vast majority posts
    assert len(failed) < len(events) * 0.05, len(failed)
    assert all(h.code for h in held)
    numbers = {
        d.get("InvoiceNumber") or d.get("CreditNoteNumber") for d in _documents(xero_app).values()
    }
    assert not numbers & {e.document_number for e in failed if e.subtype not in JOURNALS}
