"""Customers and vendors by DisplayName, and the Sync Token Issue.

QBO keeps DisplayName unique across customers, vendors and employees (error 6240), so
a ConnectWise company is found by its name, folded. :class:`PartyBook` holds the
customers and vendors for ``customers_ttl``: the first 1,000 of each (one ``/batch`` of
two queries, riding with the reference data), which is all of them in most companies; in
a bigger one the names a post needs and the book lacks are looked up with
``DisplayName IN (...)`` queries (:func:`look_up`, one ``/batch`` call) instead of paging
through every customer. :func:`plan_parties` says which to create (with the billing
contact's e-mail and the address) and which to update (details changed in ConnectWise);
:mod:`wisesync_qbo.post` sends those operations in the same ``/batch`` calls as the
documents (30 operations a call), ahead of the documents that need them.

An update carries the entity's SyncToken. When someone saved it in QBO since it was read
(5010, Stale Object Error) it is read again and retried once; a second 5010 fails the
records of that customer with SYNC_TOKEN_CONFLICT, the seed's Sync Token issue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wisesync.errors import RemoteError
from wisesync.events.models import Contact, RecordEvent
from wisesync.messages import Message, message
from wisesync_qbo.client import (
    PAGE,
    QboClient,
    error_code,
    error_text,
    fault_errors,
    quote,
    read_lists,
)
from wisesync_qbo.limits import BATCH_OPERATIONS

#: names in one ``DisplayName IN (...)`` lookup (QBO's longest query is unconfirmed: a
#: modest list keeps the statement short)
NAMES_PER_QUERY = 30


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


PARTIES = ("Customer", "Vendor")


@dataclass
class PartyBook:
    """Customers and vendors by folded DisplayName."""

    parties: dict[str, dict[str, Party]] = field(
        default_factory=lambda: {"Customer": {}, "Vendor": {}}
    )
    loaded_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: party -> whether the book holds all of them (False: more than one page, so a name
    #: not in the book is looked up before it is created)
    complete: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PARTIES, True))
    sent: dict[str, str] = field(default_factory=dict)  # folded name -> the update last sent
    #: folded name -> the ConnectWise company whose details the party follows. QBO knows a
    #: customer by DisplayName only, so two ConnectWise companies of the same name meet in
    #: one party; only the first seen updates it (else their details would flip it back
    #: and forth, an update and a CONTACT_UPDATED warning each time).
    owners: dict[str, str] = field(default_factory=dict)

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


def fill(book: PartyBook, rows: dict[str, list[dict[str, Any]]], now: float) -> None:
    """Replace the book's customers and vendors with ``rows`` (entity -> the first page of
    :data:`~wisesync_qbo.client.PAGE` rows: a full page leaves the book partial)."""
    fresh = PartyBook()
    for party in PARTIES:
        for row in rows.get(party, []):
            fresh.add(party, row)
    book.parties = fresh.parties
    book.complete = {party: len(rows.get(party, [])) < PAGE for party in PARTIES}
    book.loaded_at = now


def load(client: QboClient, book: PartyBook, now: float) -> None:
    """Read the first page of customers and of vendors (one batch call); a company with
    more has the rest looked up by name when records need them (:func:`look_up`)."""
    fill(book, read_lists(client, PARTIES, first_page_only=PARTIES), now)


def look_up(
    client: QboClient, book: PartyBook, wanted: dict[str, set[str]], *, always: bool = False
) -> None:
    """Find by DisplayName the ``wanted`` names (party -> names) a partial book lacks
    (``always``: whatever the book holds): ``DisplayName IN (...)`` queries of
    :data:`NAMES_PER_QUERY` names, quotes escaped, 30 to a ``/batch`` call. A name still
    not found is new."""
    queries: list[tuple[str, str]] = []
    for party, names in wanted.items():
        if book.complete[party] and not always:
            continue
        missing = sorted(n for n in names if book.find(party, n) is None)
        for start in range(0, len(missing), NAMES_PER_QUERY):
            listed = ", ".join(quote(n) for n in missing[start : start + NAMES_PER_QUERY])
            queries.append(
                (party, f"select * from {party} where DisplayName IN ({listed}) maxresults {PAGE}")
            )
    for start in range(0, len(queries), BATCH_OPERATIONS):
        chunk = queries[start : start + BATCH_OPERATIONS]
        items = [{"bId": f"q{n}", "Query": text} for n, (_, text) in enumerate(chunk)]
        for (party, _), answer in zip(chunk, client.batch(items), strict=True):
            errors = fault_errors({"Fault": answer.get("Fault")}) if answer.get("Fault") else []
            if errors:
                raise RemoteError(
                    client.system, 400, f"looking up {party}: {error_text(errors[0])}"
                )
            for row in (answer.get("QueryResponse") or {}).get(party) or []:
                book.add(party, row)


@dataclass(slots=True)
class Failure:
    """Why the records of one party cannot post."""

    code: str
    text: str

    def message(self) -> Message:
        return message(self.code, self.text)


def failure_of(op: PartyOp, error: dict[str, Any]) -> Failure:
    """Why the records of ``op``'s party cannot post, from the Error QBO answered it with."""
    party, name, code = op.party, op.name, error_code(error)
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


@dataclass(slots=True)
class PartyOp:
    """One customer/vendor create or update waiting to be sent in a ``/batch`` call."""

    party: str
    name: str
    operation: str
    body: dict[str, Any]
    contact: Contact
    #: an update's changed detail fields (sparse), empty for a create
    change: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """(party, folded name): what the documents waiting on it are filed under."""
        return (self.party, name_key(self.name))

    def item(self, bid: str) -> dict[str, Any]:
        """The ``BatchItemRequest`` entry."""
        return {"bId": bid, "operation": self.operation, self.party: self.body}


def update_op(
    book: PartyBook, party: str, contact: Contact, change: dict[str, Any] | None = None
) -> PartyOp:
    """A sparse update of the known ``party`` to ``contact``'s changed details (compared
    with the entity as last read, else ``change``), with the SyncToken last read."""
    name = display_name(contact)
    known = book.find(party, name)
    assert known is not None
    change = changed_fields(known.row, details(contact)) or change or {}
    body = {"Id": known.id, "SyncToken": known.sync_token, "sparse": True, **change}
    return PartyOp(party, name, "update", body, contact, change)


def updated(book: PartyBook, op: PartyOp) -> Message | None:
    """After ``op`` was accepted: remember an update as sent (the same change is sent
    once) and return its CONTACT_UPDATED warning; None for a create."""
    if op.operation != "update" or not op.change:
        return None
    book.sent[name_key(op.name)] = repr(op.change)
    return update_note(op.party, op.name, list(op.change))


def settle(book: PartyBook, op: PartyOp, answer: dict[str, Any]) -> dict[str, Any] | None:
    """Take the answer of ``op``'s batch item: remember the entity QBO returned (None), or
    the first Error of its Fault."""
    if answer.get(op.party):
        book.add(op.party, answer[op.party])
        return None
    errors = fault_errors({"Fault": answer.get("Fault")})
    return errors[0] if errors else {"Message": "refused"}


def reread(client: QboClient, book: PartyBook, ops: Sequence[PartyOp]) -> None:
    """Read the parties of ``ops`` again by Id (their SyncToken moved on: 5010)."""
    for party in PARTIES:
        ids = [book.find(party, o.name) for o in ops if o.party == party]
        known = [p.id for p in ids if p is not None]
        for start in range(0, len(known), BATCH_OPERATIONS):
            where = (
                "Id IN ("
                + ", ".join(quote(i) for i in known[start : start + BATCH_OPERATIONS])
                + ")"
            )
            for row in client.query_all(party, where):
                book.add(party, row)


def plan_parties(
    book: PartyBook,
    records: Sequence[RecordEvent],
    party: str,
    *,
    multicurrency: bool = False,
) -> tuple[list[PartyOp], dict[str, Failure]]:
    """What the parties of ``records`` need before their documents can post: creates of the
    missing and updates of the changed (one per party), and failures (inactive) by folded
    name. Nothing is sent here; :mod:`wisesync_qbo.post` packs the operations into the
    ``/batch`` calls that also carry documents.

    With ``multicurrency`` a new party is created in its records' currency (QBO fixes a
    customer's or vendor's currency at creation, and its documents must be in it). An
    update sends only the changed fields (sparse); the book remembers what was sent
    (:func:`updated`), so the same change is sent once."""
    ops: dict[str, PartyOp] = {}
    failures: dict[str, Failure] = {}
    for record in records:
        assert record.contact is not None
        name = display_name(record.contact)
        key = name_key(name)
        if key in ops or key in failures:
            continue
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
            ops[key] = PartyOp(party, name, "create", body, record.contact)
            book.owners[key] = record.contact.source_id
        else:
            if book.owners.setdefault(key, record.contact.source_id) != record.contact.source_id:
                continue  # another ConnectWise company of the same name: not its details
            change = changed_fields(known.row, wanted)
            if change and book.sent.get(key) != repr(change):
                ops[key] = update_op(book, party, record.contact, change)
    return list(ops.values()), failures
