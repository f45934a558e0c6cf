"""wisesync: ConnectWise PSA to Xero / QuickBooks Online, exactly once."""

__version__ = "0.1.0"
