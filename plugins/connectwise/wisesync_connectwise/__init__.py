"""wisesync's ConnectWise PSA plugin: the source of invoices, credit memos, expenses and
procurement, the acknowledger of posted records, and the target of ledger payments."""

__version__ = "0.1.0"
