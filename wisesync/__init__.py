"""wisesync: ConnectWise PSA to Xero / QuickBooks Online, exactly once."""

from wisesync.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"
