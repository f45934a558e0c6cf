"""Which Xero contact each customer or vendor of a batch is, creating or adopting contacts.

A customer or vendor *is* the Xero contact with its ContactNumber
(:func:`~wisesync_xero.contacts.contact_number`). One that Xero does not have yet is:

* **adopted** when Xero has an active contact of the same name without a ContactNumber
  (made by hand, or by an older wisesync) and no other new customer of the batch has
  that name: the contact gets our number (``POST /Contacts`` with its ContactID) and is
  ours from then on; the record warns ``CONTACT_ADOPTED``;
* otherwise **created** (``PUT /Contacts``, which refuses a taken name or number rather
  than matching it, unlike a contact sent inside a document): under its own name when
  no active contact has it, else under ``contact_name_pattern`` (``"{name} ({account})"``)
  with a ``CONTACT_DISAMBIGUATED`` warning on the record that created it.

When Xero refuses one (the book was stale: someone added a contact with that name or
number since it was read), the contacts are looked up once more and decided again; a
second refusal fails the records of that customer with ``CONTACT_INVALID``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wisesync import money
from wisesync.errors import RemoteError
from wisesync.events.models import Contact
from wisesync.messages import Message, Severity, message
from wisesync_xero.contacts import (
    ContactRef,
    contact_name,
    contact_number,
    name_key,
    new_contact_body,
    parse_contacts,
    pattern_name,
    where_for,
)

if TYPE_CHECKING:
    from wisesync_xero.target import XeroContext

WRITE_PARAMS = {"summarizeErrors": "false"}
MAX_NAME_ATTEMPTS = 20


@dataclass(slots=True)
class Action:
    """What to do for one customer Xero does not have: adopt ``adopt`` or create ``name``."""

    contact: Contact
    name: str
    adopt: ContactRef | None = None

    @property
    def number(self) -> str:
        """The ContactNumber the contact will have."""
        return contact_number(self.contact) or ""


@dataclass(slots=True)
class Resolution:
    """Per ContactNumber (casefolded): the warning for the record that made the contact,
    and the error for customers Xero refused."""

    notes: dict[str, Message] = field(default_factory=dict)
    errors: dict[str, Message] = field(default_factory=dict)


def _key(contact: Contact) -> str:
    return (contact_number(contact) or "").casefold()


def choose(ctx: XeroContext, contacts: Sequence[Contact]) -> list[Action]:
    """Decide, without any call, how each unknown customer of ``contacts`` gets a contact."""
    book = ctx.contacts
    pattern = ctx.company.options.contact_name_pattern
    unknown: dict[str, Contact] = {}
    for contact in contacts:
        if book.find(contact) is None:
            unknown.setdefault(_key(contact), contact)
    wanting: dict[str, int] = {}
    for contact in unknown.values():
        wanting[name_key(contact_name(contact))] = (
            wanting.get(name_key(contact_name(contact)), 0) + 1
        )
    taken: set[str] = set()
    actions = []
    for contact in unknown.values():
        name = contact_name(contact)
        holder = book.named(name)
        if holder is not None and holder.number is None and wanting[name_key(name)] == 1:
            actions.append(Action(contact, holder.name, adopt=holder))
            continue
        attempt = 0
        while name_key(name) in taken or book.named(name) is not None:
            attempt += 1
            if attempt > MAX_NAME_ATTEMPTS:
                break
            name = pattern_name(contact, pattern, attempt)
        taken.add(name_key(name))
        actions.append(Action(contact, name))
    return actions


def write_contacts(
    ctx: XeroContext, method: str, elements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``PUT`` (create) or ``POST`` (update) ``/Contacts`` with ``elements``; Xero's answer
    element for each, in order (a refused whole request: a refusal for each)."""
    body = {"Contacts": elements}
    payload = money.dumps(body)
    key = "wisesync-contacts-" + hashlib.sha256(f"{method} {payload}".encode()).hexdigest()
    try:
        response = ctx.client.api(
            method,
            "/Contacts",
            params=WRITE_PARAMS,
            json_text=payload,
            headers={"Idempotency-Key": key[:128]},
        )
    except RemoteError as exc:
        if exc.status != 400:
            raise
        # the whole request was refused: nothing was saved; each element says why
        refused = {"ValidationErrors": [{"Message": f"Xero refused the request: {exc}"}]}
        return [refused for _ in elements]
    answer = (response.body or {}).get("Contacts") if isinstance(response.body, dict) else None
    if not isinstance(answer, list) or len(answer) != len(elements):
        answer = [{} for _ in elements]  # unreadable: treat each as refused, then look up
    return answer


def refusal(element: dict[str, Any]) -> str | None:
    """Xero's reason for refusing a contact element, or None when it was saved."""
    errors = [
        str(e.get("Message"))
        for e in element.get("ValidationErrors") or []
        if isinstance(e, dict) and e.get("Message")
    ]
    if errors:
        return "; ".join(errors)
    if not element.get("ContactID") or element.get("HasValidationErrors"):
        return "Xero did not return the contact"
    return None


def _execute(
    ctx: XeroContext, actions: list[Action], terms: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Adopt and create (a new contact with its ``PaymentTerms`` from ``terms``, by
    number casefolded); returns the refusals by number (casefolded)."""
    book = ctx.contacts
    refused: dict[str, str] = {}
    adopt = [a for a in actions if a.adopt is not None]
    create = [a for a in actions if a.adopt is None]
    for method, group, elements in (
        (
            "POST",
            adopt,
            [
                {"ContactID": a.adopt.contact_id, "ContactNumber": a.number}
                for a in adopt
                if a.adopt
            ],
        ),
        (
            "PUT",
            create,
            [
                {**new_contact_body(a.contact, terms.get(a.number.casefold())), "Name": a.name}
                for a in create
            ],
        ),
    ):
        if not group:
            continue
        for action, element in zip(group, write_contacts(ctx, method, elements), strict=True):
            reason = refusal(element)
            if reason is None:
                book.add(parse_contacts({"Contacts": [element]})[0])
            else:
                refused[action.number.casefold()] = reason
    return refused


def _note(action: Action) -> Message | None:
    contact = action.contact
    if action.adopt is not None:
        return message(
            "CONTACT_ADOPTED",
            f"Xero contact '{action.adopt.name}' (no contact number, made outside wisesync) "
            f"is now ConnectWise '{contact.name}': it was given contact number {action.number}.",
            severity=Severity.WARNING,
        )
    if name_key(action.name) != name_key(contact_name(contact)):
        return message(
            "CONTACT_DISAMBIGUATED",
            f"Another Xero contact is named '{contact_name(contact)}'; ConnectWise "
            f"'{contact.name}' (number {action.number}) was created as '{action.name}'.",
            severity=Severity.WARNING,
        )
    return None


def resolve(
    ctx: XeroContext,
    contacts: Sequence[Contact],
    terms: dict[str, dict[str, Any]] | None = None,
) -> Resolution:
    """Make sure every customer of ``contacts`` has its Xero contact in the book (a
    created one with its ``PaymentTerms`` from ``terms``, by number casefolded)."""
    out = Resolution()
    pending = list(contacts)
    for last in (False, True):
        actions = choose(ctx, pending)
        if not actions:
            break
        refused = _execute(ctx, actions, terms or {})
        for action in actions:
            note = _note(action)
            key = action.number.casefold()
            if key not in refused and note is not None:
                out.notes[key] = note
        if not refused:
            break
        failed = [a.contact for a in actions if a.number.casefold() in refused]
        if last:
            for contact in failed:
                key = _key(contact)
                out.errors[key] = message(
                    "CONTACT_INVALID",
                    f"Xero refused the contact for ConnectWise '{contact.name}' "
                    f"(number {contact_number(contact)}): {refused[key]}",
                )
            break
        # the book was stale: learn what Xero has under those numbers and names, decide again
        pattern = ctx.company.options.contact_name_pattern
        where = where_for(failed, pattern)
        body = ctx.client.get_json("/Contacts", {"where": where, "includeArchived": "true"})
        ctx.contacts.add_all(parse_contacts(body))
        pending = failed
    return out
