"""Which Xero document a record becomes.

=========================  =====================  ==========================
ConnectWise record         Xero document          endpoint / number field
=========================  =====================  ==========================
invoice                    ACCREC invoice         /Invoices, InvoiceNumber
invoice, negative total    ACCRECCREDIT           /CreditNotes, CreditNoteNumber
credit memo                ACCRECCREDIT           /CreditNotes, CreditNoteNumber
expense, procurement       ACCPAY bill            /Invoices, InvoiceNumber
personal expense (company  ACCPAYCREDIT           /CreditNotes, CreditNoteNumber
card), or negative total
inventory adjustment or    manual journal         /ManualJournals, Narration
transfer (contract C1)                            (Xero journals have no number)
=========================  =====================  ==========================

Xero refuses documents with a negative total, so a negative document is sent as the
matching credit with every amount negated (product.md 1.2: negative invoices become
credit notes; a personal expense paid with a company card is a credit bill).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wisesync.documents import source_total
from wisesync.events.models import RecordEvent, RecordType

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class DocKind:
    """A Xero document type and where it lives in the API."""

    type: str
    endpoint: str
    number_field: str
    id_field: str
    sales: bool

    @property
    def is_credit(self) -> bool:
        """A credit note (ACCRECCREDIT / ACCPAYCREDIT)."""
        return self.endpoint == "CreditNotes"

    @property
    def is_journal(self) -> bool:
        """A manual journal: no contact, no number, found again by its narration."""
        return self.endpoint == "ManualJournals"


ACCREC = DocKind("ACCREC", "Invoices", "InvoiceNumber", "InvoiceID", True)
ACCPAY = DocKind("ACCPAY", "Invoices", "InvoiceNumber", "InvoiceID", False)
ACCRECCREDIT = DocKind("ACCRECCREDIT", "CreditNotes", "CreditNoteNumber", "CreditNoteID", True)
ACCPAYCREDIT = DocKind("ACCPAYCREDIT", "CreditNotes", "CreditNoteNumber", "CreditNoteID", False)
MANUAL_JOURNAL = DocKind("MANUALJOURNAL", "ManualJournals", "Narration", "ManualJournalID", False)
KINDS = {k.type: k for k in (ACCREC, ACCPAY, ACCRECCREDIT, ACCPAYCREDIT)}

#: Procurement subtypes that are documents with a vendor (anything else, such as an
#: inventory adjustment or transfer, is a journal: contract C1).
BILL_SUBTYPES = frozenset({"receipt", "purchase", "purchase_receipt"})

#: ``RecordEvent.subtype`` values that mark a personal expense paid with a company card.
PERSONAL_SUBTYPES = frozenset({"personal", "personal_expense", "company_card_personal"})


def is_personal(record: RecordEvent) -> bool:
    """A personal expense paid with a company card (the employee owes the company)."""
    return (record.subtype or "").strip().lower() in PERSONAL_SUBTYPES


def is_journal(record: RecordEvent) -> bool:
    """An inventory adjustment or transfer: a journal in the ledger, not a bill."""
    return record.record_type is RecordType.PROCUREMENT and (
        (record.subtype or "receipt") not in BILL_SUBTYPES
    )


def document_kind(record: RecordEvent) -> tuple[DocKind, int]:
    """The Xero document for ``record`` and the sign (1 or -1) to apply to its amounts."""
    if is_journal(record):
        return MANUAL_JOURNAL, 1  # signed lines: debit +, credit - (contract C1)
    negative = source_total(record) < 0
    sign = -1 if negative else 1
    rt = record.record_type
    if rt is RecordType.INVOICE:
        return (ACCRECCREDIT if negative else ACCREC), sign
    if rt is RecordType.CREDIT_MEMO:
        return ACCRECCREDIT, sign
    if rt in (RecordType.EXPENSE, RecordType.PROCUREMENT):
        if rt is RecordType.EXPENSE and is_personal(record):
            return ACCPAYCREDIT, sign
        return (ACCPAYCREDIT if negative else ACCPAY), sign
    raise ValueError(f"Xero does not take {rt.value} records")


__all__ = ["KINDS", "DocKind", "document_kind", "is_personal", "source_total"]
