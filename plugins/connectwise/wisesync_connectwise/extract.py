"""The ConnectWise source: what the Accounting Interface would batch, as RecordEvents.

Per record type and per page of the unposted list (``pageSize`` up to 1000,
forward-only paging), one ``POST /finance/accounting/export`` fetches the GL
lines of exactly that page. Customers, vendors, their contacts and members are
looked up in bulk (``conditions=id in (...)``) and cached for the run, as is the
GL mapping's class-segment layout. So a run costs a handful of calls per 1,000
records, not one per record.

Invoices whose billing status is in ``company.hold_billing_statuses`` are not
published: they are yielded as :class:`~wisesync.protocols.Held`
(BILLING_STATUS_HOLD). A hold status that is not closed keeps the invoice out of
the Accounting Interface anyway; one that is closed would not, so held invoice ids
are also filtered out of the unposted list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from wisesync.config import CompanyConfig, ConfigProblem
from wisesync.events.models import PostingResult, RecordEvent, RecordType
from wisesync.protocols import AckOutcome, Held, PluginRuntime, Source
from wisesync_connectwise import mapping, settings
from wisesync_connectwise.acknowledge import Acknowledger
from wisesync_connectwise.client import ConnectWiseClient, client_for
from wisesync_connectwise.conditions import and_, compare, eq, in_
from wisesync_connectwise.fields import ref_id, text
from wisesync_connectwise.parties import contact_ids

log = logging.getLogger(__name__)

UNPOSTED_INVOICES = "/finance/accounting/unpostedinvoices"
UNPOSTED_EXPENSES = "/finance/accounting/unpostedexpenses"
UNPOSTED_PROCUREMENT = "/finance/accounting/unpostedprocurement"
EXPORT = "/finance/accounting/export"
INVOICES = "/finance/invoices"
HELD_FIELDS = {"fields": "id,invoiceNumber,type,status,glBatch"}


@dataclass(slots=True)
class _Run:
    """Look-ups cached for one extraction run."""

    client: ConnectWiseClient
    company: CompanyConfig
    lookups: mapping.Lookups = field(default_factory=mapping.Lookups)
    classes_loaded: bool = False

    def load_classes(self) -> None:
        if self.classes_loaded:
            return
        captions = self.client.get_all("/finance/glCaptions")
        accounts = self.client.get_all("/finance/glAccounts") if captions else []
        self.lookups.classes = mapping.GLClasses.from_api(captions, accounts)
        self.classes_loaded = True

    def load_companies(self, refs: list[Any]) -> None:
        """Fetch the companies (and their primary/billing contacts) not yet cached."""
        wanted = {i for i in (ref_id(r) for r in refs) if i is not None}
        missing = wanted - self.lookups.companies.keys()
        if missing:
            for company in self.client.get_by_ids("/company/companies", missing):
                self.lookups.companies[int(company["id"])] = company
            for gone in missing - self.lookups.companies.keys():
                self.lookups.companies[gone] = {}  # deleted: use the reference, ask once
        people = {
            c
            for i in wanted
            for c in contact_ids(self.lookups.companies.get(i, {}))
            if c not in self.lookups.contacts
        }
        if people:
            for person in self.client.get_by_ids("/company/contacts", people):
                self.lookups.contacts[int(person["id"])] = person
            for gone in people - self.lookups.contacts.keys():
                self.lookups.contacts[gone] = {}

    def load_members(self, refs: list[Any]) -> None:
        missing = {
            i for i in (ref_id(r) for r in refs) if i is not None
        } - self.lookups.members.keys()
        if missing:
            for member in self.client.get_by_ids("/system/members", missing):
                self.lookups.members[int(member["id"])] = member
            for gone in missing - self.lookups.members.keys():
                self.lookups.members[gone] = {}


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
        run = _Run(self.client(company), company)
        ids = None if source_ids is None else {str(s) for s in source_ids}
        if ids is not None and not ids:
            return
        changed = compare("_info/lastUpdated", ">=", since) if since is not None else None
        if wanted & {RecordType.INVOICE, RecordType.CREDIT_MEMO}:
            yield from self._invoices(run, wanted, changed, ids)
        if RecordType.EXPENSE in wanted:
            yield from self._expenses(run, changed, ids)
        if RecordType.PROCUREMENT in wanted:
            yield from self._procurement(run, changed, ids)

    def acknowledge(self, company: CompanyConfig, results: list[PostingResult]) -> list[AckOutcome]:
        """Create the accounting batches of posted results (see :mod:`.acknowledge`)."""
        return Acknowledger(self.client(company), company).acknowledge(results)

    # --- invoices ---------------------------------------------------------------------

    def _invoices(
        self, run: _Run, wanted: set[RecordType], changed: str | None, ids: set[str] | None
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
        if run.company.hold_billing_statuses:
            for held in self._held(run, wanted, numeric):
                held_ids.add(int(held.source_id))
                yield held
        conditions = and_(type_filter, changed, in_("billingLogId", numeric) if numeric else None)
        for page in run.client.pages(UNPOSTED_INVOICES, conditions=conditions or None):
            rows = [r for r in page if ref_id(r.get("billingLogId")) not in held_ids]
            if not rows:
                continue
            invoice_ids = [int(mapping.invoice_source_id(r)) for r in rows]
            export = self._export(run, exportInvoicesFlag=True, includedInvoiceIds=invoice_ids)
            by_id = {str(t.get("id")): t for t in export.get("transactions") or []}
            by_number = {str(t.get("documentNumber")): t for t in export.get("transactions") or []}
            run.load_classes()
            run.load_companies([t.get("company") for t in by_id.values()])
            for row in rows:
                txn = by_id.get(mapping.invoice_source_id(row)) or by_number.get(
                    str(row.get("invoiceNumber"))
                )
                if txn is None:
                    log.info(
                        "invoice %s left the Accounting Interface meanwhile",
                        row.get("invoiceNumber"),
                    )
                    continue
                yield mapping.invoice_event(run.company, row, txn, run.lookups)

    def _held(
        self, run: _Run, wanted: set[RecordType], numeric: list[int] | None
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
                status = (inv.get("status") or {}).get("name")
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
        self, run: _Run, changed: str | None, ids: set[str] | None
    ) -> Iterator[RecordEvent]:
        numeric = _numeric(ids)
        if ids is not None and not numeric:
            return
        conditions = and_(changed, in_("id", numeric) if numeric else None)
        for page in run.client.pages(UNPOSTED_EXPENSES, conditions=conditions or None):
            export = self._export(
                run, exportExpensesFlag=True, includedExpenseIds=[int(r["id"]) for r in page]
            )
            by_id = {str(e.get("id")): e for e in export.get("expenses") or []}
            run.load_classes()
            run.load_members([e.get("member") for e in by_id.values()])
            for row in page:
                exp = by_id.get(str(row["id"]))
                if exp is None:
                    continue
                yield mapping.expense_event(run.company, row, exp, run.lookups)

    # --- procurement ------------------------------------------------------------------

    def _procurement(
        self, run: _Run, changed: str | None, ids: set[str] | None
    ) -> Iterator[RecordEvent]:
        numeric = _numeric(ids)
        if ids is not None and not numeric:
            return
        conditions = and_(changed, in_("id", numeric) if numeric else None)
        for page in run.client.pages(UNPOSTED_PROCUREMENT, conditions=conditions or None):
            export = self._export(
                run,
                exportProductsFlag=True,
                includedProductIds=[str(r.get("unpostedProductId") or r["id"]) for r in page],
            )
            entries: dict[str, tuple[str, dict[str, Any]]] = {}
            for kind, key in (
                ("purchase", "purchaseTransactions"),
                ("adjustment", "adjustmentTransactions"),
            ):
                for entry in export.get(key) or []:
                    for gl in mapping.procurement_gl_ids(entry):
                        entries.setdefault(gl, (kind, entry))
            run.load_classes()
            run.load_companies(
                [e.get("company") for kind, e in entries.values() if kind == "purchase"]
            )
            for row in page:
                found = entries.get(str(row["id"]))
                if found is None:
                    continue
                kind, entry = found
                build = mapping.purchase_event if kind == "purchase" else mapping.adjustment_event
                yield build(run.company, row, entry, run.lookups)

    # --- helpers ----------------------------------------------------------------------

    def _export(self, run: _Run, **request: Any) -> dict[str, Any]:
        """``POST /finance/accounting/export``: a read-only preview, safe to retry."""
        response = run.client.post_json(EXPORT, request, safe_to_retry=True)
        return response.body if isinstance(response.body, dict) else {}


def _numeric(ids: set[str] | None) -> list[int] | None:
    if ids is None:
        return None
    return sorted(int(i) for i in ids if i.strip().isdigit())
