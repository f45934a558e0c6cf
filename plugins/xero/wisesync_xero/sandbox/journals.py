"""Xero's rules for manual journals (``/ManualJournals``).

From Xero's manual-journals page and the spec (reference/xero.md): ``Narration`` and at
least two ``JournalLines`` are mandatory; each line needs ``LineAmount`` (debits
positive, credits negative) and ``AccountCode``; bank accounts and the system accounts
(accounts receivable, accounts payable, retained earnings) are refused; a line may
carry at most two tracking categories; ``LineAmountTypes`` defaults to ``NoTax``;
``Status`` is DRAFT (default) or POSTED on create; ``Date`` defaults to today. The
debits must equal the credits: the spec's example message is "The total debits
(100.00) must equal total credits (-10.00)". An unknown account code is dropped with
the spec's warning "Account code ''476'' has been removed as it does not match a
recognised account." (the journal then usually no longer balances). Messages marked
``# unconfirmed`` are plausible wording where no primary source was found.

Updates (POST with a ``ManualJournalID``): DRAFT -> DRAFT/POSTED/DELETED, POSTED ->
POSTED/VOIDED (Xero's status codes for manual journals; transitions unconfirmed).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync.money import round_money

from .rules import (
    ACCOUNT_ARCHIVED,
    ACCOUNT_MISSING,
    ACCOUNT_REMOVED,
    DATE_INVALID,
    DESCRIPTION_TOO_LONG,
    TAX_INVALID,
    TRACKING_TOO_MANY,
    Outcome,
    parse_date,
    resolve_tracking,
    tax_for_line,
    tax_usable,
)
from .state import Org, date_string, ms_date
from .switches import DEFAULT_SWITCHES, RuleSwitches

ZERO = Decimal("0")
TYPE = "MANUALJOURNAL"
NARRATION_MISSING = "Narration must be specified"  # unconfirmed
TOO_FEW_LINES = "The JournalLines element must contain at least two individual JournalLine sub-elements"  # the documentation's sentence; as an error message unconfirmed
LINE_AMOUNT_MISSING = "LineAmount must be specified"  # unconfirmed
RESERVED_ACCOUNT = "Account code '{code}' is a bank or system account and cannot be used in a manual journal"  # unconfirmed; the documentation says these give "a 400 validation error"
UNBALANCED = "The total debits ({debits}) must equal total credits ({credits})"
STATUS_CREATE = "Manual Journal not of valid status for creation"  # unconfirmed
STATUS_MODIFY = "Manual Journal not of valid status for modification"  # unconfirmed
RESERVED_SYSTEM = frozenset({"DEBTORS", "CREDITORS", "RETAINEDEARNINGS"})
_TRANSITIONS = {
    "DRAFT": {"DRAFT", "POSTED", "DELETED"},
    "POSTED": {"POSTED", "VOIDED"},
}


def _account(org: Org, raw: dict[str, Any], out: Outcome) -> dict[str, Any] | None:
    code = raw.get("AccountCode")
    if raw.get("AccountID"):
        account = org.accounts.get(str(raw["AccountID"]).lower())
    elif code:
        account = org.account_by_code(str(code))
        if account is None:
            out.warnings.append(ACCOUNT_REMOVED.format(code=f"'{code}'"))
            return None
    else:
        out.errors.append(ACCOUNT_MISSING)
        return None
    if account is None:
        out.errors.append(ACCOUNT_MISSING)
    elif account["Status"] != "ACTIVE":
        out.errors.append(ACCOUNT_ARCHIVED.format(code=account["Code"]))
    elif account["Type"] == "BANK" or account.get("SystemAccount") in RESERVED_SYSTEM:
        out.errors.append(RESERVED_ACCOUNT.format(code=account["Code"]))
    return account


def _line(
    org: Org, raw: dict[str, Any], lat: str, out: Outcome, switches: RuleSwitches
) -> dict[str, Any] | None:
    description = raw.get("Description") or ""
    if len(description) > switches.description_max:
        out.errors.append(DESCRIPTION_TOO_LONG.format(max=switches.description_max))
    if raw.get("LineAmount") is None:
        out.errors.append(LINE_AMOUNT_MISSING)
        return None
    account = _account(org, raw, out)
    if account is None:
        return None
    amount = round_money(Decimal(str(raw["LineAmount"])))
    tax_type = raw.get("TaxType") or account.get("TaxType") or "NONE"
    rate = ZERO
    if not tax_usable(org, tax_type, TYPE):
        out.errors.append(TAX_INVALID.format(tax=tax_type))
    else:
        rate = org.tax_rates[tax_type.upper()]["EffectiveRate"]
    tracking = raw.get("Tracking") or []
    if len(tracking) > 2:
        out.errors.append(TRACKING_TOO_MANY)
    resolved = [t for t in (resolve_tracking(org, e, out) for e in tracking[:2]) if t]
    return {
        "Description": description,
        "TaxType": tax_type.upper(),
        "TaxAmount": tax_for_line(amount, rate, lat),
        "LineAmount": amount,
        "AccountCode": account["Code"],
        "AccountID": account["AccountID"],
        "Tracking": resolved,
        "IsBlank": False,
    }


def check_manual_journal(
    org: Org,
    raw: dict[str, Any],
    existing: dict[str, Any] | None,
    switches: RuleSwitches = DEFAULT_SWITCHES,
) -> Outcome:
    """Check one manual journal element; on success ``out.doc`` is the journal to store
    (``existing`` is the stored journal for an update: its fields are the defaults)."""
    out = Outcome()
    base = dict(existing.get("_raw", {})) if existing else {}
    merged = {**base, **raw}
    status = str(merged.get("Status") or "DRAFT").upper()
    if existing is None and status not in ("DRAFT", "POSTED"):
        out.errors.append(STATUS_CREATE)
    elif existing is not None and status not in _TRANSITIONS.get(existing["Status"], set()):
        out.errors.append(STATUS_MODIFY)
    narration = str(merged.get("Narration") or "").strip()
    if not narration:
        out.errors.append(NARRATION_MISSING)
    journal_date = parse_date(merged["Date"]) if merged.get("Date") else org.today()
    if journal_date is None:
        out.errors.append(DATE_INVALID.format(value=merged.get("Date")))
        journal_date = org.today()
    lat = merged.get("LineAmountTypes") or "NoTax"
    raw_lines = merged.get("JournalLines") or []
    if len(raw_lines) < 2:
        out.errors.append(TOO_FEW_LINES)
    lines = [ln for ln in (_line(org, r, lat, out, switches) for r in raw_lines) if ln]
    gross = [ln["LineAmount"] + (ln["TaxAmount"] if lat == "Exclusive" else ZERO) for ln in lines]
    debits = sum((a for a in gross if a > 0), ZERO)
    credits = sum((a for a in gross if a < 0), ZERO)
    if lines and debits + credits != 0:
        out.errors.append(UNBALANCED.format(debits=f"{debits:.2f}", credits=f"{credits:.2f}"))
    doc: dict[str, Any] = {
        "Date": ms_date(journal_date),
        "Status": status,
        "LineAmountTypes": lat,
        "ManualJournalID": existing["ManualJournalID"] if existing else None,
        "Narration": narration,
        "JournalLines": lines,
        "ShowOnCashBasisReports": merged.get("ShowOnCashBasisReports", True) is not False,
        "HasAttachments": False,
        "_raw": merged,
        "_date": journal_date,
        "_date_string": date_string(journal_date),
    }
    if merged.get("Url"):
        doc["Url"] = merged["Url"]
    out.doc = doc
    return out
