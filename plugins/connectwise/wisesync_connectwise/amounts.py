"""Amounts as ConnectWise rounds them, and the check that a document adds up.

ConnectWise keeps up to 7 decimals in the GL export; its documents show totals at the
currency's precision (``CurrencyReference.numberOfDecimals``, 2 when absent) and unit
amounts at 4 decimals. :class:`Rounder` rounds every figure of one record that way and
notes each one rounding changed (SOURCE_AMOUNT_ROUNDED). :func:`check_totals` refuses a
document whose lines plus tax are not its header total to the cent: such a record is
held with SOURCE_TOTALS_MISMATCH, never published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from wisesync.messages import Message, message
from wisesync.money import ZERO, fmt, round_money
from wisesync_connectwise.fields import FieldInvalid

UNIT_PLACES = 4


class TotalsMismatch(ValueError):
    """A record whose lines plus tax cannot be made to equal its header total."""

    def __init__(self, lines: Decimal, tax: Decimal, total: Decimal, what: str = "total"):
        self.lines, self.tax, self.total = lines, tax, total
        super().__init__(
            f"lines {fmt(lines)} + tax {fmt(tax)} = {fmt(lines + tax)}, but the ConnectWise "
            f"{what} is {fmt(total)} (difference {fmt(total - lines - tax)})"
        )


def places_of(*currencies: Any) -> int:
    """Decimals of the first currency reference that states them (2 otherwise)."""
    for cur in currencies:
        if isinstance(cur, dict):
            n = cur.get("numberOfDecimals")
            if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 4:
                return n
    return 2


@dataclass(slots=True)
class Rounder:
    """Rounds one record's figures and remembers where rounding changed one."""

    places: int = 2
    messages: list[Message] = field(default_factory=list)

    def money(self, value: Decimal, what: str) -> Decimal:
        """A total or line amount at the currency's precision."""
        return self._round(value, self.places, what)

    def unit(self, value: Decimal, what: str) -> Decimal:
        """A unit amount or quantity at 4 decimals."""
        return self._round(value, UNIT_PLACES, what)

    def _round(self, value: Decimal, places: int, what: str) -> Decimal:
        out = round_money(value, places)
        if out != value:
            self.messages.append(
                message(
                    "SOURCE_AMOUNT_ROUNDED",
                    f"{what}: ConnectWise {value:f} rounded to {out:f}",
                )
            )
        return out


def priced(quantity: Decimal, price: Decimal, amount: Decimal, places: int) -> bool:
    """True when quantity x price, rounded to ``places``, is ``amount`` (False when the
    product is beyond what Decimal can round)."""
    try:
        return round_money(quantity * price, places) == amount
    except InvalidOperation:
        return False


def unit_of(amount: Decimal, quantity: Decimal, where: str) -> Decimal:
    """``amount / quantity`` at 4 decimals; FieldInvalid when no ledger could hold it."""
    try:
        return round_money(amount / quantity, UNIT_PLACES)
    except InvalidOperation:
        raise FieldInvalid(where, quantity, "gives a unit amount beyond any ledger") from None


def check_totals(lines: Decimal, tax: Decimal, total: Decimal, what: str = "total") -> None:
    """Raise :class:`TotalsMismatch` unless ``lines + tax == total`` exactly."""
    if lines + tax != total:
        raise TotalsMismatch(lines, tax, total, what)


def sign_of(total: Decimal, field: str, *, credit: bool) -> int:
    """+1 / -1: the sign of a document header (a credit document's is negative).

    A zero header takes the record type's sign. A credit memo with a positive header, or
    an invoice with a negative one (say its ``invoiceType`` was lost), is refused: posting
    it as the wrong kind of document would put the wrong money in the ledger.
    """
    if total == ZERO:
        return -1 if credit else 1
    if (total < 0) != credit:
        # Whether ConnectWise ever exports a negative non-credit invoice is unconfirmed;
        # holding it is the safe reading (a ledger invoice cannot carry a negative total).
        kind = "a credit memo" if credit else "an invoice"
        sense = "positive" if credit else "negative"
        raise FieldInvalid(field, total, f"{kind} with a {sense} total (check invoiceType)")
    return -1 if total < 0 else 1
