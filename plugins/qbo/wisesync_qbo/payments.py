"""The payments source: customer payments received in QBO against invoices wisesync
posted, as PAYMENT records for ConnectWise (payments go from the ledger to ConnectWise).

``extract`` asks QBO's change data capture (``GET /cdc?entities=Payment&changedSince=``)
for the payments changed since the company's watermark (one call; a first run, with no
watermark, looks back :data:`FIRST_LOOKBACK_DAYS`), keeps each payment line linked to
an invoice wisesync posted (the read-only journal API knows its QBO Id) and yields one
record per (payment, invoice): source id and ledger payment id
``<Payment Id>:<Invoice Id>``, the amount applied to that invoice.

Each record carries its payment's LastUpdatedTime in ``source_batch_ids``
(``updated:<iso>``). QBO's times have whole seconds, so the watermark is inclusive: the
payments of its own second are read again (the same records, which the posting journal
already holds), none is missed. The watermark (``plugin_state``: company, ``qbo``,
``payments_watermark``) moves only in ``acknowledge``, to the newest update ConnectWise
accepted, so a crash re-reads rather than skips (the posting journal makes the re-read
harmless).

A payment deleted in QBO (change data capture reports it ``Deleted``, without its lines)
becomes a reversal of each of its lines wisesync applied in ConnectWise: source id
``<Payment Id>:<Invoice Id>:reversed``, found in the posting journal of the payments
target (its ConnectWise invoice number and amount).

Not sent: bill payments (ConnectWise's payments target applies payments to invoices).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.documents import advance_watermark
from wisesync.events.models import Payment, PostingResult, RecordEvent, RecordType, Trigger
from wisesync.money import to_decimal
from wisesync.protocols import AckOutcome, Held, PluginRuntime, Source
from wisesync.ratelimit import CallLimiter
from wisesync.store.state import PluginState, plugin_state
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.connection import Connections
from wisesync_qbo.limits import LIMITS

WATERMARK_KEY = "payments_watermark"
REVERSED = ":reversed"
#: QBO's change data capture looks back at most 30 days
FIRST_LOOKBACK_DAYS = 30


def parse_time(value: Any) -> datetime | None:
    """QBO's ``2026-01-05T10:33:39-08:00`` -> aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def payment_records(
    company: CompanyConfig, raw: dict[str, Any], invoices: dict[str, str]
) -> list[RecordEvent]:
    """The PAYMENT records of one QBO Payment: one per line linked to an invoice in
    ``invoices`` (QBO Id -> DocNumber of the invoices wisesync posted)."""
    paid_on = date.fromisoformat(str(raw.get("TxnDate"))[:10]) if raw.get("TxnDate") else None
    updated = parse_time((raw.get("MetaData") or {}).get("LastUpdatedTime"))
    if paid_on is None or not raw.get("Id"):
        return []
    out = []
    for line in raw.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            txn = str(link.get("TxnId") or "")
            if link.get("TxnType") != "Invoice" or txn not in invoices:
                continue
            pid = f"{raw['Id']}:{txn}"
            amount = to_decimal(line.get("Amount"), field="Amount")
            out.append(
                RecordEvent(
                    company=company.key,
                    source="qbo",
                    target=company.target_for(RecordType.PAYMENT),
                    record_type=RecordType.PAYMENT,
                    source_id=pid,
                    document_number=invoices[txn],
                    reference=str(raw.get("PaymentRefNum") or "") or None,
                    date=paid_on,
                    currency=str((raw.get("CurrencyRef") or {}).get("value") or "") or None,
                    payment=Payment(
                        ledger_payment_id=pid,
                        invoice_number=invoices[txn],
                        amount=amount,
                        date=paid_on,
                        account=str((raw.get("DepositToAccountRef") or {}).get("value") or "")
                        or None,
                    ),
                    source_batch_ids=[f"updated:{updated.isoformat()}"] if updated else [],
                    attributes={"qbo_invoice_id": txn},
                ).seal()
            )
    return out


class QboPaymentsSource(Source):
    """Customer payments received in QuickBooks Online, extracted for ConnectWise."""

    name: ClassVar[str] = "qbo"
    record_types: ClassVar[frozenset[RecordType]] = frozenset({RecordType.PAYMENT})

    def __init__(
        self,
        runtime: PluginRuntime,
        *,
        state: PluginState | None = None,
        connections: Connections | None = None,
    ):
        super().__init__(runtime)
        self.connections = connections or Connections(runtime)
        self.state = state or plugin_state(runtime.db, "qbo")
        self._limiters: dict[str, CallLimiter] = {}
        self._lock = threading.Lock()

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.qbo]`` (no I/O)."""
        return qbo_settings.check(company)

    def watermark(self, company: str) -> datetime | None:
        """The stored watermark of ``company`` (None: never acknowledged)."""
        return parse_time(self.state.get(company, WATERMARK_KEY))

    def _changed(self, company: CompanyConfig, since: datetime) -> list[dict[str, Any]]:
        with self._lock:
            limiter = self._limiters.setdefault(
                company.key, CallLimiter(LIMITS, self.runtime.clock, system="qbo")
            )
        client = self.connections.client(company, limiter=limiter)
        stamp = since.astimezone(UTC).replace(microsecond=0).isoformat()
        body = client.api("GET", "/cdc", {"entities": "Payment", "changedSince": stamp}).body
        rows: list[dict[str, Any]] = []
        for cdc in (body or {}).get("CDCResponse") or []:
            for response in cdc.get("QueryResponse") or []:
                rows += response.get("Payment") or []
        return rows

    def extract(
        self,
        company: CompanyConfig,
        record_types: Collection[RecordType],
        since: datetime | None = None,
        source_ids: Collection[str] | None = None,
    ) -> Iterator[RecordEvent | Held]:
        """Yield PAYMENT records changed since ``since`` (default: the watermark)."""
        if RecordType.PAYMENT not in record_types:
            return
        start = since or self.watermark(company.key)
        if start is None or source_ids:
            start = datetime.now(UTC) - timedelta(days=FIRST_LOOKBACK_DAYS)
        changed = self._changed(company, start)
        payments = [p for p in changed if p.get("status") != "Deleted"]
        deleted = [p for p in changed if p.get("status") == "Deleted"]
        linked = {
            str(link.get("TxnId"))
            for p in payments
            for line in p.get("Line") or []
            for link in line.get("LinkedTxn") or []
            if link.get("TxnType") == "Invoice"
        }
        entries = self.runtime.posted(company.key, "qbo", ledger_ids=linked) if linked else []
        invoices = {e.ledger_id: e.ledger_number or "" for e in entries if e.ledger_id}
        wanted = set(source_ids) if source_ids else None
        records = [r for raw in payments for r in payment_records(company, raw, invoices)]
        records += self._reversals(company, deleted)
        for record in records:
            if wanted is None or record.source_id in wanted:
                record.trigger = Trigger.REPLAY if wanted is not None else Trigger.SCHEDULE
                yield record

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
            updated = parse_time((tomb.get("MetaData") or {}).get("LastUpdatedTime"))
            for entry in applied:
                if not entry.source_id.startswith(f"{tomb['Id']}:") or not entry.ledger_number:
                    continue
                when = (updated or datetime.now(UTC)).date()
                out.append(
                    RecordEvent(
                        company=company.key,
                        source="qbo",
                        target=target,
                        record_type=RecordType.PAYMENT,
                        source_id=entry.source_id + REVERSED,
                        document_number=entry.ledger_number,
                        date=when,
                        payment=Payment(
                            ledger_payment_id=entry.source_id,
                            invoice_number=entry.ledger_number,
                            amount=entry.ledger_total or Decimal("0"),
                            date=when,
                            reversed=True,
                        ),
                        source_batch_ids=[f"updated:{updated.isoformat()}"] if updated else [],
                    ).seal()
                )
        return out

    def acknowledge(self, company: CompanyConfig, results: list[PostingResult]) -> list[AckOutcome]:
        """Advance the watermark to the newest payment ConnectWise accepted (only forward)."""
        return advance_watermark(self.state, company.key, WATERMARK_KEY, results, parse_time)
