"""RecordEvent -> the Xero document to PUT, with every message the record earns.

:func:`plan` is pure: it takes the record, the tenant's reference data and the
company options and returns a :class:`Plan` (the document body without its
``Contact``, which is resolved per batch, the expected Xero total, and the errors
and warnings). ``validate()`` returns a plan's messages; ``post()`` sends the plans
without errors.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from wisesync.config import CompanyOptions
from wisesync.documents import (
    DocumentPlan,
    adjustment_applied,
    adjustment_over_cap,
    billing_contact_warning,
    correction_account,
    priced_lines,
)
from wisesync.events.models import RecordEvent
from wisesync.messages import Message, has_errors, message
from wisesync.money import fmt
from wisesync.terms import record_due_date, rule_of
from wisesync_xero import rounding
from wisesync_xero.documents import DocKind, document_kind, source_total
from wisesync_xero.journals import journal_narration, plan_journal
from wisesync_xero.reference import Account, ReferenceData
from wisesync_xero.settings import DEFAULT_APPROVAL, Approval
from wisesync_xero.validate import DESCRIPTION_MAX as DESCRIPTION_MAX
from wisesync_xero.validate import (
    ResolvedLine,
    account_problem,
    check_header,
    check_line,
    currency_problem,
    fit_description,
)

REFERENCE_MAX = 255  # Xero's documented limit (reference/xero.md section 3)
RATE_PLACES = Decimal("0.000001")  # CurrencyRate: at most [18].[6] digits
ZERO = Decimal("0")


class Plan(DocumentPlan[DocKind]):
    """What one record becomes in Xero: ``kind`` is the Xero document type, the body has
    no ``Contact`` yet, ``expected_total`` is the total Xero will compute."""

    __slots__ = ()

    @property
    def number(self) -> str:
        """What finds the document again: its number, trimmed (a manual journal has no
        number: its narration)."""
        if self.kind.is_journal:
            return journal_narration(self.record)
        return super().number


def _money(value: Decimal) -> Decimal:
    """No negative zero in request bodies."""
    return value + ZERO if value == 0 else value


def due_date(record: RecordEvent) -> tuple[date | None, bool]:
    """(due date, whether TERMS_XREF applies).

    The billing term decides (:func:`wisesync.terms.record_due_date`: days after the
    document date, or Xero's other term types, see :mod:`wisesync_xero.payment_terms`).
    A term without a usable rule gives None: Xero then applies the contact's or the
    organisation's default payment terms, as it does for any document sent without a
    DueDate. A record without terms (expenses) keeps the source's own due date, if any.
    """
    if record.terms is not None:
        if rule_of(record) is None:
            return None, True
        return record_due_date(record), False
    return record.due_date, False


def _reference(text: str) -> str:
    """The reference as sent: cut to Xero's limit with an ellipsis."""
    text = text.strip()
    if len(text) > REFERENCE_MAX:
        text = text[: REFERENCE_MAX - 1] + "…"
    return text


def _currency_rate(
    record: RecordEvent, ref: ReferenceData, messages: list[Message]
) -> Decimal | None:
    """``CurrencyRate`` from ``attributes["exchange_rate"]`` (contract C2) for a document
    in a foreign currency; None (Xero then uses its day rate) when there is none or the
    document is in the base currency. Passed as ConnectWise exports it: that its
    direction is Xero's (foreign units per base unit) is unconfirmed."""
    raw = str(record.attributes.get("exchange_rate") or "").strip()
    if not raw or ref.is_base_currency(record.currency):
        return None
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or rate <= 0:
        messages.append(
            message(
                "RECORD_INVALID",
                f"Exchange rate {raw!r} is not a positive number; correct it in ConnectWise.",
            )
        )
        return None
    return rate.quantize(RATE_PLACES)


def _correction_account(
    code: str | None, ref: ReferenceData, what: str, messages: list[Message]
) -> Account | None:
    system = ref.rounding_account
    missing = (
        f"A {what} line is needed but Xero has no rounding system account and no account is "
        "configured for it."
    )
    code = correction_account(
        code,
        None if system is None else system.code,
        messages,
        lambda c: account_problem(c, ref),
        what=what,
        no_default=missing,
    )
    return None if code is None else ref.account(code)


def _correction_line(
    description: str,
    amount: Decimal,
    account: Account,
    ref: ReferenceData,
    item_code: str | None,
    messages: list[Message],
    *,
    sales: bool,
) -> dict[str, Any] | None:
    tax_type = ref.zero_tax_type(account, sales=sales)
    if tax_type is None:
        messages.append(
            message(
                "TAX_CODE_INVALID",
                f"Xero has no active 0% tax rate usable on account '{account.code}' for the "
                f"{description.lower()} line.",
            )
        )
        return None
    line: dict[str, Any] = {
        "Description": description,
        "Quantity": Decimal("1.0000"),
        "UnitAmount": _money(rounding.q4(amount)),
        "AccountCode": account.code,
        "TaxType": tax_type,
    }
    if item_code:
        line["ItemCode"] = item_code
    return line


def _status(record: RecordEvent, kind: DocKind, approval: Approval) -> str:
    if kind.type == "ACCREC":
        return approval.invoice_status
    return approval.bill_status


def record_marks(record: RecordEvent, kind: DocKind) -> dict[str, str]:
    """The header fields that tie a document to its record, as sent: ``Reference`` (not
    on ACCPAY bills, whose number plays that part), ``CurrencyCode`` and ``Url``."""
    marks = {}
    reference = _reference(record.reference or "")
    if reference and kind.type != "ACCPAY":
        marks["Reference"] = reference
    if record.currency:
        marks["CurrencyCode"] = record.currency.strip().upper()
    url = record.attributes.get("url", "")
    if url.startswith("https://"):
        marks["Url"] = url
    return marks


def plan(
    record: RecordEvent,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    approval: Approval = DEFAULT_APPROVAL,
) -> Plan:
    """Build the Xero document for ``record`` and every error and warning it earns
    (``approval``: the ``[companies.xero]`` document status and "sent" flag)."""
    kind, sign = document_kind(record)
    if kind.is_journal:
        body, journal_messages, debits = plan_journal(record, ref, options, tracking_map, approval)
        return Plan(record, kind, body, journal_messages, debits)
    messages: list[Message] = check_header(record)
    not_enabled = currency_problem(record, ref)
    if not_enabled is not None:
        messages.append(not_enabled)
    rate = _currency_rate(record, ref, messages)
    resolved: list[ResolvedLine] = [
        check_line(i, line, ref, options, tracking_map, messages, sales=kind.sales)
        for i, line in enumerate(record.lines)
    ]
    # --- due date and contact warnings --------------------------------------------
    due, xref_missing = due_date(record)
    if xref_missing and record.terms is not None:
        messages.append(
            message(
                "TERMS_XREF",
                f"Billing term '{record.terms.name or '?'}' has no Terms Xref days; Xero's "
                "default payment terms (the contact's, else the organisation's) set the due date.",
            )
        )
    warning = billing_contact_warning(record)
    if warning is not None:
        messages.append(warning)
    if has_errors(messages):
        # a line Xero would refuse has no meaningful total: report what to fix first
        return Plan(record, kind, None, messages)
    # --- amounts: what Xero computes, rounding and adjustment -----------------------
    sd = Decimal(sign)
    source_lines = priced_lines(record, resolved, sign)
    total = source_total(record) * sd
    bal = rounding.balance(
        source_lines,
        total,
        inclusive=record.line_amounts_include_tax,
        cap=options.adjustment_cap,
    )
    sales = kind.sales
    extra_lines: list[dict[str, Any]] = []
    if bal.rounding:
        account = _correction_account(options.rounding_account, ref, "rounding", messages)
        if account is not None:
            line = _correction_line(
                "Rounding", bal.rounding, account, ref, None, messages, sales=sales
            )
            if line is not None:
                extra_lines.append(line)
                messages.append(
                    message(
                        "ROUNDING_APPLIED",
                        f"Rounding line of {fmt(bal.rounding)} on account {account.code}: "
                        "the ConnectWise lines do not add up to 2 decimals the way Xero "
                        "rounds them.",
                    )
                )
    if bal.over_cap:
        messages.append(adjustment_over_cap(bal, options.adjustment_cap, "Xero"))
    elif bal.adjustment:
        code = options.adjustment_sales_account if sales else options.adjustment_purchase_account
        account = _correction_account(code, ref, "adjustment", messages)
        if account is not None:
            item = ref.item(options.adjustment_item_code) if options.adjustment_item_code else None
            line = _correction_line(
                "Adjustment",
                bal.adjustment,
                account,
                ref,
                item.code if item is not None else None,
                messages,
                sales=sales,
            )
            if line is not None:
                extra_lines.append(line)
                messages.append(adjustment_applied(bal, "Xero"))
    if has_errors(messages):
        return Plan(record, kind, None, messages, bal.ledger_total)
    # --- the body ---------------------------------------------------------------------
    ledger_lines = iter(bal.lines)
    items: list[dict[str, Any]] = []
    for r in resolved:
        src = record.lines[r.index]
        fallback = r.item_code or f"ConnectWise line {r.index + 1}"
        desc = fit_description(src.description or "", r.index, fallback, messages)
        if r.text_only:
            items.append({"Description": desc})
            continue
        ll = next(ledger_lines)
        line: dict[str, Any] = {
            "Description": desc,
            "Quantity": _money(ll.quantity),
            "UnitAmount": _money(ll.unit_amount),
            "AccountCode": r.account.code if r.account else src.gl_account,
        }
        if r.item_code:
            line["ItemCode"] = r.item_code
        if r.tax_type:
            line["TaxType"] = r.tax_type
        if r.tracking:
            line["Tracking"] = r.tracking
        items.append(line)
    items.extend(extra_lines)
    body: dict[str, Any] = {
        "Type": kind.type,
        kind.number_field: record.document_number.strip()[:255],
        "Status": _status(record, kind, approval),
        "LineAmountTypes": "Inclusive" if record.line_amounts_include_tax else "Exclusive",
        "LineItems": items,
    }
    if record.date is not None:
        body["Date"] = record.date.isoformat()
    if due is not None:
        body["DueDate"] = due.isoformat()
    marks = record_marks(record, kind)
    if "Reference" in marks and marks["Reference"] != (record.reference or "").strip():
        messages.append(
            message(
                "REFERENCE_TRUNCATED",
                f"Reference of {len(record.reference.strip())} characters cut to Xero's "
                f"{REFERENCE_MAX}.",
            )
        )
    body.update(marks)
    if "CurrencyCode" in marks and rate is not None:
        body["CurrencyRate"] = rate
    if kind.type == "ACCREC" and approval.mark_sent and body["Status"] == "AUTHORISED":
        body["SentToContact"] = True
    return Plan(record, kind, body, messages, bal.ledger_total)
