"""The payments source: payments applied in Xero to invoices wisesync posted, as
PAYMENT records for ConnectWise (product.md 1.5: payments go from the ledger to CW).

``extract`` reads ``GET /Payments`` changed since the company's watermark
(``If-Modified-Since``, Xero's ``UpdatedDateUTC``), keeps receivable payments
(``ACCRECPAYMENT``) whose invoice wisesync posted (the posting journal has its Xero
InvoiceID), and yields one record per payment:

* an applied payment: source id = the PaymentID;
* a deleted payment (a reversal in Xero): source id = ``<PaymentID>:reversed``,
  ``payment.reversed = True``.

Payable payments (``ACCPAYPAYMENT``, bills paid in Xero) are not read: ConnectWise has no
record that takes a vendor bill payment (its payments target applies payments to invoices).

The watermark, its acknowledgement and the record's shape are the ledger-neutral
:mod:`wisesync.payments`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Protocol

from wisesync.config import CompanyConfig, ConfigProblem
from wisesync.events.models import Contact, RecordEvent, RecordType, Trigger
from wisesync.money import to_decimal
from wisesync.payments import REVERSED_SUFFIX, LedgerPaymentsSource, payment_event
from wisesync.protocols import Held, PluginRuntime
from wisesync_xero import settings as xero_settings
from wisesync_xero.client import XeroClient
from wisesync_xero.connection import Connections
from wisesync_xero.contacts import quote
from wisesync_xero.limits import LIMITS

PAGE_SIZE = 100
_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_time(value: Any) -> datetime | None:
    """``/Date(1518685950940+0000)/`` or ISO text -> aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    match = _MSDATE.match(value)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_xero_date(value: Any) -> date | None:
    """A Xero date field -> date."""
    parsed = parse_xero_time(value)
    return parsed.date() if parsed else None


class PostedDocuments(Protocol):
    """Tells which Xero documents wisesync posted."""

    def posted(self, company: str, ledger_ids: Collection[str]) -> set[str]:
        """The subset of ``ledger_ids`` wisesync posted for ``company``."""


class JournalDocuments:
    """What wisesync posted to Xero, asked of the runtime's read-only journal API."""

    def __init__(self, runtime: PluginRuntime):
        self.runtime = runtime

    def posted(self, company: str, ledger_ids: Collection[str]) -> set[str]:
        entries = self.runtime.posted(company, "xero", ledger_ids=ledger_ids)
        return {e.ledger_id.lower() for e in entries if e.ledger_id}


def payment_record(company: CompanyConfig, raw: dict[str, Any]) -> RecordEvent | None:
    """The PAYMENT record for one ``GET /Payments`` element (None when it is not a
    receivable invoice payment)."""
    invoice = raw.get("Invoice") or {}
    if raw.get("PaymentType", "ACCRECPAYMENT") != "ACCRECPAYMENT" or not invoice:
        return None
    number = str(invoice.get("InvoiceNumber") or "")
    paid_on = parse_xero_date(raw.get("Date"))
    if not number or paid_on is None or not raw.get("PaymentID"):
        return None
    reversed_ = str(raw.get("Status") or "").upper() == "DELETED"
    payment_id = str(raw["PaymentID"])
    updated = parse_xero_time(raw.get("UpdatedDateUTC"))
    contact_raw = invoice.get("Contact") or {}
    contact = None
    if contact_raw.get("Name"):
        contact = Contact(
            source_id=str(contact_raw.get("ContactID") or ""),
            name=str(contact_raw["Name"]),
            account_number=contact_raw.get("ContactNumber"),
        )
    return payment_event(
        company,
        source="xero",
        source_id=payment_id + (REVERSED_SUFFIX if reversed_ else ""),
        ledger_payment_id=payment_id,
        invoice_number=number,
        amount=to_decimal(raw.get("Amount"), field="Amount"),
        paid_on=paid_on,
        updated=updated,
        reversed_=reversed_,
        reference=str(raw.get("Reference") or ""),
        currency=str(invoice.get("CurrencyCode") or ""),
        account=str((raw.get("Account") or {}).get("Code") or ""),
        contact=contact,
        attributes={"xero_invoice_id": str(invoice.get("InvoiceID") or "")},
    )


def _newer(raw: dict[str, Any], than: datetime) -> bool:
    updated = parse_xero_time(raw.get("UpdatedDateUTC"))
    return updated is None or updated > than


class XeroPaymentsSource(LedgerPaymentsSource):
    """Payments applied in Xero, extracted for ConnectWise."""

    name: ClassVar[str] = "xero"
    limits = LIMITS
    connections_class = Connections

    def __init__(
        self,
        runtime: PluginRuntime,
        *,
        documents: PostedDocuments | None = None,
        **kwargs: Any,
    ):
        super().__init__(runtime, **kwargs)
        self.documents = documents or JournalDocuments(runtime)

    parse_time = staticmethod(parse_xero_time)

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.xero]`` (no I/O)."""
        return xero_settings.check(company)

    def _pages(self, client: XeroClient, params: dict[str, Any], since: datetime | None):
        headers = {}
        if since is not None:
            # whole seconds, rounded down: a payment updated in the same second is read
            # again rather than missed
            stamp = since.astimezone(UTC).replace(microsecond=0, tzinfo=None)
            headers["If-Modified-Since"] = stamp.isoformat()
        page = 1
        while True:
            body = client.get_json(
                "/Payments", {**params, "page": page, "pageSize": PAGE_SIZE}, headers=headers
            )
            items = (body or {}).get("Payments") or []
            yield from items
            pagination = (body or {}).get("pagination") or {}
            pages = int(pagination.get("pageCount") or 0)
            if len(items) < PAGE_SIZE or (pages and page >= pages):
                return
            page += 1

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
        client: XeroClient = self.client(company)
        start_at: datetime | None = None
        if source_ids:
            wanted = set(source_ids)
            ids = sorted({s.removesuffix(REVERSED_SUFFIX) for s in wanted})
            raw: list[dict[str, Any]] = []
            for start in range(0, len(ids), 40):
                where = " OR ".join(f"PaymentID==Guid({quote(i)})" for i in ids[start : start + 40])
                raw += list(self._pages(client, {"where": where}, None))
        else:
            wanted = None
            start_at = since if since is not None else self.watermark(company.key)
            raw = list(self._pages(client, {"where": 'PaymentType=="ACCRECPAYMENT"'}, start_at))
        if wanted is None and start_at is not None:
            # If-Modified-Since went out in whole seconds: drop what is not newer
            raw = [p for p in raw if _newer(p, start_at)]
        records = [r for r in (payment_record(company, p) for p in raw) if r is not None]
        if wanted is not None:
            records = [r for r in records if r.source_id in wanted]
        ours = self.documents.posted(
            company.key, {r.attributes["xero_invoice_id"] for r in records}
        )
        for record in records:
            if record.attributes["xero_invoice_id"].lower() in ours:
                record.trigger = Trigger.REPLAY if wanted is not None else Trigger.SCHEDULE
                yield record
