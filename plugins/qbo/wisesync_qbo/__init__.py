"""QuickBooks Online ledger plugin for wisesync."""
