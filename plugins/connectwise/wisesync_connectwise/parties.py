"""Customers, vendors, their contacts and billing terms, as RecordEvent parts.

Pure functions over ConnectWise JSON (``Company``, ``Contact``, ``BillingTerm``
and the GL export's terms fields); no I/O here.
"""

from __future__ import annotations

from typing import Any

from wisesync.events.models import Address, Contact, Person, Terms
from wisesync.terms import rule_attributes
from wisesync_connectwise.fields import ref_id, ref_name, text, whole_days
from wisesync_connectwise.term_rules import xref_rule

#: The fields of a ``Company`` the builders read (:func:`contact`, the party currency); an
#: extraction keeps only these in its cache, so it holds a few hundred bytes per customer
#: whatever else ConnectWise returns (custom fields, sites, types ...).
COMPANY_FIELDS = frozenset(
    {
        "id", "identifier", "name", "accountNumber", "currency", "defaultContact",
        "billingContact", "invoiceToEmailAddress", "addressLine1", "addressLine2", "city",
        "state", "zip", "country", "phoneNumber", "taxIdentifier",
    }
)  # fmt: skip
#: The fields of a ``Contact`` :func:`person` reads.
CONTACT_FIELDS = frozenset(
    {"id", "firstName", "lastName", "communicationItems", "email", "defaultEmail"}
)
#: The fields of a ``Member`` an expense bill's supplier is built from.
MEMBER_FIELDS = frozenset({"id", "firstName", "lastName", "officeEmail", "vendorNumber"})


def kept(record: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """``record`` with only ``fields`` (what a run caches of a looked-up record)."""
    return {k: v for k, v in record.items() if k in fields}


def terms(name: Any, xref: Any, due_days: Any) -> Terms | None:
    """Billing terms with ``due_days`` only when usable.

    The Terms Xref is what Wise-Sync users maintain for the ledger: a whole
    number of days (Xero) wins; otherwise ConnectWise's own due days count when
    positive, or when an xref names the term (QBO style) and the days are 0.
    A term with neither (e.g. "EOM" with an empty xref) gets ``due_days=None``,
    so the target warns TERMS_XREF and uses its default. An xref that names a rule
    beyond days (:mod:`wisesync_connectwise.term_rules`, e.g. "EOM") also gets
    ``due_days=None``: the rule travels in the attributes (:func:`term_attributes`).
    """
    name = text(name)
    xref_text = text(xref)
    if name is None and xref_text is None and due_days is None:
        return None
    days = whole_days(xref_text)
    rule = xref_rule(xref_text)
    if rule is not None:
        days = rule.day if rule.by_days else None
    elif days is None:
        cw_days = whole_days(due_days)
        if cw_days is not None and (cw_days > 0 or xref_text is not None):
            days = cw_days
    return Terms(name=name, xref=xref_text, due_days=days)


def term_attributes(xref: Any) -> dict[str, str]:
    """The record attributes of a term whose Terms Xref names a rule beyond "N days"
    (``terms_type``/``terms_day``, :func:`wisesync.terms.rule_attributes`); empty
    for a days term, whose ``due_days`` says it all."""
    rule = xref_rule(text(xref))
    return {} if rule is None or rule.by_days else rule_attributes(rule)


def email_of(contact: dict[str, Any] | None) -> str | None:
    """A contact's e-mail: the default Email communication item, else the first one."""
    if not contact:
        return None
    items = [
        c
        for c in contact.get("communicationItems") or []
        if isinstance(c, dict)
        and (
            str(c.get("communicationType") or "").lower() == "email"
            or str((c.get("type") or {}).get("name") or "").lower() == "email"
        )
        and text(c.get("value"))
    ]
    items.sort(key=lambda c: not c.get("defaultFlag"))
    if items:
        return text(items[0]["value"])
    return text(contact.get("email") or contact.get("defaultEmail"))


def person(
    ref: Any, contacts: dict[int, dict[str, Any]], fallback_email: str | None = None
) -> Person | None:
    """The :class:`Person` a ContactReference points at (looked up in ``contacts``)."""
    ident = ref_id(ref)
    if ident is None:
        return None
    contact = contacts.get(ident)
    name = None
    if contact:
        name = " ".join(
            x for x in (text(contact.get("firstName")), text(contact.get("lastName"))) if x
        )
    name = name or ref_name(ref)
    if not name:
        return None
    return Person(name=name, email=email_of(contact) or fallback_email)


def address(company: dict[str, Any]) -> Address | None:
    """The company's postal address (None when it has none)."""
    country = company.get("country")
    addr = Address(
        line1=text(company.get("addressLine1")),
        line2=text(company.get("addressLine2")),
        city=text(company.get("city")),
        region=text(company.get("state")),
        postal_code=text(company.get("zip")),
        country=ref_name(country, "name", "identifier") if country else None,
    )
    return addr if any((addr.line1, addr.line2, addr.city, addr.postal_code)) else None


def contact(
    ref: Any,
    companies: dict[int, dict[str, Any]],
    contacts: dict[int, dict[str, Any]],
    *,
    account_number: Any = None,
) -> Contact | None:
    """The customer or vendor ``ref`` (a CompanyReference) as a :class:`Contact`.

    Primary contact = the company's ``defaultContact``; billing contact = its
    ``billingContact`` (e-mail falling back to ``invoiceToEmailAddress``). Either
    is None when ConnectWise has none (the target warns NO_BILLING_CONTACT).
    ``account_number`` (the record's own accounting xref) wins over the company's.
    """
    ident = ref_id(ref)
    if ident is None:
        return None
    company = companies.get(ident, {})
    name = text(company.get("name")) or ref_name(ref, "name", "identifier") or f"Company {ident}"
    billing_email = text(company.get("invoiceToEmailAddress"))
    return Contact(
        source_id=str(ident),
        name=name,
        account_number=text(account_number) or text(company.get("accountNumber")),
        primary_contact=person(company.get("defaultContact"), contacts),
        billing_contact=person(company.get("billingContact"), contacts, billing_email),
        address=address(company),
        phone=text(company.get("phoneNumber")),
        tax_number=text(company.get("taxIdentifier")),
    )


def contact_ids(company: dict[str, Any]) -> list[int]:
    """The contact ids a company references (default and billing contact)."""
    return [
        i
        for i in (ref_id(company.get("defaultContact")), ref_id(company.get("billingContact")))
        if i is not None
    ]
