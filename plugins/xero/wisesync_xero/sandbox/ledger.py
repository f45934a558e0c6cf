"""The Xero sandbox behind :class:`wisesync.testing.ledger.LedgerSandbox`: what the demo
and the ledger-neutral tests do to a Xero organisation, in Xero's own terms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync.config import CompanyConfig
from wisesync.protocols import PluginRuntime
from wisesync.testing.ledger import PostedDocument, SandboxControls, check_account_kind

#: ledger-neutral account kind -> Xero account Type
_TYPES = {
    "revenue": "REVENUE",
    "expense": "EXPENSE",
    "asset": "CURRENT",
    "liability": "CURRLIAB",
    "equity": "EQUITY",
}


class XeroLedgerSandbox(SandboxControls):
    """The controls of one running Xero sandbox (its first organisation)."""

    def create_account(self, code: str, name: str, kind: str = "revenue") -> None:
        """Create (or re-activate) an account of Xero Type for ``kind``."""
        check_account_kind(kind)
        self.app.create_account(code, name, _TYPES[kind])

    def archive_account(self, code: str) -> None:
        """Archive the account (Status ARCHIVED)."""
        self.app.archive_account(code)

    def revoke_connection(self) -> None:
        """The Xero user disconnects the app: calls 401, refresh ``invalid_grant``."""
        self.app.revoke()

    def restore_connection(self) -> None:
        """The Xero user authorises the app again."""
        self.app.reconnect()

    def connect(self, runtime: PluginRuntime, company: CompanyConfig) -> None:
        """``wisesync xero connect --company KEY`` with the stored custom connection."""
        from wisesync.store.tokens import PostgresTokenStore
        from wisesync_xero.connect_cli import connect_company

        connect_company(runtime, company, PostgresTokenStore(runtime.db), echo=lambda _: None)

    def enable_currency(self, code: str) -> None:
        """Add ``code`` to the organisation's currencies (Xero: Settings > Currencies)."""
        self.app.enable_currency(code)

    def posted_documents(self) -> list[PostedDocument]:
        """Invoices (ACCREC/ACCPAY), credit notes and manual journals (numbered by their
        narration, totalled by their debits), oldest first per kind."""
        docs = [(d["Type"], d.get("InvoiceNumber"), d, "InvoiceID") for d in self.app.invoices()]
        docs += [
            ("CreditNote", d.get("CreditNoteNumber"), d, "CreditNoteID")
            for d in self.app.credit_notes()
        ]
        docs += [
            ("ManualJournal", d.get("Narration"), {**d, "Total": _debits(d)}, "ManualJournalID")
            for d in self.app.manual_journals()
        ]
        return [
            PostedDocument(
                kind=kind,
                number=str(number or ""),
                total=Decimal(str(doc.get("Total", "0"))),
                status=str(doc.get("Status", "")),
                ledger_id=str(doc.get(id_field, "")),
            )
            for kind, number, doc, id_field in docs
        ]


def _debits(journal: dict[str, Any]) -> Decimal:
    """A manual journal's total: the sum of its debit (positive) lines."""
    amounts = (Decimal(str(ln.get("LineAmount", "0"))) for ln in journal.get("JournalLines", []))
    return sum((a for a in amounts if a > 0), Decimal("0"))
