"""The Xero payments source: payments on invoices wisesync posted, reversals, watermark."""

from __future__ import annotations

from decimal import Decimal as D

import psycopg
import pytest
from xero_testkit import company, limiter, line, record, runtime

from wisesync.events.models import PostingResult, RecordType, Status
from wisesync.payments import WATERMARK_KEY
from wisesync.store.state import MemoryPluginState
from wisesync_xero.payments import JournalDocuments, XeroPaymentsSource
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget


class Posted:
    """wisesync's record of what it posted (the journal), in memory."""

    def __init__(self):
        self.ids: set[str] = set()

    def posted(self, company, ledger_ids):
        return {i.lower() for i in ledger_ids if i.lower() in self.ids}


@pytest.fixture
def setup():
    srv = start_sandbox(seed=8, contacts=5)
    comp = company(srv)
    rt = runtime(srv, (comp,))
    target = XeroTarget(rt)
    ctx = target.prepare(comp, limiter())
    posted = Posted()
    recs = [record(line("100"), number=f"PAY-{i}") for i in range(3)]
    for outcome in target.post(recs, ctx):
        posted.ids.add(outcome.ledger_id.lower())
    # an invoice wisesync did not post (raised in Xero by someone else)
    target.post([record(line("100"), number="MANUAL-1")], ctx)
    source = XeroPaymentsSource(rt, state=MemoryPluginState("xero"), documents=posted)
    yield srv, comp, source
    assert srv.app.spec_violations == []
    srv.stop()


def ack(source, comp, records, status=Status.POSTED):
    results = [
        PostingResult(
            record_event_id=r.event_id,
            run_id="r",
            company=comp.key,
            record_type=RecordType.PAYMENT,
            source="xero",
            source_id=r.source_id,
            target="connectwise",
            status=status,
            source_batch_ids=r.source_batch_ids,
        )
        for r in records
    ]
    return source.acknowledge(comp, results)


def test_payments_on_posted_invoices_become_records_for_connectwise(setup):
    srv, comp, source = setup
    app = srv.app
    p1 = app.apply_payment("PAY-0", "50.00", "2026-01-20")
    app.apply_payment("PAY-1", "110.00", "2026-01-21")
    app.apply_payment("MANUAL-1", "10.00")
    records = sorted(source.extract(comp, [RecordType.PAYMENT]), key=lambda r: r.document_number)
    assert [r.document_number for r in records] == ["PAY-0", "PAY-1"]
    first = records[0]
    assert first.source == "xero" and first.target == "connectwise"
    assert first.record_type is RecordType.PAYMENT
    assert first.source_id == p1["PaymentID"]
    assert first.payment.invoice_number == "PAY-0"
    assert first.payment.amount == D("50.00")
    assert str(first.payment.date) == "2026-01-20"
    assert first.payment.account == "090"
    assert first.payment.reversed is False
    assert first.contact.account_number == "C00001"
    assert first.content_hash and first.source_batch_ids[0].startswith("updated:")


def test_watermark_moves_only_on_acknowledge(setup):
    srv, comp, source = setup
    srv.app.apply_payment("PAY-0", "50.00")
    records = list(source.extract(comp, [RecordType.PAYMENT]))
    assert len(records) == 1
    assert len(list(source.extract(comp, [RecordType.PAYMENT]))) == 1  # not acknowledged yet
    failed = ack(source, comp, records, Status.FAILED)
    assert failed[0].acknowledged is False
    assert source.state.get("acme", WATERMARK_KEY) is None
    outcomes = ack(source, comp, records)
    assert outcomes[0].acknowledged and outcomes[0].source_id == records[0].source_id
    assert source.state.get("acme", WATERMARK_KEY) is not None
    assert list(source.extract(comp, [RecordType.PAYMENT])) == []
    ack(source, comp, records)  # idempotent
    srv.app.apply_payment("PAY-0", "5.00")
    assert [r.payment.amount for r in source.extract(comp, [RecordType.PAYMENT])] == [D("5.00")]


def test_reversal_is_its_own_record(setup):
    srv, comp, source = setup
    payment = srv.app.apply_payment("PAY-2", "20.00")
    ack(source, comp, list(source.extract(comp, [RecordType.PAYMENT])))
    srv.app.delete_payment(payment["PaymentID"])
    (rev,) = source.extract(comp, [RecordType.PAYMENT])
    assert rev.source_id == payment["PaymentID"] + ":reversed"
    assert rev.payment.reversed is True
    assert rev.payment.ledger_payment_id == payment["PaymentID"]
    assert rev.payment.amount == D("20.00")


def test_replay_by_source_id_and_since(setup):
    srv, comp, source = setup
    a = srv.app.apply_payment("PAY-0", "1.00")
    srv.app.apply_payment("PAY-1", "2.00")
    ack(source, comp, list(source.extract(comp, [RecordType.PAYMENT])))
    (again,) = source.extract(comp, [RecordType.PAYMENT], source_ids=[a["PaymentID"]])
    assert again.source_id == a["PaymentID"]
    assert (
        list(source.extract(comp, [RecordType.PAYMENT], source_ids=[a["PaymentID"] + ":reversed"]))
        == []
    )
    from datetime import UTC, datetime

    full = list(source.extract(comp, [RecordType.PAYMENT], since=datetime(2000, 1, 1, tzinfo=UTC)))
    assert len(full) == 2


def test_other_record_types_yield_nothing(setup):
    srv, comp, source = setup
    srv.app.apply_payment("PAY-0", "1.00")
    assert list(source.extract(comp, [RecordType.INVOICE])) == []
    assert srv.app.calls("GET", "Payments") == 0


@pytest.mark.postgres
def test_journal_and_watermark_in_postgres(migrated_dsn):
    pg_database = migrated_dsn
    srv = start_sandbox(seed=9, contacts=2)
    try:
        comp = company(srv)
        rt = runtime(srv, (comp,), db=pg_database)
        target = XeroTarget(rt)
        ctx = target.prepare(comp, limiter())
        ours, theirs = target.post(
            [record(line(), number="J-1"), record(line(), number="J-2")], ctx
        )
        with psycopg.connect(pg_database) as conn:
            conn.execute(
                "INSERT INTO posting_journal (company, target, record_type, source_id, state, "
                "content_hash, record_event_id, ledger_id) VALUES "
                "('acme','xero','invoice','1','posted','h','e',%s),"
                "('acme','xero','invoice','2','failed','h','e',%s)",
                (ours.ledger_id, theirs.ledger_id),
            )
        assert JournalDocuments(rt).posted("acme", {ours.ledger_id.upper(), theirs.ledger_id}) == {
            ours.ledger_id.lower()
        }
        srv.app.apply_payment("J-1", "3.00")
        srv.app.apply_payment("J-2", "3.00")
        source = XeroPaymentsSource(rt)
        (rec,) = source.extract(comp, [RecordType.PAYMENT])
        assert rec.document_number == "J-1"
        ack(source, comp, [rec])
        restarted = XeroPaymentsSource(rt)  # the watermark survives a restart
        assert restarted.watermark("acme") is not None
        assert list(restarted.extract(comp, [RecordType.PAYMENT])) == []
    finally:
        srv.stop()
