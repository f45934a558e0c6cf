"""The sandbox's in-memory ConnectWise tenant: entities and the mutations the API allows.

Everything is plain dataclasses keyed by id. Money and quantities are
``Decimal`` (quantities up to 7 places, as ConnectWise stores them). The JSON the
API serves is rendered from here by :mod:`.views`, cached per record revision:
every mutation bumps the record's ``rev`` (or :attr:`State.ref_rev` for
reference data such as GL mappings, terms, tax codes and companies), so a list
of 5,000 records costs one dict per record, built once.

Posting model (connectwise.md section 3): every unposted record owns a set of
GL entry ids (``glEntryIds`` in the export). ``POST /finance/accounting/batches``
with ``processedRecordIds`` puts the *records* owning those ids into the batch:
naming any one of a record's ids batches the whole record (the Accounting
Interface's unit is the record; the real behaviour for a partial list is
UNCONFIRMED). ``DELETE`` of the batch returns its records to unposted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from wisesync.money import round_money

from .errors import ApiError, field_error, invalid, not_found

ZERO = Decimal("0")
SEGMENTS = 10


def now_iso() -> str:
    """Now as ConnectWise writes instants: ``2025-04-25T13:05:09Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(day: date | None) -> str | None:
    """A date as a ConnectWise instant at midnight UTC."""
    return None if day is None else f"{day.isoformat()}T00:00:00Z"


# --- reference data -------------------------------------------------------------------


@dataclass(slots=True)
class Contact:
    """A person at a company (``/company/contacts``)."""

    id: int
    company_id: int
    first_name: str
    last_name: str = ""
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    default_flag: bool = False  # the primary contact
    default_billing_flag: bool = False
    inactive: bool = False
    updated: str = "2025-01-01T00:00:00Z"

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class Company:
    """A customer or vendor (``/company/companies``)."""

    id: int
    identifier: str
    name: str
    account_number: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str = "Australia"
    phone: str | None = None
    website: str | None = None
    terms_id: int | None = None
    tax_code_id: int | None = None
    tax_identifier: str | None = None
    default_contact_id: int | None = None
    billing_contact_id: int | None = None
    invoice_to_email: str | None = None
    invoice_cc_email: str | None = None
    is_vendor: bool = False
    vendor_identifier: str | None = None
    types: list[str] = field(default_factory=lambda: ["Client"])
    site_id: int = 0
    currency: str = "AUD"  # ISO code; the tenant's home currency unless a foreign customer
    deleted: bool = False
    updated: str = "2025-01-01T00:00:00Z"


@dataclass(slots=True)
class Member:
    """A ConnectWise member (employee): the payee of expenses."""

    id: int
    identifier: str
    first_name: str
    last_name: str
    vendor_number: str | None = None  # the member's AP vendor xref
    email: str | None = None

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


@dataclass(slots=True)
class GLCaption:
    """Segment captions and types (``/finance/glCaptions``)."""

    id: int
    captions: list[str]  # 10, "" when unused
    types: list[str]  # 10, "Account" | "Class"
    cogs: list[str]


@dataclass(slots=True)
class GLAccount:
    """One GL mapping row (``/finance/glAccounts``): a glType + mapped record -> segments."""

    id: int
    gl_type: str
    mapped_type: tuple[int, str]
    mapped_record: tuple[int, str]
    segments: list[str]  # 10 values, "" when empty
    cogs: list[str] = field(default_factory=lambda: [""] * SEGMENTS)
    product_id: str | None = None
    inventory: str | None = None
    sales_code: str | None = None
    description: str = ""
    updated: str = "2025-01-01T00:00:00Z"


@dataclass(slots=True)
class BillingTerm:
    """``/finance/billingTerms``: ``due_days`` is required by CW (0 when none)."""

    id: int
    name: str
    due_days: int
    terms_xref: str | None
    default_flag: bool = False


@dataclass(slots=True)
class BillingStatus:
    """``/finance/billingStatuses``: only ``closed_flag`` statuses reach the Accounting Interface."""

    id: int
    name: str
    closed_flag: bool
    default_flag: bool = False
    sent_flag: bool = False
    inactive: bool = False
    sort_order: int = 0


@dataclass(slots=True)
class TaxCode:
    """``/finance/taxCodes`` with its xrefs: ``xref`` for taxable lines, ``exempt_xref`` otherwise."""

    id: int
    identifier: str
    description: str
    xref: str
    rate: Decimal  # level one rate, e.g. 0.1
    exempt_xref: str
    agency_xref: str = "ATO"
    effective: str = "2020-01-01T00:00:00Z"


@dataclass(slots=True)
class Item:
    """A catalog product (``/procurement/catalog``); ``identifier`` is the item code."""

    id: int
    identifier: str
    description: str
    price: Decimal
    cost: Decimal
    gl_account_id: int  # revenue mapping for its product category
    category: str = "Hardware"


@dataclass(slots=True)
class Place:
    """An owner level (location) or business unit (department)."""

    id: int
    name: str
    identifier: str = ""


# --- transactions ---------------------------------------------------------------------


@dataclass(slots=True)
class InvoiceLine:
    """One invoice line (time, product, agreement, billable expense or misc charge)."""

    gl_id: int
    kind: str  # time | product | agreement | expense | misc
    memo: str
    quantity: Decimal
    price: Decimal
    total: Decimal
    gl_account_id: int
    item_id: int | None = None
    taxable: bool = True
    cost: Decimal = ZERO
    uom: str = "Each"


@dataclass(slots=True)
class Invoice:
    """An invoice or credit memo (``/finance/invoices``) and its Accounting Interface row."""

    id: int  # the invoice rec id (UnpostedInvoice.billingLogId, GLExportTransaction.id)
    number: str
    type: str  # Standard | Agreement | CreditMemo | Miscellaneous | Progress | DownPayment
    status_id: int
    company_id: int
    date: date
    terms_id: int | None
    tax_code_id: int | None
    location_id: int
    department_id: int
    gl_ar_id: int  # also UnpostedInvoice.id
    gl_tax_id: int
    lines: list[InvoiceLine] = field(default_factory=list)
    adjust: Decimal = ZERO  # header total minus (lines + tax): the mismatch seeds
    tax_only: Decimal | None = None  # a tax-only invoice's sales tax (it has no taxable lines)
    reference: str | None = None
    customer_po: str | None = None
    apply_to_type: str = "Ticket"
    date_closed: date | None = None
    batch_id: int | None = None
    payment_ids: list[int] = field(default_factory=list)
    created_by: str = "jsmith"
    updated: str = "2025-01-01T00:00:00Z"
    rev: int = 0

    @property
    def subtotal(self) -> Decimal:
        """Sum of line totals."""
        return sum((line.total for line in self.lines), ZERO)

    def sales_tax(self, rate: Decimal) -> Decimal:
        """Tax on the taxable lines at ``rate``, rounded to cents (a tax-only invoice's own)."""
        if self.tax_only is not None:
            return self.tax_only
        taxable = sum((line.total for line in self.lines if line.taxable), ZERO)
        return round_money(taxable * rate)

    def gl_ids(self) -> list[int]:
        """All GL entry ids: the AR header, each line, and the sales-tax line."""
        return [self.gl_ar_id, *(line.gl_id for line in self.lines), self.gl_tax_id]


@dataclass(slots=True)
class Payment:
    """A payment applied to an invoice (``/finance/invoices/{id}/payments``)."""

    id: int
    invoice_id: int
    type: str
    amount: Decimal
    payment_date: str
    transaction_id: str | None = None
    payment_account: str | None = None
    applied_by: str = "APIMember"
    source: str = "Default"
    gl_batch_id: str | None = None
    created: str = field(default_factory=now_iso)


@dataclass(slots=True)
class Expense:
    """An approved expense entry and its Accounting Interface row."""

    id: int  # UnpostedExpense.id == GLExportExpense.id: the expense's GL entry id
    detail_id: int  # expenseDetailId (the expense entry)
    offset_gl_id: int | None
    member_id: int
    company_id: int  # the customer charged (the MSP itself for internal expenses)
    classification: str  # Reimbursable | NonReimbursable | Personal
    type_name: str  # Mileage, Meals, Airfare, ...
    date: date
    amount: Decimal  # ex tax
    tax: Decimal
    billable: bool
    gl_account_id: int  # EE / EI mapping
    offset_account_id: int | None  # EO mapping for company-paid and personal
    tax_code_id: int
    location_id: int
    department_id: int
    notes: str = ""
    payment_method: str = "Cash"
    as_bill: bool = False  # exported in ``expenseBills`` (grouped per member and week)
    batch_id: int | None = None
    updated: str = "2025-01-01T00:00:00Z"
    rev: int = 0

    def gl_ids(self) -> list[int]:
        """GL entry ids: the expense row and, when there is one, its offset."""
        return [self.id] + ([self.offset_gl_id] if self.offset_gl_id else [])


@dataclass(slots=True)
class ProcurementLine:
    """One received product (or adjusted item) line."""

    gl_id: int
    item_id: int
    memo: str
    quantity: Decimal
    cost: Decimal
    total: Decimal
    gl_account_id: int
    line_number: int = 1


@dataclass(slots=True)
class Procurement:
    """A purchase receipt (PO + packing slip), an inventory adjustment or a transfer."""

    id: int  # UnpostedProcurement.id: the GL entry id of its first line
    kind: str  # Purchase | Adjustment | Transfer
    document_number: str  # PO number or adjustment identifier
    po_id: int
    packing_slip: str
    vendor_id: int | None
    date: date
    lines: list[ProcurementLine]
    terms_id: int | None
    tax_code_id: int | None
    location_id: int
    department_id: int
    ap_account_id: int | None = None
    freight: Decimal = ZERO
    freight_gl_id: int | None = None
    freight_account_id: int | None = None
    tax_gl_id: int | None = None
    tax_account_id: int | None = None
    vendor_invoice_number: str | None = None
    vendor_invoice_date: date | None = None
    adjustment_account_id: int | None = None  # offset of an inventory adjustment
    offset_gl_id: int | None = None  # a transfer's "from" side
    transfer_from: str | None = None  # warehouse location names of a transfer
    transfer_to: str | None = None
    reason: str | None = None
    batch_id: int | None = None
    updated: str = "2025-01-01T00:00:00Z"
    rev: int = 0

    @property
    def unposted_product_id(self) -> str:
        """``UnpostedProcurement.unpostedProductId`` (a string in the spec): ``po-id`` for a
        receipt, the adjustment or transfer identifier otherwise (which is also the ``id``
        of its GL export entry: a sandbox convention, UNCONFIRMED upstream)."""
        if self.kind == "Purchase":
            return f"{self.po_id}-{self.id}"
        return self.document_number

    @property
    def subtotal(self) -> Decimal:
        """Line totals plus freight."""
        return sum((line.total for line in self.lines), ZERO) + self.freight

    def tax(self, rate: Decimal) -> Decimal:
        """Tax on lines and freight at ``rate`` (adjustments carry none)."""
        return ZERO if self.kind != "Purchase" else round_money(self.subtotal * rate)

    def gl_ids(self) -> list[int]:
        """GL entry ids: each line, freight and tax when present."""
        ids = [line.gl_id for line in self.lines]
        ids += [i for i in (self.freight_gl_id, self.tax_gl_id, self.offset_gl_id) if i]
        return ids


@dataclass(slots=True)
class Batch:
    """An accounting batch (``/finance/accounting/batches``)."""

    id: int
    identifier: str
    export_invoices: bool
    export_expenses: bool
    export_products: bool
    records: list[tuple[str, int]]  # (kind, record id)
    gl_ids: list[int]
    gl_interface_identifier: str | None = None
    closed_flag: bool = True
    created: str = field(default_factory=now_iso)


KIND_FLAG = {
    "invoice": "exportInvoicesFlag",
    "expense": "exportExpensesFlag",
    "procurement": "exportProductsFlag",
}


class State:
    """The tenant. All access goes through the app's lock (:attr:`lock`)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.companies: dict[int, Company] = {}
        self.contacts: dict[int, Contact] = {}
        self.members: dict[int, Member] = {}
        self.caption: GLCaption | None = None
        self.gl_accounts: dict[int, GLAccount] = {}
        self.terms: dict[int, BillingTerm] = {}
        self.statuses: dict[int, BillingStatus] = {}
        self.tax_codes: dict[int, TaxCode] = {}
        self.items: dict[int, Item] = {}
        self.locations: dict[int, Place] = {}
        self.departments: dict[int, Place] = {}
        self.invoices: dict[int, Invoice] = {}
        self.expenses: dict[int, Expense] = {}
        self.procurement: dict[int, Procurement] = {}
        self.batches: dict[int, Batch] = {}
        self.payments: dict[int, Payment] = {}
        self.gl_index: dict[int, tuple[str, int]] = {}
        self.invoice_numbers: dict[str, int] = {}
        self.batch_identifiers: dict[str, int] = {}  # casefolded identifier -> batch id
        self.mapping_ids: dict[str, int] = {}  # seed's names for GL mappings
        self.cases: dict[str, str] = {}  # seeded case name -> invoice number / record id
        self.case_customers: dict[str, int] = {}  # cases.toml customer key -> company id
        self.ap_account_id: int | None = None
        self.ar_account_id: int | None = None
        self.tax_account_id: int | None = None
        self.purchase_tax_account_id: int | None = None
        self.ref_rev = 0
        self._next = {"gl": 1000, "batch": 1, "payment": 5001, "contact": 0}

    # --- ids ------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """The next id of a sequence (``gl``, ``batch``, ``payment``, ...)."""
        value = self._next.get(kind, 1)
        self._next[kind] = value + 1
        return value

    def gl_id(self) -> int:
        """A fresh GL entry id."""
        return self.next_id("gl")

    # --- registration (seed) --------------------------------------------------------

    def add_invoice(self, invoice: Invoice) -> Invoice:
        """Register an invoice and its GL entry ids."""
        self.invoices[invoice.id] = invoice
        self.invoice_numbers[invoice.number] = invoice.id
        for gl in invoice.gl_ids():
            self.gl_index[gl] = ("invoice", invoice.id)
        return invoice

    def add_expense(self, expense: Expense) -> Expense:
        """Register an expense and its GL entry ids."""
        self.expenses[expense.id] = expense
        for gl in expense.gl_ids():
            self.gl_index[gl] = ("expense", expense.id)
        return expense

    def add_procurement(self, record: Procurement) -> Procurement:
        """Register a receipt/adjustment and its GL entry ids."""
        self.procurement[record.id] = record
        for gl in record.gl_ids():
            self.gl_index[gl] = ("procurement", record.id)
        return record

    # --- queries --------------------------------------------------------------------

    def record(self, kind: str, ident: int) -> Invoice | Expense | Procurement:
        """The invoice, expense or procurement record ``ident``."""
        table: dict[int, Any] = {
            "invoice": self.invoices,
            "expense": self.expenses,
            "procurement": self.procurement,
        }[kind]
        return table[ident]

    def in_accounting_interface(self, kind: str, ident: int) -> bool:
        """Whether the record is listed as unposted: not batched, and (invoices) closed."""
        rec = self.record(kind, ident)
        if rec.batch_id is not None:
            return False
        if isinstance(rec, Invoice):
            return self.statuses[rec.status_id].closed_flag
        return True

    def unposted_invoices(self) -> list[Invoice]:
        """Invoices in the Accounting Interface, by id."""
        return [
            i
            for i in self.invoices.values()
            if i.batch_id is None and self.statuses[i.status_id].closed_flag
        ]

    def unposted_expenses(self) -> list[Expense]:
        """Expenses in the Accounting Interface, by id."""
        return [e for e in self.expenses.values() if e.batch_id is None]

    def unposted_procurement(self) -> list[Procurement]:
        """Receipts and adjustments in the Accounting Interface, by id."""
        return [p for p in self.procurement.values() if p.batch_id is None]

    def tax_rate(self, tax_code_id: int | None) -> Decimal:
        """Level-one rate of a tax code (0 when none)."""
        return self.tax_codes[tax_code_id].rate if tax_code_id in self.tax_codes else ZERO

    def invoice_total(self, inv: Invoice) -> Decimal:
        """Header total: lines + tax + the seeded header mismatch."""
        return inv.subtotal + inv.sales_tax(self.tax_rate(inv.tax_code_id)) + inv.adjust

    def invoice_paid(self, inv: Invoice) -> Decimal:
        """Sum of payments applied to the invoice."""
        return sum((self.payments[p].amount for p in inv.payment_ids), ZERO)

    def invoice_balance(self, inv: Invoice) -> Decimal:
        """Total minus payments."""
        return self.invoice_total(inv) - self.invoice_paid(inv)

    # --- batches --------------------------------------------------------------------

    def create_batch(self, request: dict[str, Any]) -> Batch:
        """``POST /finance/accounting/batches``: validate, then mark the records posted."""
        resource = "accountingBatch"
        flags = {
            "invoice": bool(request.get("exportInvoicesFlag")),
            "expense": bool(request.get("exportExpensesFlag")),
            "procurement": bool(request.get("exportProductsFlag")),
        }
        identifier = request.get("batchIdentifier")
        if identifier is not None and not isinstance(identifier, str):
            raise invalid(
                resource, "batchIdentifier", "InvalidField", "batchIdentifier must be a string"
            )
        identifier = (identifier or "").strip()
        if len(identifier) > 50:
            raise ApiError(
                400,
                "MaxLengthField",
                "The field batchIdentifier must be a string with a maximum length of 50.",
            )
        if identifier and identifier.casefold() in self.batch_identifiers:
            raise invalid(
                resource,
                "batchIdentifier",
                "ObjectExists",
                f"The batchIdentifier '{identifier}' already exists.",
            )
        if not any(flags.values()):
            raise invalid(
                resource,
                "exportInvoicesFlag",
                "InvalidField",
                "Batch must export Invoices, Expenses or Products.",
            )
        ids = request.get("processedRecordIds")
        if not isinstance(ids, list) or not ids:
            raise invalid(
                resource,
                "processedRecordIds",
                "Required",
                "processedRecordIds is required (GL Entry RecIDs).",
            )
        records: list[tuple[str, int]] = []
        seen: set[tuple[str, int]] = set()
        for raw in ids:
            try:
                gl = int(raw)
            except (TypeError, ValueError):
                raise invalid(
                    resource,
                    "processedRecordIds",
                    "InvalidField",
                    f"{raw!r} is not a GL Entry RecID",
                ) from None
            owner = self.gl_index.get(gl)
            if owner is None:
                raise invalid(
                    resource, "processedRecordIds", "NotFound", f"GL Entry RecID {gl} not found."
                )
            kind, rec_id = owner
            rec = self.record(kind, rec_id)
            if rec.batch_id is not None:
                other = self.batches[rec.batch_id].identifier
                raise invalid(
                    resource,
                    "processedRecordIds",
                    "AlreadyBatched",
                    f"GL Entry RecID {gl} is already in batch '{other}'.",
                )
            if not self.in_accounting_interface(kind, rec_id):
                raise invalid(
                    resource,
                    "processedRecordIds",
                    "InvalidField",
                    f"GL Entry RecID {gl} is not ready to export (invoice not closed).",
                )
            if not flags[kind]:
                raise invalid(
                    resource,
                    KIND_FLAG[kind],
                    "InvalidField",
                    f"GL Entry RecID {gl} is a {kind} record but {KIND_FLAG[kind]} is not set.",
                )
            if owner not in seen:
                seen.add(owner)
                records.append(owner)
        batch_id = self.next_id("batch")
        batch = Batch(
            id=batch_id,
            identifier=identifier or f"B{batch_id:06d}",
            export_invoices=flags["invoice"],
            export_expenses=flags["expense"],
            export_products=flags["procurement"],
            records=records,
            gl_ids=[g for kind, rid in records for g in self.record(kind, rid).gl_ids()],
            gl_interface_identifier=request.get("glInterfaceIdentifier"),
        )
        self.batches[batch.id] = batch
        self.batch_identifiers[batch.identifier.casefold()] = batch.id
        stamp = now_iso()
        for kind, rec_id in records:
            rec = self.record(kind, rec_id)
            rec.batch_id = batch.id
            rec.rev += 1
            rec.updated = stamp
        return batch

    def delete_batch(self, batch_id: int) -> None:
        """``DELETE /finance/accounting/batches/{id}``: return the records to unposted."""
        batch = self.batches.pop(batch_id, None)
        if batch is None:
            raise not_found("accountingBatch", batch_id)
        self.batch_identifiers.pop(batch.identifier.casefold(), None)
        stamp = now_iso()
        for kind, rec_id in batch.records:
            rec = self.record(kind, rec_id)
            if rec.batch_id == batch_id:
                rec.batch_id = None
                rec.rev += 1
                rec.updated = stamp

    # --- payments -------------------------------------------------------------------

    def add_payment(
        self, invoice_id: int, request: dict[str, Any], *, single_payment: bool = False
    ) -> tuple[Payment, bool]:
        """Apply a payment; returns ``(payment, created)``.

        A ``transactionId`` already applied to this invoice returns the stored
        payment with ``created=False`` (the sandbox's duplicate guard).
        """
        resource = "invoicePayment"
        inv = self.invoices.get(invoice_id)
        if inv is None:
            raise not_found("invoice", invoice_id)
        txn = request.get("transactionId")
        txn = str(txn) if txn not in (None, "") else None
        if txn is not None:
            for pid in inv.payment_ids:
                if self.payments[pid].transaction_id == txn:
                    return self.payments[pid], False
        raw = request.get("amount")
        if raw is None or isinstance(raw, bool):
            raise invalid(resource, "amount", "Required", "amount is required.")
        try:
            amount = Decimal(str(raw))
        except ArithmeticError:
            raise invalid(resource, "amount", "InvalidField", "amount must be a number.") from None
        if amount <= 0:
            raise invalid(resource, "amount", "InvalidField", "amount must be greater than 0.")
        if round_money(amount) != amount:
            raise invalid(
                resource, "amount", "InvalidField", "amount must have at most 2 decimal places."
            )
        if self.invoice_total(inv) <= 0:
            raise invalid(
                resource,
                "invoice",
                "InvalidField",
                "Payments cannot be applied to a credit memo or zero invoice.",
            )
        balance = self.invoice_balance(inv)
        if amount > balance:
            raise invalid(
                resource,
                "amount",
                "InvalidField",
                f"The payment amount {amount} exceeds the invoice balance {balance}.",
                details={"balance": balance},
            )
        if single_payment and inv.payment_ids:
            raise invalid(
                resource, "invoice", "ObjectExists", "A payment already exists for this invoice."
            )
        day = request.get("paymentDate")
        if not day:
            raise invalid(resource, "paymentDate", "Required", "paymentDate is required.")
        from .conditions import parse_instant

        instant = parse_instant(str(day))
        if instant is None:
            raise invalid(
                resource, "paymentDate", "InvalidField", f"paymentDate {day!r} is not a date."
            )
        glb = request.get("glBatchID")
        if glb is not None and len(str(glb)) > 50:
            raise ApiError(
                400,
                "MaxLengthField",
                "The field glBatchID must be a string with a maximum length of 50.",
            )
        payment = Payment(
            id=self.next_id("payment"),
            invoice_id=invoice_id,
            type=str(request.get("type") or "Payment"),
            amount=amount,
            payment_date=instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
            transaction_id=txn,
            payment_account=request.get("paymentAccount"),
            applied_by=str(request.get("appliedBy") or "APIMember"),
            source=str(request.get("source") or "Default"),
            gl_batch_id=glb,
        )
        self.payments[payment.id] = payment
        inv.payment_ids.append(payment.id)
        inv.rev += 1
        inv.updated = payment.created
        return payment, True

    def delete_payment(self, invoice_id: int, payment_id: int) -> None:
        """Remove a payment (a reversal in the ledger); the balance goes back up."""
        inv = self.invoices.get(invoice_id)
        if inv is None:
            raise not_found("invoice", invoice_id)
        if payment_id not in inv.payment_ids:
            raise not_found("invoicePayment", payment_id)
        inv.payment_ids.remove(payment_id)
        del self.payments[payment_id]
        inv.rev += 1
        inv.updated = now_iso()

    # --- GL mappings and other reference edits ---------------------------------------

    def patch_gl_account(self, gl_account_id: int, ops: Any) -> GLAccount:
        """Apply CW PatchOperations (``replace`` of ``segmentN`` / ``cogsN`` / ``productId``...)."""
        account = self.gl_accounts.get(gl_account_id)
        if account is None:
            raise not_found("glAccount", gl_account_id)
        if not isinstance(ops, list):
            raise ApiError(
                400,
                "InvalidObject",
                "PATCH body must be an array of operations",
                [field_error("InvalidField", "Expected an array", "glAccount", "")],
            )
        for op in ops:
            path = str(op.get("path", "")).strip("/").lower() if isinstance(op, dict) else ""
            verb = str(op.get("op", "")).lower() if isinstance(op, dict) else ""
            if verb not in ("replace", "add", "remove"):
                raise invalid("glAccount", path or "op", "InvalidField", f"Unknown op {verb!r}")
            value = None if verb == "remove" else op.get("value")
            text = "" if value is None else str(value)
            if len(text) > 255:
                raise ApiError(
                    400,
                    "MaxLengthField",
                    f"The field {path} must be a string with a maximum length of 255.",
                )
            if path.startswith("segment") and path[7:].isdigit() and 1 <= int(path[7:]) <= 10:
                account.segments[int(path[7:]) - 1] = text
            elif path.startswith("cogs") and path[4:].isdigit() and 1 <= int(path[4:]) <= 10:
                account.cogs[int(path[4:]) - 1] = text
            elif path in ("productid", "inventory", "salescode"):
                attr = {
                    "productid": "product_id",
                    "inventory": "inventory",
                    "salescode": "sales_code",
                }[path]
                setattr(account, attr, text or None)
            else:
                raise invalid("glAccount", path, "InvalidField", f"Cannot patch field {path!r}")
        account.updated = now_iso()
        self.ref_rev += 1
        return account

    def touch_reference(self) -> None:
        """Invalidate every cached view after a change to reference data."""
        self.ref_rev += 1
