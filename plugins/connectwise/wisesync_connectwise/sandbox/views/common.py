"""What every view uses: the JSON encoding, null-dropping and the field lists each resource
has been seen with (:data:`SCHEMA`), ``_info`` blocks, currencies and the fixed type maps."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import simplejson

from wisesync import money


def _currency(ident: int, code: str, name: str) -> dict[str, Any]:
    return {
        "id": ident,
        "symbol": "$",
        "currencyCode": code,
        "decimalSeparator": ".",
        "numberOfDecimals": 2,
        "thousandsSeparator": ",",
        "negativeParenthesesFlag": False,
        "displaySymbolFlag": True,
        "currencyIdentifier": code,
        "displayIdFlag": False,
        "rightAlign": False,
        "name": name,
    }


#: ``CurrencyReference`` per ISO code. The published models carry no exchange rate.
CURRENCIES = {
    "AUD": _currency(1, "AUD", "Australian Dollar"),
    "NZD": _currency(2, "NZD", "New Zealand Dollar"),
}
CURRENCY = CURRENCIES["AUD"]
#: The caption separator the sandbox writes between Account-type segments (ConnectWise
#: sets one per segment in its GL setup; the published GLCaption model does not carry it).
ACCOUNT_SEPARATOR = ":"
#: Mapped types whose account is written as its first segment alone (system accounts and
#: tax accounts): Zynk's public GL export sample shows ``AccountNumber="4001:"`` on a
#: product line but ``"9999"`` on the AR and sales-tax lines of the same invoice.
PLAIN_ACCOUNT_TYPES = frozenset({"System Account", "Tax Code"})
COMPANY_TYPES = {"Client": 1, "Vendor": 6, "Owner": 5, "Prospect": 2}
LINE_ITEM_TYPE = {
    "product": "Inventory",
    "time": "Service",
    "agreement": "Service",
    "expense": "Other Charge",
    "misc": "Non-Inventory",
}


def num(value: Decimal | int | None) -> Decimal | int | None:
    """A Decimal as CW's doubles print it: ``12.50`` -> ``12.5``, ``100.00`` -> ``100``."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


_EXPONENT = re.compile(rb"\d[eE][+-]?\d")


def encode_json(obj: Any) -> bytes:
    """JSON bytes with Decimals as exact numbers, fast.

    ``simplejson``'s C encoder writes a Decimal with ``str()``, which uses an
    exponent only below 1e-6; when anything looks like one, fall back to
    :func:`wisesync.money.dumps` (fixed-point always, but walks the object in Python).
    """
    data = simplejson.dumps(obj, use_decimal=True).encode()
    if _EXPONENT.search(data):
        return money.dumps(obj).encode()
    return data


#: Every top-level field each resource can have (null ones are left out of the JSON,
#: so the rows alone cannot tell an unknown field from an always-null one).
SCHEMA: dict[str, set[str]] = {}


def _p(d: dict[str, Any], schema: str | None = None) -> dict[str, Any]:
    """Drop null fields: ConnectWise leaves them out of its JSON rather than writing null.

    ``schema`` names the resource whose field list (:data:`SCHEMA`) ``d`` belongs to.
    """
    if schema is not None:
        known = SCHEMA.get(schema)
        if known is None or len(known) < len(d):
            # rebind, never mutate: another sandbox may be iterating the old set
            SCHEMA[schema] = (known or set()) | d.keys()
    return {k: v for k, v in d.items() if v is not None}


def info(updated: str, by: str = "APIMember") -> dict[str, str]:
    """The ``_info`` block."""
    return _p({"lastUpdated": updated, "updatedBy": by})
