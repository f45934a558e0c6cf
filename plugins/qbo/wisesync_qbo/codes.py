"""The result codes only the QBO plugin emits (registered through ``register_message_codes``)."""

from __future__ import annotations

from wisesync.messages import Code, Severity

SYNC_TOKEN_CONFLICT = Code(
    "SYNC_TOKEN_CONFLICT",
    Severity.ERROR,
    "Sync token issue: the QuickBooks record kept changing while wisesync updated it",
    "Someone is editing the customer or vendor in QuickBooks: let them save, then replay.",
    seed_issue="Sync Token issue",
)
BILL_PAYMENT_NOT_WRITTEN_BACK = Code(
    "BILL_PAYMENT_NOT_WRITTEN_BACK",
    Severity.INFO,
    "Bill payment made in QuickBooks is not written back to ConnectWise",
    "Nothing to fix: ConnectWise keeps no vendor bill payments; the bill is paid in "
    "QuickBooks, where its payment stays.",
)
CODES = (SYNC_TOKEN_CONFLICT, BILL_PAYMENT_NOT_WRITTEN_BACK)
