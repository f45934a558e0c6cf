"""The QBO payments source: customer payments on invoices wisesync posted (the journal in
Postgres says which), one record per (payment, invoice), the watermark moving on
acknowledge."""

from __future__ import annotations

from decimal import Decimal as D

import psycopg
from qbo_testkit import VOCABULARY, company, connect, limiter, runtime, target

from wisesync.events.models import RecordType, Status, Trigger
from wisesync.store.tokens import MemoryTokenStore
from wisesync.testing.records import RecordBuilder, posting_result
from wisesync_qbo.connection import Connections
from wisesync_qbo.payments import QboPaymentsSource
from wisesync_qbo.sandbox import Limits, start_sandbox


def test_payments_on_posted_invoices_become_records_and_the_watermark_survives(
    migrated_dsn,
) -> None:
    srv = start_sandbox(seed=9, customers=2, limits=Limits(10**6, 10**6, 10**6))
    try:
        comp = company(srv)
        rt = runtime(srv, (comp,), db=migrated_dsn)
        store = MemoryTokenStore()
        connect(srv, store)
        qbo = target(srv, (comp,), store)
        records = RecordBuilder(VOCABULARY, prefix="PAY-")
        ours, theirs = qbo.post(
            [records.record(records.line()), records.record(records.line())],
            qbo.prepare(comp, limiter()),
        )
        with psycopg.connect(migrated_dsn) as conn:
            conn.execute(
                "INSERT INTO posting_journal (company, target, record_type, source_id, state, "
                "content_hash, record_event_id, ledger_id, ledger_number) VALUES "
                "('acme','qbo','invoice','1','posted','h','e',%s,%s),"
                "('acme','qbo','invoice','2','failed','h','e',%s,%s)",
                (ours.ledger_id, ours.ledger_number, theirs.ledger_id, theirs.ledger_number),
            )
        payment = srv.app.receive_payment(ours.ledger_number, D("40.00"))
        srv.app.receive_payment(theirs.ledger_number, D("5.00"))  # not posted by wisesync
        source = QboPaymentsSource(rt, connections=Connections(rt, store))
        (rec,) = source.extract(comp, [RecordType.PAYMENT])
        assert rec.source_id == f"{payment['Id']}:{ours.ledger_id}"
        assert rec.payment.invoice_number == ours.ledger_number
        assert rec.payment.amount == D("40.00") and rec.target == "connectwise"
        source.acknowledge(comp, [posting_result(rec, Status.POSTED)])
        restarted = QboPaymentsSource(rt, connections=Connections(rt, store))
        assert restarted.watermark("acme") is not None
        # QBO's times have whole seconds: the watermark's own second is read again (the same
        # record, which the posting journal knows), nothing older
        again = list(restarted.extract(comp, [RecordType.PAYMENT]))
        assert [(r.source_id, r.content_hash) for r in again] == [(rec.source_id, rec.content_hash)]
        replayed = list(restarted.extract(comp, [RecordType.PAYMENT], source_ids=[rec.source_id]))
        assert [(r.source_id, r.content_hash, r.trigger) for r in replayed] == [
            (rec.source_id, rec.content_hash, Trigger.REPLAY)
        ]
        # ConnectWise applied it (the payments target's journal row), then the payment is
        # deleted in QBO: a reversal naming the ConnectWise invoice and the amount
        with psycopg.connect(migrated_dsn) as conn:
            conn.execute(
                "INSERT INTO posting_journal (company, target, record_type, source_id, state, "
                "content_hash, record_event_id, ledger_id, ledger_number, ledger_total) VALUES "
                "('acme','connectwise','payment',%s,'posted','h','e','77',%s,40.00)",
                (rec.source_id, ours.ledger_number),
            )
        srv.app.delete_payment(payment["Id"])
        reversal = [r for r in restarted.extract(comp, [RecordType.PAYMENT]) if r.payment.reversed]
        assert [
            (r.source_id, r.payment.ledger_payment_id, r.payment.invoice_number, r.payment.amount)
            for r in reversal
        ] == [(f"{rec.source_id}:reversed", rec.source_id, ours.ledger_number, D("40.00"))]
    finally:
        srv.stop()
