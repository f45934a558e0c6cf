"""Render the tenant as ConnectWise JSON: only the fields of ConnectWise's published
models (``reference/connectwise_accounting.schema.json``, checked by :mod:`.schema`).

Each record's JSON is built once per revision and cached (see :class:`Views`),
so listing or exporting thousands of records costs a dict lookup per record.
The views are mixins by resource (:mod:`.references`, :mod:`.companies`, :mod:`.invoices`,
:mod:`.expenses`, :mod:`.procurement`, :mod:`.batches`) on the helpers of :mod:`.common`.
Numbers are Decimals written as exact JSON numbers without trailing zeros
(``12.5``, ``100``), as ConnectWise's doubles serialise.

What the GL export looks like, after Zynk's public GL export samples of ConnectWise
(``Exporting-GL-Batches-from-ConnectWise-REST-Interface.md`` and
``Downloading-GL-Batches-from-ConnectWise-Accounting-Interface.md`` in
zynksoftware/Zynk-Workflow):

* It is a journal: an invoice's ``detail`` rows are its credit side, their
  ``quantity`` and ``total`` signed against the header (a 42.00 invoice: product
  ``-35.00``, quantity ``-5``; sales tax ``-7.00``, GL type ``ST``, ``taxNote``
  ``AUTOSTAX``, quantity 0); a credit memo's header is negative and its rows
  positive. Purchase details likewise against the receipt header (``-50`` at
  ``itemCost`` 0.25: ``cost`` 12.5 is the extended cost, ``total`` ``-12.5``).
* Account strings follow the GL caption (see :meth:`Views.account_number`).

Conventions the sandbox fixes where the published material is silent (UNCONFIRMED):

* ``UnpostedInvoice.id`` is the invoice's AR GL entry id (so it appears in
  ``glEntryIds``); ``billingLogId`` and ``GLExportTransaction.id`` are the
  invoice rec id (``/finance/invoices/{id}``).
* ``UnpostedExpense.id`` == ``GLExportExpense.id`` == the expense's GL entry id;
  the offset (company-paid expenses) has its own GL entry id in ``offset.id``.
  An expense bill's ``id`` is its first expense's; each detail's ``id`` lists the
  expense's GL entry ids.
* ``UnpostedProcurement.id`` is the GL entry id of the record's first line; every
  ``purchaseDetail[].id`` and ``purchaseDetailTax[].id`` is a GL entry id.
  Adjustment details have no id in the model: an adjustment's (and a transfer's)
  ``id`` is its identifier, equal to the unposted row's ``unpostedProductId``.
* ``glClass`` is the Class-type segments in caption order (Location, Department,
  Non-Product ID) joined with ``-``, or ``""`` when all are empty.
* Freight on a receipt is both ``freightAmount`` (header, informational) and
  a ``purchaseDetail`` line with ``glTypeId == "PF"`` (the one to post).
* A foreign-currency customer's documents carry its ``currency``; the published
  models have no exchange-rate field, so none is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..state import State
from .batches import BatchViews
from .common import (
    ACCOUNT_SEPARATOR,
    COMPANY_TYPES,
    CURRENCIES,
    CURRENCY,
    LINE_ITEM_TYPE,
    PLAIN_ACCOUNT_TYPES,
    SCHEMA,
    encode_json,
    info,
    num,
)
from .companies import CompanyViews
from .expenses import ExpenseViews
from .invoices import InvoiceViews
from .procurement import ProcurementViews
from .references import ReferenceViews


class Views(
    ReferenceViews,
    CompanyViews,
    InvoiceViews,
    ExpenseViews,
    ProcurementViews,
    BatchViews,
):
    """Builds (and caches) the JSON of every entity in a :class:`State`."""

    def __init__(self, state: State) -> None:
        self.s = state
        self._cache: dict[tuple[str, int], tuple[tuple[int, int], Any]] = {}
        self._bytes: dict[int, tuple[Any, bytes]] = {}
        self._memos: dict[tuple[str, Any], Any] = {}
        self._memo_rev = -1

    def _cached(self, view: str, ident: int, rev: int, build: Callable[[], Any]) -> Any:
        token = (rev, self.s.ref_rev)
        hit = self._cache.get((view, ident))
        if hit is not None and hit[0] == token:
            return hit[1]
        if hit is not None:
            self._bytes.pop(id(hit[1]), None)
        value = build()
        self._cache[(view, ident)] = (token, value)
        return value

    def encoded(self, view: Any) -> bytes:
        """The JSON bytes of a view returned by a cached builder, encoded once.

        Only for objects this class caches (they stay alive while their entry
        does, so ``id()`` cannot be reused); anything else is encoded each time.
        """
        hit = self._bytes.get(id(view))
        if hit is not None and hit[0] is view:
            return hit[1]
        data = encode_json(view)
        self._bytes[id(view)] = (view, data)
        return data

    def clear(self) -> None:
        """Drop every cached view."""
        self._cache.clear()
        self._bytes.clear()

    def _memo(self, kind: str, key: Any, build: Callable[[], Any]) -> Any:
        """Small derived values (references, account numbers), rebuilt after reference edits."""
        if self._memo_rev != self.s.ref_rev:
            self._memos.clear()
            self._memo_rev = self.s.ref_rev
        try:
            return self._memos[(kind, key)]
        except KeyError:
            value = self._memos[(kind, key)] = build()
            return value


__all__ = [
    "ACCOUNT_SEPARATOR",
    "COMPANY_TYPES",
    "CURRENCIES",
    "CURRENCY",
    "LINE_ITEM_TYPE",
    "PLAIN_ACCOUNT_TYPES",
    "SCHEMA",
    "Views",
    "encode_json",
    "info",
    "num",
]
