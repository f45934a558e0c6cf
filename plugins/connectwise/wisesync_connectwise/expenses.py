"""Expenses: as expenses (``GLExport.expenses``, one per unposted expense) and as expense
bills (``GLExport.expenseBills``, when the company transfers expenses as bills: one bill
per member, its detail rows listing the expense ids they cover). Pure, no I/O.

A bill is one document: its event carries the lowest expense id it covers as its source
id and every covered id in ``source_batch_ids``; the other covered expenses are reported
SOURCE_RECORD_COMBINED (by the source), so none is silently left out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync.config import CompanyConfig
from wisesync.events.models import Contact, Line, Person, RecordEvent, RecordType, Totals
from wisesync.money import ZERO
from wisesync_connectwise.acknowledge import batch_identifier
from wisesync_connectwise.amounts import Rounder, TotalsMismatch, places_of
from wisesync_connectwise.fields import (
    FieldInvalid,
    amount,
    date_of,
    gl_ids,
    int_id,
    obj,
    ref_id,
    ref_name,
    rows,
    string,
    text,
)
from wisesync_connectwise.mapping import (
    EXPENSE_SUBTYPES,
    Draft,
    Lookups,
    attrs,
    currency_code,
    enum,
    event,
    mapping_messages,
    required_total,
    tracking,
)


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
    total = ZERO
    xref = None
    for level in ("state", "county", "city", "country", "composite", "levelSix"):
        total += amount(row.get(f"{level}TaxAmount"), f"{level}TaxAmount")
        xref = xref or string(row.get(f"{level}TaxXref"), f"{level}TaxXref")
    return total, xref


def expense_event(
    company: CompanyConfig, unposted: dict[str, Any], exp: dict[str, Any], lookups: Lookups
) -> RecordEvent:
    """An approved expense from its UnpostedExpense row and GLExportExpense."""
    source_id = str(unposted["id"])
    currency = obj(exp.get("currency"), "currency") or obj(unposted.get("currency"), "currency")
    r = Rounder(places_of(currency))
    gross = r.money(
        abs(required_total((unposted.get("total"), "total"), (exp.get("total"), "export total"))),
        "total",
    )
    tax, xref = _level_tax(unposted)
    tax = r.money(abs(tax), "tax")
    net = gross - tax
    layout = lookups.classes
    cls = layout.split_class(string(exp.get("glClass"), "glClass"))
    kind = enum(unposted.get("classification"), "classification", EXPENSE_SUBTYPES)
    type_name = ref_name(unposted.get("expenseType")) or text(exp.get("description")) or "Expense"
    memo = string(exp.get("memo"), "memo") or string(
        unposted.get("chargeDescription"), "chargeDescription"
    )
    line = Line(
        description=f"{type_name}: {memo}" if memo else type_name,
        quantity=Decimal(1),
        unit_amount=net,
        line_amount=net,
        gl_account=layout.account_of(exp, "accountNumber"),
        item_code=cls["item"],
        tax_code=xref or ref_name(unposted.get("taxCode")),
        tax_amount=tax,
        tracking=tracking(cls),
        source_line_id=str(exp.get("id") or source_id),
    )
    offset = obj(exp.get("offset"), "offset")
    ids = gl_ids([exp.get("id") or source_id, *([offset["id"]] if offset.get("id") else [])])
    draft = Draft(line, ZERO, str(exp.get("glTypeId") or unposted.get("glType") or ""), type_name)
    member = exp.get("member") or unposted.get("member")
    customer = unposted.get("company") or exp.get("company")
    billable = amount(unposted.get("billableAmount"), "billableAmount")
    return event(
        company,
        RecordType.EXPENSE,
        source_id,
        source_batch_ids=ids,
        document_number=f"EXP-{unposted.get('expenseDetailId') or source_id}",
        reference=batch_identifier(company.key, RecordType.EXPENSE, source_id),
        date=date_of(exp.get("documentDate"), "documentDate")
        or date_of(unposted.get("dateExpense"), "dateExpense"),
        currency=currency_code(currency),
        contact=member_contact(member, exp.get("vendorNumber"), lookups),
        lines=[line],
        totals=Totals(subtotal=net, tax=tax, total=gross),
        subtype=EXPENSE_SUBTYPES.get(kind, kind or None),
        attributes=attrs(
            ap_account=layout.account_of(exp, "apAccountNumber"),
            offset_account=layout.account_of(offset, "accountNumber", "offset"),
            member=ref_name(member, "identifier", "name"),
            customer=ref_name(customer, "identifier", "name"),
            billable="true" if billable else "false",
            payment_method=ref_name(unposted.get("paymentMethod")),
            expense_type=type_name,
        ),
        source_messages=mapping_messages([draft], company, lambda d: f"expense type '{type_name}'")
        + r.messages,
    )


def bill_expense_ids(bill: dict[str, Any]) -> list[int]:
    """The expense ids an expense bill covers (``detail[].id`` lists), in order, unique."""
    seen: dict[int, None] = {}
    for n, d in enumerate(rows(bill.get("detail"), "detail")):
        ids = d.get("id")
        if not isinstance(ids, list):
            raise FieldInvalid(f"detail[{n}].id", ids, "expected the list of expense ids")
        for m, ident in enumerate(ids):
            seen.setdefault(int_id(ident, f"detail[{n}].id[{m}]"), None)
    return list(seen)


def _covered_tax(
    d: dict[str, Any], unposted: dict[int, dict[str, Any]], r: Rounder, where: str
) -> tuple[Decimal, str | None]:
    """The tax inside a bill detail's total and its xref: the published bill detail has no
    tax fields, so they are read from the UnpostedExpense rows the detail covers (each
    row's six tax levels, as for an expense). Nothing known: no tax, no xref."""
    tax, xref = ZERO, None
    for ident in d.get("id") or []:
        row = unposted.get(ident) if isinstance(ident, int) else None
        if row is not None:
            level, code = _level_tax(row)
            tax += abs(level)
            xref = xref or code
    return r.money(tax, f"{where} tax"), xref


def expense_bill_event(
    company: CompanyConfig,
    source_id: str,
    bill: dict[str, Any],
    lookups: Lookups,
    unposted: dict[int, dict[str, Any]] | None = None,
) -> RecordEvent:
    """One expense bill (GLExportExpenseBill) as one EXPENSE document owed to its member.

    The detail rows are the other side of the bill's AP header. Which sign they carry
    against the header is not published for bills (unconfirmed), so the orientation whose
    lines add up to the header total is taken; when neither does, SOURCE_TOTALS_MISMATCH.
    A detail's total is what the member paid, tax included: the tax of the expenses it
    covers (``unposted``, by expense id) is split out of it, so the ledger neither loses
    the tax nor adds it a second time.
    """
    currency = obj(bill.get("currency"), "currency")
    r = Rounder(places_of(currency))
    total = r.money(required_total((bill.get("total"), "total")), "total")
    layout = lookups.classes
    cls = layout.split_class(string(bill.get("glClass"), "glClass"))
    covered = bill_expense_ids(bill)
    if not covered:
        raise FieldInvalid("detail", bill.get("detail"), "the bill lists no expense ids")
    raw: list[tuple[dict[str, Any], Decimal, str]] = []
    for n, d in enumerate(rows(bill.get("detail"), "detail")):
        where = f"detail[{n}]"
        raw.append((d, r.money(amount(d.get("total"), f"{where}.total"), f"{where}.total"), where))
    found = sum((a for _, a, _ in raw), ZERO)
    if -found == total:
        flip = -1
    elif found == total:
        flip = 1
    else:
        raise TotalsMismatch(-found, ZERO, total, "expense bill total")
    drafts = []
    for d, value, where in raw:
        klass = ref_name(d.get("expenseClass"))
        memo = string(d.get("memo"), f"{where}.memo")
        tax, xref = _covered_tax(d, unposted or {}, r, where)
        net = value * flip - tax
        line = Line(
            description=" - ".join(x for x in (klass, memo) if x) or "Expense",
            quantity=Decimal(1),
            unit_amount=net,
            line_amount=net,
            gl_account=layout.account_of(d, "accountNumber", where),
            item_code=cls["item"],
            tax_code=xref,
            tax_amount=tax,
            tracking=tracking(cls),
            source_line_id=",".join(str(i) for i in d.get("id") or []) or None,
        )
        drafts.append(Draft(line, ZERO, str(d.get("glTypeId") or ""), klass or "expense"))
    taxes = [d.line.tax_amount for d in drafts]
    member = bill.get("member")
    number = string(bill.get("documentNumber"), "documentNumber")
    return event(
        company,
        RecordType.EXPENSE,
        source_id,
        source_batch_ids=gl_ids([bill.get("id"), *covered] if bill.get("id") else covered),
        document_number=number or f"EXP-{source_id}",
        reference=batch_identifier(company.key, RecordType.EXPENSE, source_id),
        date=date_of(bill.get("documentDate"), "documentDate"),
        currency=currency_code(currency),
        contact=member_contact(member, bill.get("vendorNumber"), lookups),
        lines=[d.line for d in drafts],
        totals=Totals(subtotal=total - sum(taxes), tax=sum(taxes), total=total),
        subtype="reimbursable",
        attributes=attrs(
            ap_account=layout.account_of(bill, "apAccountNumber"),
            member=ref_name(member, "identifier", "name"),
            expense_bill="true",
            expense_ids=",".join(str(i) for i in covered),
        ),
        source_messages=mapping_messages(
            drafts, company, lambda d: f"expense bill line '{d.mapping}'"
        )
        + r.messages,
    )
