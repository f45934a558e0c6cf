"""Record checks against a tenant's reference data, before any posting call.

Errors use Xero's own wording where Xero has one, so what users read here matches
what Xero would have said:

* ``GL_MAPPING_MISSING``: a line with no GL account, or a sales line with no item /
  Non-Product ID when the company requires one (the Non-Product ID maps non-product
  revenue; purchase lines are coded to accounts);
* ``LEDGER_ACCOUNT_MISSING``: an account code Xero does not have, has archived, or
  refuses on document lines (bank accounts, receivables and payables control accounts);
* ``TAX_CODE_INVALID``: a tax type Xero does not have (or not active), one for the other
  side (a purchase rate on a sale), or one that cannot be used with the line's account;
* ``TRACKING_MISSING``: a tracking option (or category) Xero does not have; a
  warning (the line posts without it) or an error, per ``tracking_missing``;
* ``CURRENCY_NOT_ENABLED``: a currency the organisation has not added (GET /Currencies);
  checked before posting, because Xero refuses such a document;
* ``RECORD_INVALID``: no lines, no contact, no document number, or a number Xero
  refuses (longer than 255 characters, or not printable ASCII).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync import documents as rules
from wisesync.config import CompanyOptions
from wisesync.documents import description, is_description_only
from wisesync.events.models import Line, RecordEvent
from wisesync.messages import Message, message
from wisesync_xero.documents import BILL_SUBTYPES, is_journal
from wisesync_xero.reference import Account, ReferenceData

ZERO = Decimal("0")
ITEM_CODE_MAX = 30
NUMBER_MAX = 255  # InvoiceNumber / CreditNoteNumber (reference/xero.md section 3)

__all__ = ["BILL_SUBTYPES", "is_journal"]  # re-exported: they used to live here


@dataclass(slots=True)
class ResolvedLine:
    """What one ConnectWise line resolves to in Xero."""

    index: int
    account: Account | None = None
    tax_type: str | None = None
    rate: Decimal = ZERO
    item_code: str | None = None
    tracking: list[dict[str, Any]] = field(default_factory=list)
    text_only: bool = False


def account_problem(code: str, ref: ReferenceData, *, line: int | None = None) -> Message | None:
    """LEDGER_ACCOUNT_MISSING for an unknown or archived account code, else None."""
    account = ref.account(code)
    invalid = f"Account code '{code}' is not a valid code for this document."
    if account is not None and (
        account.type == "BANK" or account.system_account in ("DEBTORS", "CREDITORS")
    ):
        return message("LEDGER_ACCOUNT_MISSING", invalid, line=line)
    return rules.account_problem(
        account,
        unknown=invalid,
        inactive=lambda _: (
            f"Account code '{code}' has been archived, or has been deleted. "
            "Each line item must reference a valid account"
        ),
        line=line,
    )


DESCRIPTION_MAX = 4000  # LineItem / JournalLine Description (reference/xero.md section 3)


def fit_description(text: str, index: int, fallback: str, messages: list[Message]) -> str:
    """A line description Xero takes: ``fallback`` when empty, cut to
    :data:`DESCRIPTION_MAX` characters with DESCRIPTION_TRUNCATED when longer."""
    return description(text, index, fallback, messages, limit=DESCRIPTION_MAX, ledger="Xero")


def check_line(
    index: int,
    line: Line,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    messages: list[Message],
    *,
    sales: bool,
) -> ResolvedLine:
    """Check one line of a sales (else purchase) document, append its messages, and
    resolve its account, tax and tracking."""
    resolved = ResolvedLine(index)
    if is_description_only(line):
        resolved.text_only = True
        return resolved
    code = rules.check_gl_account(
        index,
        line,
        messages,
        lambda c: account_problem(c, ref, line=index),
        item_required=sales and options.require_item_code,
    )
    if code is not None:
        resolved.account = ref.account(code)
    item = (line.item_code or "").strip()
    if item:
        if len(item) > ITEM_CODE_MAX:
            messages.append(
                message(
                    "LEDGER_VALIDATION",
                    f"Item code '{item}' is longer than Xero's {ITEM_CODE_MAX} characters.",
                    line=index,
                )
            )
        elif ref.items and ref.item(item) is None:
            messages.append(
                message(
                    "LEDGER_VALIDATION",
                    f"Item code '{item}' does not exist in Xero: create the item or fix the "
                    "Non-Product ID.",
                    line=index,
                )
            )
        else:
            found = ref.item(item)
            resolved.item_code = found.code if found else item
    tax_code = (line.tax_code or "").strip()
    if tax_code:
        rate = ref.usable_tax(tax_code, sales=sales)
        account = resolved.account
        if rate is None:
            messages.append(
                message(
                    "TAX_CODE_INVALID",
                    f"The TaxType code '{tax_code}' does not exist or cannot be used for this "
                    "type of transaction.",
                    line=index,
                )
            )
        elif account is not None and not rate.can_apply_to(account.account_class):
            messages.append(
                message(
                    "TAX_CODE_INVALID",
                    f"The TaxType code '{tax_code}' cannot be used with account code "
                    f"'{account.code}'.",
                    line=index,
                )
            )
        else:
            resolved.tax_type, resolved.rate = rate.tax_type, rate.rate
    elif resolved.account is not None and resolved.account.tax_type:
        # no tax code mapped: the account's default, sent explicitly so the rate we
        # compute with is the one Xero applies
        default = ref.usable_tax(resolved.account.tax_type, sales=sales)
        if default is not None:
            resolved.tax_type, resolved.rate = default.tax_type, default.rate
    resolved.tracking = line_tracking(index, line, ref, options, tracking_map, messages)
    return resolved


def line_tracking(
    index: int,
    line: Line,
    ref: ReferenceData,
    options: CompanyOptions,
    tracking_map: dict[str, str],
    messages: list[Message],
) -> list[dict[str, Any]]:
    """The ``Tracking`` of line ``index`` (at most two), appending TRACKING_MISSING
    for options or categories Xero does not have."""
    out: list[dict[str, Any]] = []
    for attr, category_name, value in rules.tracking_values(line, tracking_map):
        category = ref.category(category_name)
        option = category.option(value) if category is not None else None
        if category is None:
            text = (
                f"Line {index + 1}: Xero has no active tracking category '{category_name}' "
                f"for {attr} '{value}'."
            )
        elif option is None:
            text = (
                f"Line {index + 1}: tracking option '{value}' does not exist in the Xero "
                f"tracking category '{category.name}'."
            )
        else:
            out.append({"Name": category.name, "Option": option.name})
            continue
        messages.append(rules.tracking_missing(options, index, text))
    return out[:2]


def is_printable_ascii(text: str) -> bool:
    """Only printable ASCII characters (what Xero allows in an InvoiceNumber)."""
    return all(" " <= ch <= "~" for ch in text)


def number_problem(record: RecordEvent) -> Message | None:
    """RECORD_INVALID for a document number Xero refuses: it is how the document is
    found again, so it is never shortened or rewritten."""
    number = (record.document_number or "").strip()
    if len(number) > NUMBER_MAX:
        return message(
            "RECORD_INVALID",
            f"Document number '{number[:40]}...' has {len(number)} characters; Xero allows "
            f"{NUMBER_MAX}. Shorten it in ConnectWise.",
        )
    if not is_printable_ascii(number):
        bad = "".join(sorted({ch for ch in number if not " " <= ch <= "~"}))
        return message(
            "RECORD_INVALID",
            f"Document number {number!r} contains {bad!r}: Xero takes printable ASCII "
            "characters only. Renumber the document in ConnectWise.",
        )
    return None


def currency_problem(record: RecordEvent, ref: ReferenceData) -> Message | None:
    """CURRENCY_NOT_ENABLED when the organisation has not added ``record.currency``."""
    code = (record.currency or "").strip().upper()
    if not code or not rules.is_iso_currency(code) or ref.currency_enabled(code):
        return None
    enabled = ", ".join(sorted(ref.currencies | {ref.base_currency or ""} - {""}))
    return message(
        "CURRENCY_NOT_ENABLED",
        f"The document is in {code}, which the Xero organisation has not added (it has "
        f"{enabled or 'none'}). Add {code} in Xero (Settings > Currencies) and replay, or "
        "correct the currency in ConnectWise.",
    )


def check_header(record: RecordEvent) -> list[Message]:
    """RECORD_INVALID for what no Xero document can do without."""
    out = rules.header_problems(record, "Xero")
    problem = number_problem(record) if (record.document_number or "").strip() else None
    if problem is not None:
        out.append(problem)
    if record.currency and not rules.is_iso_currency(record.currency):
        out.append(message("RECORD_INVALID", f"Currency {record.currency!r} is not an ISO code."))
    return out
