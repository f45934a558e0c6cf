"""In-memory state of the simulated Xero organisations (one :class:`Org` per tenant).

Documents are kept as dicts in Xero's response shape (PascalCase fields, Decimals,
``/Date(ms+0000)/`` dates). Keys starting with ``_`` are internal (links, typed dates)
and never rendered. Indexes give the look-ups the API needs: ACCREC invoice numbers,
contact numbers and names, account codes, item codes.

Identifiers come from a seeded RNG so a given seed yields the same ids; time comes from
an injectable clock (``now()`` / ``sleep()``) that the sandbox maps to UTC wall time.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from wisesync.ratelimit import Clock

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class WallClock:
    """UTC wall time derived from an injectable monotonic-style clock.

    ``utcnow() = epoch-at-start + (clock.now() - clock-at-start)``, so a scaled or
    manual clock moves document timestamps and token expiry consistently.
    """

    def __init__(self, clock: Clock, start: datetime | None = None):
        self.clock = clock
        self._t0 = clock.now()
        base = start or datetime.now(UTC)
        self._epoch0 = base.timestamp()

    def utcnow(self) -> datetime:
        """Naive UTC datetime, millisecond precision."""
        seconds = self._epoch0 + (self.clock.now() - self._t0)
        value = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)


def ms_date(value: datetime | date) -> str:
    """``/Date(1518685950940+0000)/`` for a naive-UTC datetime or a date."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    millis = int((value - datetime(1970, 1, 1)).total_seconds() * 1000)
    return f"/Date({millis}+0000)/"


def date_string(value: date) -> str:
    """``2024-01-31T00:00:00`` as Xero's ``DateString`` fields carry."""
    return f"{value.isoformat()}T00:00:00"


@dataclass
class Org:
    """One Xero organisation (tenant) and everything in it."""

    tenant_id: str
    name: str
    rng: random.Random
    wall: WallClock
    short_code: str = "!sbx01"
    organisation: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tax_rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    tracking: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    manual_journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    currencies: dict[str, dict[str, Any]] = field(default_factory=dict)  # Code -> Currency
    invoice_numbers: dict[str, str] = field(default_factory=dict)  # ACCREC number_key -> id
    credit_note_numbers: dict[str, str] = field(default_factory=dict)  # ACCRECCREDIT
    #: unique numbers compared without case (unconfirmed; see ``switches.py``)
    numbers_case_insensitive: bool = True
    next_invoice_no: int = 1
    next_credit_note_no: int = 1
    seq: int = 0
    _contact_numbers: dict[str, str] = field(default_factory=dict)
    _contact_names: dict[str, list[str]] = field(default_factory=dict)
    #: (table, folded key) -> the id a look-up last found there; checked on every use
    _found: dict[tuple[str, str], str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    # -- ids and time ---------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh, seed-deterministic UUID4 string."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_seq(self) -> int:
        """A strictly increasing number, to order documents by creation."""
        self.seq += 1
        return self.seq

    def now(self) -> datetime:
        """UTC now (naive), from the sandbox clock."""
        return self.wall.utcnow()

    def today(self) -> date:
        """Today in the organisation's timezone (AEST, UTC+10, no DST in the simulation)."""
        return (self.now() + timedelta(hours=10)).date()

    def stamp(self, doc: dict[str, Any]) -> None:
        """Set ``UpdatedDateUTC`` to now."""
        now = self.now()
        doc["_updated"] = now
        doc["UpdatedDateUTC"] = ms_date(now)

    # -- look-ups --------------------------------------------------------------------------

    def number_key(self, number: str) -> str:
        """The key a unique (ACCREC / ACCRECCREDIT) number is indexed under."""
        number = number.strip()
        return number.casefold() if self.numbers_case_insensitive else number

    @property
    def base_currency(self) -> str:
        """The organisation's base currency."""
        return str(self.organisation.get("BaseCurrency") or "AUD")

    def account_by_code(self, code: str) -> dict[str, Any] | None:
        """The account with ``code`` (case-insensitive), any status."""
        return self._find("accounts", "Code", code.strip().upper(), str.upper)

    def rounding_account(self) -> dict[str, Any] | None:
        """The account whose ``SystemAccount`` is ``ROUNDING``."""
        return next(
            (a for a in self.accounts.values() if a.get("SystemAccount") == "ROUNDING"), None
        )

    def item_by_code(self, code: str) -> dict[str, Any] | None:
        """The item with ``code`` (case-insensitive)."""
        return self._find("items", "Code", code.strip().upper(), str.upper)

    def tracking_by_name(self, name: str) -> dict[str, Any] | None:
        """The tracking category called ``name`` (case-insensitive), any status."""
        return self._find("tracking", "Name", name.strip().casefold(), str.casefold)

    def _find(
        self, table: str, key: str, wanted: str, fold: Callable[[str], str]
    ) -> dict[str, Any] | None:
        """The document of ``table`` whose folded ``key`` is ``wanted`` (codes and names are
        unique there).

        Remembers where it found each one (every line of a batch names the same few
        codes) and checks the remembered document still is in the table with that key
        before trusting it, so renames, deletions and new documents need no bookkeeping.
        """
        docs = getattr(self, table)
        known = self._found.get((table, wanted))
        if known is not None:
            doc = docs.get(known)
            if doc is not None and fold(doc[key]) == wanted:
                return doc
        for doc_id, doc in docs.items():
            if fold(doc[key]) == wanted:
                self._found[(table, wanted)] = doc_id
                return doc
        return None

    def put_contact(self, doc: dict[str, Any]) -> None:
        """Store a new contact and index its number and name."""
        self.contacts[doc["ContactID"]] = doc
        self._index_contact(doc)

    def _index_contact(self, doc: dict[str, Any]) -> None:
        number = (doc.get("ContactNumber") or "").strip().casefold()
        if number:
            self._contact_numbers.setdefault(number, doc["ContactID"])
        name = doc["Name"].strip().casefold()
        self._contact_names.setdefault(name, []).append(doc["ContactID"])

    def reindex_contacts(self) -> None:
        """Rebuild the contact indexes (after a number or name changed)."""
        self._contact_numbers.clear()
        self._contact_names.clear()
        for doc in sorted(self.contacts.values(), key=lambda c: c["_seq"]):
            self._index_contact(doc)

    def contact_by_number(self, number: str) -> dict[str, Any] | None:
        """The contact whose ``ContactNumber`` is ``number`` (case-insensitive)."""
        contact_id = self._contact_numbers.get(number.strip().casefold())
        return self.contacts.get(contact_id) if contact_id else None

    def contacts_named(self, name: str) -> list[dict[str, Any]]:
        """Every contact called ``name`` (case-insensitive), oldest first."""
        ids = self._contact_names.get(name.strip().casefold(), [])
        return [self.contacts[i] for i in ids if i in self.contacts]

    def contact_by_name(self, name: str, *, active_only: bool = False) -> dict[str, Any] | None:
        """The contact called ``name`` (case-insensitive), ACTIVE ones first."""
        found = self.contacts_named(name)
        found.sort(key=lambda c: c.get("ContactStatus") != "ACTIVE")
        if active_only:
            found = [c for c in found if c.get("ContactStatus") == "ACTIVE"]
        return found[0] if found else None

    def invoice_by_number(self, number: str, type_: str | None = None) -> dict[str, Any] | None:
        """The newest invoice numbered ``number`` (ACCREC numbers are unique)."""
        key = self.number_key(number)
        if type_ in (None, "ACCREC") and key in self.invoice_numbers:
            return self.invoices[self.invoice_numbers[key]]
        wanted = number.strip().casefold()
        found = [
            i
            for i in self.invoices.values()
            if (i.get("InvoiceNumber") or "").casefold() == wanted
            and (type_ is None or i["Type"] == type_)
        ]
        return max(found, key=lambda i: i["_seq"]) if found else None

    def credit_note_by_number(self, number: str) -> dict[str, Any] | None:
        """The newest credit note numbered ``number``."""
        key = self.number_key(number)
        if key in self.credit_note_numbers:
            return self.credit_notes[self.credit_note_numbers[key]]
        wanted = number.strip().casefold()
        found = [
            c
            for c in self.credit_notes.values()
            if (c.get("CreditNoteNumber") or "").casefold() == wanted
        ]
        return max(found, key=lambda c: c["_seq"]) if found else None

    def next_number(self, kind: str) -> str:
        """The next free auto-number (``INV-0001`` / ``CN-0001``), as Xero's org settings do."""
        while True:
            if kind == "invoice":
                number = f"INV-{self.next_invoice_no:04d}"
                self.next_invoice_no += 1
                if self.number_key(number) not in self.invoice_numbers:
                    return number
            else:
                number = f"CN-{self.next_credit_note_no:04d}"
                self.next_credit_note_no += 1
                if self.number_key(number) not in self.credit_note_numbers:
                    return number


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A rendering copy of ``doc`` without internal ``_`` keys (shallow for nested lists)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def money2(value: Decimal) -> Decimal:
    """Quantize to cents without changing the value's rounding (already rounded)."""
    return value.quantize(Decimal("0.01"))
