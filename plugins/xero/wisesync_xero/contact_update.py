"""Customers and vendors whose details changed in ConnectWise, updated in Xero once.

The details kept in step are the e-mail, the phone, the postal address and the tax number
(:data:`~wisesync_xero.contacts.DETAIL_FIELDS`), written as a new contact gets them
(:func:`~wisesync_xero.contacts.new_contact_body`). Each batch compares them with what Xero
holds (the contact book, read from Xero's contact answers) and sends one ``POST /Contacts``
(by ContactID) for the contacts that differ; the first record of each such customer
warns ``CONTACT_UPDATED`` naming the fields that changed.

Rules:

* a field ConnectWise leaves empty is never cleared in Xero (nor an address part: the
  address sent is Xero's, with ConnectWise's non-empty parts over it);
* a Xero contact that holds none of these details is left alone (see
  :func:`differences`);
* values are compared with case and spacing folded;
* once: the book keeps what was last sent per contact, so the same change is not sent
  again even if Xero stores it differently from how it was written (unconfirmed
  whether it normalises any of these fields), and Xero's answer refreshes the book, so
  the next sync with no further change makes no call;
* an update also writes the record's term as the contact's ``PaymentTerms``
  (:mod:`wisesync_xero.payment_terms`); a different term alone does not update a contact
  (ConnectWise's terms are per invoice).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wisesync.events.models import Contact
from wisesync.messages import Message, message
from wisesync_xero.contact_resolve import refusal, write_contacts
from wisesync_xero.contacts import (
    DETAIL_FIELDS,
    ContactRef,
    contact_number,
    new_contact_body,
    parse_contacts,
)

if TYPE_CHECKING:
    from wisesync_xero.target import XeroContext

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Change:
    """One contact to update: the fields to send and the names of those that changed."""

    ref: ContactRef
    contact: Contact
    send: dict[str, Any]
    changed: list[str]
    payment_terms: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """The contact's number, casefolded (the book's and the notes' key)."""
        return (contact_number(self.contact) or "").casefold()

    @property
    def fingerprint(self) -> str:
        """What is sent, as a comparable string."""
        return repr(sorted((k, repr(v)) for k, v in self.send.items()))


def _fold(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def wanted_details(contact: Contact) -> dict[str, Any]:
    """The detail fields wisesync would write for ``contact`` (empty ones left out)."""
    body = new_contact_body(contact)
    return {key: body[key] for key in DETAIL_FIELDS if key in body}


def differences(held: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` that differ from what Xero ``held``, as they are sent. A
    contact holding none of the details is left alone (made by hand or imported without
    them: nothing of ours to keep in step; that filling them is unwanted is unconfirmed)."""
    if not held:
        return {}
    send: dict[str, Any] = {}
    for key, value in wanted.items():
        have = held.get(key)
        if key in ("Addresses", "Phones"):
            new, old = value[0], (have or [{}])[0]
            if any(_fold(v) != _fold(old.get(k)) for k, v in new.items()):
                send[key] = [{**old, **new}]
        elif _fold(value) != _fold(have):
            send[key] = value
    return send


def plan_changes(
    ctx: XeroContext, contacts: Sequence[tuple[Contact, dict[str, Any] | None]]
) -> list[Change]:
    """The contacts of ``contacts`` (each with the ``PaymentTerms`` its record implies) whose
    details differ from Xero's and were not sent already. Contacts without known details
    (a summary answer) are left alone."""
    book = ctx.contacts
    out: dict[str, Change] = {}
    for contact, terms in contacts:
        ref = book.find(contact)
        if ref is None or ref.details is None:
            continue
        send = differences(ref.details, wanted_details(contact))
        if not send:
            continue
        change = Change(ref, contact, send, [DETAIL_FIELDS[k] for k in send], terms)
        if change.key not in out and book.sent.get(change.key) != change.fingerprint:
            out[change.key] = change
    return list(out.values())


def update_changed(
    ctx: XeroContext, contacts: Sequence[tuple[Contact, dict[str, Any] | None]]
) -> dict[str, Message]:
    """Update the changed contacts of ``contacts`` in one ``POST /Contacts``; the
    ``CONTACT_UPDATED`` warning of each updated one, by number casefolded."""
    changes = plan_changes(ctx, contacts)
    if not changes:
        return {}
    elements = [
        {
            "ContactID": c.ref.contact_id,
            **c.send,
            **({"PaymentTerms": c.payment_terms} if c.payment_terms else {}),
        }
        for c in changes
    ]
    notes: dict[str, Message] = {}
    for change, answer in zip(changes, write_contacts(ctx, "POST", elements), strict=True):
        if refusal(answer) is not None:
            # the documents still post; the update is tried again with the next batch
            log.warning("Xero refused the update of contact %s", change.ref.contact_id)
            continue
        ctx.contacts.sent[change.key] = change.fingerprint
        ctx.contacts.add(parse_contacts({"Contacts": [answer]})[0])
        notes[change.key] = message(
            "CONTACT_UPDATED",
            f"Xero contact '{change.ref.name}' updated from ConnectWise "
            f"'{change.contact.name}': {', '.join(change.changed)} changed.",
        )
    return notes
