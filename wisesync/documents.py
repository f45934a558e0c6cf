"""Ledger-neutral rules of a source record that every ledger target applies the same way.

* :func:`source_total`: the total the ledger document must show;
* :func:`is_description_only`: a text line (no amount, quantity, account or item);
* :func:`line_label` and :func:`missing_gl_account`: a line as messages name it, and
  GL_MAPPING_MISSING for a line whose ConnectWise GL mapping is empty;
  :func:`missing_item_code` for one without the item code the company requires;
  :func:`check_gl_account` for both and the ledger's verdict on the account;
* :func:`account_problem`: LEDGER_ACCOUNT_MISSING for a GL account the ledger does not
  have or has made inactive;
* :func:`header_problems`: RECORD_INVALID for a record with no lines, no customer or
  vendor, or no document number; :func:`is_iso_currency` for its currency code;
* :func:`tracking_values` and :func:`tracking_missing`: a line's tracking fields the
  ledger maps, and TRACKING_MISSING (a warning, or an error with ``tracking_missing =
  "halt"``) for one the ledger does not have;
* :func:`description`: a line's description within the ledger's limit
  (DESCRIPTION_TRUNCATED when cut);
* :func:`billing_contact_warning`: NO_BILLING_CONTACT for a sales document whose
  ConnectWise company has no billing contact;
* :func:`priced_lines`: the record's priced lines as the rounding maths takes them;
* :func:`correction_account`: the account of an adjustment or rounding line;
  :func:`adjustment_over_cap` and :func:`adjustment_applied`: the messages of the
  adjustment that keeps a document's total the ConnectWise total;
* :class:`DocumentPlan`: what one record becomes in a ledger (its body and messages);
* :func:`advance_watermark`: a payments source's acknowledgement: the watermark moves
  forward to the newest change the target accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from wisesync import rounding
from wisesync.events.models import Line, PostingResult, RecordEvent, RecordType, Status
from wisesync.messages import Message, Severity, has_errors, message
from wisesync.money import fmt
from wisesync.protocols import AckOutcome
from wisesync.store.state import PluginState

if TYPE_CHECKING:
    from wisesync.company import CompanyOptions

ZERO = Decimal("0")
K = TypeVar("K")


@dataclass(slots=True)
class DocumentPlan(Generic[K]):
    """What one record becomes in a ledger; a plugin subclasses it with its document kind.

    Attributes:
        record: the source record.
        kind: the ledger's document type (the plugin's own enumeration).
        body: the document body (no contact or party reference yet), or None when there
            are errors.
        messages: errors (the record is not posted) and warnings (it is, with them).
        expected_total: the total the ledger will compute (equals the ConnectWise total).
    """

    record: RecordEvent
    kind: K
    body: dict[str, Any] | None
    messages: list[Message] = field(default_factory=list)
    expected_total: Decimal | None = None

    @property
    def ok(self) -> bool:
        """No error: the document can be sent."""
        return self.body is not None and not has_errors(self.messages)

    @property
    def number(self) -> str:
        """The document number, trimmed: what finds the document again."""
        return (self.record.document_number or "").strip()


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


def account_problem(
    account: Any | None, *, unknown: str, inactive: Callable[[Any], str], line: int | None
) -> Message | None:
    """LEDGER_ACCOUNT_MISSING saying ``unknown`` when the ledger has no such ``account``
    (None), ``inactive(account)`` when it is not ``active``; None for an active account."""
    if account is None:
        return message("LEDGER_ACCOUNT_MISSING", unknown, line=line)
    if not account.active:
        return message("LEDGER_ACCOUNT_MISSING", inactive(account), line=line)
    return None


def priced_lines(record: RecordEvent, resolved: list[Any], sign: int) -> list[rounding.SourceLine]:
    """The record's lines as :func:`wisesync.rounding.balance` takes them, amounts times
    ``sign`` (-1 for a credit note); ``resolved`` has one checked line (``index``,
    ``rate``, ``text_only``) per record line, and text-only lines are left out."""
    sd = Decimal(sign)
    return [
        rounding.SourceLine(
            quantity=record.lines[r.index].quantity,
            unit_amount=record.lines[r.index].unit_amount * sd,
            line_amount=record.lines[r.index].line_amount * sd,
            tax_rate=r.rate,
        )
        for r in resolved
        if not r.text_only
    ]


def adjustment_over_cap(bal: rounding.Balance, cap: Decimal, ledger: str) -> Message:
    """ADJUSTMENT_OVER_CAP: the ConnectWise and ``ledger`` totals differ by more than
    the company's adjustment ``cap``."""
    return message(
        "ADJUSTMENT_OVER_CAP",
        f"The ConnectWise total {fmt(bal.source_total)} differs from the {ledger} total "
        f"{fmt(bal.ledger_total)} by {fmt(bal.adjustment)}, more than the adjustment cap "
        f"of {fmt(cap)}.",
    )


def adjustment_applied(bal: rounding.Balance, ledger: str) -> Message:
    """ADJUSTMENT_APPLIED: an adjustment line makes the ``ledger`` total the
    ConnectWise one."""
    return message(
        "ADJUSTMENT_APPLIED",
        f"Adjustment line of {fmt(bal.adjustment)}: the ConnectWise total "
        f"{fmt(bal.source_total)} differed from the {ledger} total "
        f"{fmt(bal.source_total - bal.adjustment)}.",
    )


def correction_account(
    code: str | None,
    default: str | None,
    messages: list[Message],
    problem: Callable[[str], Message | None],
    *,
    what: str,
    no_default: str,
) -> str | None:
    """The account of an adjustment or rounding (``what``) line: the configured ``code``,
    else the ledger's ``default``. None after appending LEDGER_ACCOUNT_MISSING saying
    ``no_default`` when there is neither, or the ledger's ``problem`` with the account."""
    if code is None:
        if default is None:
            messages.append(message("LEDGER_ACCOUNT_MISSING", no_default))
            return None
        code = default
    refused = problem(code)
    if refused is not None:
        messages.append(
            message("LEDGER_ACCOUNT_MISSING", f"{what.capitalize()} line: {refused.text}")
        )
        return None
    return code


def header_problems(record: RecordEvent, ledger: str, *, contact: bool = True) -> list[Message]:
    """RECORD_INVALID for a record with no lines, (with ``contact``) no customer or vendor
    name, or no document number, without which it could not be found again in ``ledger``."""
    out = []
    if not record.lines:
        out.append(message("RECORD_INVALID", "The record has no lines."))
    if contact and (record.contact is None or not record.contact.name.strip()):
        out.append(message("RECORD_INVALID", "The record has no customer or vendor name."))
    if not (record.document_number or "").strip():
        out.append(
            message(
                "RECORD_INVALID",
                f"The record has no document number, so it could not be found again in {ledger}.",
            )
        )
    return out


def is_iso_currency(code: str) -> bool:
    """Whether ``code`` has the form of an ISO 4217 currency code (three letters)."""
    return len(code) == 3 and code.isalpha()


def tracking_values(line: Line, tracking_map: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """``(field, ledger list, value)`` for each ``Line.tracking`` field the ledger maps
    (``tracking_map``: field -> the ledger's list or category) that the line fills in."""
    for attr, target in tracking_map.items():
        value = (getattr(line.tracking, attr, None) or "").strip()
        if value:
            yield attr, target, value


def tracking_missing(options: CompanyOptions, index: int, text: str) -> Message:
    """TRACKING_MISSING for line ``index`` saying ``text``: a warning (the line posts without
    it) or, with the company's ``tracking_missing = "halt"``, an error."""
    severity = Severity.ERROR if options.tracking_missing == "halt" else Severity.WARNING
    if severity is Severity.WARNING:
        text += " The line was posted without it."
    return message("TRACKING_MISSING", text, line=index, severity=severity)


def missing_item_code(index: int, line: Line) -> Message | None:
    """GL_MAPPING_MISSING when the line has no Non-Product ID / item code (for a company
    whose ``require_item_code`` is on), else None."""
    if (line.item_code or "").strip():
        return None
    return message(
        "GL_MAPPING_MISSING",
        f"{line_label(index, line)} has no Non-Product ID / item code, which this company "
        "requires.",
        line=index,
    )


def check_gl_account(
    index: int,
    line: Line,
    messages: list[Message],
    problem: Callable[[str], Message | None],
    *,
    item_required: bool = False,
) -> str | None:
    """The line's GL account code when the ledger takes it, else None; appends to
    ``messages`` GL_MAPPING_MISSING for an empty GL mapping, (with ``item_required``) for
    a missing item code, and then ``problem(code)``, the ledger's objection to the account."""
    code = (line.gl_account or "").strip()
    missing = missing_gl_account(index, line)
    if missing is not None:
        messages.append(missing)
    no_item = missing_item_code(index, line) if item_required else None
    if no_item is not None:
        messages.append(no_item)
    if not code:
        return None
    refused = problem(code)
    if refused is not None:
        messages.append(refused)
        return None
    return code


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
