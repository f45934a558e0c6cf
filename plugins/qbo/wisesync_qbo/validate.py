"""Record and line checks against a company's reference data, before any posting call.

* ``GL_MAPPING_MISSING``: a line with no GL account; a sales line with neither a
  Non-Product ID (item) nor an item posting to its GL account (QBO invoice lines
  reference items, not accounts), or with no item when the company requires one;
* ``LEDGER_ACCOUNT_MISSING``: an account (AcctNum) or item QBO does not have or has made
  inactive (QBO answers 610 / 2500 for those);
* ``TAX_CODE_INVALID``: a tax code QBO does not have, has made inactive, or that has no
  rate on the line's side (a purchase-only code on a sale);
* ``TRACKING_MISSING``: a class or department (location) QBO does not have: a warning
  (the line posts without it) or an error with ``tracking_missing = "halt"``;
* ``RECORD_INVALID``: no lines, no customer/vendor, no document number, a number longer
  than QBO's 21 characters, an unbalanced journal, a foreign currency while the company's
  multi-currency is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wisesync import documents as rules
from wisesync.company import CompanyOptions
from wisesync.documents import is_description_only, line_label
from wisesync.events.models import Line, RecordEvent
from wisesync.messages import Message, message
from wisesync_qbo.documents import Entity, is_journal
from wisesync_qbo.reference import Account, Item, Named, ReferenceData

ZERO = Decimal("0")
DOC_NUMBER_MAX = 21


@dataclass(slots=True)
class ResolvedLine:
    """What one ConnectWise line resolves to in QBO."""

    index: int
    account: Account | None = None
    item: Item | None = None
    tax_code: str | None = None  # a TaxCode Id, or TAX / NON for US companies
    rate: Decimal = ZERO
    klass: Named | None = None
    department: Named | None = None
    text_only: bool = False


def account_problem(code: str, ref: ReferenceData, *, line: int | None = None) -> Message | None:
    """LEDGER_ACCOUNT_MISSING for an unknown or inactive account number, else None."""
    return rules.account_problem(
        ref.account(code),
        unknown=f"QuickBooks has no account numbered '{code}': add it (Account number {code}) "
        "or fix the ConnectWise GL mapping.",
        inactive=lambda account: (
            f"QuickBooks account '{code}' ({account.name}) is inactive: "
            "make it active again or map the line to another account."
        ),
        line=line,
    )


def _item(
    index: int,
    line: Line,
    account: Account | None,
    ref: ReferenceData,
    options: CompanyOptions,
    messages: list[Message],
    label: str,
) -> Item | None:
    code = (line.item_code or "").strip()
    if code:
        item = ref.item(code)
        if item is None or not item.active:
            state = "has no product/service" if item is None else "has made inactive the item"
            messages.append(
                message(
                    "LEDGER_ACCOUNT_MISSING",
                    f"{label}: QuickBooks {state} '{code}' (the line's Non-Product ID): "
                    "add or re-activate it, or fix the Non-Product ID.",
                    line=index,
                )
            )
            return None
        return item
    if options.require_item_code:
        messages.append(rules.missing_item_code(index, line))
        return None
    item = ref.item_for_account(account, sales=True) if account is not None else None
    if item is None and account is not None:
        messages.append(
            message(
                "GL_MAPPING_MISSING",
                f"{label} has no Non-Product ID and no QuickBooks item posts to account "
                f"'{account.number}': set the Non-Product ID in the ConnectWise GL mapping, or "
                "create a service item on that income account.",
                line=index,
            )
        )
    return item


def _tax(
    index: int,
    line: Line,
    ref: ReferenceData,
    resolved: ResolvedLine,
    messages: list[Message],
    *,
    sales: bool,
) -> None:
    name = (line.tax_code or "").strip()
    if not name:
        if ref.us:
            resolved.tax_code = "TAX" if line.tax_amount else "NON"
        return
    if ref.us and name.upper() in ("TAX", "NON"):
        resolved.tax_code = name.upper()
        return
    code = ref.tax_code(name)
    rate = code.rate(sales=sales) if code is not None else None
    if code is None or not code.active or rate is None:
        side = "sales" if sales else "purchases"
        messages.append(
            message(
                "TAX_CODE_INVALID",
                f"The tax code '{name}' does not exist in QuickBooks, is inactive or has no "
                f"rate for {side}: fix the ConnectWise tax code's xref or the QuickBooks tax "
                "code.",
                line=index,
            )
        )
        return
    resolved.rate = rate
    if ref.us:  # US lines say only whether they are taxable (error 6100 otherwise)
        resolved.tax_code = "TAX" if rate else "NON"
    else:
        resolved.tax_code = code.id


def _tracking(
    index: int,
    line: Line,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    resolved: ResolvedLine,
    messages: list[Message],
) -> None:
    for attr, which, value in rules.tracking_values(line, tracking_map):
        found = ref.tracking(which, value)
        if found is not None:
            if which == "class":
                resolved.klass = found
            else:
                resolved.department = found
            continue
        kind = "class" if which == "class" else "location (department)"
        text = f"Line {index + 1}: QuickBooks has no active {kind} '{value}' for {attr}."
        messages.append(rules.tracking_missing(options, index, text))


def check_line(
    index: int,
    line: Line,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    messages: list[Message],
    *,
    entity: Entity,
) -> ResolvedLine:
    """Check one line, append its messages, resolve its account, item, tax and tracking."""
    resolved = ResolvedLine(index)
    if is_description_only(line):
        resolved.text_only = True
        return resolved
    label = line_label(index, line)
    code = rules.check_gl_account(
        index, line, messages, lambda c: account_problem(c, ref, line=index)
    )
    if code is not None:
        resolved.account = ref.account(code)
    if entity.sales:
        resolved.item = _item(index, line, resolved.account, ref, options, messages, label)
    if entity.party is not None:
        _tax(index, line, ref, resolved, messages, sales=entity.sales)
    _tracking(index, line, ref, options, tracking_map, resolved, messages)
    return resolved


def check_header(record: RecordEvent, ref: ReferenceData) -> list[Message]:
    """RECORD_INVALID for what no QBO document can do without."""
    out = rules.header_problems(record, "QuickBooks", contact=not is_journal(record))
    number = (record.document_number or "").strip()
    if len(number) > DOC_NUMBER_MAX:
        out.append(
            message(
                "RECORD_INVALID",
                f"Document number '{number}' has {len(number)} characters; QuickBooks keeps at "
                f"most {DOC_NUMBER_MAX} (DocNumber) and a cut number could match another "
                "document. Shorten the ConnectWise number (or its prefix), then replay.",
            )
        )
    currency = (record.currency or "").upper()
    if currency and not rules.is_iso_currency(currency):
        out.append(message("RECORD_INVALID", f"Currency {record.currency!r} is not an ISO code."))
    elif currency and currency != ref.home_currency and not ref.multicurrency:
        out.append(
            message(
                "RECORD_INVALID",
                f"The record is in {currency} but the QuickBooks company works in "
                f"{ref.home_currency} only: turn on multicurrency in QuickBooks (Account and "
                "Settings > Advanced), then replay.",
            )
        )
    if is_journal(record) and sum((ln.line_amount for ln in record.lines), ZERO) != 0:
        out.append(
            message(
                "RECORD_INVALID",
                "The journal's debits and credits do not balance: QuickBooks refuses an "
                "unbalanced journal entry.",
            )
        )
    return out
