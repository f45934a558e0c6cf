"""RecordEvent -> the QBO entity to create, with every message the record earns.

:func:`plan` is pure: the record, the company's reference data, options and tracking map
in; a :class:`Plan` out (the entity body without its ``CustomerRef``/``VendorRef``, which
is resolved per batch, the total QBO will compute, and the errors and warnings).

QBO's amount rule (error 6070): a line's ``Amount`` must equal
``round(Qty x UnitPrice, 2)``. Every line is planned with the neutral rounding kit
(:mod:`wisesync.rounding`) under :data:`QBO` (Qty and UnitPrice keep 7 decimals, amounts
2), so the Amount sent is always QBO's own product; where the ConnectWise lines then add
up differently a rounding line keeps the total (ROUNDING_APPLIED), and a header total
that still differs gets a capped adjustment line (ADJUSTMENT_APPLIED /
ADJUSTMENT_OVER_CAP), as for Xero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync import rounding
from wisesync.company import CompanyOptions
from wisesync.documents import (
    DocumentPlan,
    adjustment_applied,
    adjustment_over_cap,
    billing_contact_warning,
    correction_account,
    description,
    priced_lines,
    source_total,
)
from wisesync.events.models import RecordEvent
from wisesync.messages import Message, has_errors, message
from wisesync.money import fmt
from wisesync_qbo.documents import JOURNAL, Entity, entity_for
from wisesync_qbo.reference import Account, ReferenceData
from wisesync_qbo.terms import apply_terms
from wisesync_qbo.validate import ResolvedLine, account_problem, check_header, check_line

#: How QBO rounds (qbo.md "Rounding, Amount = Qty x UnitPrice"): Qty and UnitPrice up to 7
#: decimals, amounts and per-line tax 2, half up; negative quantities allowed on lines. A
#: ConnectWise line total off Qty x UnitPrice by at most half a cent per unit (ConnectWise
#: rounded its price to cents) keeps ConnectWise's Qty and UnitPrice: the rounding line
#: takes the difference rather than a re-derived price nobody entered.
QBO = rounding.RoundingRule(
    quantity_dp=7,
    unit_dp=7,
    amount_dp=2,
    negative_quantity=True,
    source_rounding=Decimal("0.005"),
)
DESCRIPTION_MAX = 4000
ROUNDING_ACCOUNT_NAME = "Rounding"


def marker(record: RecordEvent) -> str:
    """What wisesync writes in PrivateNote to recognise its own documents later."""
    return f"wisesync:{record.source_id}"


class Plan(DocumentPlan[Entity]):
    """What one record becomes in QBO: ``kind`` (also ``entity``) is the QBO entity,
    ``expected_total`` the TotalAmt QBO will compute, ``number`` the DocNumber."""

    __slots__ = ()

    @property
    def entity(self) -> Entity:
        """The QBO entity (``kind``)."""
        return self.kind


def _ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value, **({"name": name} if name else {})}


def _description(text: str, index: int, fallback: str, messages: list[Message]) -> str:
    return description(text, index, fallback, messages, limit=DESCRIPTION_MAX, ledger="QuickBooks")


def _terms(
    record: RecordEvent, ref: ReferenceData, body: dict[str, Any], messages: list[Message]
) -> None:
    """DueDate and SalesTermRef from the record's term (:mod:`wisesync_qbo.terms`)."""
    terms = record.terms
    if terms is None:
        if record.due_date is not None:
            body["DueDate"] = record.due_date.isoformat()
        return
    if not apply_terms(record, ref, body):
        messages.append(
            message(
                "TERMS_XREF",
                f"Billing term '{terms.name or '?'}' has no Terms Xref days; QuickBooks' default "
                "terms (the customer's, else the company's) set the due date.",
            )
        )


def _correction_account(
    code: str | None, ref: ReferenceData, what: str, messages: list[Message]
) -> Account | None:
    fallback = ref.account(ROUNDING_ACCOUNT_NAME)
    missing = (
        f"A {what} line is needed but QuickBooks has no '{ROUNDING_ACCOUNT_NAME}' account and "
        "no account is configured for it (rounding_account)."
    )
    default = None if fallback is None else fallback.number or fallback.name
    code = correction_account(
        code, default, messages, lambda c: account_problem(c, ref), what=what, no_default=missing
    )
    return None if code is None else ref.account(code)


def _line(
    entity: Entity,
    amount: Decimal,
    qty: Decimal,
    unit: Decimal,
    desc: str,
    r: ResolvedLine,
    ref: ReferenceData,
) -> dict[str, Any]:
    if entity.sales:
        assert r.item is not None
        detail: dict[str, Any] = {
            "ItemRef": _ref(r.item.id, r.item.name),
            "Qty": qty,
            "UnitPrice": unit,
        }
        kind = "SalesItemLineDetail"
    else:
        assert r.account is not None
        detail = {"AccountRef": _ref(r.account.id, r.account.name)}
        kind = "AccountBasedExpenseLineDetail"
    if r.tax_code:
        detail["TaxCodeRef"] = _ref(r.tax_code)
    if r.klass is not None:
        detail["ClassRef"] = _ref(r.klass.id, r.klass.name)
    return {"Amount": amount + 0, "Description": desc, "DetailType": kind, kind: detail}


def _correction(
    entity: Entity,
    what: str,
    amount: Decimal,
    ref: ReferenceData,
    options: CompanyOptions,
    messages: list[Message],
) -> dict[str, Any] | None:
    """An untaxed rounding or adjustment line (an item on sales forms, an account on bills)."""
    zero = "NON" if ref.us else getattr(ref.zero_tax_code(sales=entity.sales), "id", None)
    resolved = ResolvedLine(-1, tax_code=zero)
    if entity.sales:
        item_name = options.adjustment_item_code
        resolved.item = ref.item(item_name) if item_name else None
        if resolved.item is None or not resolved.item.active:
            messages.append(
                message(
                    "LEDGER_ACCOUNT_MISSING",
                    f"A {what} line is needed but QuickBooks has no active item "
                    f"'{item_name}' (adjustment_item_code) to carry it.",
                )
            )
            return None
    else:
        code = (
            options.rounding_account if what == "rounding" else options.adjustment_purchase_account
        )
        resolved.account = _correction_account(code, ref, what, messages)
        if resolved.account is None:
            return None
    return _line(entity, amount, Decimal("1"), amount, what.capitalize(), resolved, ref)


def _journal(
    record: RecordEvent, ref: ReferenceData, resolved: list[ResolvedLine], messages: list[Message]
) -> Plan:
    lines = []
    for r in resolved:
        src = record.lines[r.index]
        if r.text_only or r.account is None:
            continue
        detail: dict[str, Any] = {
            "PostingType": "Debit" if src.line_amount >= 0 else "Credit",
            "AccountRef": _ref(r.account.id, r.account.name),
        }
        if r.klass is not None:
            detail["ClassRef"] = _ref(r.klass.id, r.klass.name)
        if r.department is not None:
            detail["DepartmentRef"] = _ref(r.department.id, r.department.name)
        desc = _description(
            src.description or "", r.index, f"ConnectWise {record.subtype}", messages
        )
        lines.append(
            {
                "Amount": abs(src.line_amount),
                "Description": desc,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": detail,
            }
        )
    body = {
        "DocNumber": record.document_number.strip(),
        "Line": lines,
        "PrivateNote": _note(record),
    }
    if record.date is not None:
        body["TxnDate"] = record.date.isoformat()
    total = sum((abs(ln.line_amount) for ln in record.lines if ln.line_amount > 0), Decimal("0"))
    return Plan(record, JOURNAL, body, messages, QBO.amount(total))


def _note(record: RecordEvent) -> str:
    reason = record.attributes.get("reason", "")
    text = f"ConnectWise {record.record_type.value} {record.document_number or ''}"
    if record.reference:
        text += f", batch {record.reference}"
    if reason:
        text += f": {reason}"
    return f"{text[:3900]} [{marker(record)}]"


def plan(
    record: RecordEvent, ref: ReferenceData, options: CompanyOptions, tracking_map: dict[str, str]
) -> Plan:
    """Build the QBO entity for ``record`` and every error and warning it earns."""
    entity, sign = entity_for(record)
    messages: list[Message] = check_header(record, ref)
    resolved = [
        check_line(i, line, ref, options, tracking_map, messages, entity=entity)
        for i, line in enumerate(record.lines)
    ]
    if has_errors(messages):
        return Plan(record, entity, None, messages)
    if entity is JOURNAL:
        return _journal(record, ref, resolved, messages)
    body: dict[str, Any] = {"DocNumber": record.document_number.strip()}
    _terms(record, ref, body, messages)
    warning = billing_contact_warning(record)
    if warning is not None:
        messages.append(warning)
    # --- amounts: QBO's line rule, rounding and adjustment ----------------------------
    sd = Decimal(sign)
    source_lines = priced_lines(record, resolved, sign)
    inclusive = record.line_amounts_include_tax
    bal = rounding.balance(
        source_lines,
        source_total(record) * sd,
        QBO,
        inclusive=inclusive,
        cap=options.adjustment_cap,
    )
    extra: list[dict[str, Any]] = []
    if bal.rounding:
        line = _correction(entity, "rounding", bal.rounding, ref, options, messages)
        if line is not None:
            extra.append(line)
            messages.append(
                message(
                    "ROUNDING_APPLIED",
                    f"Rounding line of {fmt(bal.rounding)}: the ConnectWise lines do not add up "
                    "to 2 decimals the way QuickBooks rounds Qty x UnitPrice.",
                )
            )
    if bal.over_cap:
        messages.append(adjustment_over_cap(bal, options.adjustment_cap, "QuickBooks"))
    elif bal.adjustment:
        line = _correction(entity, "adjustment", bal.adjustment, ref, options, messages)
        if line is not None:
            extra.append(line)
            messages.append(adjustment_applied(bal, "QuickBooks"))
    if has_errors(messages):
        return Plan(record, entity, None, messages, bal.ledger_total)
    # --- the body ---------------------------------------------------------------------
    ledger_lines = iter(bal.lines)
    lines: list[dict[str, Any]] = []
    for r in resolved:
        src = record.lines[r.index]
        fallback = (r.item.name if r.item else None) or f"ConnectWise line {r.index + 1}"
        desc = _description(src.description or "", r.index, fallback, messages)
        if r.text_only:
            if entity.sales:
                lines.append(
                    {
                        "Description": desc,
                        "DetailType": "DescriptionOnly",
                        "DescriptionLineDetail": {},
                    }
                )
            continue
        ll = next(ledger_lines)
        lines.append(_line(entity, ll.line_amount, ll.quantity, ll.unit_amount, desc, r, ref))
    lines.extend(extra)
    body["Line"] = lines
    body["PrivateNote"] = _note(record)
    if record.date is not None:
        body["TxnDate"] = record.date.isoformat()
    if ref.us:
        body["TxnTaxDetail"] = {"TotalTax": bal.ledger_tax}  # overrides automated sales tax
    else:
        body["GlobalTaxCalculation"] = "TaxInclusive" if inclusive else "TaxExcluded"
    department = next((r.department for r in resolved if r.department is not None), None)
    if department is not None:
        body["DepartmentRef"] = _ref(department.id, department.name)
    currency = (record.currency or "").upper()
    if ref.multicurrency and currency:
        body["CurrencyRef"] = {"value": currency}
        rate = record.attributes.get("exchange_rate")
        if rate:
            body["ExchangeRate"] = Decimal(rate)
    return Plan(record, entity, body, messages, bal.ledger_total)
