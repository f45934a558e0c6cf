"""Inventory adjustments and transfers (contract C1) -> Xero manual journals.

A ConnectWise inventory adjustment or transfer is a journal: its lines carry a GL
account and a signed amount (debit +, credit -) that sum to zero. Xero takes it as a
``ManualJournal`` (reference/xero.md; Xero's manual-journals page): ``Narration`` and
at least two ``JournalLines`` are mandatory, each line has ``AccountCode`` and
``LineAmount`` (debits positive, credits negative), bank accounts and the system
accounts (receivables, payables, retained earnings) are refused, and there is no
``CurrencyCode``: a manual journal is in the organisation's base currency.

Xero manual journals have no number. The narration is what finds one again after a
crash (``where=Narration=="..."`` is the optimised filter Xero documents), so it is
built only from the record: ``ConnectWise inventory <subtype> <document number>``
plus the adjustment reason when there is one. :func:`journal_narration` is the one
place that says how.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from wisesync.config import CompanyOptions
from wisesync.documents import missing_gl_account
from wisesync.events.models import RecordEvent
from wisesync.messages import Message, has_errors, message
from wisesync.money import fmt
from wisesync_xero.documents import MANUAL_JOURNAL
from wisesync_xero.reference import ReferenceData
from wisesync_xero.settings import DEFAULT_APPROVAL, Approval
from wisesync_xero.validate import (
    account_problem,
    fit_description,
    line_tracking,
)

ZERO = Decimal("0")
CENT = Decimal("0.01")
REASON_MAX = 200  # of the narration; Xero documents no limit, kept short (unconfirmed)
#: System accounts Xero refuses on manual journals ("accounts receivable, accounts
#: payable & retained earnings"); bank accounts are refused by :func:`account_problem`.
RESERVED_SYSTEM_ACCOUNTS = frozenset({"DEBTORS", "CREDITORS", "RETAINEDEARNINGS"})


def journal_narration(record: RecordEvent) -> str:
    """The narration of the journal for ``record``: how it is found again in Xero."""
    kind = (record.subtype or "adjustment").strip().lower()
    text = f"ConnectWise inventory {kind} {(record.document_number or '').strip()}"
    reason = " ".join(str(record.attributes.get("reason") or "").split())
    if reason:
        text += f": {reason[:REASON_MAX]}"
    return text


_NARRATION = re.compile(r"^ConnectWise inventory \S+ ([^:\s]+)")


def narration_number(narration: str | None) -> str | None:
    """The record's document number a narration written by :func:`journal_narration`
    names (None for a journal this target did not write)."""
    found = _NARRATION.match(narration or "")
    return found.group(1) if found else None


def debit_total(lines: list[dict[str, Any]] | Any) -> Decimal:
    """The sum of the positive (debit) ``LineAmount`` of journal lines."""
    total = ZERO
    for line in lines or []:
        if isinstance(line, dict) and line.get("LineAmount") is not None:
            amount = Decimal(str(line["LineAmount"]))
            if amount > 0:
                total += amount
    return total


def _check(record: RecordEvent, ref: ReferenceData) -> list[Message]:
    out: list[Message] = []
    label = f"ConnectWise inventory {record.subtype or 'adjustment'} {record.document_number}"
    if not (record.document_number or "").strip():
        out.append(
            message(
                "RECORD_INVALID",
                "The inventory record has no identifier, so its journal could not be found "
                "again in Xero.",
            )
        )
    if len(record.lines) < 2:
        out.append(
            message(
                "RECORD_INVALID",
                f"{label} has {len(record.lines)} line(s); a Xero manual journal needs at "
                "least two (the extractor adds the balancing line).",
            )
        )
    if not ref.is_base_currency(record.currency):
        out.append(
            message(
                "RECORD_INVALID",
                f"{label} is in {record.currency}; Xero manual journals are in the base "
                f"currency ({ref.base_currency}) only. Enter it in Xero by hand.",
            )
        )
    return out


def _line(
    index: int,
    record: RecordEvent,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    messages: list[Message],
) -> dict[str, Any] | None:
    src = record.lines[index]
    code = (src.gl_account or "").strip()
    missing = missing_gl_account(index, src)
    if missing is not None:
        messages.append(missing)
        return None
    problem = account_problem(code, ref, line=index)
    account = ref.account(code)
    if (
        problem is None
        and account is not None
        and account.system_account in RESERVED_SYSTEM_ACCOUNTS
    ):
        problem = message(
            "LEDGER_ACCOUNT_MISSING",
            f"Account code '{code}' is a system account Xero does not allow on manual "
            "journals; map the inventory GL account to a clearing account.",
            line=index,
        )
    if problem is not None:
        messages.append(problem)
        return None
    amount = src.line_amount
    if amount != amount.quantize(CENT):
        messages.append(
            message(
                "RECORD_INVALID",
                f"Line {index + 1}: amount {amount} is not in cents; a journal line cannot be "
                "rounded without unbalancing it.",
                line=index,
            )
        )
        return None
    fallback = f"{src.item_code or 'Inventory'} x {src.quantity} @ {src.unit_amount}"
    description = fit_description(src.description or "", index, fallback, messages)
    line: dict[str, Any] = {
        "Description": description,
        "LineAmount": amount.quantize(CENT) + ZERO,
        "AccountCode": account.code if account is not None else code,
    }
    tracking = line_tracking(index, src, ref, options, tracking_map, messages)
    if tracking:
        line["Tracking"] = tracking
    return line


def plan_journal(
    record: RecordEvent,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    approval: Approval = DEFAULT_APPROVAL,
) -> tuple[dict[str, Any] | None, list[Message], Decimal | None]:
    """(body, messages, debit total) of the manual journal for ``record``; the body is
    None when there are errors. A journal is a draft when ``approval.bill_status`` is."""
    messages = _check(record, ref)
    lines = [
        _line(i, record, ref, options, tracking_map, messages) for i in range(len(record.lines))
    ]
    debits = sum((ln.line_amount for ln in record.lines if ln.line_amount > 0), ZERO)
    credits = sum((ln.line_amount for ln in record.lines if ln.line_amount < 0), ZERO)
    if debits + credits != 0:
        messages.append(
            message(
                "RECORD_INVALID",
                f"The journal does not balance: debits {fmt(debits)}, credits {fmt(credits)} "
                f"(difference {fmt(debits + credits)}). Xero refuses it: the total debits must "
                "equal total credits. Correct the inventory record in ConnectWise.",
            )
        )
    if has_errors(messages):
        return None, messages, debits
    body: dict[str, Any] = {
        "Narration": journal_narration(record),
        "Status": "DRAFT" if approval.bill_status == "DRAFT" else "POSTED",
        "LineAmountTypes": "NoTax",
        "JournalLines": [ln for ln in lines if ln is not None],
    }
    if record.date is not None:
        body["Date"] = record.date.isoformat()
    url = record.attributes.get("url", "")
    if url.startswith("https://"):
        body["Url"] = url
    assert MANUAL_JOURNAL.number_field in body
    return body, messages, debits
