"""Matching ConnectWise customers and vendors to Xero contacts.

A ConnectWise company is identified in Xero by ``ContactNumber``: its account number,
else ``CW-`` + its ConnectWise id (:func:`contact_number`). Never by name: two
ConnectWise customers may share a name, while Xero keeps the names of active contacts
unique and would put one customer's documents on the other's contact. A name only
matters when a contact is created (:mod:`wisesync_xero.contact_resolve` picks a free
one, or adopts a hand-made same-named contact that has no number).

:class:`ContactBook` caches what is known per tenant. It is filled either by one
listing of the organisation's contacts (1 call per 1,000 contacts, once per TTL) or,
for organisations with many contacts, by one batched ``where`` query per batch for
the contacts that are not cached yet (:func:`where_for`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from wisesync.events.models import Contact

NAME_MAX = 255
NUMBER_MAX = 50


#: the contact fields wisesync keeps in step with ConnectWise, by the name users know
DETAIL_FIELDS = {
    "EmailAddress": "email",
    "Phones": "phone",
    "Addresses": "address",
    "TaxNumber": "tax number",
}


@dataclass(frozen=True, slots=True)
class ContactRef:
    """A Xero contact as far as matching needs it; ``details`` are its
    :data:`DETAIL_FIELDS` as Xero holds them (:func:`ledger_details`), None when the
    answer it came from did not carry them."""

    contact_id: str
    name: str
    number: str | None = None
    status: str = "ACTIVE"
    details: dict[str, Any] | None = field(default=None, compare=False, hash=False)


def name_key(name: str) -> str:
    """The key names are compared by (Xero matches names case-insensitively)."""
    return " ".join(name.split()).casefold()


def contact_name(contact: Contact) -> str:
    """The Xero contact name for a ConnectWise contact (trimmed, at most 255 chars)."""
    return " ".join(contact.name.split())[:NAME_MAX]


def contact_number(contact: Contact) -> str | None:
    """The Xero ContactNumber identifying a ConnectWise contact: its account number,
    else ``CW-`` + its ConnectWise id (at most 50 characters, Xero's limit)."""
    number = (contact.account_number or "").strip()
    if not number and contact.source_id.strip():
        number = f"CW-{contact.source_id.strip()}"
    return number[:NUMBER_MAX] or None


def pattern_name(contact: Contact, pattern: str, attempt: int = 1) -> str:
    """``contact``'s name by ``pattern`` (``{name}``, ``{account}``, ``{id}``), at most
    255 characters (the name is cut, the distinguishing part kept); ``attempt`` > 1
    appends `` #attempt`` for when that name is taken too."""
    ident = contact.source_id.strip()
    account = (contact.account_number or "").strip() or ident
    tail = "" if attempt <= 1 else f" #{attempt}"
    marker = "\x00"
    shape = pattern.format(name=marker, account=account, id=ident) + tail
    room = NAME_MAX - len(shape) + len(marker)
    name = contact_name(contact)[: max(room, 1)].rstrip()
    return " ".join(shape.replace(marker, name).split())[:NAME_MAX]


@dataclass(slots=True)
class ContactBook:
    """Known Xero contacts of one tenant.

    ``complete_at`` is when the whole contact list was last loaded. ``targeted`` is set
    when the organisation has too many contacts to list: then each batch looks up the
    contacts it needs that are not cached yet (``looked_up`` remembers the misses, so a
    contact is searched for once).

    The poster posts several batches of one tenant at once: ``listing`` makes them wait
    for one listing (or look-up) instead of each making it, and ``creating`` is held
    while a batch that creates contacts is written, so two batches never create the
    same customer (the next one finds it in the book, learnt from the first's answer),
    and while a batch updates changed contacts (``sent``: the details last sent per
    number, see :mod:`wisesync_xero.contact_update`).
    """

    by_number: dict[str, ContactRef] = field(default_factory=dict)
    by_name: dict[str, ContactRef] = field(default_factory=dict)
    complete_at: float | None = None
    targeted: bool = False
    looked_up: set[str] = field(default_factory=set)
    sent: dict[str, str] = field(default_factory=dict)
    listing: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    creating: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, ref: ContactRef) -> None:
        """Remember ``ref`` (archived contacts are remembered by number only, so a new
        contact is not matched onto them by name). A ref without details (e.g. the
        contact inside a document answer) keeps the details already known."""
        if ref.details is None and ref.number:
            known = self.by_number.get(ref.number.casefold())
            if known is not None and known.contact_id == ref.contact_id:
                ref = replace(ref, details=known.details)
        if ref.number:
            self.by_number[ref.number.casefold()] = ref
        if ref.status == "ACTIVE":
            self.by_name.setdefault(name_key(ref.name), ref)

    def add_all(self, refs: Iterable[ContactRef]) -> None:
        """Remember every ref."""
        for ref in refs:
            self.add(ref)

    def find(self, contact: Contact) -> ContactRef | None:
        """The Xero contact that is ``contact``: the one with its number (never by name)."""
        number = contact_number(contact)
        return self.by_number.get(number.casefold()) if number else None

    def named(self, name: str) -> ContactRef | None:
        """The active Xero contact called ``name`` (as Xero compares names), if known."""
        return self.by_name.get(name_key(name))

    def is_fresh(self, now: float, ttl: float) -> bool:
        """The full list was loaded less than ``ttl`` seconds ago."""
        return self.complete_at is not None and now - self.complete_at < ttl

    def mark_looked_up(self, contact: Contact) -> None:
        """Remember that ``contact`` was searched for and not found (no second search)."""
        self.looked_up.add(lookup_key(contact))

    def was_looked_up(self, contact: Contact) -> bool:
        """``contact`` was searched for already."""
        return lookup_key(contact) in self.looked_up


def lookup_key(contact: Contact) -> str:
    """A key for "this ConnectWise contact was already searched for"."""
    return f"{(contact_number(contact) or '').casefold()}|{name_key(contact_name(contact))}"


def parse_contacts(body: Any) -> list[ContactRef]:
    """``GET /Contacts`` (or a PUT response) body -> contact refs."""
    out = []
    for raw in (body or {}).get("Contacts", []):
        cid = raw.get("ContactID")
        if not cid or raw.get("HasValidationErrors"):
            continue
        out.append(
            ContactRef(
                contact_id=str(cid),
                name=str(raw.get("Name") or ""),
                number=str(raw["ContactNumber"]) if raw.get("ContactNumber") else None,
                status=str(raw.get("ContactStatus") or "ACTIVE"),
                details=ledger_details(raw),
            )
        )
    return out


def ledger_details(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The :data:`DETAIL_FIELDS` of a Xero contact element, shaped as
    :func:`new_contact_body` writes them (the POBOX address, the DEFAULT phone); None
    when the element lacks its ``Addresses`` or ``Phones`` (a document's abbreviated
    contact, or a summary: that Xero's ``summaryOnly`` listing keeps them is unconfirmed,
    and without them nothing is compared, so nothing is updated by mistake)."""
    if "Addresses" not in raw or "Phones" not in raw:
        return None
    out: dict[str, Any] = {}
    for key in ("EmailAddress", "TaxNumber"):
        if raw.get(key):
            out[key] = str(raw[key])
    for address in raw.get("Addresses") or []:
        if isinstance(address, dict) and address.get("AddressType") == "POBOX":
            parts = {k: str(v) for k, v in address.items() if k in ADDRESS_PARTS and v}
            if parts:
                out["Addresses"] = [{"AddressType": "POBOX", **parts}]
    for phone in raw.get("Phones") or []:
        if (
            isinstance(phone, dict)
            and phone.get("PhoneType") == "DEFAULT"
            and phone.get("PhoneNumber")
        ):
            out["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": str(phone["PhoneNumber"])}]
    return out


def quote(value: str) -> str:
    """A string literal for a Xero ``where`` filter: double quotes, with ``\\`` and ``"``
    escaped (names like ``O'Brien`` or ``The "Best" Ltd`` stay intact)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def where_for(contacts: Iterable[Contact], pattern: str | None = None) -> str:
    """A ``where`` filter matching any of ``contacts`` by ContactNumber or Name (and, with
    ``pattern``, the disambiguated name it would be created under)."""
    terms: list[str] = []
    seen: set[str] = set()
    for contact in contacts:
        number = contact_number(contact)
        for term in (
            f"ContactNumber=={quote(number)}" if number else None,
            f"Name=={quote(contact_name(contact))}",
            f"Name=={quote(pattern_name(contact, pattern))}" if pattern else None,
        ):
            if term and term not in seen:
                seen.add(term)
                terms.append(term)
    return " OR ".join(terms)


def _split_name(full: str) -> tuple[str | None, str | None]:
    parts = full.split()
    if not parts:
        return None, None
    if len(parts) == 1:
        return parts[0][:NAME_MAX], None
    return " ".join(parts[:-1])[:NAME_MAX], parts[-1][:NAME_MAX]


#: the address parts wisesync writes, with Xero's length limits
ADDRESS_PARTS = {
    "AddressLine1": 500,
    "AddressLine2": 500,
    "City": 255,
    "Region": 255,
    "PostalCode": 50,
    "Country": 50,
}


def new_contact_body(
    contact: Contact, payment_terms: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Xero Contact element that creates ``contact``: name, number, the billing
    (else primary) person's name and email, address, phone, tax number and, when given,
    its ``PaymentTerms`` (:mod:`wisesync_xero.payment_terms`)."""
    body: dict[str, Any] = {"Name": contact_name(contact)}
    if payment_terms:
        body["PaymentTerms"] = payment_terms
    number = contact_number(contact)
    if number:
        body["ContactNumber"] = number
    person = contact.billing_contact or contact.primary_contact
    if person is not None:
        first, last = _split_name(person.name)
        if first:
            body["FirstName"] = first
        if last:
            body["LastName"] = last
        if person.email and person.email.isascii():
            body["EmailAddress"] = person.email.strip()[:255]
    if contact.tax_number:
        body["TaxNumber"] = contact.tax_number[:50]
    addr = contact.address
    if addr is not None and any(
        (addr.line1, addr.line2, addr.city, addr.region, addr.postal_code, addr.country)
    ):
        address: dict[str, Any] = {"AddressType": "POBOX"}
        values = (addr.line1, addr.line2, addr.city, addr.region, addr.postal_code, addr.country)
        for (key, limit), value in zip(ADDRESS_PARTS.items(), values, strict=True):
            if value:
                address[key] = value[:limit]
        body["Addresses"] = [address]
    if contact.phone:
        body["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": contact.phone[:50]}]
    return body
