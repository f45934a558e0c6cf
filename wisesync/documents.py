"""Ledger-neutral rules of a source record that every ledger target applies the same way.

* :func:`source_total`: the total the ledger document must show;
* :func:`is_description_only`: a text line (no amount, quantity, account or item);
* :func:`line_label` and :func:`missing_gl_account`: a line as messages name it, and
  GL_MAPPING_MISSING for a line whose ConnectWise GL mapping is empty;
* :func:`description`: a line's description within the ledger's limit
  (DESCRIPTION_TRUNCATED when cut);
* :func:`billing_contact_warning`: NO_BILLING_CONTACT for a sales document whose
  ConnectWise company has no billing contact;
* :func:`advance_watermark`: a payments source's acknowledgement: the watermark moves
  forward to the newest change the target accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from wisesync.events.models import Line, PostingResult, RecordEvent, RecordType, Status
from wisesync.messages import Message, message
from wisesync.protocols import AckOutcome
from wisesync.store.state import PluginState

ZERO = Decimal("0")


def source_total(record: RecordEvent) -> Decimal:
    """The record's total: the header total, else the lines (plus tax when exclusive)."""
    if record.totals is not None:
        return record.totals.total
    lines = sum((ln.line_amount for ln in record.lines), ZERO)
    if record.line_amounts_include_tax:
        return lines
    return lines + sum((ln.tax_amount for ln in record.lines), ZERO)


def is_description_only(line: Line) -> bool:
    """A text line: no amount, no quantity, no account, no item."""
    return (
        not line.gl_account
        and not line.item_code
        and line.quantity == 0
        and line.unit_amount == 0
        and line.line_amount == 0
    )


def line_label(index: int, line: Line) -> str:
    """``Line 3 (Remote support...)``: how messages name a line."""
    return f"Line {index + 1}" + (f" ({line.description[:60]})" if line.description else "")


def missing_gl_account(index: int, line: Line) -> Message | None:
    """GL_MAPPING_MISSING when the line has no GL account, else None."""
    if (line.gl_account or "").strip():
        return None
    return message(
        "GL_MAPPING_MISSING",
        f"{line_label(index, line)} has no GL account: the ConnectWise GL mapping is empty.",
        line=index,
    )


def description(
    text: str, index: int, fallback: str, messages: list[Message], *, limit: int, ledger: str
) -> str:
    """``text`` (or ``fallback``) within ``limit`` characters; DESCRIPTION_TRUNCATED when cut."""
    text = text.strip() or fallback
    if len(text) > limit:
        messages.append(
            message(
                "DESCRIPTION_TRUNCATED",
                f"Line {index + 1}: description of {len(text)} characters cut to {ledger}'s "
                f"{limit}.",
                line=index,
            )
        )
        text = text[: limit - 1] + "…"
    return text


def billing_contact_warning(record: RecordEvent) -> Message | None:
    """NO_BILLING_CONTACT for an invoice or credit memo whose company has no billing
    contact (the primary one, if any, is used)."""
    contact = record.contact
    if (
        record.record_type not in (RecordType.INVOICE, RecordType.CREDIT_MEMO)
        or contact is None
        or contact.billing_contact is not None
    ):
        return None
    if contact.primary_contact is None:
        text = f"ConnectWise company '{contact.name}' has no primary or billing contact."
    else:
        text = (
            f"ConnectWise company '{contact.name}' has no billing contact; the primary "
            f"contact {contact.primary_contact.name} was used."
        )
    return message("NO_BILLING_CONTACT", text)


def _updated_of(result: PostingResult, parse: Callable[[str], datetime | None]) -> datetime | None:
    for item in result.source_batch_ids:
        if item.startswith("updated:"):
            return parse(item[len("updated:") :])
    return None


def advance_watermark(
    state: PluginState,
    company: str,
    key: str,
    results: list[PostingResult],
    parse: Callable[[str], datetime | None],
) -> list[AckOutcome]:
    """Acknowledge a payments source's results: move the watermark ``key`` of ``company``
    to the newest ``updated:<time>`` (in ``source_batch_ids``) of a result the target
    accepted. Idempotent: the watermark only moves forward."""
    outcomes = []
    stored = state.get(company, key)
    current = parse(stored) if stored else None
    newest = current
    for result in results:
        done = result.status in (Status.POSTED, Status.SKIPPED_ALREADY_POSTED)
        updated = _updated_of(result, parse)
        if done and updated is not None and (newest is None or updated > newest):
            newest = updated
        outcomes.append(
            AckOutcome(
                result_id=result.result_id,
                source_id=result.source_id,
                acknowledged=done,
                error=None if done else f"result is {result.status}, not posted",
            )
        )
    if newest is not None and newest != current:
        state.set(company, key, newest.isoformat())
    return outcomes
