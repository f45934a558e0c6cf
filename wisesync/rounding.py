"""What a ledger will compute for a document, and the rounding / adjustment lines that make
its total equal the source total. Ledger-neutral: a ledger plugin describes how its ledger
computes with a :class:`RoundingRule`. Pure functions over Decimal.

The model (the ledgers supported so far all work this way; each plugin's reference notes
give the details):

* quantity and unit amount keep ``quantity_dp`` / ``unit_dp`` decimals;
* each line amount is ``round(quantity * unit amount, amount_dp)``;
* tax is computed per line on the line amount and rounded to ``amount_dp``
  (exclusive: ``amount * rate``; inclusive: ``amount * rate / (1 + rate)``), then summed;
* the total is the sum of the line amounts, plus the tax when amounts exclude tax.

Rounding is half away from zero (:func:`wisesync.money.round_money`).

The two corrections, in this order:

1. **rounding line**: the source sends more decimals than the ledger keeps, so its lines
   can sum to a different figure than the ledger's rounded lines. The difference goes on
   one untaxed line coded to the rounding account (``ROUNDING_APPLIED``).
2. **adjustment line**: if the ledger total still differs from the source total (tax
   computed per line vs on the subtotal, a header total that disagrees with its lines),
   an untaxed adjustment line closes the gap (``ADJUSTMENT_APPLIED``) unless it is larger
   than the company's cap (``ADJUSTMENT_OVER_CAP``; a cap of 0 means no cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from wisesync.money import round_money

ZERO = Decimal("0")
HUNDRED = Decimal("100")


@dataclass(frozen=True, slots=True)
class RoundingRule:
    """How a ledger rounds.

    Attributes:
        quantity_dp: decimals the ledger keeps on a quantity.
        unit_dp: decimals it keeps on a unit amount (as the client asks for it).
        amount_dp: decimals of line amounts, tax and totals.
        negative_quantity: the ledger accepts a negative quantity; when it does not, a
            negative line is sent as a positive quantity at a negative unit amount.
        source_rounding: a line whose source total is off quantity x unit amount by at
            most this much per unit of quantity keeps its quantity and unit amount (the
            source rounded its price; the rounding line takes the difference) instead of
            having its unit amount re-derived from the total (0: always re-derive).
    """

    quantity_dp: int = 4
    unit_dp: int = 4
    amount_dp: int = 2
    negative_quantity: bool = True
    source_rounding: Decimal = ZERO

    def within_source_rounding(self, line: SourceLine) -> bool:
        """Whether ``line``'s total differs from quantity x unit amount by no more than
        ``source_rounding`` per unit of quantity: the source's own rounding (of its unit
        price to cents, say), not a discount or a fixed price."""
        gap = abs(line.line_amount - line.quantity * line.unit_amount)
        return bool(self.source_rounding) and gap <= abs(line.quantity) * self.source_rounding

    def quantity(self, value: Decimal) -> Decimal:
        """``value`` rounded as the ledger keeps a quantity."""
        return value.quantize(Decimal(1).scaleb(-self.quantity_dp), rounding=ROUND_HALF_UP)

    def unit(self, value: Decimal) -> Decimal:
        """``value`` rounded as the ledger keeps a unit amount."""
        return value.quantize(Decimal(1).scaleb(-self.unit_dp), rounding=ROUND_HALF_UP)

    def amount(self, value: Decimal) -> Decimal:
        """``value`` rounded as the ledger keeps an amount."""
        return round_money(value, self.amount_dp)

    def line_amount(self, quantity: Decimal, unit_amount: Decimal) -> Decimal:
        """The ledger's line amount for a quantity and unit amount."""
        return self.amount(self.quantity(quantity) * self.unit(unit_amount))

    def line_tax(self, amount: Decimal, rate_percent: Decimal, *, inclusive: bool) -> Decimal:
        """The ledger's tax on one line amount at ``rate_percent`` (10 for 10%)."""
        if not rate_percent:
            return ZERO
        if inclusive:
            return self.amount(amount * rate_percent / (HUNDRED + rate_percent))
        return self.amount(amount * rate_percent / HUNDRED)


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source line as the rounding maths needs it.

    ``line_amount`` is the source's own line total (any number of decimals);
    ``tax_rate`` is the percent the ledger will apply to this line.
    """

    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    tax_rate: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A line as it will be sent to the ledger and what the ledger will make of it."""

    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    tax: Decimal


def ledger_line(line: SourceLine, rule: RoundingRule, *, inclusive: bool) -> LedgerLine:
    """The quantity and unit amount to send for ``line``, and the ledger's amount and tax.

    When the source's line total is simply ``quantity * unit amount`` the two are sent as
    they are (rounded as the ledger keeps them); any difference is a rounding artefact left
    to the rounding line. When it is not (a discount, a fixed price, a zero quantity), the
    unit amount is re-derived from the line total so the ledger's line carries the source's
    amount.
    """
    quantity, unit = line.quantity, line.unit_amount
    if quantity < 0 and not rule.negative_quantity:  # negate both, same amount
        quantity, unit = -quantity, -unit
    if quantity == 0:
        quantity, unit = Decimal("1"), line.line_amount
    elif rule.amount(line.quantity * line.unit_amount) != rule.amount(
        line.line_amount
    ) and not rule.within_source_rounding(line):
        unit = line.line_amount / quantity
    quantity, unit = rule.quantity(quantity), rule.unit(unit)
    amount = rule.line_amount(quantity, unit)
    return LedgerLine(
        quantity, unit, amount, rule.line_tax(amount, line.tax_rate, inclusive=inclusive)
    )


@dataclass(frozen=True, slots=True)
class Balance:
    """The result of :func:`balance`.

    Attributes:
        lines: the ledger lines, one per source line, same order.
        rounding: amount of the rounding line (0 = none needed).
        adjustment: amount of the adjustment line needed (0 = none).
        over_cap: that adjustment is larger than the cap: the record fails, no line is added.
        source_total: the source total the document must reach (rounded as the ledger does).
        ledger_total: the total the ledger will compute with the rounding and adjustment
            lines (equals ``source_total`` unless ``over_cap``).
        ledger_tax: the tax the ledger will compute.
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
    rule: RoundingRule,
    *,
    inclusive: bool = False,
    cap: Decimal = Decimal("10.00"),
) -> Balance:
    """Plan the rounding and adjustment lines that make the ledger's total ``source_total``.

    ``source_total`` None means "whatever the lines say" (sum of line amounts, plus their
    tax when exclusive). Rounding and adjustment lines are untaxed.
    """
    ledger = tuple(ledger_line(line, rule, inclusive=inclusive) for line in lines)
    ledger_amounts = sum((ln.line_amount for ln in ledger), ZERO)
    ledger_tax = sum((ln.tax for ln in ledger), ZERO)
    rounding = rule.amount(sum((ln.line_amount for ln in lines), ZERO)) - ledger_amounts
    total = ledger_amounts + rounding + (ZERO if inclusive else ledger_tax)
    target = total if source_total is None else rule.amount(source_total)
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
