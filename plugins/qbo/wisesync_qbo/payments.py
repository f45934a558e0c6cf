"""The payments source: customer payments received in QBO against invoices wisesync
posted, as PAYMENT records for ConnectWise (payments go from the ledger to ConnectWise);
bill payments made in QBO on bills wisesync posted, shown as held.

``extract`` asks QBO's change data capture (``GET /cdc?entities=Payment,BillPayment&
changedSince=``) for the payments and bill payments changed since the company's watermark
(one call; a first run, with no watermark, looks back :data:`FIRST_LOOKBACK_DAYS`).

* Payment: each line linked to an invoice wisesync posted (the read-only journal API knows
  its QBO Id) is one record per (payment, invoice): source id and ledger payment id
  ``<Payment Id>:<Invoice Id>``, the amount applied to that invoice.
* BillPayment: ConnectWise has no record that takes a vendor bill payment (its payments
  target applies payments to ConnectWise invoices, ``POST /finance/invoices/{id}/payments``;
  the accounting interface's unposted payments are invoice payments too), so nothing can be
  written back. Each line paying a bill wisesync posted (an expense or procurement record)
  is held, BILL_PAYMENT_NOT_WRITTEN_BACK (source id ``bill:<BillPayment Id>:<Bill Id>``),
  so the review shows what QBO paid; it is never sent as a PAYMENT, which the payments
  target would apply to a ConnectWise invoice that happens to share the bill's number.
  The Xero source leaves its payable payments out the same way.

Each record carries its payment's LastUpdatedTime in ``source_batch_ids``
(``updated:<iso>``). QBO's times have whole seconds, so the watermark is inclusive: the
payments of its own second are read again (the same records, which the posting journal
already holds), none is missed. The watermark moves only in ``acknowledge``
(:class:`wisesync.payments.LedgerPaymentsSource`).

A payment deleted in QBO (change data capture reports it ``Deleted``, without its lines)
becomes a reversal of each of its lines wisesync applied in ConnectWise: source id
``<Payment Id>:<Invoice Id>:reversed``, found in the posting journal of the payments
target (its ConnectWise invoice number and amount).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.events.models import RecordEvent, RecordType, Trigger
from wisesync.money import fmt, to_decimal
from wisesync.payments import REVERSED_SUFFIX, LedgerPaymentsSource, payment_event
from wisesync.protocols import Held
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.codes import BILL_PAYMENT_NOT_WRITTEN_BACK
from wisesync_qbo.connection import Connections
from wisesync_qbo.limits import LIMITS

REVERSED = REVERSED_SUFFIX
#: QBO's change data capture looks back at most 30 days
FIRST_LOOKBACK_DAYS = 30
#: what change data capture is asked for
CDC_ENTITIES = ("Payment", "BillPayment")
#: the records wisesync posts as QBO bills (what a BillPayment can pay)
BILL_RECORDS = frozenset({RecordType.EXPENSE.value, RecordType.PROCUREMENT.value})


def parse_time(value: Any) -> datetime | None:
    """QBO's ``2026-01-05T10:33:39-08:00`` -> aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _updated(raw: dict[str, Any]) -> datetime | None:
    return parse_time((raw.get("MetaData") or {}).get("LastUpdatedTime"))


def _links(raw: dict[str, Any], txn_type: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(line, linked transaction Id) of each of the payment's links to a ``txn_type``."""
    for line in raw.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == txn_type and link.get("TxnId"):
                yield line, str(link["TxnId"])


def payment_records(
    company: CompanyConfig, raw: dict[str, Any], invoices: dict[str, str]
) -> list[RecordEvent]:
    """The PAYMENT records of one QBO Payment: one per line linked to an invoice in
    ``invoices`` (QBO Id -> DocNumber of the invoices wisesync posted)."""
    paid_on = date.fromisoformat(str(raw.get("TxnDate"))[:10]) if raw.get("TxnDate") else None
    if paid_on is None or not raw.get("Id"):
        return []
    return [
        payment_event(
            company,
            source="qbo",
            source_id=f"{raw['Id']}:{txn}",
            ledger_payment_id=f"{raw['Id']}:{txn}",
            invoice_number=invoices[txn],
            amount=to_decimal(line.get("Amount"), field="Amount"),
            paid_on=paid_on,
            updated=_updated(raw),
            reference=str(raw.get("PaymentRefNum") or ""),
            currency=str((raw.get("CurrencyRef") or {}).get("value") or ""),
            account=str((raw.get("DepositToAccountRef") or {}).get("value") or ""),
            attributes={"qbo_invoice_id": txn},
        )
        for line, txn in _links(raw, "Invoice")
        if txn in invoices
    ]


def bill_payment_holds(raw: dict[str, Any], bills: dict[str, str]) -> list[Held]:
    """The held records of one QBO BillPayment: one per line paying a bill in ``bills``
    (QBO Id -> DocNumber of the bills wisesync posted)."""
    if not raw.get("Id"):
        return []
    how = {"Check": "by cheque", "CreditCard": "by credit card"}.get(str(raw.get("PayType")), "")
    return [
        Held(
            record_type=RecordType.PAYMENT,
            source_id=f"bill:{raw['Id']}:{txn}",
            code=BILL_PAYMENT_NOT_WRITTEN_BACK.name,
            text=(
                f"QuickBooks bill {bills[txn] or txn} was paid "
                f"{fmt(to_decimal(line.get('Amount'), field='Amount'))} {how} on "
                f"{raw.get('TxnDate') or 'an unknown date'} (BillPayment {raw['Id']}); "
                "ConnectWise keeps no vendor bill payments, so nothing is written back."
            ).replace("  ", " "),
            document_number=bills[txn] or None,
        )
        for line, txn in _links(raw, "Bill")
        if txn in bills
    ]


class QboPaymentsSource(LedgerPaymentsSource):
    """Customer payments received in QuickBooks Online, extracted for ConnectWise (bill
    payments held: ConnectWise cannot take them)."""

    name: ClassVar[str] = "qbo"
    limits = LIMITS
    connections_class = Connections

    parse_time = staticmethod(parse_time)

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.qbo]`` (no I/O)."""
        return qbo_settings.check(company)

    def _changed(self, company: CompanyConfig, since: datetime) -> dict[str, list[dict[str, Any]]]:
        """The payments and bill payments changed since ``since``, by entity (one call)."""
        stamp = since.astimezone(UTC).replace(microsecond=0).isoformat()
        params = {"entities": ",".join(CDC_ENTITIES), "changedSince": stamp}
        body = self.client(company).api("GET", "/cdc", params).body
        rows: dict[str, list[dict[str, Any]]] = {entity: [] for entity in CDC_ENTITIES}
        for cdc in (body or {}).get("CDCResponse") or []:
            for response in cdc.get("QueryResponse") or []:
                for entity in CDC_ENTITIES:
                    rows[entity] += response.get(entity) or []
        return rows

    def _ours(
        self, company: CompanyConfig, rows: list[dict[str, Any]], txn_type: str, kinds: set[str]
    ) -> dict[str, str]:
        """QBO Id -> DocNumber of the ``txn_type`` documents the ``rows`` link that wisesync
        posted as records of ``kinds``."""
        linked = {txn for raw in rows for _, txn in _links(raw, txn_type)}
        entries = self.runtime.posted(company.key, "qbo", ledger_ids=linked) if linked else []
        return {
            e.ledger_id: e.ledger_number or ""
            for e in entries
            if e.ledger_id and e.record_type in kinds
        }

    def extract(
        self,
        company: CompanyConfig,
        record_types: Collection[RecordType],
        since: datetime | None = None,
        source_ids: Collection[str] | None = None,
    ) -> Iterator[RecordEvent | Held]:
        """Yield PAYMENT records changed since ``since`` (default: the watermark), and the
        bill payments held."""
        if RecordType.PAYMENT not in record_types:
            return
        start = since or self.watermark(company.key)
        if start is None or source_ids:
            start = datetime.now(UTC) - timedelta(days=FIRST_LOOKBACK_DAYS)
        changed = self._changed(company, start)
        payments = [p for p in changed["Payment"] if p.get("status") != "Deleted"]
        deleted = [p for p in changed["Payment"] if p.get("status") == "Deleted"]
        invoices = self._ours(company, payments, "Invoice", {RecordType.INVOICE.value})
        wanted = set(source_ids) if source_ids else None
        records = [r for raw in payments for r in payment_records(company, raw, invoices)]
        records += self._reversals(company, deleted)
        for record in records:
            if wanted is None or record.source_id in wanted:
                record.trigger = Trigger.REPLAY if wanted is not None else Trigger.SCHEDULE
                yield record
        if wanted is None:
            paid = [p for p in changed["BillPayment"] if p.get("status") != "Deleted"]
            bills = self._ours(company, paid, "Bill", set(BILL_RECORDS))
            for raw in paid:
                yield from bill_payment_holds(raw, bills)

    def _reversals(
        self, company: CompanyConfig, deleted: list[dict[str, Any]]
    ) -> list[RecordEvent]:
        """A payment deleted in QBO: a reversal of each of its lines wisesync applied in
        ConnectWise (the journal of the payments target names them, with the invoice)."""
        if not deleted:
            return []
        target = company.target_for(RecordType.PAYMENT)
        applied = [
            e
            for e in self.runtime.posted(company.key, target)
            if e.record_type == RecordType.PAYMENT.value and not e.source_id.endswith(REVERSED)
        ]
        out = []
        for tomb in deleted:
            updated = _updated(tomb)
            when = (updated or datetime.now(UTC)).date()
            for entry in applied:
                if not entry.source_id.startswith(f"{tomb['Id']}:") or not entry.ledger_number:
                    continue
                out.append(
                    payment_event(
                        company,
                        source="qbo",
                        target=target,
                        source_id=entry.source_id + REVERSED,
                        ledger_payment_id=entry.source_id,
                        invoice_number=entry.ledger_number,
                        amount=entry.ledger_total or Decimal("0"),
                        paid_on=when,
                        updated=updated,
                        reversed_=True,
                    )
                )
        return out
