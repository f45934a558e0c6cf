"""The QBO sandbox behind :class:`wisesync.testing.ledger.LedgerSandbox`: what the demo
and the ledger-neutral tests do to a QuickBooks company, in QBO's own terms."""

from __future__ import annotations

from decimal import Decimal

from wisesync.config import CompanyConfig
from wisesync.protocols import PluginRuntime
from wisesync.testing.ledger import PostedDocument, SandboxControls, check_account_kind

from .seed import add_account

#: ledger-neutral account kind -> (QBO AccountType, AccountSubType)
_TYPES = {
    "revenue": ("Income", "ServiceFeeIncome"),
    "expense": ("Expense", "OtherMiscellaneousServiceCost"),
    "asset": ("Other Current Asset", "OtherCurrentAssets"),
    "liability": ("Other Current Liability", "OtherCurrentLiabilities"),
    "equity": ("Equity", "OwnersEquity"),
}
#: the document entities, in the order posted_documents lists them
DOCUMENTS = ("Invoice", "CreditMemo", "Bill", "VendorCredit", "JournalEntry")


def _consent(url: str) -> None:
    """The user's browser: the sandbox consents at once and redirects to the callback."""
    import requests

    requests.get(url, timeout=30)


class QboLedgerSandbox(SandboxControls):
    """The controls of one running QBO sandbox (its first company)."""

    def create_account(self, code: str, name: str, kind: str = "revenue") -> None:
        """Create (or re-activate) the account with AcctNum ``code``."""
        check_account_kind(kind)
        company = self.app.company()
        with self.app.lock:
            existing = company.find("Account", AcctNum=code)
            if existing is not None:
                existing["Active"] = True
                company.replace("Account", existing)
                return
            add_account(company, code, name, *_TYPES[kind])

    def archive_account(self, code: str) -> None:
        """Make the account inactive (QBO cannot delete accounts)."""
        self.app.set_active("Account", code, False)

    def revoke_connection(self) -> None:
        """The QBO user disconnects the app: calls 401, refresh ``invalid_grant``."""
        self.app.revoke()

    def restore_connection(self) -> None:
        """The QBO user connects the app again."""
        self.app.reconnect()

    def connect(self, runtime: PluginRuntime, company: CompanyConfig) -> None:
        """``wisesync qbo connect --company KEY`` with the sandbox's auto-consent."""
        from wisesync.store.tokens import PostgresTokenStore
        from wisesync_qbo.connect_cli import connect_company

        connect_company(
            runtime,
            company,
            PostgresTokenStore(runtime.db),
            port=0,
            open_url=_consent,
            echo=lambda _: None,
        )

    def keep_editing(self, customer: str) -> None:
        """A QuickBooks user keeps saving customer ``customer`` (added first, without the
        e-mail, phone and address ConnectWise has, so wisesync updates it): every update
        wisesync sends meets a newer SyncToken (5010), also after reading it again."""
        company = self.app.company()
        with self.app.lock:
            row = company.find("Customer", DisplayName=customer)
            if row is None:
                row = company.insert("Customer", {"DisplayName": customer, "Active": True})
        self.app.keep_editing("Customer", row["Id"])

    def stop_editing(self) -> None:
        """The QuickBooks user finished editing."""
        self.app.stop_editing()

    def enable_currency(self, code: str) -> None:
        """Turn multi-currency on and add ``code``."""
        company = self.app.company()
        with self.app.lock:
            company.multicurrency = True
            company.currencies.add(code.upper())

    def posted_documents(self) -> list[PostedDocument]:
        """Invoices, credit memos, bills, vendor credits and journals, oldest first per kind."""
        return [
            PostedDocument(
                kind=entity,
                number=str(doc.get("DocNumber") or ""),
                total=Decimal(str(doc.get("TotalAmt", "0"))),
                status="Voided" if doc.get("PrivateNote") == "Voided" else "Posted",
                ledger_id=str(doc["Id"]),
            )
            for entity in DOCUMENTS
            for doc in self.app.documents(entity)
        ]
