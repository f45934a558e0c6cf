"""The wisesync hook implementations of the Xero plugin (filled in as the pieces land)."""

from __future__ import annotations
