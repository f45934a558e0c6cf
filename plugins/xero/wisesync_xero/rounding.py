"""What Xero will compute for a document, and the rounding / adjustment lines that make
its total equal the ConnectWise total. Pure functions over Decimal.

How Xero computes (reference/xero.md section 3, "How Xero computes totals and rounds"):

* Quantity keeps 4 decimals and, with ``unitdp=4``, so does UnitAmount;
* each line amount is ``round(Quantity * UnitAmount, 2)``;
* tax is computed per line on the line amount and rounded to 2 decimals
  (exclusive: ``amount * rate``; inclusive: ``amount * rate / (1 + rate)``),
  then summed;
* the total is the sum of the line amounts, plus the tax when amounts exclude tax.

Rounding is half away from zero (:func:`wisesync.money.round_money`).

Wise-Sync's two corrections, in this order:

1. **rounding line**: ConnectWise sends up to 7 decimals, so its lines can sum to a
   different 2-decimal figure than Xero's rounded lines. The difference goes on one
   untaxed line coded to the rounding account (``ROUNDING_APPLIED``).
2. **adjustment line**: if the ledger total still differs from the ConnectWise total
   (tax computed per line vs on the subtotal, a header total that disagrees with its
   lines), an untaxed adjustment line closes the gap (``ADJUSTMENT_APPLIED``) unless it
   is larger than the company's cap (``ADJUSTMENT_OVER_CAP``; a cap of 0 means no cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from wisesync.money import round_money

ZERO = Decimal("0")
HUNDRED = Decimal("100")
_Q4 = Decimal("0.0001")


def q4(value: Decimal) -> Decimal:
    """Round to the 4 decimals Xero keeps on quantities and (with unitdp=4) unit amounts."""
    return value.quantize(_Q4, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_amount: Decimal) -> Decimal:
    """Xero's line amount: ``round(q4(quantity) * q4(unit_amount), 2)``."""
    return round_money(q4(quantity) * q4(unit_amount))


def line_tax(amount: Decimal, rate_percent: Decimal, *, inclusive: bool) -> Decimal:
    """Xero's tax on one line amount at ``rate_percent`` (10 for 10%), rounded to 2 dp."""
    if not rate_percent:
        return ZERO
    if inclusive:
        return round_money(amount * rate_percent / (HUNDRED + rate_percent))
    return round_money(amount * rate_percent / HUNDRED)


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One ConnectWise line as the rounding maths needs it.

    ``line_amount`` is ConnectWise's own line total (up to 7 decimals);
    ``tax_rate`` is the percent Xero will apply to this line.
    """

    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    tax_rate: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A line as it will be sent to Xero and what Xero will make of it."""

    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    tax: Decimal


def ledger_line(line: SourceLine, *, inclusive: bool) -> LedgerLine:
    """The quantity and unit amount to send for ``line``, and Xero's line amount and tax.

    When ConnectWise's line total is simply ``quantity * unit amount`` the two are sent
    as they are (4 dp); any difference is a rounding artefact left to the rounding line.
    When it is not (a discount, a fixed price, a zero quantity), the unit amount is
    re-derived from the line total so Xero's line carries ConnectWise's amount.
    """
    quantity, unit = line.quantity, line.unit_amount
    if quantity < 0:  # Xero refuses negative quantities; negate both, same amount
        quantity, unit = -quantity, -unit
    if quantity == 0:
        quantity, unit = Decimal("1"), line.line_amount
    elif round_money(line.quantity * line.unit_amount) != round_money(line.line_amount):
        unit = line.line_amount / quantity
    quantity, unit = q4(quantity), q4(unit)
    amount = line_amount(quantity, unit)
    return LedgerLine(quantity, unit, amount, line_tax(amount, line.tax_rate, inclusive=inclusive))


@dataclass(frozen=True, slots=True)
class Balance:
    """The result of :func:`balance`.

    Attributes:
        lines: the ledger lines, one per source line, same order.
        rounding: amount of the rounding line (0 = none needed).
        adjustment: amount of the adjustment line needed (0 = none).
        over_cap: that adjustment is larger than the cap: the record fails, no line is added.
        source_total: the ConnectWise total the document must reach (2 dp).
        ledger_total: the total Xero will compute with the rounding and adjustment
            lines (equals ``source_total`` unless ``over_cap``).
        ledger_tax: the tax Xero will compute.
    """

    lines: tuple[LedgerLine, ...]
    rounding: Decimal
    adjustment: Decimal
    over_cap: bool
    source_total: Decimal
    ledger_total: Decimal
    ledger_tax: Decimal


def balance(
    lines: Sequence[SourceLine],
    source_total: Decimal | None,
    *,
    inclusive: bool = False,
    cap: Decimal = Decimal("10.00"),
) -> Balance:
    """Plan the rounding and adjustment lines that make Xero's total equal ``source_total``.

    ``source_total`` None means "whatever the lines say" (sum of line amounts, plus
    their tax when exclusive). Rounding and adjustment lines are untaxed.
    """
    ledger = tuple(ledger_line(line, inclusive=inclusive) for line in lines)
    ledger_amounts = sum((ln.line_amount for ln in ledger), ZERO)
    ledger_tax = sum((ln.tax for ln in ledger), ZERO)
    rounding = round_money(sum((ln.line_amount for ln in lines), ZERO)) - ledger_amounts
    total = ledger_amounts + rounding + (ZERO if inclusive else ledger_tax)
    target = total if source_total is None else round_money(source_total)
    adjustment = target - total
    over_cap = bool(cap) and abs(adjustment) > cap
    final = total if over_cap else target
    return Balance(
        lines=ledger,
        rounding=rounding,
        adjustment=adjustment,
        over_cap=over_cap,
        source_total=target,
        ledger_total=final,
        ledger_tax=ledger_tax,
    )
