"""Which of the sandbox's business rules are on, and the limits it enforces.

Documented rules are on by default and can be relaxed for experiments; rules Xero is
**not documented** to have are marked *unconfirmed* and can be switched off:

* ``negative_quantity`` (unconfirmed): refuse a line with a negative ``Quantity``
  ("Quantity must not be less than zero"). The wording comes from a help page about
  purchase orders (reference/xero.md section 7); that Xero refuses it on invoices and
  credit notes is not documented.
* ``numbers_case_insensitive`` (unconfirmed): ACCREC invoice and credit-note numbers
  are unique regardless of case ("inv-1" clashes with "INV-1"). Xero documents the
  numbers as unique, not how case is compared.

Limits Xero documents (invoices page; reference/xero.md section 3):

* ``description_max`` 4,000 characters on a line ``Description``;
* ``reference_max`` 255 characters on ``Reference`` (reference/xero.md cites the invoices
  page; note that Xero removed ``maxLength`` from the spec's ``Invoice.Reference`` in
  2020 because the web app accepts longer ones, XeroAPI/Xero-OpenAPI#331: whether the
  API refuses 256 characters is therefore not certain; raise it to relax the rule);
* ``number_max`` 255 characters on ``InvoiceNumber``, printable ASCII only
  (``printable_numbers``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleSwitches:
    """The sandbox's switchable rules and documented limits (see the module docstring)."""

    negative_quantity: bool = True  # unconfirmed
    numbers_case_insensitive: bool = True  # unconfirmed
    description_max: int = 4000
    reference_max: int = 255
    number_max: int = 255
    printable_numbers: bool = True


DEFAULT_SWITCHES = RuleSwitches()


def is_printable_ascii(text: str) -> bool:
    """Only printable ASCII characters (space to tilde)."""
    return all(" " <= ch <= "~" for ch in text)
