"""Customers and vendors by DisplayName, and the Sync Token Issue.

QBO keeps DisplayName unique across customers, vendors and employees (error 6240), so
a ConnectWise company is found by its name, folded. :class:`PartyBook` holds every
customer and vendor (read with one ``/batch`` of two queries, 1,000 rows each, then
paged) for ``customers_ttl``. :func:`ensure_parties` creates the missing ones (30 per
batch call, with the billing contact's e-mail and the address) and updates those whose
details changed in ConnectWise.

An update carries the entity's SyncToken. When someone saved it in QBO since it was read
(5010, Stale Object Error) it is read again and retried once; a second 5010 fails the
records of that customer with SYNC_TOKEN_CONFLICT, the seed's Sync Token issue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wisesync.events.models import Contact, RecordEvent
from wisesync.messages import Message, message
from wisesync_qbo.client import QboClient, error_code, error_text, fault_errors, quote, read_lists

BATCH_MAX = 30


def name_key(name: str) -> str:
    """DisplayName as QBO compares it (case and spacing do not matter)."""
    return " ".join(name.split()).casefold()


def display_name(contact: Contact) -> str:
    """The DisplayName for a ConnectWise company (QBO keeps 100 characters)."""
    return " ".join(contact.name.split())[:100]


def details(contact: Contact) -> dict[str, Any]:
    """The customer/vendor fields wisesync keeps in step with ConnectWise."""
    out: dict[str, Any] = {"CompanyName": display_name(contact)}
    person = contact.billing_contact or contact.primary_contact
    if person is not None and person.email:
        out["PrimaryEmailAddr"] = {"Address": person.email}
    if contact.phone:
        out["PrimaryPhone"] = {"FreeFormNumber": contact.phone}
    address = contact.address
    if address is not None:
        out["BillAddr"] = {
            k: v
            for k, v in {
                "Line1": address.line1,
                "Line2": address.line2,
                "City": address.city,
                "CountrySubDivisionCode": address.region,
                "PostalCode": address.postal_code,
                "Country": address.country,
            }.items()
            if v
        }
    return out


def party_currency(record: RecordEvent) -> str | None:
    """The currency of the record's customer/vendor: ConnectWise's where known (contract
    C2 ``customer_currency``), else the record's own (None: the home currency)."""
    code = record.attributes.get("customer_currency") or record.currency
    return str(code).upper() if code else None


#: the fields kept in step with ConnectWise, by the name users know (QBO's tax
#: identifiers are region-specific and read back masked, so the tax number is not one)
DETAIL_FIELDS = {"PrimaryEmailAddr": "email", "PrimaryPhone": "phone", "BillAddr": "address"}


def _fold(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def changed_fields(stored: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The detail fields of ``wanted`` that differ from the ``stored`` entity, as a sparse
    update sends them: an object's parts compared one by one (case and spacing folded),
    and sent over the stored object, so a part ConnectWise left empty is kept."""
    out: dict[str, Any] = {}
    for key, value in wanted.items():
        if key not in DETAIL_FIELDS:
            continue
        have = stored.get(key) if isinstance(stored.get(key), dict) else {}
        if any(_fold(v) != _fold(have.get(k)) for k, v in value.items()):
            out[key] = {**have, **value}
    return out


def update_note(party: str, name: str, fields: Sequence[str]) -> Message:
    """The CONTACT_UPDATED warning for a customer/vendor updated from ConnectWise."""
    changed = ", ".join(DETAIL_FIELDS[f] for f in fields)
    return message(
        "CONTACT_UPDATED",
        f"QuickBooks {party.lower()} '{name}' updated from ConnectWise: {changed} changed.",
    )


@dataclass(slots=True)
class Party:
    """A known customer or vendor."""

    id: str
    name: str
    sync_token: str
    active: bool
    row: dict[str, Any]


@dataclass
class PartyBook:
    """Customers and vendors by folded DisplayName."""

    parties: dict[str, dict[str, Party]] = field(
        default_factory=lambda: {"Customer": {}, "Vendor": {}}
    )
    loaded_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, str] = field(default_factory=dict)  # folded name -> the update last sent

    def find(self, party: str, name: str) -> Party | None:
        """The ``party`` (Customer/Vendor) named ``name``."""
        return self.parties[party].get(name_key(name))

    def add(self, party: str, row: dict[str, Any]) -> Party:
        """Remember an entity QBO returned."""
        found = Party(
            str(row["Id"]),
            str(row.get("DisplayName") or ""),
            str(row.get("SyncToken") or "0"),
            row.get("Active", True) is not False,
            row,
        )
        self.parties[party][name_key(found.name)] = found
        return found


PARTIES = ("Customer", "Vendor")


def fill(book: PartyBook, rows: dict[str, list[dict[str, Any]]], now: float) -> None:
    """Replace the book's customers and vendors with ``rows`` (entity -> rows)."""
    fresh = PartyBook()
    for party in PARTIES:
        for row in rows.get(party, []):
            fresh.add(party, row)
    book.parties = fresh.parties
    book.loaded_at = now


def load(client: QboClient, book: PartyBook, now: float) -> None:
    """Read every customer and vendor (one batch call, then paging)."""
    fill(book, read_lists(client, PARTIES), now)


@dataclass(slots=True)
class Failure:
    """Why the records of one party cannot post."""

    code: str
    text: str

    def message(self) -> Message:
        return message(self.code, self.text)


def _failure(party: str, name: str, error: dict[str, Any]) -> Failure:
    code = error_code(error)
    if code == "6240":
        return Failure(
            "CONTACT_INVALID",
            f"QuickBooks already uses the name '{name}' for another customer, vendor or "
            "employee (names are unique across the three, error 6240): rename one of them "
            "(or re-activate the inactive one), then replay.",
        )
    if code == "5010":
        return Failure(
            "SYNC_TOKEN_CONFLICT",
            f"QuickBooks {party.lower()} '{name}' kept changing while wisesync updated it "
            "(Stale Object Error 5010, twice): someone is editing it in QuickBooks. Let them "
            "finish, then replay.",
        )
    return Failure(
        "CONTACT_INVALID", f"QuickBooks refused {party.lower()} '{name}': {error_text(error)}"
    )


def _write(
    client: QboClient, book: PartyBook, party: str, ops: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Send create/update operations (30 per call); the first Error of each refused one."""
    refused: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ops), BATCH_MAX):
        chunk = ops[start : start + BATCH_MAX]
        items = [
            {"bId": str(n), "operation": op, party: body} for n, (_, op, body) in enumerate(chunk)
        ]
        for (name, _, _), answer in zip(chunk, client.batch(items), strict=True):
            if answer.get(party):
                book.add(party, answer[party])
            else:
                errors = fault_errors({"Fault": answer.get("Fault")})
                refused[name] = errors[0] if errors else {"Message": "refused"}
    return refused


def _reread(client: QboClient, book: PartyBook, party: str, names: list[str]) -> None:
    ids = [book.find(party, n).id for n in names if book.find(party, n) is not None]  # type: ignore[union-attr]
    for start in range(0, len(ids), BATCH_MAX):
        where = "Id IN (" + ", ".join(quote(i) for i in ids[start : start + BATCH_MAX]) + ")"
        for row in client.query_all(party, where):
            book.add(party, row)


def ensure_parties(
    client: QboClient,
    book: PartyBook,
    records: Sequence[RecordEvent],
    party: str,
    *,
    multicurrency: bool = False,
    updated: dict[str, Message] | None = None,
) -> dict[str, Failure]:
    """Create missing and update changed parties of ``records``; failures by folded name.

    With ``multicurrency`` a new party is created in its records' currency (QBO fixes a
    customer's or vendor's currency at creation, and its documents must be in it). An
    update sends only the changed fields (sparse) and puts its CONTACT_UPDATED warning in
    ``updated`` (by folded name); QBO's answer refreshes the book, and the book remembers
    what was sent, so the same change is sent once."""
    creates: dict[str, tuple[str, str, dict[str, Any]]] = {}
    updates: dict[str, Contact] = {}
    changes: dict[str, dict[str, Any]] = {}
    failures: dict[str, Failure] = {}
    for record in records:
        assert record.contact is not None
        name = display_name(record.contact)
        key = name_key(name)
        known = book.find(party, name)
        wanted = details(record.contact)
        if known is not None and not known.active:
            failures[key] = Failure(
                "CONTACT_INVALID",
                f"QuickBooks {party.lower()} '{name}' is inactive: make it active in QuickBooks, "
                "then replay.",
            )
        elif known is None:
            body = {"DisplayName": name, **wanted}
            currency = party_currency(record) if multicurrency else None
            if currency:
                body["CurrencyRef"] = {"value": currency}
            creates.setdefault(key, (name, "create", body))
        elif key not in updates:
            change = changed_fields(known.row, wanted)
            if change and book.sent.get(key) != repr(change):
                updates[key], changes[key] = record.contact, change
    for name, error in _write(client, book, party, list(creates.values())).items():
        failures[name_key(name)] = _failure(party, name, error)

    def update_ops(contacts: list[Contact]) -> list[tuple[str, str, dict[str, Any]]]:
        ops = []
        for contact in contacts:
            known = book.find(party, display_name(contact))
            assert known is not None
            key = name_key(display_name(contact))
            change = changed_fields(known.row, details(contact)) or changes[key]
            body = {"Id": known.id, "SyncToken": known.sync_token, "sparse": True, **change}
            ops.append((display_name(contact), "update", body))
        return ops

    first = _write(client, book, party, update_ops(list(updates.values())))
    retry = [n for n, e in first.items() if error_code(e) == "5010"]
    refused = {n: e for n, e in first.items() if n not in retry}
    if retry:  # the Sync Token Issue: read again, try once more
        _reread(client, book, party, retry)
        again = [updates[name_key(n)] for n in retry]
        refused.update(_write(client, book, party, update_ops(again)))
    for name, error in refused.items():
        failures[name_key(name)] = _failure(party, name, error)
    for key, change in changes.items():
        if key not in failures:  # a refused update is tried again (a replay)
            book.sent[key] = repr(change)
            if updated is not None:
                updated[key] = update_note(party, display_name(updates[key]), list(change))
    return failures
