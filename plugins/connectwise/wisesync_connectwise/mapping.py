"""ConnectWise Accounting Interface rows + GL export -> sealed RecordEvents. Pure, no I/O.

Each builder takes the unposted row, its GL export entry and a :class:`Lookups`
(companies, contacts, members, the GL captions layout loaded once per run) and returns a
sealed :class:`~wisesync.events.models.RecordEvent`, or raises
:class:`~wisesync_connectwise.fields.FieldInvalid` (a value it cannot read) or
:class:`~wisesync_connectwise.amounts.TotalsMismatch` (lines + tax are not the total);
the source holds such a record with its code, never publishing it.

Signs. A GL export is a journal: a document's detail lines are the other side of its
header, so they carry the opposite sign (a positive invoice has negative product and
sales-tax lines; a credit memo's header is negative and its lines positive; purchase
details likewise against the purchase header). Events keep the ledger's convention
(contract C3): amounts are what the ledger document shows, a credit memo or a personal
expense has positive amounts and its ``record_type`` / ``subtype`` says it is a credit.
Every document's lines plus tax equal its header total to the cent, else the record is
held with SOURCE_TOTALS_MISMATCH.

Other conventions: ``Line.gl_account`` is the ledger account resolved from the GL
captions layout (:mod:`.layout`), None when the mapping's account is empty;
``Line.item_code`` is the product id (``glItemId``) or the mapping's Non-Product ID;
``source_batch_ids`` are the GL entry ids to put in the accounting batch; ``reference``
of expenses and procurement is the accounting batch identifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync.config import CompanyConfig
from wisesync.events.models import Line, RecordEvent, RecordType, Totals, Tracking
from wisesync.messages import Message, message
from wisesync.money import ZERO
from wisesync_connectwise.amounts import (
    Rounder,
    TotalsMismatch,
    check_totals,
    places_of,
    priced,
    sign_of,
    unit_of,
)
from wisesync_connectwise.fields import (
    FieldInvalid,
    amount,
    date_of,
    flag,
    gl_ids,
    obj,
    opt_amount,
    ref_id,
    ref_name,
    rows,
    string,
    text,
)
from wisesync_connectwise.layout import GLLayout
from wisesync_connectwise.parties import contact, term_attributes, terms

SOURCE = "connectwise"
#: The published ``glType`` values (GLAccount.glType; connectwise.md section 4).
GL_TYPES = frozenset(
    [
        "AP",
        "AR",
        "EE",
        "EI",
        "EO",
        "IA",
        "IT",
        "P",
        "PF",
        "R",
        "RA",
        "RD",
        "RE",
        "RP",
        "ST",
        "SD",
        "ET",
        "FT",
        "PT",
    ]
)
TAX_TYPES = frozenset({"ST"})
HEADER_TYPES = frozenset({"AR", "AP"})
AUTO_TAX = "AUTOSTAX"
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

# kept importable under its old name for callers of the GL mapping's class split
GLClasses = GLLayout


@dataclass(slots=True)
class Lookups:
    """What a run loaded once: companies, contacts and members by id, the GL layout, and
    the currencies of the export's customers by company id."""

    classes: GLLayout = field(default_factory=GLLayout)
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    customer_currency: dict[int, str] = field(default_factory=dict)


# --- readers shared by the builders --------------------------------------------------------


def gl_type(value: Any, where: str) -> str:
    """A detail row's GL type, upper-case ("" when absent); unknown ones are refused."""
    raw = string(value, where)
    if raw is None:
        return ""
    code = raw.upper()
    if code not in GL_TYPES:
        raise FieldInvalid(
            where, value, f"unknown GL type (published: {', '.join(sorted(GL_TYPES))})"
        )
    return code


def currency_code(*refs: Any) -> str | None:
    """The ISO code of the first currency reference that has one."""
    for ref in refs:
        if isinstance(ref, dict):
            code = (
                text(ref.get("currencyCode")) if isinstance(ref.get("currencyCode"), str) else None
            )
            if code:
                return code.upper()
    return None


def party_currency(ref: Any, lookups: Lookups) -> str | None:
    """A customer's or vendor's currency: the export's customer entry, else the company
    record's ``currency``."""
    ident = ref_id(ref)
    if ident is None:
        return None
    found = lookups.customer_currency.get(ident)
    return found or currency_code(lookups.companies.get(ident, {}).get("currency"))


def required_total(*candidates: tuple[Any, str]) -> Decimal:
    """The first present of (value, field) amounts; FieldInvalid naming the first when none."""
    for value, where in candidates:
        found = opt_amount(value, where)
        if found is not None:
            return found
    raise FieldInvalid(candidates[0][1], None, "missing: the record has no total")


@dataclass(slots=True)
class Draft:
    """A line being built, with what tax allocation and mapping messages need."""

    line: Line
    weight: Decimal
    gl_type: str
    mapping: str


def tracking(cls: dict[str, str | None]) -> Tracking:
    """Tracking from a split ``glClass``."""
    return Tracking(
        department=cls["department"], location=cls["location"], business_class=cls["class"]
    )


def detail_line(
    d: dict[str, Any],
    where: str,
    layout: GLLayout,
    r: Rounder,
    *,
    flip: int,
    unit_field: str,
    account: Any,
    description: str | None = None,
) -> Draft:
    """One document line from a GL export detail row, its amounts times ``flip`` (the
    journal's other side turned into the document's sign), rounded as ConnectWise rounds."""
    cls = layout.split_class(string(d.get("glClass"), f"{where}.glClass"))
    item = obj(d.get("item"), f"{where}.item")
    product = obj(d.get("product"), f"{where}.product")
    item_code = (
        string(d.get("glItemId"), f"{where}.glItemId")
        or text(item.get("identifier"))
        or text(product.get("identifier"))
        or cls["item"]
    )
    quantity = r.unit(amount(d.get("quantity"), f"{where}.quantity") * flip, f"{where}.quantity")
    total = opt_amount(d.get("total"), f"{where}.total")
    if total is None:
        raise FieldInvalid(f"{where}.total", None, "missing: the line has no amount")
    line_amount = r.money(total * flip, f"{where}.total")
    price = opt_amount(d.get(unit_field), f"{where}.{unit_field}")
    unit_amount = _unit(line_amount, quantity, price, r, f"{where}.{unit_field}")
    if not quantity:
        quantity = Decimal(1)
    taxable = flag(d.get("taxableFlag", d.get("taxable")), f"{where}.taxableFlag", True)
    rate = amount(d.get("taxRate"), f"{where}.taxRate") if taxable else ZERO
    line = Line(
        description=description
        or string(d.get("memo"), f"{where}.memo")
        or string(d.get("itemDescription"), f"{where}.itemDescription")
        or string(d.get("description"), f"{where}.description")
        or "",
        quantity=quantity,
        unit_amount=unit_amount,
        line_amount=line_amount,
        gl_account=layout.account_number(string(account, f"{where}.accountNumber")),
        item_code=item_code,
        tax_code=string(d.get("taxCodeXref"), f"{where}.taxCodeXref"),
        tracking=tracking(cls),
        source_line_id=str(d["id"]) if isinstance(d.get("id"), int) else None,
    )
    weight = abs(line_amount) * (rate if rate else Decimal(1)) if taxable else ZERO
    return Draft(line, weight, str(d.get("glTypeId") or ""), text(d.get("description")) or "")


def _unit(
    line_amount: Decimal, quantity: Decimal, price: Decimal | None, r: Rounder, what: str
) -> Decimal:
    """The unit amount: the published unit price (4 decimals) when quantity x price is the
    line amount, else the line amount over the quantity (4 decimals); with no quantity the
    line amount itself."""
    if not quantity:
        return line_amount
    if price is not None:
        signed = -abs(price) if (line_amount < 0) != (quantity < 0) else abs(price)
        if priced(quantity, signed, line_amount, r.places):
            return r.unit(signed, what)
    return unit_of(line_amount, quantity, what)


def allocate_tax(drafts: list[Draft], total_tax: Decimal, places: int) -> None:
    """Spread ``total_tax`` over the lines by weight (taxable lines, by amount x rate), each
    share rounded, the remainder on the heaviest line: the lines add up to it exactly."""
    if not drafts:
        return
    weights = [d.weight for d in drafts]
    if not any(weights):
        weights = [abs(d.line.line_amount) for d in drafts]
    whole = sum(weights, ZERO)
    quantum = Decimal(1).scaleb(-places)
    for d, w in zip(drafts, weights, strict=True):
        d.line.tax_amount = (total_tax * w / whole).quantize(quantum) if whole else ZERO
    rest = total_tax - sum((d.line.tax_amount for d in drafts), ZERO)
    if rest:
        heaviest = max(range(len(drafts)), key=lambda n: weights[n])
        drafts[heaviest].line.tax_amount += rest


def mapping_messages(
    drafts: list[Draft],
    company: CompanyConfig,
    what: Callable[[Draft], str],
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


def describe(d: Draft) -> str:
    """How a line's GL mapping is named in messages."""
    mapping = f"'{d.mapping}'" if d.mapping else "(unnamed)"
    return f"GL mapping {mapping}, glType {d.gl_type or '?'}"


def event(
    company: CompanyConfig, record_type: RecordType, source_id: str, **kw: Any
) -> RecordEvent:
    """A sealed event of this source."""
    return RecordEvent(
        company=company.key,
        source=SOURCE,
        target=company.target_for(record_type),
        record_type=record_type,
        source_id=source_id,
        **kw,
    ).seal()


def attrs(**values: Any) -> dict[str, str]:
    """Event attributes, empty values left out."""
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


# --- invoices and credit memos -------------------------------------------------------------


def enum(value: Any, where: str, known: dict[str, str]) -> str:
    """A published enum value, lower-case without spaces ("" when absent)."""
    if value is None or value == "":
        return ""
    kind = value.replace(" ", "").lower() if isinstance(value, str) else None
    if kind not in known:
        raise FieldInvalid(where, value, f"not one of the published values ({', '.join(known)})")
    return kind


def invoice_type(unposted: dict[str, Any]) -> RecordType:
    """Credit memos are their own record type."""
    kind = unposted.get("invoiceType") or unposted.get("type") or ""
    kind = str(kind).replace(" ", "").lower() if isinstance(kind, str) else ""
    return RecordType.CREDIT_MEMO if kind == "creditmemo" else RecordType.INVOICE


def invoice_source_id(unposted: dict[str, Any]) -> str:
    """The invoice's rec id (``billingLogId``; stable across GL reloads), else the row id."""
    ident = unposted.get("billingLogId")
    if ident is None:
        ident = unposted.get("id")
    return str(ident)


def invoice_event(
    company: CompanyConfig, unposted: dict[str, Any], txn: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An invoice or credit memo from its UnpostedInvoice row and GLExportTransaction."""
    record_type = invoice_type(unposted)
    sign = -1 if record_type is RecordType.CREDIT_MEMO else 1
    currency = obj(txn.get("currency"), "currency") or obj(unposted.get("currency"), "currency")
    r = Rounder(places_of(currency))
    layout = lookups.classes
    drafts: list[Draft] = []
    tax_rows: list[tuple[str, dict[str, Any]]] = []
    for n, d in enumerate(rows(txn.get("detail"), "detail")):
        where = f"detail[{n}]"
        kind = gl_type(d.get("glTypeId"), f"{where}.glTypeId")
        if kind in TAX_TYPES or string(d.get("taxNote"), f"{where}.taxNote") == AUTO_TAX:
            tax_rows.append((where, d))
        elif kind not in HEADER_TYPES:
            drafts.append(
                detail_line(
                    d,
                    where,
                    layout,
                    r,
                    flip=-sign,
                    unit_field="itemPrice",
                    account=d.get("accountNumber"),
                )
            )
    tax = _invoice_tax(txn, unposted, tax_rows, sign, r)
    header = required_total((txn.get("total"), "total"), (unposted.get("total"), "unposted total"))
    sign_of(header, "total", credit=sign < 0)
    total = r.money(header * sign, "total")
    if not drafts:
        drafts = _tax_only(tax_rows, tax, total, layout)
    allocate_tax(drafts, tax, r.places)
    lines = [d.line for d in drafts]
    subtotal = sum((x.line_amount for x in lines), ZERO)
    check_totals(subtotal, tax, total, "invoice total" if sign > 0 else "credit memo total")
    kind = enum(unposted.get("invoiceType"), "invoiceType", INVOICE_SUBTYPES)
    company_ref = txn.get("company") or unposted.get("company")
    po = obj(txn.get("purchaseOrder"), "purchaseOrder")
    customer_po = text(po.get("name")) if isinstance(po.get("name"), str) else None
    memo = string(txn.get("memo"), "memo")
    return event(
        company,
        record_type,
        invoice_source_id(unposted),
        source_batch_ids=gl_ids(string(txn.get("glEntryIds"), "glEntryIds")),
        document_number=string(txn.get("documentNumber"), "documentNumber")
        or string(unposted.get("invoiceNumber"), "invoiceNumber"),
        reference=customer_po or memo,
        date=date_of(txn.get("documentDate"), "documentDate")
        or date_of(unposted.get("invoiceDate"), "invoiceDate"),
        due_date=date_of(txn.get("dueDate"), "dueDate")
        or date_of(unposted.get("dueDate"), "unposted dueDate"),
        terms=terms(
            ref_name(txn.get("billingTerms") or unposted.get("billingTerms")),
            txn.get("billingTermsXref"),
            txn.get("dueDays", unposted.get("dueDays")),
        ),
        currency=currency_code(currency),
        contact=contact(
            company_ref,
            lookups.companies,
            lookups.contacts,
            account_number=text(unposted.get("accountNumber"))
            or text(txn.get("companyAccountNumber")),
        ),
        lines=lines,
        totals=Totals(subtotal=subtotal, tax=tax, total=total),
        subtype=INVOICE_SUBTYPES.get(kind, kind or None),
        attributes=attrs(
            ar_account=layout.account_of(txn, "accountNumber"),
            tax_account=layout.account_of(txn, "taxAccountNumber"),
            location=ref_name(unposted.get("location")),
            department=ref_name(unposted.get("department")),
            customer_po=customer_po,
            cw_reference=memo,
            customer_currency=party_currency(company_ref, lookups),
        )
        | term_attributes(txn.get("billingTermsXref")),
        source_messages=mapping_messages(drafts, company, describe, sales=True) + r.messages,
    )


def _invoice_tax(
    txn: dict[str, Any],
    unposted: dict[str, Any],
    tax_rows: list[tuple[str, dict[str, Any]]],
    sign: int,
    r: Rounder,
) -> Decimal:
    """Sales tax in the document's sign: the ST detail lines (the credit side, so negated),
    else the header's ``salesTax``."""
    if tax_rows:
        found = sum((amount(d.get("total"), f"{w}.total") for w, d in tax_rows), ZERO)
        return r.money(-found * sign, "sales tax lines")
    header = opt_amount(txn.get("salesTax"), "salesTax")
    if header is None:
        header = amount(unposted.get("salesTaxAmount"), "salesTaxAmount")
    return r.money(header * sign, "salesTax")


def _tax_only(
    tax_rows: list[tuple[str, dict[str, Any]]], tax: Decimal, total: Decimal, layout: GLLayout
) -> list[Draft]:
    """The one line of an invoice that has only sales tax (a zero line carrying it).
    An invoice without lines, tax or total has nothing to post."""
    if not tax and not total:
        raise FieldInvalid("detail", [], "no lines, no tax and a zero total: nothing to post")
    if not tax:
        raise TotalsMismatch(ZERO, ZERO, total)
    account = layout.account_number(text(tax_rows[0][1].get("accountNumber"))) if tax_rows else None
    line = Line(
        description="Sales tax",
        quantity=Decimal(1),
        unit_amount=ZERO,
        line_amount=ZERO,
        gl_account=account,
    )
    return [Draft(line, Decimal(1), "ST", "Sales tax")]
