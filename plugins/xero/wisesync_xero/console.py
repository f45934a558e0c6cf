"""The Xero plugin's answers to the web console's hooks (:mod:`wisesync.console.hookspecs`):
the Xero options on the Options page, and links to posted documents in Xero."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wisesync.hookspecs import hookimpl

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig

STATUSES = ("AUTHORISED", "DRAFT")

#: Document pages of the signed-in organisation, by record type. Unconfirmed: these are the
#: long-standing go.xero.com page paths (Xero's own tools add an organisation short code,
#: which needs a GET /Organisation we do not make); the link opens the organisation the
#: person last used in Xero.
DOCUMENT_PAGES = {
    "invoice": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={id}",
    "credit_memo": "https://go.xero.com/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}",
    "expense": "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID={id}",
    "procurement": "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID={id}",
}


@hookimpl
def console_company_options(company: CompanyConfig) -> list[Any] | None:
    """Approval status of invoices and bills, "sent" flag, missing tracking options."""
    if company.ledger != "xero":
        return None
    from wisesync.console.settings import OptionField

    return [
        OptionField(
            "xero.invoice_status",
            "Approval status of invoices",
            "choice",
            lambda c: _approval(c).invoice_status,
            "AUTHORISED posts approved invoices (Wise-Sync: records created in Xero are "
            "automatically approved); DRAFT leaves them for review in Xero.",
            STATUSES,
        ),
        OptionField(
            "xero.bill_status",
            "Approval status of bills and credit notes",
            "choice",
            lambda c: _approval(c).bill_status,
            "",
            STATUSES,
        ),
        OptionField(
            "xero.mark_sent",
            "Mark approved invoices as sent",
            "bool",
            lambda c: "on" if _approval(c).mark_sent else "off",
            'Sets Xero\'s "Sent to contact" flag.',
        ),
        OptionField(
            "options.tracking_missing",
            "When a tracking option is missing in Xero",
            "choice",
            lambda c: c.options.tracking_missing,
            "warn posts without it and says so; halt stops the record.",
            ("warn", "halt"),
        ),
    ]


def _approval(company: CompanyConfig) -> Any:
    """The company's ``[companies.xero]`` approval settings (defaults when unset)."""
    from wisesync_xero.settings import approval_of

    return approval_of(company)


@hookimpl
def console_document_url(
    company: CompanyConfig, target: str, record_type: str, ledger_id: str
) -> str | None:
    """The document's page in Xero (documents this plugin posted)."""
    page = DOCUMENT_PAGES.get(record_type)
    if target != "xero" or page is None or not ledger_id:
        return None
    return page.format(id=quote(ledger_id, safe=""))
