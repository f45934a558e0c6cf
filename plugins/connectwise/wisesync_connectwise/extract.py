"""The ConnectWise source: what the Accounting Interface would batch, as RecordEvents.

Per record type and per page of the unposted list (``pageSize`` up to 1000,
forward-only paging), one ``POST /finance/accounting/export`` fetches the GL
lines of exactly that page. Customers, vendors, their contacts and members are
looked up in bulk (``conditions=id in (...)``) and cached for the run, as is the
GL captions layout. So a run costs a handful of calls per 1,000
records, not one per record.

Invoices whose billing status is in ``company.hold_billing_statuses`` are not
published: they are yielded as :class:`~wisesync.protocols.Held`
(BILLING_STATUS_HOLD). A hold status that is not closed keeps the invoice out of
the Accounting Interface anyway; one that is closed would not, so held invoice ids
are also filtered out of the unposted list.

One record never stops a run (:mod:`.holds`): a row without a readable id, a row the
export no longer has, a value that cannot be read, or lines that do not add up to the
total is yielded as Held with its code (SOURCE_FIELD_INVALID, SOURCE_RECORD_GONE,
SOURCE_TOTALS_MISMATCH) and the run goes on; nothing is skipped without a result. A row
listed twice is reported once. Rows are matched to export entries by :mod:`.matching`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any, ClassVar

from wisesync.config import CompanyConfig, ConfigProblem
from wisesync.events.models import PostingResult, RecordEvent, RecordType
from wisesync.preflight import Check, try_connection
from wisesync.protocols import AckOutcome, Held, PluginRuntime, Source
from wisesync_connectwise import expenses as expenses_
from wisesync_connectwise import mapping, procurement, settings
from wisesync_connectwise.acknowledge import Acknowledger
from wisesync_connectwise.client import ConnectWiseClient, client_for
from wisesync_connectwise.conditions import and_, compare, eq, in_
from wisesync_connectwise.extraction_run import ExtractionRun
from wisesync_connectwise.fields import FieldInvalid, ref_id, ref_name, text
from wisesync_connectwise.holds import built, guard, held, readable_rows
from wisesync_connectwise.matching import Index, ProcurementIndex, bills_by_expense

log = logging.getLogger(__name__)

UNPOSTED_INVOICES = "/finance/accounting/unpostedinvoices"
UNPOSTED_EXPENSES = "/finance/accounting/unpostedexpenses"
UNPOSTED_PROCUREMENT = "/finance/accounting/unpostedprocurement"
EXPORT = "/finance/accounting/export"
INVOICES = "/finance/invoices"
HELD_FIELDS = {"fields": "id,invoiceNumber,type,status,glBatch"}
#: Invoices or procurement rows per export call (a page of the unposted list is exported in
#: parts of this many). Their export entries run to 5-7 KB of JSON each, 13-20 KB parsed,
#: plus the customers the export lists: one export of a 1,000-row page held 20-40 MiB at
#: once. In parts of 250 an extraction's peak is about 10 MiB whatever the backlog, for
#: three more calls per 1,000 such records. (Expenses are exported a page at a time: their
#: entries are small, and an expense bill's expenses must be exported together.)
EXPORT_RECORDS = 250


class ConnectWiseSource(Source):
    """Extracts unposted invoices, credit memos, expenses and procurement from ConnectWise
    PSA and acknowledges posted ones with accounting batches."""

    name: ClassVar[str] = "connectwise"
    record_types: ClassVar[frozenset[RecordType]] = frozenset(
        {RecordType.INVOICE, RecordType.CREDIT_MEMO, RecordType.EXPENSE, RecordType.PROCUREMENT}
    )

    def __init__(self, runtime: PluginRuntime):
        super().__init__(runtime)
        self._clients: dict[str, ConnectWiseClient] = {}
        self._lock = threading.Lock()

    # --- protocol ---------------------------------------------------------------------

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.connectwise]``."""
        return settings.check(company)

    def check_online(self, company: CompanyConfig) -> list[Check]:
        """``config check --online``: one read (``/system/info``) with the company's keys."""
        from wisesync.http import RetryPolicy

        def attempt() -> str:
            client_for(self.runtime, company, retry=RetryPolicy(attempts=1)).get("/system/info")
            return settings.load(company).api_root

        return try_connection(f"{company.key}: ConnectWise", attempt)

    def client(self, company: CompanyConfig) -> ConnectWiseClient:
        """The company's client (one per company per process, paced by its settings)."""
        with self._lock:
            found = self._clients.get(company.key)
            if found is None:
                found = client_for(self.runtime, company)
                self._clients[company.key] = found
            return found

    def extract(
        self,
        company: CompanyConfig,
        record_types: Collection[RecordType],
        since: datetime | None = None,
        source_ids: Collection[str] | None = None,
    ) -> Iterator[RecordEvent | Held]:
        """Yield sealed RecordEvents (and Held invoices) for the unposted records of
        ``record_types``; with ``source_ids`` only those; with ``since`` only records
        changed at or after it."""
        wanted = {RecordType(t) for t in record_types} & self.record_types
        ids = None if source_ids is None else {str(s) for s in source_ids}
        if ids is not None and not ids:
            return
        run = ExtractionRun(self.client(company), company)
        try:
            yield from self._extract(run, wanted, since, ids)
        finally:
            run.close()

    def _extract(
        self,
        run: ExtractionRun,
        wanted: set[RecordType],
        since: datetime | None,
        ids: set[str] | None,
    ) -> Iterator[RecordEvent | Held]:
        changed = compare("_info/lastUpdated", ">=", since) if since is not None else None
        parts = []
        if wanted & {RecordType.INVOICE, RecordType.CREDIT_MEMO}:
            parts.append(self._invoices(run, wanted, changed, ids))
        if RecordType.EXPENSE in wanted:
            parts.append(self._expenses(run, changed, ids))
        if RecordType.PROCUREMENT in wanted:
            parts.append(self._procurement(run, changed, ids))
        seen: set[tuple[RecordType, str]] = set()
        for part in parts:
            for item in part:
                key = (item.record_type, item.source_id)
                if key in seen:  # the same row listed twice: reported once
                    log.info("%s %s listed twice; reported once", *key)
                    continue
                seen.add(key)
                yield item

    def acknowledge(self, company: CompanyConfig, results: list[PostingResult]) -> list[AckOutcome]:
        """Create the accounting batches of posted results (see :mod:`.acknowledge`)."""
        return Acknowledger(self.client(company), company).acknowledge(results)

    def acknowledge_each(
        self, company: CompanyConfig, results: list[PostingResult]
    ) -> Iterator[AckOutcome]:
        """:meth:`acknowledge`, each outcome yielded as its batch is created or found."""
        return Acknowledger(self.client(company), company).outcomes(results)

    # --- invoices ---------------------------------------------------------------------

    def _invoices(
        self, run: ExtractionRun, wanted: set[RecordType], changed: str | None, ids: set[str] | None
    ) -> Iterator[RecordEvent | Held]:
        type_filter = None
        if RecordType.INVOICE not in wanted:
            type_filter = eq("invoiceType", "CreditMemo")
        elif RecordType.CREDIT_MEMO not in wanted:
            type_filter = compare("invoiceType", "!=", "CreditMemo")
        numeric = _numeric(ids)
        if ids is not None and not numeric:
            return
        held_ids: set[int] = set()
        held_ahead = None  # the hold query runs beside the first page of the unposted list
        if run.company.hold_billing_statuses:
            held_ahead = run.in_background(lambda: list(self._held(run, wanted, numeric)))

        def settle_held() -> Iterator[Held]:
            nonlocal held_ahead
            if held_ahead is not None:
                found, held_ahead = held_ahead.result(), None
                held_ids.update(int(h.source_id) for h in found)
                yield from found

        conditions = and_(type_filter, changed, in_("billingLogId", numeric) if numeric else None)
        for page in run.client.pages(UNPOSTED_INVOICES, conditions=conditions or None):
            yield from settle_held()
            good = yield from readable_rows(page, _invoice_kind, "billingLogId", "id")
            good = {i: row for i, row in good.items() if i not in held_ids}
            if not good:
                continue
            run.read_ahead(good.values(), "billToCompany", "company")
            for part in _parts(good, EXPORT_RECORDS):
                yield from self._invoice_part(run, part)
        yield from settle_held()

    def _invoice_part(
        self, run: ExtractionRun, part: dict[int, dict[str, Any]]
    ) -> Iterator[RecordEvent | Held]:
        """The invoices ``part`` (rows by id) of a page, from one export."""
        export = self._export(run, exportInvoicesFlag=True, includedInvoiceIds=list(part))
        txns = Index.of(export, "transactions", "id", "documentNumber")
        run.load_classes()
        run.load_customers(export)
        run.load_companies([t.get("company") for t in txns.entries])
        for ident, row in part.items():
            record_type = mapping.invoice_type(row)
            number = (
                text(row.get("invoiceNumber"))
                if isinstance(row.get("invoiceNumber"), str)
                else None
            )
            yield built(
                txns.find(record_type, str(ident), str(ident), number),
                record_type,
                str(ident),
                number,
                lambda txn, row=row: mapping.invoice_event(run.company, row, txn, run.lookups),
            )

    def _held(
        self, run: ExtractionRun, wanted: set[RecordType], numeric: list[int] | None
    ) -> Iterator[Held]:
        """Unbatched invoices in a hold billing status (one query; batched ones, e.g. an
        invoice moved back to a hold status after it was posted, are left out here)."""
        conditions = and_(
            in_("status/name", run.company.hold_billing_statuses),
            in_("id", numeric) if numeric else None,
        )
        for page in run.client.pages(INVOICES, conditions=conditions, params=HELD_FIELDS):
            for inv in page:
                record_type = mapping.invoice_type(inv)
                if record_type not in wanted or ref_id(inv.get("glBatch")) is not None:
                    continue
                if ref_id(inv.get("id")) is None:
                    # not a record id: the unposted list reports the invoice if it is there
                    log.warning("held invoice without a readable id: %r", inv.get("id"))
                    continue
                status = ref_name(inv.get("status"))
                yield Held(
                    record_type=record_type,
                    source_id=str(inv["id"]),
                    code="BILLING_STATUS_HOLD",
                    text=f"invoice {inv.get('invoiceNumber')} is in billing status {status!r}, "
                    "which this company holds",
                    document_number=text(inv.get("invoiceNumber")),
                )

    # --- expenses ---------------------------------------------------------------------

    def _expenses(
        self, run: ExtractionRun, changed: str | None, ids: set[str] | None
    ) -> Iterator[RecordEvent | Held]:
        numeric = _numeric(ids)
        if ids is not None and not numeric:
            return
        conditions = and_(changed, in_("id", numeric) if numeric else None)
        kind = RecordType.EXPENSE
        for page in run.client.pages(UNPOSTED_EXPENSES, conditions=conditions or None):
            good = yield from readable_rows(page, lambda _: kind, "id")
            if not good:
                continue
            run.read_ahead(good.values())
            export = self._export(run, exportExpensesFlag=True, includedExpenseIds=list(good))
            expenses = Index.of(export, "expenses", "id")
            bills = bills_by_expense(export)
            run.load_classes()
            run.load_members(
                [e.get("member") for e in expenses.entries]
                + [b.get("member") for b, _ in bills.values()]
            )
            for ident, row in good.items():
                if ident in bills:
                    yield from self._bill(run, ident, bills[ident], good)
                    continue
                yield built(
                    expenses.find(kind, str(ident), str(ident)),
                    kind,
                    str(ident),
                    None,
                    lambda exp, row=row: expenses_.expense_event(
                        run.company, row, exp, run.lookups
                    ),
                )

    def _bill(
        self,
        run: ExtractionRun,
        ident: int,
        found: tuple[dict[str, Any], list[int] | FieldInvalid],
        page: dict[int, dict[str, Any]],
    ) -> Iterator[RecordEvent | Held]:
        """An expense bill, published under the lowest of its expense ids on this page; the
        other expenses it covers are reported as combined into it."""
        bill, covered = found
        kind = RecordType.EXPENSE
        if isinstance(covered, FieldInvalid):
            yield held(kind, str(ident), None, "SOURCE_FIELD_INVALID", f"expense bill: {covered}")
            return
        lead = min(i for i in covered if i in page)
        number = (
            text(bill.get("documentNumber"))
            if isinstance(bill.get("documentNumber"), str)
            else None
        )
        if ident != lead:
            yield held(
                kind,
                str(ident),
                number,
                "SOURCE_RECORD_COMBINED",
                f"exported in expense bill {number or '?'} with expense {lead}; "
                f"see expense {lead}'s result",
            )
            return
        yield guard(
            kind,
            str(ident),
            number,
            lambda: expenses_.expense_bill_event(run.company, str(ident), bill, run.lookups, page),
        )

    # --- procurement ------------------------------------------------------------------

    def _procurement(
        self, run: ExtractionRun, changed: str | None, ids: set[str] | None
    ) -> Iterator[RecordEvent | Held]:
        numeric = _numeric(ids)
        if ids is not None and not numeric:
            return
        conditions = and_(changed, in_("id", numeric) if numeric else None)
        kind = RecordType.PROCUREMENT
        for page in run.client.pages(UNPOSTED_PROCUREMENT, conditions=conditions or None):
            good = yield from readable_rows(page, lambda _: kind, "id")
            if not good:
                continue
            run.read_ahead(good.values(), "vendor")
            for part in _parts(good, EXPORT_RECORDS):
                product_ids = [
                    str(r.get("unpostedProductId"))
                    if isinstance(r.get("unpostedProductId"), str) and r.get("unpostedProductId")
                    else str(i)
                    for i, r in part.items()
                ]
                export = self._export(run, exportProductsFlag=True, includedProductIds=product_ids)
                entries = ProcurementIndex.of(export)
                run.load_classes()
                run.load_companies([e.get("company") for e in entries.purchases])
                for ident, row in part.items():
                    yield self._one_procurement(run, ident, row, entries)

    def _one_procurement(
        self, run: ExtractionRun, ident: int, row: dict[str, Any], entries: ProcurementIndex
    ) -> RecordEvent | Held:
        kind = RecordType.PROCUREMENT
        number = (
            ref_name(row.get("purchaseOrder"))
            if isinstance(row.get("purchaseOrder"), dict)
            else None
        )
        found = entries.find(ident, row)
        if isinstance(found, Held):
            found.document_number = number
            return found
        what, entry = found
        if what == "purchase":
            build = procurement.purchase_event
        elif what == "adjustment":
            build = procurement.adjustment_event
        else:
            build = procurement.transfer_event
        return guard(kind, str(ident), number, lambda: build(run.company, row, entry, run.lookups))

    # --- helpers ----------------------------------------------------------------------

    def _export(self, run: ExtractionRun, **request: Any) -> dict[str, Any]:
        """``POST /finance/accounting/export``: a read-only preview, safe to retry."""
        response = run.client.post_json(EXPORT, request, safe_to_retry=True)
        return response.body if isinstance(response.body, dict) else {}


def _invoice_kind(row: Any) -> RecordType:
    return mapping.invoice_type(row) if isinstance(row, dict) else RecordType.INVOICE


def _parts(rows: dict[int, Any], size: int) -> Iterator[dict[int, Any]]:
    """``rows`` in dicts of at most ``size``, in order."""
    items = list(rows.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])


def _numeric(ids: set[str] | None) -> list[int] | None:
    if ids is None:
        return None
    return sorted(int(i) for i in ids if i.strip().isdigit())
