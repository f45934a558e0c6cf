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
CODES = (SYNC_TOKEN_CONFLICT,)
