"""Which QBO entity a record becomes.

=========================================  ==============  ==========================
ConnectWise record                         QBO entity      lines
=========================================  ==============  ==========================
invoice                                    Invoice         SalesItemLineDetail (items)
invoice with a negative total, credit memo CreditMemo      SalesItemLineDetail
expense, procurement receipt               Bill            AccountBasedExpenseLineDetail
the same with a negative total (a return), VendorCredit    AccountBasedExpenseLineDetail
personal expense on a company card
inventory adjustment / transfer (C1)       JournalEntry    JournalEntryLineDetail
=========================================  ==============  ==========================

QBO refuses a document with a negative total, so a negative invoice or bill is sent as
the matching credit with every amount negated (as the Xero plugin does).
"""

from __future__ import annotations

from dataclasses import dataclass

from wisesync.documents import source_total
from wisesync.events.models import RecordEvent, RecordType

#: procurement subtypes that are bills (anything else is a journal, contract C1)
BILL_SUBTYPES = frozenset({"receipt", "purchase", "purchase_receipt"})
#: a personal expense paid with a company card (the employee owes the company)
PERSONAL_SUBTYPES = frozenset({"personal", "personal_expense", "company_card_personal"})


@dataclass(frozen=True, slots=True)
class Entity:
    """A QBO transaction entity: its name, party list and line detail."""

    name: str
    party: str | None  # "Customer", "Vendor" or None (journals)
    sales: bool

    @property
    def party_ref(self) -> str | None:
        """``CustomerRef`` / ``VendorRef``."""
        return f"{self.party}Ref" if self.party else None


INVOICE = Entity("Invoice", "Customer", True)
CREDIT_MEMO = Entity("CreditMemo", "Customer", True)
BILL = Entity("Bill", "Vendor", False)
VENDOR_CREDIT = Entity("VendorCredit", "Vendor", False)
JOURNAL = Entity("JournalEntry", None, False)
ENTITIES = {e.name: e for e in (INVOICE, CREDIT_MEMO, BILL, VENDOR_CREDIT, JOURNAL)}


def is_journal(record: RecordEvent) -> bool:
    """An inventory adjustment or transfer (contract C1)."""
    return record.record_type is RecordType.PROCUREMENT and (
        (record.subtype or "receipt") not in BILL_SUBTYPES
    )


def entity_for(record: RecordEvent) -> tuple[Entity, int]:
    """The QBO entity for ``record`` and the sign (1 or -1) to apply to its amounts."""
    if is_journal(record):
        return JOURNAL, 1
    negative = source_total(record) < 0
    sign = -1 if negative else 1
    rt = record.record_type
    if rt is RecordType.INVOICE:
        return (CREDIT_MEMO if negative else INVOICE), sign
    if rt is RecordType.CREDIT_MEMO:
        return CREDIT_MEMO, sign
    if rt in (RecordType.EXPENSE, RecordType.PROCUREMENT):
        personal = (record.subtype or "").strip().lower() in PERSONAL_SUBTYPES
        return (VENDOR_CREDIT if negative or personal else BILL), sign
    raise ValueError(f"QuickBooks Online does not take {rt.value} records")
