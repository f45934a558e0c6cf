"""Procurement: purchase receipts (vendor bills), inventory adjustments and inventory
transfers, from UnpostedProcurement rows and their GL export entries. Pure, no I/O.

Purchase details are the other side of the purchase header (a positive receipt has
negative detail quantities and totals); on them ``cost`` is the extended cost and
``itemCost`` the unit cost (ConnectWise's GL export sample, zynksoftware/Zynk-Workflow:
quantity -50, itemCost 0.25, cost 12.5, total -12.5 under a 12.5 header).

Adjustments and transfers are journals (contract C1): signed lines, positive = debit,
that sum to zero; the balancing line is the header / offset account. An adjustment
detail's ``total`` is taken as the inventory value it adds (negative = stock written
off) and is debited to its inventory account; a transfer's ``total`` is debited to its
inventory account and its ``offset`` is the other side (unconfirmed: ConnectWise does
not document the sign of either; an offset written with the same sign as the transfer
is read as its other side).

Matching an unposted row to its export entry uses the fields both publish: purchase
details' GL entry ``id`` = the row ``id``; an adjustment's or transfer's ``id`` = the
row's ``unpostedProductId`` (else its ``id``, else the purchase order name), a
transfer's ``transferId`` = the row ``id``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync.config import CompanyConfig
from wisesync.events.models import Line, RecordEvent, RecordType, Totals
from wisesync.money import ZERO
from wisesync_connectwise.acknowledge import batch_identifier
from wisesync_connectwise.amounts import (
    Rounder,
    TotalsMismatch,
    check_totals,
    places_of,
    priced,
    unit_of,
)
from wisesync_connectwise.fields import (
    FieldInvalid,
    amount,
    date_of,
    gl_ids,
    obj,
    opt_amount,
    ref_name,
    rows,
    string,
    text,
)
from wisesync_connectwise.mapping import (
    Draft,
    Lookups,
    allocate_tax,
    attrs,
    currency_code,
    describe,
    detail_line,
    event,
    gl_type,
    mapping_messages,
    party_currency,
    required_total,
    tracking,
)
from wisesync_connectwise.parties import contact, term_attributes, terms

FREIGHT_TYPE = "PF"


def procurement_gl_ids(entry: dict[str, Any]) -> list[str]:
    """GL entry ids of a purchase transaction (its lines, freight and tax rows)."""
    parts = [entry.get(key) for key in ("purchaseDetail", "purchaseDetailTax")]
    found = [r.get("id") for p in parts if isinstance(p, list) for r in p if isinstance(r, dict)]
    return gl_ids([i for i in found if isinstance(i, int) and not isinstance(i, bool)])


def match_keys(unposted: dict[str, Any]) -> list[str]:
    """The strings an adjustment or transfer entry of this row may carry as its ``id``."""
    po = unposted.get("purchaseOrder")
    keys = [
        text(unposted.get("unpostedProductId"))
        if isinstance(unposted.get("unpostedProductId"), str)
        else None,
        str(unposted.get("id")) if unposted.get("id") is not None else None,
        text(po.get("name")) if isinstance(po, dict) and isinstance(po.get("name"), str) else None,
    ]
    return [k for k in keys if k]


def _purchase_account(d: dict[str, Any], where: str) -> Any:
    """Where a received line is debited: inventory when tracked, else cost, else the mapping."""
    for key in ("inventoryAccountNumber", "costAccountNumber", "accountNumber"):
        found = string(d.get(key), f"{where}.{key}")
        if found:
            return found
    return None


def purchase_event(
    company: CompanyConfig, unposted: dict[str, Any], ptx: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """A purchase receipt (vendor bill) from its UnpostedProcurement row and purchase
    transaction: lines and freight from the details, tax from the detail tax rows."""
    source_id = str(unposted["id"])
    currency = obj(ptx.get("currency"), "currency") or obj(unposted.get("currency"), "currency")
    r = Rounder(places_of(currency))
    layout = lookups.classes
    drafts: list[Draft] = []
    freight_in_lines = False
    for n, d in enumerate(rows(ptx.get("purchaseDetail"), "purchaseDetail")):
        where = f"purchaseDetail[{n}]"
        freight_in_lines |= gl_type(d.get("glTypeId"), f"{where}.glTypeId") == FREIGHT_TYPE
        drafts.append(
            detail_line(
                d,
                where,
                layout,
                r,
                flip=-1,
                unit_field="itemCost",
                account=_purchase_account(d, where),
            )
        )
    tax = ZERO
    for n, t in enumerate(rows(ptx.get("purchaseDetailTax"), "purchaseDetailTax")):
        tax -= amount(t.get("total"), f"purchaseDetailTax[{n}].total")
    tax = r.money(tax, "purchase tax")
    total = r.money(
        required_total((ptx.get("total"), "total"), (unposted.get("total"), "unposted total")),
        "total",
    )
    lines_sum = sum((d.line.line_amount for d in drafts), ZERO)
    freight = r.money(amount(ptx.get("freightAmount"), "freightAmount"), "freightAmount")
    if freight and not freight_in_lines and lines_sum + tax + freight == total:
        # freight on the header only (no PF detail): its own line; the account comes from
        # the PO freight mapping, which the export does not name here (GL_MAPPING_MISSING)
        line = Line("Freight", Decimal(1), freight, freight)
        drafts.append(Draft(line, ZERO, FREIGHT_TYPE, "PO freight"))
        lines_sum += freight
    if not drafts:
        raise FieldInvalid("purchaseDetail", ptx.get("purchaseDetail"), "the receipt has no lines")
    allocate_tax(drafts, tax, r.places)
    check_totals(lines_sum, tax, total, "purchase total")
    po = string(ptx.get("documentNumber"), "documentNumber") or ref_name(
        unposted.get("purchaseOrder")
    )
    slip = string(ptx.get("packingSlip"), "packingSlip")
    vendor_invoice = string(ptx.get("vendorInvoiceNumber"), "vendorInvoiceNumber") or string(
        unposted.get("vendorInvoiceNumber"), "unposted vendorInvoiceNumber"
    )
    return event(
        company,
        RecordType.PROCUREMENT,
        source_id,
        source_batch_ids=procurement_gl_ids(ptx),
        document_number=vendor_invoice or (f"PO {po}/{slip}" if slip else f"PO {po}"),
        reference=batch_identifier(company.key, RecordType.PROCUREMENT, source_id),
        date=date_of(ptx.get("documentDate"), "documentDate")
        or date_of(unposted.get("purchaseDate"), "purchaseDate"),
        terms=terms(
            ref_name(ptx.get("billingTerms") or unposted.get("billingTerms")),
            ptx.get("billingTermsXref"),
            ptx.get("dueDays"),
        ),
        currency=currency_code(currency),
        contact=contact(
            ptx.get("company") or unposted.get("vendor"),
            lookups.companies,
            lookups.contacts,
            account_number=text(ptx.get("vendorAccountNumber"))
            or text(unposted.get("vendorAccountNumber")),
        ),
        lines=[d.line for d in drafts],
        totals=Totals(subtotal=lines_sum, tax=tax, total=total),
        subtype="receipt",
        attributes=attrs(
            ap_account=layout.account_of(ptx, "apAccountNumber"),
            po_number=po,
            packing_slip=slip,
            vendor_invoice_number=vendor_invoice,
            vendor_invoice_date=text(ptx.get("vendorInvoiceDate")),
            unposted_product_id=text(unposted.get("unpostedProductId")),
            customer_currency=party_currency(ptx.get("company") or unposted.get("vendor"), lookups),
        )
        | term_attributes(ptx.get("billingTermsXref")),
        source_messages=mapping_messages(drafts, company, describe) + r.messages,
    )


# --- journals: adjustments and transfers (contract C1) -----------------------------------


def _stock(d: dict[str, Any], where: str, r: Rounder) -> tuple[Decimal, str | None, str | None]:
    """An adjustment detail's or transfer's value (required), inventory account, item."""
    value = r.money(required_total((d.get("total"), f"{where}.total")), f"{where}.total")
    account = string(d.get("inventoryAccountNumber"), f"{where}.inventoryAccountNumber") or (
        string(d.get("accountNumber"), f"{where}.accountNumber")
    )
    return value, account, ref_name(obj(d.get("item"), f"{where}.item"), "identifier", "name")


def _journal_line(
    description: str,
    quantity: Decimal,
    value: Decimal,
    account: str | None,
    cls: dict[str, str | None],
    r: Rounder,
    where: str,
    unit_cost: Decimal | None = None,
) -> Draft:
    """One signed journal line (positive = debit): quantity as exported (4 dp), unit cost
    at 4 dp."""
    quantity = r.unit(quantity, f"{where}.quantity")
    if unit_cost is not None and quantity and priced(quantity, unit_cost, value, r.places):
        unit = r.unit(unit_cost, f"{where}.cost")
    elif quantity:
        unit = unit_of(value, quantity, f"{where}.quantity")
    else:
        quantity, unit = Decimal(1), value
    line = Line(description, quantity, unit, value, gl_account=account, tracking=tracking(cls))
    return Draft(line, ZERO, "IA", description)


def _journal_event(
    company: CompanyConfig,
    unposted: dict[str, Any],
    subtype: str,
    drafts: list[Draft],
    r: Rounder,
    **kw: Any,
) -> RecordEvent:
    net = sum((d.line.line_amount for d in drafts), ZERO)
    if net:
        raise TotalsMismatch(net, ZERO, ZERO, f"{subtype} balance (debits - credits)")
    debits = sum((d.line.line_amount for d in drafts if d.line.line_amount > 0), ZERO)
    source_id = str(unposted["id"])
    # The published adjustment/transfer parts carry no GL entry ids (only a transfer's
    # offset has one); the unposted procurement row's id is its GL entry id, as for
    # purchases, whose detail ids are the row ids (unconfirmed for journals).
    batch_ids = gl_ids([source_id, *kw.pop("source_batch_ids", [])])
    return event(
        company,
        RecordType.PROCUREMENT,
        source_id,
        source_batch_ids=batch_ids,
        reference=batch_identifier(company.key, RecordType.PROCUREMENT, source_id),
        lines=[d.line for d in drafts],
        totals=Totals(subtotal=debits, tax=ZERO, total=debits),
        subtype=subtype,
        source_messages=mapping_messages(drafts, company, describe) + r.messages,
        **kw,
    )


def _offset_ids(transfers: list[dict[str, Any]]) -> list[str]:
    found = [t.get("offset", {}).get("id") for t in transfers if isinstance(t.get("offset"), dict)]
    return gl_ids([i for i in found if isinstance(i, int) and not isinstance(i, bool)])


def adjustment_event(
    company: CompanyConfig, unposted: dict[str, Any], adj: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An inventory adjustment: each detail's value on its inventory account, balanced on
    the detail's ``accountNumber`` (the Inventory Adjustment GL mapping of the detail)
    when it names another account, else on the header ``accountNumber``.

    Unconfirmed: ConnectWise does not document which account the header names; the
    sandbox's export (and a GL mapping per adjustment line) put the inventory account
    there, so balancing on it alone would move value from an account to itself.
    """
    currency = obj(unposted.get("currency"), "currency")
    r = Rounder(places_of(currency))
    layout = lookups.classes
    drafts: list[Draft] = []
    details = rows(adj.get("adjustmentDetail"), "adjustmentDetail")
    if not details:
        raise FieldInvalid("adjustmentDetail", adj.get("adjustmentDetail"), "no lines")
    header = layout.account_of(adj, "accountNumber")
    balances: dict[str | None, Decimal] = {}
    for n, d in enumerate(details):
        where = f"adjustmentDetail[{n}]"
        value, account, item = _stock(d, where, r)
        stock = layout.account_number(account)
        drafts.append(
            _journal_line(
                string(d.get("description"), f"{where}.description") or item or "Adjustment",
                amount(d.get("quantity"), f"{where}.quantity"),
                value,
                stock,
                layout.split_class(string(d.get("glClass"), f"{where}.glClass")),
                r,
                where,
                opt_amount(d.get("cost"), f"{where}.cost"),
            )
        )
        own = layout.account_of(d, "accountNumber", where)
        other = own if own and own != stock else header
        balances[other] = balances.get(other, ZERO) - drafts[-1].line.line_amount
    reason = string(adj.get("adjustmentDescription"), "adjustmentDescription") or string(
        adj.get("memo"), "memo"
    )
    cls = layout.split_class(string(adj.get("glClass"), "glClass"))
    for offset, balance in balances.items():
        drafts.append(
            _journal_line(
                reason or "Inventory adjustment", Decimal(1), balance, offset, cls, r, "header"
            )
        )
    offset = next(iter(balances), header)
    number = ref_name(unposted.get("purchaseOrder")) or string(adj.get("id"), "id")
    return _journal_event(
        company,
        unposted,
        "adjustment",
        drafts,
        r,
        document_number=number,
        date=date_of(adj.get("documentDate"), "documentDate")
        or date_of(unposted.get("purchaseDate"), "purchaseDate"),
        currency=currency_code(currency),
        attributes=attrs(
            offset_account=offset,
            reason=reason,
            unposted_product_id=text(unposted.get("unpostedProductId")),
        ),
    )


def transfer_event(
    company: CompanyConfig,
    unposted: dict[str, Any],
    transfers: list[dict[str, Any]],
    lookups: Lookups,
) -> RecordEvent:
    """An inventory transfer (one export entry per item moved): each entry's value on its
    inventory account against its offset account."""
    currency = obj(unposted.get("currency"), "currency")
    r = Rounder(places_of(currency))
    layout = lookups.classes
    drafts: list[Draft] = []
    for n, t in enumerate(transfers):
        where = f"inventoryTransfers[{n}]"
        value, account, item = _stock(t, where, r)
        text_ = string(t.get("description"), f"{where}.description") or item or "Transfer"
        cls = layout.split_class(string(t.get("glClass"), f"{where}.glClass"))
        drafts.append(
            _journal_line(
                text_,
                amount(t.get("quantity"), f"{where}.quantity"),
                value,
                layout.account_number(account),
                cls,
                r,
                where,
            )
        )
        off = obj(t.get("offset"), f"{where}.offset")
        if not off:
            raise FieldInvalid(f"{where}.offset", None, "missing: the transfer has no other side")
        other = r.money(amount(off.get("total"), f"{where}.offset.total"), f"{where}.offset.total")
        if other == value:
            other = -value  # written with the transfer's own sign (unconfirmed)
        drafts.append(
            _journal_line(
                string(off.get("description"), f"{where}.offset.description") or text_,
                Decimal(1),
                other,
                layout.account_of(off, "accountNumber", f"{where}.offset"),
                layout.split_class(string(off.get("glClass"), f"{where}.offset.glClass")),
                r,
                f"{where}.offset",
            )
        )
    first = transfers[0]
    number = string(first.get("id"), "id") or ref_name(unposted.get("purchaseOrder"))
    return _journal_event(
        company,
        unposted,
        "transfer",
        drafts,
        r,
        source_batch_ids=_offset_ids(transfers),
        document_number=number,
        date=date_of(first.get("documentDate"), "documentDate")
        or date_of(unposted.get("purchaseDate"), "purchaseDate"),
        currency=currency_code(obj(first.get("currency"), "currency"), currency),
        attributes=attrs(
            reason=string(first.get("memo"), "memo"),
            transfer_id=first.get("transferId"),
            unposted_product_id=text(unposted.get("unpostedProductId")),
        ),
    )
