"""How Xero rounds: the ledger-neutral algorithm of :mod:`wisesync.rounding` with Xero's rule.

From reference/xero.md section 3, "How Xero computes totals and rounds": quantity keeps 4
decimals and, with ``unitdp=4``, so does UnitAmount; line amounts, per-line tax and totals
are rounded half away from zero to 2 decimals; Xero refuses negative quantities (a negative
line is sent as a positive quantity at a negative unit amount).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from wisesync import rounding as _kit
from wisesync.rounding import Balance, LedgerLine, SourceLine

__all__ = ["XERO", "Balance", "LedgerLine", "SourceLine", "balance", "ledger_line", "q4"]

XERO = _kit.RoundingRule(quantity_dp=4, unit_dp=4, amount_dp=2, negative_quantity=False)

q4 = XERO.unit
line_amount = XERO.line_amount
line_tax = XERO.line_tax


def ledger_line(line: SourceLine, *, inclusive: bool) -> LedgerLine:
    """The Xero line for ``line`` (see :func:`wisesync.rounding.ledger_line`)."""
    return _kit.ledger_line(line, XERO, inclusive=inclusive)


def balance(
    lines: Sequence[SourceLine],
    source_total: Decimal | None,
    *,
    inclusive: bool = False,
    cap: Decimal = Decimal("10.00"),
) -> Balance:
    """The rounding and adjustment lines that make Xero's total ``source_total``."""
    return _kit.balance(lines, source_total, XERO, inclusive=inclusive, cap=cap)
