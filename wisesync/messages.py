"""The closed set of result message codes, with the fix hint users see.

The vocabulary is the one Wise-Sync users know (GL mapping missing, ledger
account does not exist, sync token issue; rounding, adjustment, terms xref and
contact warnings) plus what a pipeline needs to explain every record that did
not post. The catalog holds ledger-neutral codes only; a plugin adds its own
through the ``register_message_codes`` hook (:func:`install` puts them here when the
plugin registry is built). An unknown code is a bug, and :func:`message` raises on
it so tests catch it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How a message affects its record: errors stop it, warnings ride along."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Code:
    """One entry of the catalog: its default severity, a title, a one-line fix hint and,
    where it has one, the Wise-Sync ("seed") issue it maps to (e.g. "Sync Token issue")."""

    name: str
    severity: Severity
    title: str
    hint: str
    seed_issue: str | None = None


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

CATALOG: dict[str, Code] = {
    c.name: c
    for c in (
        # --- record-stopping errors (Wise-Sync: "issues that will stop the sync") ---
        Code(
            "GL_MAPPING_MISSING",
            _E,
            "GL mapping missing",
            "Map the GL account (and a Non-Product ID where the ledger needs an item) in "
            "ConnectWise > System > Setup Tables > GL Accounts, then replay the record.",
            seed_issue="Missing GL mapping / Non-Product ID",
        ),
        Code(
            "LEDGER_ACCOUNT_MISSING",
            _E,
            "Ledger account does not exist",
            "Create or un-archive the account code in the ledger's chart of accounts (or fix "
            "the GL mapping to an existing code), then replay.",
            seed_issue="Account does not exist",
        ),
        Code(
            "AUTH_TOKEN_INVALID",
            _E,
            "Sync token issue: ledger connection expired or revoked",
            "Reconnect the company: `wisesync <ledger> connect --company <key>`, then replay.",
            seed_issue="Sync Token issue",
        ),
        Code(
            "ADJUSTMENT_OVER_CAP",
            _E,
            "Adjustment needed is over the cap",
            "The ledger total differs from ConnectWise by more than the adjustment cap; fix the "
            "invoice lines or raise `adjustment_cap` for the company, then replay.",
        ),
        Code(
            "LEDGER_VALIDATION",
            _E,
            "The ledger rejected the document",
            "Read the ledger's message, correct the record in ConnectWise, then replay.",
        ),
        Code(
            "TAX_CODE_INVALID",
            _E,
            "Tax code is not a valid tax code",
            "Map the ConnectWise tax code xref to an active tax type in the ledger, then replay.",
        ),
        Code(
            "TRACKING_MISSING",
            _E,
            "Tracking category option missing",
            "Create the tracking option in the ledger or fix the GL mapping's tracking "
            'segments (or set `tracking_missing = "warn"`), then replay.',
        ),
        Code(
            "DUPLICATE_DOCUMENT_NUMBER",
            _E,
            "Document number already used in the ledger",
            "A different document with this number exists in the ledger; void or renumber "
            "one of them, then replay.",
        ),
        Code(
            "CONTACT_INVALID",
            _E,
            "The ledger refused the contact",
            "Fix the customer or vendor details in ConnectWise, then replay.",
        ),
        Code(
            "INVOICE_NOT_FOUND",
            _E,
            "Invoice to apply the payment to was not found",
            "The ledger payment names an invoice number ConnectWise does not have; check the "
            "invoice number in both systems.",
        ),
        Code(
            "PAYMENT_EXCEEDS_BALANCE",
            _E,
            "Payment is more than the invoice balance",
            "The payment is larger than what is owed on the ConnectWise invoice; check "
            "for a duplicate payment in the ledger.",
        ),
        Code(
            "SOURCE_RECORD_GONE",
            _E,
            "Record is no longer unposted at the source",
            "It was posted, deleted or batched elsewhere meanwhile; nothing to do unless "
            "that was a mistake.",
        ),
        Code(
            "LEDGER_UNAVAILABLE",
            _E,
            "The ledger did not answer",
            "The ledger kept failing (5xx or timeouts) through its retries and the outage wait; "
            "replay once it is back.",
        ),
        Code(
            "SOURCE_UNAVAILABLE",
            _E,
            "The source system did not answer",
            "ConnectWise kept failing after retries; check its status and credentials.",
        ),
        Code(
            "COMPANY_CONFIG_INVALID",
            _E,
            "The company's configuration is incomplete",
            "Fix what the message names (`wisesync config check` lists every problem), restart "
            "the service, then `wisesync replay --failed`.",
        ),
        Code(
            "INTERNAL_ERROR",
            _E,
            "wisesync failed on this record",
            "The message went to the dead-letter topic; report it with the record id, then "
            "`wisesync replay --dlq` after the fix.",
        ),
        Code(
            "RECORD_INVALID",
            _E,
            "The record is incomplete",
            "A required field is empty in ConnectWise (see the message); complete it, replay.",
        ),
        Code(
            "CURRENCY_NOT_ENABLED",
            _E,
            "The ledger organisation does not use this currency",
            "Add the currency to the organisation in the ledger (its currency settings), "
            "or correct the currency in ConnectWise, then replay.",
        ),
        Code(
            "SOURCE_TOTALS_MISMATCH",
            _E,
            "ConnectWise lines and tax do not add up to the invoice total",
            "Open the record in ConnectWise, correct the lines, tax or total so they agree "
            "(or regenerate the invoice), then sync again; it was not published.",
        ),
        Code(
            "SOURCE_FIELD_INVALID",
            _E,
            "A ConnectWise value could not be read",
            "Correct the named field of the record in ConnectWise (a number, date, id or GL "
            "type the Accounting Interface publishes), then sync again; it was not published.",
        ),
        # --- warnings on records that did post ---
        Code(
            "ROUNDING_APPLIED",
            _W,
            "Rounding line added",
            "ConnectWise lines did not balance at 2 decimals; a rounding line keeps the total.",
        ),
        Code(
            "ADJUSTMENT_APPLIED",
            _W,
            "Adjustment line added",
            "The ledger total differed from ConnectWise; an adjustment line made them equal.",
        ),
        Code(
            "SOURCE_AMOUNT_ROUNDED",
            _W,
            "ConnectWise amount rounded at extraction",
            "ConnectWise kept more decimals than the currency has; the figure was rounded as "
            "ConnectWise rounds (totals to the currency, unit amounts to 4 decimals).",
        ),
        Code(
            "TERMS_XREF",
            _W,
            "Terms xref: billing term has no due days",
            "Set the Terms Xref on the billing term in ConnectWise: days (e.g. 30) or a rule "
            "(EOM, EOM+15, 20 EOM for the 20th of the next month); the ledger default due "
            "date was used.",
            seed_issue="Terms XRef",
        ),
        Code(
            "NO_BILLING_CONTACT",
            _W,
            "No primary or billing contact",
            "Give the ConnectWise company a primary and a billing contact.",
            seed_issue="No Primary or Billing Contact",
        ),
        Code(
            "CONTACT_DISAMBIGUATED",
            _W,
            "Contact created under a disambiguated name",
            "Another ledger contact has this name (ledgers keep names unique); the customer "
            "or vendor got its own contact named by contact_name_pattern. Rename either in "
            "the ledger if you like: wisesync finds contacts by their number, not their name.",
        ),
        Code(
            "CONTACT_ADOPTED",
            _W,
            "Existing ledger contact adopted",
            "A ledger contact with this name and no contact number existed (made by hand); "
            "wisesync gave it the customer's or vendor's number and uses it from now on.",
        ),
        Code(
            "CONTACT_UPDATED",
            _W,
            "Customer or vendor details updated in the ledger",
            "The address, e-mail, phone or tax number changed in ConnectWise and the ledger "
            "contact was updated to match (a field left empty in ConnectWise is kept). "
            "Nothing to do unless the ledger's values were the right ones: then correct "
            "them in ConnectWise.",
        ),
        Code(
            "SOURCE_CHANGED_AFTER_POST",
            _W,
            "Changed in ConnectWise after it was posted",
            "The ledger keeps the first version; change the ledger document by hand if needed.",
        ),
        Code(
            "DESCRIPTION_TRUNCATED",
            _W,
            "Line description shortened",
            "The ledger limits description length; the full text stays in ConnectWise.",
        ),
        Code(
            "REFERENCE_TRUNCATED",
            _W,
            "Document reference shortened",
            "The ledger limits reference length; the full text stays in ConnectWise.",
        ),
        Code(
            "ALREADY_IN_LEDGER",
            _W,
            "Found already in the ledger",
            "The document existed in the ledger (an earlier attempt); it was linked, not posted again.",
        ),
        Code(
            "ACKNOWLEDGE_PENDING",
            _W,
            "Posted, not yet marked posted in ConnectWise",
            "wisesync keeps retrying the ConnectWise accounting batch; check the connection.",
        ),
        Code(
            "LEDGER_OUTAGE_WAITING",
            _W,
            "The ledger is not answering; the records wait",
            "The ledger kept failing (5xx, timeouts, 429s) after retries. The company is paused "
            "and its records are tried again after pauses as long as the outage so far (30 s "
            "to 2 minutes), for up to an hour, then fail "
            "with LEDGER_UNAVAILABLE; nothing to do unless the ledger stays down.",
        ),
        Code(
            "DAILY_LIMIT_REACHED",
            _W,
            "Ledger daily API limit reached",
            "The company is paused until the ledger's daily limit resets; records wait, none fail.",
        ),
        # --- information ---
        Code(
            "BILLING_STATUS_HOLD",
            _I,
            "Held by billing status",
            "The invoice's ConnectWise billing status is in the company's hold list.",
        ),
        Code(
            "SOURCE_RECORD_COMBINED",
            _I,
            "Posted inside another record's document",
            "ConnectWise exported it as part of one document with other records (an expense "
            "bill); see that record's result.",
        ),
        Code(
            "ACKNOWLEDGED",
            _I,
            "Marked posted in ConnectWise",
            "An accounting batch now holds the record's GL entries.",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Message:
    """One message on a result: severity, catalog code, text, optional line index."""

    severity: Severity
    code: str
    text: str
    line: int | None = None

    @property
    def hint(self) -> str:
        """The catalog's one-line fix hint for this code."""
        return CATALOG[self.code].hint

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class UnknownCode(KeyError):
    """A message code that is not in :data:`CATALOG`."""


class BadCode(ValueError):
    """A message code a plugin registered that is malformed or clashes with another."""


_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def check_code(code: object) -> list[str]:
    """What is wrong with a catalog entry (empty when it is well formed)."""
    if not isinstance(code, Code):
        return [f"expected a wisesync.messages.Code, got {code!r}"]
    problems = []
    if not isinstance(code.name, str) or not _NAME.fullmatch(code.name):
        problems.append(f"name {code.name!r} is not UPPER_SNAKE_CASE")
    if not isinstance(code.severity, Severity):
        problems.append(f"severity {code.severity!r} is not a wisesync.messages.Severity")
    if not isinstance(code.title, str) or not code.title.strip():
        problems.append("it has no title")
    if not isinstance(code.hint, str) or not code.hint.strip():
        problems.append("it has no fix hint")
    elif "\n" in code.hint:
        problems.append("its fix hint is more than one line")
    return problems


def install(codes: Iterable[tuple[str, Code]]) -> None:
    """Add plugin codes (``(plugin name, code)`` pairs) to :data:`CATALOG`, all or none.

    Raises :class:`BadCode` naming the plugin when a code is malformed, is registered
    twice, or redefines a code already in the catalog. Installing the very same entry
    again (a registry built twice in one process) is allowed.
    """
    staged: dict[str, tuple[str, Code]] = {}
    for plugin, code in codes:
        wrong = check_code(code)
        name = getattr(code, "name", code)
        if wrong:
            raise BadCode(
                f"plugin {plugin!r} registered a malformed message code {name!r}: "
                + "; ".join(wrong)
            )
        if name in staged and staged[name][1] != code:
            raise BadCode(
                f"message code {name!r} is registered twice (plugins {staged[name][0]!r} "
                f"and {plugin!r}); each code must have one owner"
            )
        if name in CATALOG and CATALOG[name] != code:
            raise BadCode(
                f"plugin {plugin!r} registered message code {name!r}, which already exists "
                "with another meaning; choose another name"
            )
        staged[name] = (plugin, code)
    CATALOG.update({name: code for name, (_, code) in staged.items()})


def message(
    code: str, text: str, *, line: int | None = None, severity: Severity | str | None = None
) -> Message:
    """Build a message for a catalog ``code`` (default severity unless overridden)."""
    try:
        entry = CATALOG[code]
    except KeyError:
        raise UnknownCode(
            f"{code!r} is not a wisesync message code; add it to wisesync.messages.CATALOG "
            "(ledger-neutral) or register it from the plugin (register_message_codes)"
        ) from None
    sev = Severity(severity) if severity is not None else entry.severity
    return Message(sev, code, text, line)


def has_errors(messages: list[Message] | tuple[Message, ...]) -> bool:
    """True when any message stops the record."""
    return any(m.severity is Severity.ERROR for m in messages)
