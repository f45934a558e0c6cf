"""The QuickBooks Online plugin's answers to the web console's hooks
(:mod:`wisesync.console.hookspecs`): its options on the Options page (through the hook, so
no console edit was needed), and links to posted invoices and credit memos in QuickBooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wisesync.hookspecs import hookimpl

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig

#: QuickBooks Online's pages of a transaction, by record type. Unconfirmed: the long-standing
#: ``/app/<form>?txnId=<Id>`` addresses of QuickBooks Online's web app (the company shown is
#: the one the person last opened). Bills are left out: a negative procurement posts as a
#: VendorCredit, whose page the ledger id alone cannot tell apart.
DOCUMENT_PAGES = {"invoice": "invoice", "credit_memo": "creditmemo"}
APP_URL = "https://app.qbo.intuit.com/app/"
SANDBOX_APP_URL = "https://app.sandbox.qbo.intuit.com/app/"


@hookimpl
def console_company_options(company: CompanyConfig) -> list[Any] | None:
    """Duplicate bill numbers, and what a missing class or location does."""
    if company.ledger != "qbo":
        return None
    from wisesync.console.settings import OptionField

    return [
        OptionField(
            "qbo.duplicate_bill_numbers",
            "Allow duplicate bill numbers",
            "bool",
            lambda c: "on" if c.section("qbo").get("duplicate_bill_numbers") else "off",
            "QuickBooks refuses a bill whose number another bill of the vendor has; on sends "
            "its allow-duplicates flag (for vendors who reuse invoice numbers).",
        ),
        OptionField(
            "options.tracking_missing",
            "When a class or location is missing in QuickBooks",
            "choice",
            lambda c: c.options.tracking_missing,
            "warn posts without it and says so; halt stops the record.",
            ("warn", "halt"),
        ),
    ]


@hookimpl
def console_document_url(
    company: CompanyConfig, target: str, record_type: str, ledger_id: str
) -> str | None:
    """The invoice's or credit memo's page in QuickBooks Online (Intuit's sandbox app for a
    company on the sandbox API)."""
    page = DOCUMENT_PAGES.get(record_type)
    if target != "qbo" or page is None or not ledger_id:
        return None
    base_url = str(company.section("qbo").get("base_url", ""))
    app = SANDBOX_APP_URL if "sandbox" in base_url else APP_URL
    return f"{app}{page}?txnId={quote(ledger_id, safe='')}"
