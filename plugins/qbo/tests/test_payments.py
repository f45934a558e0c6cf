"""The QBO payments source: customer payments on invoices wisesync posted (the journal in
Postgres says which), one record per (payment, invoice), the watermark moving on
acknowledge; bill payments on bills wisesync posted held, not sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest
from qbo_testkit import VOCABULARY, company, connect, limiter, runtime, target

from wisesync.events.models import Line, RecordType, Status, Trigger
from wisesync.protocols import Held
from wisesync.store.tokens import MemoryTokenStore
from wisesync.testing.records import RecordBuilder, posting_result
from wisesync_qbo.connection import Connections
from wisesync_qbo.payments import QboPaymentsSource
from wisesync_qbo.sandbox import Limits, start_sandbox


@dataclass
class Company:
    """A QBO sandbox, its company connected, the target posting to it, the store."""

    srv: Any
    comp: Any
    rt: Any
    store: MemoryTokenStore
    qbo: Any
    dsn: str

    def post(self, record_type: RecordType, *lines: Line) -> list[Any]:
        """Post one record of ``record_type`` per line; the outcomes."""
        records = RecordBuilder(VOCABULARY, prefix=f"{record_type.value[:3].upper()}-")
        batch = [records.record(line, record_type=record_type) for line in lines]
        return self.qbo.post(batch, self.qbo.prepare(self.comp, limiter()))

    def journal(self, *rows: tuple[str, str, str, Any]) -> None:
        """Posting journal rows: (target, record type, state, outcome)."""
        with psycopg.connect(self.dsn) as conn:
            for n, (target_name, record_type, state, outcome) in enumerate(rows, start=1):
                ledger = (outcome.ledger_id, outcome.ledger_number)
                conn.execute(
                    "INSERT INTO posting_journal (company, target, record_type, source_id, "
                    "state, content_hash, record_event_id, ledger_id, ledger_number) VALUES "
                    "('acme', %s, %s, %s, %s, 'h', 'e', %s, %s)",
                    (target_name, record_type, str(n), state, *ledger),
                )

    def source(self) -> QboPaymentsSource:
        """A payments source started afresh (the watermark is read from the store)."""
        return QboPaymentsSource(self.rt, connections=Connections(self.rt, self.store))


@pytest.fixture
def acme(migrated_dsn) -> Iterator[Company]:
    """Company ``acme`` connected to a fresh QBO sandbox."""
    srv = start_sandbox(seed=9, customers=2, limits=Limits(10**6, 10**6, 10**6))
    try:
        comp = company(srv)
        store = MemoryTokenStore()
        connect(srv, store)
        rt = runtime(srv, (comp,), db=migrated_dsn)
        yield Company(srv, comp, rt, store, target(srv, (comp,), store), migrated_dsn)
    finally:
        srv.stop()


def test_payments_on_posted_invoices_become_records_and_the_watermark_survives(
    acme: Company,
) -> None:
    srv, comp, migrated_dsn = acme.srv, acme.comp, acme.dsn
    records = RecordBuilder(VOCABULARY)
    ours, theirs = acme.post(RecordType.INVOICE, records.line(), records.line())
    acme.journal(("qbo", "invoice", "posted", ours), ("qbo", "invoice", "failed", theirs))
    payment = srv.app.receive_payment(ours.ledger_number, D("40.00"))
    srv.app.receive_payment(theirs.ledger_number, D("5.00"))  # not posted by wisesync
    source = acme.source()
    (rec,) = source.extract(comp, [RecordType.PAYMENT])
    assert rec.source_id == f"{payment['Id']}:{ours.ledger_id}"
    assert rec.payment.invoice_number == ours.ledger_number
    assert rec.payment.amount == D("40.00") and rec.target == "connectwise"
    source.acknowledge(comp, [posting_result(rec, Status.POSTED)])
    restarted = acme.source()
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


def test_bill_payments_on_posted_bills_are_held_not_sent(acme: Company) -> None:
    """ConnectWise keeps no vendor bill payments: a BillPayment on a bill wisesync posted is
    held (BILL_PAYMENT_NOT_WRITTEN_BACK, naming the bill and amount), never a PAYMENT record
    that would be applied to a ConnectWise invoice; one on a bill not ours is left out."""
    records = RecordBuilder(VOCABULARY)
    bill = records.line(tax="INPUT", account="429")
    ours, theirs = acme.post(RecordType.EXPENSE, bill, bill)
    assert ours.status is Status.POSTED, ours.messages
    acme.journal(("qbo", "expense", "posted", ours))
    paid = acme.srv.app.pay_bill(ours.ledger_number, D("25.50"))
    acme.srv.app.pay_bill(theirs.ledger_number, D("5.00"))  # not posted by wisesync
    (held,) = acme.source().extract(acme.comp, [RecordType.PAYMENT])
    assert isinstance(held, Held)
    assert (held.source_id, held.code, held.document_number) == (
        f"bill:{paid['Id']}:{ours.ledger_id}",
        "BILL_PAYMENT_NOT_WRITTEN_BACK",
        ours.ledger_number,
    )
    assert f"bill {ours.ledger_number} was paid 25.50 by cheque" in held.text
    assert "ConnectWise keeps no vendor bill payments" in held.text
