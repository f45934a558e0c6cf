"""ConnectWise Accounting Interface rows + GL export -> sealed RecordEvents. Pure, no I/O.

Each builder takes the unposted row, its GL export entry and a :class:`Lookups`
(companies, contacts, members and the GL mapping's class segments loaded once per
run) and returns a sealed :class:`~wisesync.events.models.RecordEvent`.

Conventions (the same for every ledger):

* Amounts are what the ledger document shows: a credit memo or a personal
  expense (ConnectWise stores both negative) has positive amounts; its
  ``record_type`` / ``subtype`` says it is a credit. Inventory adjustments keep
  their sign (negative = stock written off).
* ``Line.gl_account`` is None when the GL mapping's account segment is empty;
  ``Line.item_code`` is the product id (``glItemId``) or the mapping's
  Non-Product ID, None when neither exists. ``Line.tax_code`` is the ConnectWise
  tax code xref. ``Terms.due_days`` is None when the billing term has no usable
  days. A missing primary/billing contact is None on the contact.
* ``source_batch_ids`` are the GL entry ids to put in the accounting batch.
* ``reference`` of expenses and procurement is the accounting batch identifier
  (Wise-Sync: "the Expense Transaction ID equals the Batch ID and the Xero Reference").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync.config import CompanyConfig
from wisesync.events.models import Contact, Line, Person, RecordEvent, RecordType, Totals, Tracking
from wisesync.messages import Message, message
from wisesync.money import ZERO, round_money
from wisesync_connectwise.acknowledge import batch_identifier
from wisesync_connectwise.fields import day, dec, gl_ids, ref_id, ref_name, text
from wisesync_connectwise.parties import contact, terms

SOURCE = "connectwise"
#: glTypeIds of GL export detail rows that are not document lines.
TAX_TYPES = frozenset({"ST"})
HEADER_TYPES = frozenset({"AR", "AP"})
INVOICE_SUBTYPES = {
    "standard": "standard",
    "agreement": "agreement",
    "creditmemo": "credit_memo",
    "miscellaneous": "miscellaneous",
    "progress": "progress",
    "downpayment": "down_payment",
}
EXPENSE_SUBTYPES = {
    "reimbursable": "reimbursable",
    "nonreimbursable": "company_paid",
    "personal": "personal",
}


# --- GL mapping class segments ------------------------------------------------------------


def _role(caption: str) -> str:
    name = caption.lower().replace("-", " ").replace("_", " ")
    if "non product" in name or "nonproduct" in name:
        return "item"
    if any(word in name for word in ("location", "office", "owner level", "territory")):
        return "location"
    if any(word in name for word in ("department", "business unit", "workgroup")):
        return "department"
    return "class"


@dataclass(slots=True)
class GLClasses:
    """The Class-type segments of the GL mapping (GL captions), in caption order.

    ConnectWise's export writes them as one ``glClass`` string joined with ``-``;
    :meth:`split` recovers the parts, exactly for every string a mapping row
    produces (so option names may contain ``-``), by splitting otherwise.
    """

    roles: list[str] = field(default_factory=list)
    known: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_api(cls, captions: list[dict[str, Any]], accounts: list[dict[str, Any]]) -> GLClasses:
        """From ``/finance/glCaptions`` and ``/finance/glAccounts``."""
        if not captions:
            return cls()
        caption = captions[0]
        slots = [
            n
            for n in range(1, 11)
            if str(caption.get(f"segment{n}type") or "").lower() == "class"
            and text(caption.get(f"segment{n}"))
        ]
        roles = [_role(text(caption.get(f"segment{n}")) or "") for n in slots]
        known: dict[str, tuple[str, ...]] = {}
        for account in accounts:
            values = tuple(text(account.get(f"segment{n}")) or "" for n in slots)
            if any(values):
                known.setdefault("-".join(values), values)
        return cls(roles, known)

    def split(self, gl_class: Any) -> dict[str, str | None]:
        """``{"location", "department", "item", "class"}`` -> value (None when empty)."""
        out: dict[str, str | None] = {
            "location": None,
            "department": None,
            "item": None,
            "class": None,
        }
        raw = text(gl_class)
        if not raw or not self.roles:
            return out
        values = self.known.get(raw)
        if values is None:
            parts = raw.split("-", len(self.roles) - 1)
            values = tuple(parts + [""] * (len(self.roles) - len(parts)))
        for role, value in zip(self.roles, values, strict=False):
            if out[role] is None and value.strip():
                out[role] = value.strip()
        return out


@dataclass(slots=True)
class Lookups:
    """What a run loaded once: companies, contacts and members by id, GL classes."""

    classes: GLClasses = field(default_factory=GLClasses)
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)


# --- lines ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    line: Line
    rate: Decimal
    gl_type: str
    mapping: str


def _tracking(cls: dict[str, str | None]) -> Tracking:
    return Tracking(
        department=cls["department"], location=cls["location"], business_class=cls["class"]
    )


def _line(
    d: dict[str, Any],
    classes: GLClasses,
    *,
    sign: int = 1,
    account: str | None = None,
    unit: Any = None,
    description: str | None = None,
) -> _Draft:
    """One document line from a GL export detail row."""
    cls = classes.split(d.get("glClass"))
    item = d.get("item") if isinstance(d.get("item"), dict) else {}
    product = d.get("product") if isinstance(d.get("product"), dict) else {}
    item_code = (
        text(d.get("glItemId"))
        or text(item.get("identifier"))
        or text(product.get("identifier"))
        or cls["item"]
    )
    quantity = dec(d.get("quantity"), "quantity") * sign
    amount = dec(d.get("total"), "total") * sign
    price = unit if unit is not None else d.get("itemPrice")
    if price is None or price == "":
        unit_amount = amount / quantity if quantity else amount
    else:
        unit_amount = dec(price, "itemPrice")
        if quantity * unit_amount * amount < 0:
            unit_amount = -unit_amount
    if not quantity and amount:
        quantity = Decimal(1)
    line = Line(
        description=description
        or text(d.get("memo"))
        or text(d.get("itemDescription"))
        or text(d.get("description"))
        or "",
        quantity=quantity,
        unit_amount=unit_amount,
        line_amount=amount,
        gl_account=account if account is not None else text(d.get("accountNumber")),
        item_code=item_code,
        tax_code=text(d.get("taxCodeXref")),
        tracking=_tracking(cls),
        source_line_id=str(d["id"]) if d.get("id") is not None else None,
    )
    rate = (
        dec(d.get("taxRate"), "taxRate") if d.get("taxableFlag", d.get("taxable", True)) else ZERO
    )
    return _Draft(line, rate, str(d.get("glTypeId") or ""), text(d.get("description")) or "")


def allocate_tax(drafts: list[_Draft], total_tax: Decimal) -> None:
    """Set each line's tax amount: its rate applied and rounded, the rounding remainder
    put on the line with the largest tax, so the lines add up to ``total_tax``."""
    taxed = [d for d in drafts if d.rate]
    for d in taxed:
        d.line.tax_amount = round_money(d.line.line_amount * d.rate)
    rest = total_tax - sum((d.line.tax_amount for d in taxed), ZERO)
    if rest and taxed:
        biggest = max(taxed, key=lambda d: abs(d.line.tax_amount))
        biggest.line.tax_amount += rest


def _mapping_messages(
    drafts: list[_Draft],
    company: CompanyConfig,
    what: Callable[[_Draft], str],
    *,
    sales: bool = False,
) -> list[Message]:
    """GL_MAPPING_MISSING per line whose mapping has an empty account, and (sales lines,
    when the company requires item codes) no Non-Product ID, naming the CW mapping."""
    out = []
    for n, d in enumerate(drafts):
        if d.line.gl_account is None:
            out.append(
                message(
                    "GL_MAPPING_MISSING",
                    f"{what(d)}: the ConnectWise GL mapping has an empty account segment",
                    line=n,
                )
            )
        elif sales and d.line.item_code is None and company.options.require_item_code:
            out.append(
                message(
                    "GL_MAPPING_MISSING",
                    f"{what(d)}: the ConnectWise GL mapping has no Non-Product ID",
                    line=n,
                )
            )
    return out


def _describe(d: _Draft) -> str:
    mapping = f"'{d.mapping}'" if d.mapping else "(unnamed)"
    return f"GL mapping {mapping}, glType {d.gl_type or '?'}"


def _event(
    company: CompanyConfig, record_type: RecordType, source_id: str, **kw: Any
) -> RecordEvent:
    return RecordEvent(
        company=company.key,
        source=SOURCE,
        target=company.target_for(record_type),
        record_type=record_type,
        source_id=source_id,
        **kw,
    ).seal()


def _attrs(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def _currency(*rows: dict[str, Any]) -> str | None:
    for row in rows:
        cur = row.get("currency")
        if isinstance(cur, dict):
            code = text(cur.get("currencyCode")) or text(cur.get("currencyIdentifier"))
            if code:
                return code
    return None


# --- invoices and credit memos -------------------------------------------------------------


def invoice_type(unposted: dict[str, Any]) -> RecordType:
    """Credit memos are their own record type."""
    kind = str(unposted.get("invoiceType") or unposted.get("type") or "").replace(" ", "").lower()
    return RecordType.CREDIT_MEMO if kind == "creditmemo" else RecordType.INVOICE


def invoice_source_id(unposted: dict[str, Any]) -> str:
    """The invoice's rec id (``billingLogId``; stable across GL reloads), else the row id."""
    return str(unposted.get("billingLogId") or unposted["id"])


def invoice_event(
    company: CompanyConfig, unposted: dict[str, Any], txn: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An invoice or credit memo from its UnpostedInvoice row and GLExportTransaction."""
    record_type = invoice_type(unposted)
    sign = -1 if record_type is RecordType.CREDIT_MEMO else 1
    drafts: list[_Draft] = []
    tax_total = ZERO
    for d in txn.get("detail") or []:
        gl_type = str(d.get("glTypeId") or "").upper()
        if gl_type in TAX_TYPES or text(d.get("taxNote")) == "AUTOSTAX":
            tax_total += dec(d.get("total"), "total") * sign
            continue
        if gl_type in HEADER_TYPES:
            continue
        drafts.append(_line(d, lookups.classes, sign=sign))
    header_tax = txn.get("salesTax", unposted.get("salesTaxAmount"))
    tax = dec(header_tax) * sign if header_tax is not None else tax_total
    allocate_tax(drafts, tax)
    lines = [d.line for d in drafts]
    subtotal_raw = unposted.get("subTotal")
    subtotal = (
        dec(subtotal_raw) * sign
        if subtotal_raw is not None
        else sum((x.line_amount for x in lines), ZERO)
    )
    total = dec(txn.get("total", unposted.get("total"))) * sign
    kind = str(unposted.get("invoiceType") or "").replace(" ", "").lower()
    source_id = invoice_source_id(unposted)
    customer = contact(
        txn.get("company") or unposted.get("company"),
        lookups.companies,
        lookups.contacts,
        account_number=unposted.get("accountNumber") or txn.get("companyAccountNumber"),
    )
    return _event(
        company,
        record_type,
        source_id,
        source_batch_ids=gl_ids(txn.get("glEntryIds")),
        document_number=text(txn.get("documentNumber")) or text(unposted.get("invoiceNumber")),
        reference=text(txn.get("purchaseOrder")) or text(txn.get("memo")),
        date=day(txn.get("documentDate") or unposted.get("invoiceDate")),
        due_date=day(txn.get("dueDate") or unposted.get("dueDate")),
        terms=terms(
            ref_name(txn.get("billingTerms") or unposted.get("billingTerms")),
            txn.get("billingTermsXref"),
            txn.get("dueDays", unposted.get("dueDays")),
        ),
        currency=_currency(txn, unposted),
        contact=customer,
        lines=lines,
        totals=Totals(subtotal=subtotal, tax=tax, total=total),
        subtype=INVOICE_SUBTYPES.get(kind, kind or None),
        attributes=_attrs(
            ar_account=text(txn.get("accountNumber")),
            tax_account=text(txn.get("taxAccountNumber")),
            location=ref_name(unposted.get("location")),
            department=ref_name(unposted.get("department")),
            customer_po=text(txn.get("purchaseOrder")),
            cw_reference=text(txn.get("memo")),
        ),
        source_messages=_mapping_messages(drafts, company, _describe, sales=True),
    )


# --- expenses ------------------------------------------------------------------------------


def member_contact(member_ref: Any, vendor_number: Any, lookups: Lookups) -> Contact | None:
    """The member (employee) an expense bill is owed to, as a supplier contact."""
    ident = ref_id(member_ref)
    if ident is None:
        return None
    member = lookups.members.get(ident, {})
    name = (
        " ".join(x for x in (text(member.get("firstName")), text(member.get("lastName"))) if x)
        or ref_name(member_ref)
        or f"Member {ident}"
    )
    person = Person(name=name, email=text(member.get("officeEmail")))
    return Contact(
        source_id=f"member:{ident}",
        name=name,
        account_number=text(vendor_number) or text(member.get("vendorNumber")),
        primary_contact=person,
        billing_contact=person,
    )


def _level_tax(row: dict[str, Any]) -> tuple[Decimal, str | None]:
    """Tax amount and xref from the six tax-level triples of an unposted row."""
    amount = ZERO
    xref = None
    for level in ("state", "county", "city", "country", "composite", "levelSix"):
        amount += dec(row.get(f"{level}TaxAmount"))
        xref = xref or text(row.get(f"{level}TaxXref"))
    return amount, xref


def expense_event(
    company: CompanyConfig, unposted: dict[str, Any], exp: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An approved expense from its UnpostedExpense row and GLExportExpense."""
    source_id = str(unposted["id"])
    gross = abs(dec(unposted.get("total", exp.get("total"))))
    tax, xref = _level_tax(unposted)
    tax = abs(tax)
    net = gross - tax
    cls = lookups.classes.split(exp.get("glClass"))
    kind = str(unposted.get("classification") or "").replace(" ", "").lower()
    type_name = ref_name(unposted.get("expenseType")) or text(exp.get("description")) or "Expense"
    memo = text(exp.get("memo")) or text(unposted.get("chargeDescription"))
    line = Line(
        description=f"{type_name}: {memo}" if memo else type_name,
        quantity=Decimal(1),
        unit_amount=net,
        line_amount=net,
        gl_account=text(exp.get("accountNumber")),
        item_code=cls["item"],
        tax_code=xref or ref_name(unposted.get("taxCode")),
        tax_amount=tax,
        tracking=_tracking(cls),
        source_line_id=str(exp.get("id") or source_id),
    )
    offset = exp.get("offset") if isinstance(exp.get("offset"), dict) else {}
    ids = gl_ids([exp.get("id") or source_id, *([offset["id"]] if offset.get("id") else [])])
    draft = _Draft(line, ZERO, str(exp.get("glTypeId") or unposted.get("glType") or ""), type_name)
    member = exp.get("member") or unposted.get("member")
    customer = unposted.get("company") or exp.get("company")
    return _event(
        company,
        RecordType.EXPENSE,
        source_id,
        source_batch_ids=ids,
        document_number=f"EXP-{unposted.get('expenseDetailId') or source_id}",
        reference=batch_identifier(company.key, RecordType.EXPENSE, source_id),
        date=day(exp.get("documentDate") or unposted.get("dateExpense")),
        currency=_currency(exp, unposted),
        contact=member_contact(member, exp.get("vendorNumber"), lookups),
        lines=[line],
        totals=Totals(subtotal=net, tax=tax, total=gross),
        subtype=EXPENSE_SUBTYPES.get(kind, kind or None),
        attributes=_attrs(
            ap_account=text(exp.get("apAccountNumber")),
            offset_account=text(offset.get("accountNumber")),
            member=ref_name(member, "identifier", "name"),
            customer=ref_name(customer, "identifier", "name"),
            billable="true" if dec(unposted.get("billableAmount")) else "false",
            payment_method=ref_name(unposted.get("paymentMethod")),
            expense_type=type_name,
        ),
        source_messages=_mapping_messages(
            [draft], company, lambda d: f"expense type '{type_name}'"
        ),
    )


# --- procurement ---------------------------------------------------------------------------


def procurement_gl_ids(entry: dict[str, Any]) -> list[str]:
    """GL entry ids of a purchase or adjustment transaction (lines, freight, tax)."""
    rows: Iterable[dict[str, Any]] = [
        *(entry.get("purchaseDetail") or []),
        *(entry.get("purchaseDetailTax") or []),
        *(entry.get("adjustmentDetail") or []),
    ]
    return gl_ids([r["id"] for r in rows if r.get("id") is not None])


def _purchase_account(d: dict[str, Any]) -> str | None:
    """Where a received line is debited: inventory when tracked, else cost, else the mapping."""
    return (
        text(d.get("inventoryAccountNumber"))
        or text(d.get("costAccountNumber"))
        or text(d.get("accountNumber"))
    )


def purchase_event(
    company: CompanyConfig, unposted: dict[str, Any], ptx: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """A purchase receipt (vendor bill) from its UnpostedProcurement row and purchase transaction."""
    source_id = str(unposted["id"])
    drafts = [
        _line(d, lookups.classes, account=_purchase_account(d), unit=d.get("cost"))
        for d in ptx.get("purchaseDetail") or []
    ]
    tax = sum((dec(t.get("total")) for t in ptx.get("purchaseDetailTax") or []), ZERO)
    allocate_tax(drafts, tax)
    lines = [d.line for d in drafts]
    subtotal = sum((x.line_amount for x in lines), ZERO)
    po = text(ptx.get("documentNumber")) or ref_name(unposted.get("purchaseOrder"))
    slip = text(ptx.get("packingSlip"))
    vendor_invoice = text(ptx.get("vendorInvoiceNumber")) or text(
        unposted.get("vendorInvoiceNumber")
    )
    return _event(
        company,
        RecordType.PROCUREMENT,
        source_id,
        source_batch_ids=procurement_gl_ids(ptx),
        document_number=vendor_invoice or (f"PO {po}/{slip}" if slip else f"PO {po}"),
        reference=batch_identifier(company.key, RecordType.PROCUREMENT, source_id),
        date=day(ptx.get("documentDate") or unposted.get("purchaseDate")),
        terms=terms(
            ref_name(ptx.get("billingTerms") or unposted.get("billingTerms")),
            ptx.get("billingTermsXref"),
            ptx.get("dueDays"),
        ),
        currency=_currency(ptx, unposted),
        contact=contact(
            ptx.get("company") or unposted.get("vendor"),
            lookups.companies,
            lookups.contacts,
            account_number=ptx.get("vendorAccountNumber") or unposted.get("vendorAccountNumber"),
        ),
        lines=lines,
        totals=Totals(subtotal=subtotal, tax=tax, total=dec(ptx.get("total", subtotal + tax))),
        subtype="receipt",
        attributes=_attrs(
            ap_account=text(ptx.get("apAccountNumber")),
            po_number=po,
            packing_slip=slip,
            vendor_invoice_number=vendor_invoice,
            vendor_invoice_date=text(ptx.get("vendorInvoiceDate")),
            unposted_product_id=text(unposted.get("unpostedProductId")),
        ),
        source_messages=_mapping_messages(drafts, company, _describe),
    )


def adjustment_event(
    company: CompanyConfig, unposted: dict[str, Any], adj: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An inventory adjustment (a journal: detail accounts against the header account)."""
    source_id = str(unposted["id"])
    drafts = [
        _line(d, lookups.classes, unit=d.get("cost"), description=text(d.get("description")))
        for d in adj.get("adjustmentDetail") or []
    ]
    lines = [d.line for d in drafts]
    subtotal = sum((x.line_amount for x in lines), ZERO)
    number = ref_name(unposted.get("purchaseOrder")) or text(adj.get("id"))
    return _event(
        company,
        RecordType.PROCUREMENT,
        source_id,
        source_batch_ids=procurement_gl_ids(adj),
        document_number=number,
        reference=batch_identifier(company.key, RecordType.PROCUREMENT, source_id),
        date=day(adj.get("documentDate") or unposted.get("purchaseDate")),
        currency=_currency(adj, unposted),
        lines=lines,
        totals=Totals(subtotal=subtotal, tax=ZERO, total=subtotal),
        subtype=str(unposted.get("procurementType") or "adjustment").lower(),
        attributes=_attrs(
            offset_account=text(adj.get("accountNumber")),
            reason=text(adj.get("adjustmentDescription")) or text(adj.get("memo")),
            unposted_product_id=text(unposted.get("unpostedProductId")),
        ),
        source_messages=_mapping_messages(drafts, company, _describe),
    )
