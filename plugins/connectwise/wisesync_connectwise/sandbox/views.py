"""Render the tenant as ConnectWise JSON: only the fields of ConnectWise's published
models (``reference/connectwise_accounting.schema.json``, checked by :mod:`.schema`).

Each record's JSON is built once per revision and cached (see :class:`Views`),
so listing or exporting thousands of records costs a dict lookup per record.
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

import re
import zlib
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import simplejson

from wisesync import money
from wisesync.money import round_money

from .state import (
    Batch,
    Company,
    Contact,
    Expense,
    GLAccount,
    Invoice,
    InvoiceLine,
    Payment,
    Procurement,
    State,
    iso,
)


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


class Views:
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

    # --- references -----------------------------------------------------------------

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

    def company_ref(self, company_id: int | None) -> dict[str, Any] | None:
        """``CompanyReference`` (one shared dict per company)."""
        return self._memo("company_ref", company_id, lambda: self._company_ref(company_id))

    def _company_ref(self, company_id: int | None) -> dict[str, Any] | None:
        c = self.s.companies.get(company_id) if company_id is not None else None
        if c is None:
            return None
        return {"id": c.id, "identifier": c.identifier, "name": c.name}

    def contact_ref(self, contact_id: int | None) -> dict[str, Any] | None:
        """``ContactReference``."""
        c = self.s.contacts.get(contact_id) if contact_id is not None else None
        return None if c is None else {"id": c.id, "name": c.name}

    def terms_ref(self, terms_id: int | None) -> dict[str, Any] | None:
        """``BillingTermsReference``."""
        t = self.s.terms.get(terms_id) if terms_id is not None else None
        return None if t is None else {"id": t.id, "name": t.name}

    def tax_ref(self, tax_code_id: int | None) -> dict[str, Any] | None:
        """``TaxCodeReference``."""
        t = self.s.tax_codes.get(tax_code_id) if tax_code_id is not None else None
        return None if t is None else {"id": t.id, "name": t.identifier}

    def member_ref(self, member_id: int) -> dict[str, Any]:
        """``MemberReference``."""
        m = self.s.members[member_id]
        return _p({"id": m.id, "identifier": m.identifier, "name": m.name})

    def location_ref(self, location_id: int) -> dict[str, Any] | None:
        """``OwnerLevelReference``."""
        p = self.s.locations.get(location_id)
        return None if p is None else {"id": p.id, "name": p.name}

    def department_ref(self, department_id: int) -> dict[str, Any] | None:
        """``SystemDepartmentReference``."""
        p = self.s.departments.get(department_id)
        return None if p is None else {"id": p.id, "identifier": p.identifier, "name": p.name}

    def site_ref(self, company: Company | None) -> dict[str, Any] | None:
        """``SiteReference`` of a company's main site."""
        return None if company is None else {"id": company.site_id, "name": "Main"}

    def company_type(self, company: Company | None) -> dict[str, Any] | None:
        """``CompanyTypeReference`` (first type)."""
        if company is None:
            return None
        name = company.types[0] if company.types else "Client"
        return _p({"id": COMPANY_TYPES.get(name, 1), "name": name})

    # --- GL mapping -----------------------------------------------------------------

    def account_number(self, gl_account_id: int | None) -> str:
        """A mapping's account string as the GL export writes it ("" when no mapping).

        Laid out by the GL caption: the Account-type segments in caption order, each
        followed by :data:`ACCOUNT_SEPARATOR` but the last, empty ones kept (account
        ``4001`` with an empty sub-account is ``"4001:"``, as in Zynk's public sample;
        an empty mapping is ``":"``). System and tax accounts are their first segment
        alone (see :data:`PLAIN_ACCOUNT_TYPES`). The separator is UNCONFIRMED.
        """
        return self._memo("account", gl_account_id, lambda: self._account(gl_account_id))

    def _account(self, gl_account_id: int | None) -> str:
        parts = self._segments(gl_account_id, "Account")
        if not parts:
            return ""
        account = self.s.gl_accounts[gl_account_id]  # type: ignore[index]
        if account.mapped_type[1] in PLAIN_ACCOUNT_TYPES:
            return parts[0]
        return ACCOUNT_SEPARATOR.join(parts)

    def gl_class(self, gl_account_id: int | None) -> str:
        """The Class-type segments joined with ``-`` in caption order, "" when all empty."""
        return self._memo("class", gl_account_id, lambda: self._gl_class(gl_account_id))

    def _gl_class(self, gl_account_id: int | None) -> str:
        parts = self._segments(gl_account_id, "Class")
        return "-".join(parts) if any(parts) else ""

    def _segments(self, gl_account_id: int | None, segment_type: str) -> list[str]:
        """A mapping's segments of one caption type (``Account``, ``Class``) in caption order.

        Empty when there is no such mapping or no caption; segments whose caption is
        blank are left out.
        """
        account = self.s.gl_accounts.get(gl_account_id) if gl_account_id is not None else None
        caption = self.s.caption
        if account is None or caption is None:
            return []
        return [
            account.segments[i]
            for i, t in enumerate(caption.types)
            if t == segment_type and caption.captions[i]
        ]

    def gl_account(self, account: GLAccount) -> dict[str, Any]:
        """``GLAccount``."""
        out: dict[str, Any] = {
            "id": account.id,
            "glType": account.gl_type,
            "mappedType": {"id": account.mapped_type[0], "name": account.mapped_type[1]},
            "mappedRecord": {"id": account.mapped_record[0], "name": account.mapped_record[1]},
        }
        for i in range(10):
            out[f"segment{i + 1}"] = account.segments[i] or None
        for i in range(10):
            out[f"cogs{i + 1}"] = account.cogs[i] or None
        out.update(
            productId=account.product_id,
            inventory=account.inventory,
            salesCode=account.sales_code,
            _info=info(account.updated),
        )
        return _p(out, "glAccount")

    def gl_caption(self) -> dict[str, Any]:
        """``GLCaption``."""
        caption = self.s.caption
        assert caption is not None
        out: dict[str, Any] = {"id": caption.id}
        for i in range(10):
            out[f"segment{i + 1}"] = caption.captions[i] or None
            out[f"segment{i + 1}type"] = caption.types[i] if caption.captions[i] else None
        for i in range(10):
            out[f"cogs{i + 1}"] = caption.cogs[i] or None
        out["_info"] = info("2025-01-01T00:00:00Z")
        return _p(out, "glCaption")

    # --- reference data -------------------------------------------------------------

    def billing_term(self, ident: int) -> dict[str, Any]:
        """``BillingTerm``."""
        t = self.s.terms[ident]
        return _p(
            {
                "id": t.id,
                "name": t.name,
                "defaultFlag": t.default_flag,
                "dueDays": t.due_days,
                "termsXref": t.terms_xref,
                "_info": info("2025-01-01T00:00:00Z"),
            },
            "billingTerm",
        )

    def billing_status(self, ident: int) -> dict[str, Any]:
        """``BillingStatus``."""
        b = self.s.statuses[ident]
        return _p(
            {
                "id": b.id,
                "name": b.name,
                "sortOrder": b.sort_order,
                "defaultFlag": b.default_flag,
                "closedFlag": b.closed_flag,
                "inactiveFlag": b.inactive,
                "sentFlag": b.sent_flag,
                "_info": info("2025-01-01T00:00:00Z"),
            },
            "billingStatus",
        )

    def tax_code(self, ident: int) -> dict[str, Any]:
        """``TaxCode`` (level one carries the rate; levels two to six unused)."""
        t = self.s.tax_codes[ident]
        out: dict[str, Any] = {
            "id": t.id,
            "identifier": t.identifier,
            "description": t.description,
            "invoiceCaption": t.description,
            "effectiveDate": t.effective,
            "levelOneRate": num(t.rate * 100),
            "levelOneRateType": "Percent",
            "levelOneTaxCodeXref": t.xref,
            "levelOneAgencyXref": t.agency_xref,
            "levelOneCaption": "GST",
            "levelOneServicesFlag": True,
            "levelOneExpensesFlag": True,
            "levelOneProductsFlag": True,
        }
        for level in ("Two", "Three", "Four", "Five", "Six"):
            out[f"level{level}Rate"] = 0
            out[f"level{level}TaxCodeXref"] = None
            out[f"level{level}AgencyXref"] = None
        out["_info"] = info("2025-01-01T00:00:00Z")
        return _p(out, "taxCode")

    def tax_code_xrefs(self, ident: int) -> list[dict[str, Any]]:
        """``TaxCodeXRef`` rows: the taxable xref (default) and the non-taxable one."""
        t = self.s.tax_codes[ident]
        rows = []
        for n, (xref, taxable) in enumerate(((t.xref, True), (t.exempt_xref, False)), start=1):
            row: dict[str, Any] = {
                "id": t.id * 10 + n,
                "description": xref,
                "defaultFlag": taxable,
                "levelOne": "Taxable" if taxable else "NonTaxable",
            }
            for level in ("Two", "Three", "Four", "Five", "Six"):
                row[f"level{level}"] = "NonTaxable"
            row.update(
                taxCode={"id": t.id, "name": t.identifier},
                taxableLevels=[1] if taxable else [],
                _info=info(t.effective),
            )
            rows.append(row)
        return rows

    # --- companies and contacts -----------------------------------------------------

    def company(self, c: Company) -> dict[str, Any]:
        """``Company``."""
        return self._cached("company", c.id, 0, lambda: self._company(c))

    def _company(self, c: Company) -> dict[str, Any]:
        return _p(
            {
                "id": c.id,
                "identifier": c.identifier,
                "name": c.name,
                "status": {"id": 1, "name": "Active"},
                "addressLine1": c.address_line1,
                "addressLine2": c.address_line2,
                "city": c.city,
                "state": c.state,
                "zip": c.zip,
                "country": {"id": 14, "identifier": "AU", "name": c.country},
                "phoneNumber": c.phone,
                "faxNumber": None,
                "website": c.website,
                "accountNumber": c.account_number,
                "vendorIdentifier": c.vendor_identifier,
                "taxIdentifier": c.tax_identifier,
                "taxCode": self.tax_ref(c.tax_code_id),
                "billingTerms": self.terms_ref(c.terms_id),
                "invoiceTemplate": {"id": 1, "name": "Default"},
                "billToCompany": {"id": c.id, "identifier": c.identifier, "name": c.name},
                "billingSite": self.site_ref(c),
                "billingContact": self.contact_ref(c.billing_contact_id),
                "invoiceDeliveryMethod": {"id": 2, "name": "E-Mail"},
                "invoiceToEmailAddress": c.invoice_to_email,
                "invoiceCCEmailAddress": c.invoice_cc_email,
                "currency": self.currency(c.id),
                "defaultContact": self.contact_ref(c.default_contact_id),
                "deletedFlag": c.deleted,
                "types": [{"id": COMPANY_TYPES.get(t, 1), "name": t} for t in c.types],
                "isVendorFlag": c.is_vendor,
                "site": self.site_ref(c),
                "_info": info(c.updated),
            },
            "company",
        )

    def contact(self, c: Contact) -> dict[str, Any]:
        """``Contact`` with its communication items."""
        return self._cached("contact", c.id, 0, lambda: self._contact(c))

    def _contact(self, c: Contact) -> dict[str, Any]:
        company = self.s.companies.get(c.company_id)
        items = []
        if c.email:
            items.append(
                {
                    "id": c.id * 10 + 1,
                    "type": {"id": 1, "name": "Email"},
                    "value": c.email,
                    "extension": None,
                    "defaultFlag": True,
                    "domain": "@" + c.email.split("@")[-1],
                    "communicationType": "Email",
                }
            )
        if c.phone:
            items.append(
                {
                    "id": c.id * 10 + 2,
                    "type": {"id": 2, "name": "Direct"},
                    "value": c.phone,
                    "extension": None,
                    "defaultFlag": True,
                    "communicationType": "Phone",
                }
            )
        return _p(
            {
                "id": c.id,
                "firstName": c.first_name,
                "lastName": c.last_name or None,
                "company": self.company_ref(c.company_id),
                "site": self.site_ref(company),
                "addressLine1": company.address_line1 if company else None,
                "city": company.city if company else None,
                "state": company.state if company else None,
                "zip": company.zip if company else None,
                "inactiveFlag": c.inactive,
                "title": c.title,
                "defaultBillingFlag": c.default_billing_flag,
                "defaultFlag": c.default_flag,
                "defaultPhoneType": "Direct" if c.phone else None,
                "defaultPhoneNbr": c.phone,
                "communicationItems": items,
                "types": [],
                "_info": info(c.updated),
            },
            "contact",
        )

    # --- invoices -------------------------------------------------------------------

    def _tax_levels(self, tax_code_id: int | None, flag: bool, amount: Decimal) -> dict[str, Any]:
        t = self.s.tax_codes.get(tax_code_id) if tax_code_id is not None else None
        out: dict[str, Any] = {
            "stateTaxFlag": flag,
            "stateTaxXref": t.xref if t else None,
            "stateTaxAmount": num(amount),
        }
        for level in ("county", "city", "country", "composite", "levelSix"):
            out[f"{level}TaxFlag"] = False
            out[f"{level}TaxXref"] = None
            out[f"{level}TaxAmount"] = 0
        return _p(out)

    def _due(self, inv: Invoice) -> tuple[str | None, str | None, int | None]:
        term = self.s.terms.get(inv.terms_id) if inv.terms_id is not None else None
        days = term.due_days if term else 0
        return str(days), iso(inv.date + timedelta(days=days)), (term.due_days if term else None)

    def unposted_invoice(self, inv: Invoice) -> dict[str, Any]:
        """``UnpostedInvoice`` (the Accounting Interface row)."""
        return self._cached("unposted_invoice", inv.id, inv.rev, lambda: self._unposted(inv))

    def _unposted(self, inv: Invoice) -> dict[str, Any]:
        s = self.s
        company = s.companies[inv.company_id]
        rate = s.tax_rate(inv.tax_code_id)
        tax = inv.sales_tax(rate)
        due_days, due_date, _ = self._due(inv)
        kinds = {line.kind for line in inv.lines}
        out: dict[str, Any] = {
            "id": inv.gl_ar_id,
            "billingLogId": inv.id,
            "locationId": inv.location_id,
            "location": self.location_ref(inv.location_id),
            "departmentId": inv.department_id,
            "department": self.department_ref(inv.department_id),
            "company": self.company_ref(company.id),
            "billToCompany": self.company_ref(company.id),
            "shipToCompany": self.company_ref(company.id),
            "billToSite": self.site_ref(company),
            "shipToSite": self.site_ref(company),
            "accountNumber": company.account_number,
            "invoiceNumber": inv.number,
            "invoiceDate": iso(inv.date),
            "invoiceType": inv.type,
            "description": "Accounts Receivable",
            "billingTerms": self.terms_ref(inv.terms_id),
            "dueDays": due_days,
            "dueDate": due_date,
            "currency": self.currency(inv.company_id),
            "subTotal": num(inv.subtotal),
            "total": num(s.invoice_total(inv)),
            "salesTaxAmount": num(tax),
            "hasTime": "time" in kinds,
            "hasExpenses": "expense" in kinds,
            "hasProducts": "product" in kinds,
            "invoiceTaxableFlag": any(line.taxable for line in inv.lines),
            "taxCode": self.tax_ref(inv.tax_code_id),
            "avalaraTaxFlag": False,
            "itemTaxableFlag": any(line.taxable for line in inv.lines),
        }
        out.update(self._tax_levels(inv.tax_code_id, tax != 0, tax))
        out.update(
            createdBy=inv.created_by,
            dateClosed=iso(inv.date_closed or inv.date),
            _info=info(inv.updated),
        )
        return _p(out, "unpostedInvoice")

    def invoice(self, inv: Invoice) -> dict[str, Any]:
        """``Invoice`` (``/finance/invoices``), with payments and balance."""
        return self._cached("invoice", inv.id, inv.rev, lambda: self._invoice(inv))

    def _invoice(self, inv: Invoice) -> dict[str, Any]:
        s = self.s
        company = s.companies[inv.company_id]
        status = s.statuses[inv.status_id]
        rate = s.tax_rate(inv.tax_code_id)
        _, due_date, _ = self._due(inv)

        def part(*kinds: str) -> Decimal:
            return sum((line.total for line in inv.lines if line.kind in kinds), Decimal(0))

        batch = s.batches.get(inv.batch_id) if inv.batch_id is not None else None
        billing = s.contacts.get(company.billing_contact_id or -1)
        return _p(
            {
                "id": inv.id,
                "invoiceNumber": inv.number,
                "type": inv.type,
                "status": {"id": status.id, "name": status.name, "isClosed": status.closed_flag},
                "company": self.company_ref(company.id),
                "billToCompany": self.company_ref(company.id),
                "shipToCompany": self.company_ref(company.id),
                "accountNumber": company.account_number,
                "applyToType": inv.apply_to_type,
                "applyToId": None,
                "attention": billing.name if billing else None,
                "billingSite": self.site_ref(company),
                "billingSiteAddressLine1": company.address_line1,
                "billingSiteAddressLine2": company.address_line2,
                "billingSiteCity": company.city,
                "billingSiteState": company.state,
                "billingSiteZip": company.zip,
                "billingSiteCountry": company.country,
                "billingTerms": self.terms_ref(inv.terms_id),
                "reference": inv.reference,
                "customerPO": inv.customer_po,
                "date": iso(inv.date),
                "dueDate": due_date,
                "locationId": inv.location_id,
                "departmentId": inv.department_id,
                "taxableFlag": any(line.taxable for line in inv.lines),
                "taxCode": self.tax_ref(inv.tax_code_id),
                "currency": self.currency(inv.company_id),
                "serviceTotal": num(part("time", "agreement", "misc")),
                "expenseTotal": num(part("expense")),
                "productTotal": num(part("product")),
                "subtotal": num(inv.subtotal),
                "total": num(s.invoice_total(inv)),
                "salesTax": num(inv.sales_tax(rate)),
                "payments": num(s.invoice_paid(inv)),
                "credits": 0,
                "balance": num(s.invoice_balance(inv)),
                "glBatch": None if batch is None else {"id": batch.id, "name": batch.identifier},
                "unbatchedBatch": None,
                "_info": info(inv.updated),
            },
            "invoice",
        )

    def currency(self, company_id: int | None) -> dict[str, Any]:
        """``CurrencyReference`` of a company's currency (the home currency by default)."""
        c = self.s.companies.get(company_id) if company_id is not None else None
        return CURRENCIES[c.currency if c else "AUD"]

    def _line(self, inv: Invoice, line: InvoiceLine, doc_type: str) -> dict[str, Any]:
        """One credit-side detail row: quantity and total carry the opposite sign to the
        header (Zynk's public sample: a 42.00 invoice has a ``-35.00`` product line and a
        ``-7.00`` sales-tax line); ``cost`` is the extended cost, ``itemCost`` the unit."""
        s = self.s
        tax = s.tax_codes.get(inv.tax_code_id) if inv.tax_code_id is not None else None
        account = s.gl_accounts.get(line.gl_account_id)
        item = s.items.get(line.item_id) if line.item_id is not None else None
        rate = tax.rate if (tax and line.taxable) else Decimal(0)
        number = self.account_number(line.gl_account_id)
        return _p(
            {
                "id": line.gl_id,
                "documentDate": iso(inv.date),
                "documentType": doc_type,
                "accountNumber": number,
                "glClass": self.gl_class(line.gl_account_id),
                "glTypeId": account.gl_type if account else "R",
                "glItemId": item.identifier if item else "",
                "invoiceSummaryOption": "0",
                "cost": num(round_money(abs(line.quantity) * line.cost)),
                "salesCode": (account.sales_code if account else None) or "",
                "memo": line.memo,
                "description": account.description if account else "",
                "quantity": num(-line.quantity),
                "total": num(-line.total),
                "currency": self.currency(inv.company_id),
                "costAccountNumber": (account.cogs[0] if account else "") or "",
                "inventoryAccountNumber": (account.inventory if account else None) or "",
                "productAccountNumber": number,
                "taxCode": self.tax_ref(inv.tax_code_id),
                "taxCodeXref": (tax.xref if line.taxable else tax.exempt_xref) if tax else "",
                "taxAgencyXref": tax.agency_xref if tax else "",
                "taxNote": "",
                "taxRate": num(rate),
                "taxRatePercent": num(rate * 100),
                "taxableFlag": line.taxable,
                "taxable2Flag": False,
                "taxable3Flag": False,
                "taxable4Flag": False,
                "taxable5Flag": False,
                "item": {"id": item.id, "identifier": item.identifier, "serializedFlag": False}
                if item
                else None,
                "itemTaxableFlag": line.taxable,
                "itemPrice": num(line.price),
                "itemCost": num(line.cost),
                "itemDescription": item.description if item else line.memo,
                "salesDescription": line.memo,
                "unitOfMeasure": {"id": 2 if line.uom == "Hour" else 13, "name": line.uom},
                "serializedFlag": False,
                "serialNumbers": "",
                "dropShippedFlag": False,
                "itemTypeXref": LINE_ITEM_TYPE.get(line.kind, "Service"),
                "inventoryXref": "",
                "cogsXref": "",
                "uomScheduleXref": "",
                "priceLevelXref": "",
                "locationXref": self.location_ref(inv.location_id)["name"]  # type: ignore[index]
                if inv.location_id in s.locations
                else "",
                "taxLevels": [{"taxableFlag": line.taxable, "taxLevel": 1}],
            }
        )

    def export_transaction(self, inv: Invoice) -> dict[str, Any]:
        """``GLExportTransaction``: the invoice header, its lines and its sales-tax line."""
        return self._cached("export_invoice", inv.id, inv.rev, lambda: self._transaction(inv))

    def _transaction(self, inv: Invoice) -> dict[str, Any]:
        s = self.s
        company = s.companies[inv.company_id]
        tax = s.tax_codes.get(inv.tax_code_id) if inv.tax_code_id is not None else None
        rate = tax.rate if tax else Decimal(0)
        sales_tax = inv.sales_tax(rate)
        taxable_total = sum((line.total for line in inv.lines if line.taxable), Decimal(0))
        term = s.terms.get(inv.terms_id) if inv.terms_id is not None else None
        _, due_date, due_days = self._due(inv)
        doc_type = "CREDITMEMO" if inv.type == "CreditMemo" else "INVOICE"
        billing = s.contacts.get(company.billing_contact_id or -1)
        tax_account = self.account_number(s.tax_account_id)
        detail = [self._line(inv, line, doc_type) for line in inv.lines]
        detail.append(
            _p(
                {
                    "id": inv.gl_tax_id,
                    "documentDate": iso(inv.date),
                    "documentType": doc_type,
                    "accountNumber": tax_account,
                    "glClass": "",
                    "glTypeId": "ST",
                    "glItemId": "",
                    "invoiceSummaryOption": "0",
                    "cost": 0,
                    "salesCode": "",
                    "memo": "Sales Tax",
                    "description": "Level 1 Sales Tax",
                    "quantity": 0,
                    "total": num(-sales_tax),
                    "currency": self.currency(inv.company_id),
                    "productAccountNumber": tax_account,
                    "taxCode": self.tax_ref(inv.tax_code_id),
                    "taxCodeXref": tax.xref if tax else "",
                    "taxAgencyXref": tax.agency_xref if tax else "",
                    "taxNote": "AUTOSTAX",
                    "taxRate": num(rate),
                    "taxRatePercent": num(rate * 100),
                    "taxableFlag": False,
                    "item": None,
                    "itemPrice": 0,
                    "itemCost": 0,
                    "taxLevels": [{"taxableFlag": False, "taxLevel": 1}],
                }
            )
        )
        return _p(
            {
                "id": inv.id,
                "glClass": "",
                "glTypeId": "AR",
                "documentDate": iso(inv.date),
                "documentNumber": inv.number,
                "documentType": doc_type,
                "memo": inv.reference or "",
                "description": "Accounts Receivable",
                "attention": billing.name if billing else None,
                "salesTerritory": s.locations[inv.location_id].name
                if inv.location_id in s.locations
                else None,
                "company": self.company_ref(company.id),
                "companyType": self.company_type(company),
                "companyAccountNumber": company.account_number,
                "site": self.site_ref(company),
                "billingTerms": self.terms_ref(inv.terms_id),
                "billingTermsXref": term.terms_xref if term else None,
                "dueDays": due_days,
                "dueDate": due_date,
                "emailDeliveryFlag": bool(company.invoice_to_email),
                "printDeliveryFlag": False,
                "agreementPrePaymentFlag": False,
                "accountNumber": self.account_number(s.ar_account_id),
                "billingType": inv.type,
                "glEntryIds": ",".join(str(i) for i in inv.gl_ids()),
                "purchaseOrder": {"name": inv.customer_po} if inv.customer_po else None,
                "project": None,
                "currency": self.currency(inv.company_id),
                "total": num(s.invoice_total(inv)),
                "salesRepId": inv.created_by,
                "salesRepName": "John Smith",
                "taxable": sales_tax != 0,
                "taxableTotal": num(taxable_total),
                "taxCode": self.tax_ref(inv.tax_code_id),
                "taxGroupRate": num(rate),
                "piggyBackFlag": False,
                "taxAccountNumber": tax_account,
                "salesTax": num(sales_tax),
                "stateTax": num(sales_tax),
                "countyTax": 0,
                "cityTax": 0,
                "taxableAmount1": num(taxable_total),
                "taxableAmount2": 0,
                "taxableAmount3": 0,
                "taxableAmount4": 0,
                "taxableAmount5": 0,
                "taxAgencyXref": tax.agency_xref if tax else None,
                "stateTaxXref": tax.xref if tax else None,
                "countyTaxXref": None,
                "taxId": company.tax_identifier,
                "taxDpAppliedFlag": False,
                "useAvalaraFlag": False,
                "sendAvalaraTaxFlag": False,
                "shipToCompany": self.company_ref(company.id),
                "shipToCompanyAccountNumber": company.account_number,
                "shipToCompanyType": self.company_type(company),
                "shipToTaxId": company.tax_identifier,
                "shipSite": self.site_ref(company),
                "shipContact": (s.contacts[company.default_contact_id].name)
                if company.default_contact_id in s.contacts
                else None,
                "detail": detail,
                "taxLevels": [
                    {
                        "taxAmount": num(sales_tax),
                        "taxableAmount": num(taxable_total),
                        "taxCodeXref": tax.xref if tax else None,
                        "taxLevel": 1,
                    }
                ],
            },
            "transaction",
        )

    def export_customer(self, company_id: int) -> dict[str, Any]:
        """``GLExportCustomer``."""
        return self._cached("export_customer", company_id, 0, lambda: self._customer(company_id))

    def _customer(self, company_id: int) -> dict[str, Any]:
        s = self.s
        c = s.companies[company_id]
        term = s.terms.get(c.terms_id) if c.terms_id is not None else None
        tax = s.tax_codes.get(c.tax_code_id) if c.tax_code_id is not None else None
        rate = num(tax.rate * 100) if tax else 0
        return _p(
            {
                "company": self.company_ref(c.id),
                "companyType": self.company_type(c),
                "contact": self.contact_ref(c.billing_contact_id or c.default_contact_id),
                "site": self.site_ref(c),
                "accountNumber": c.account_number,
                "billingTerms": self.terms_ref(c.terms_id),
                "billingTermsXref": term.terms_xref if term else None,
                "dueDays": term.due_days if term else None,
                "taxable": bool(tax and tax.rate),
                "taxCode": self.tax_ref(c.tax_code_id),
                "currency": self.currency(c.id),
                "stateTaxXref": tax.xref if tax else None,
                "countyTaxXref": None,
                "cityTaxXref": None,
                "countryTaxXref": None,
                "compositeTaxXref": None,
                "stateTaxRate": rate,
                "countyTaxRate": 0,
                "cityTaxRate": 0,
                "countryTaxRate": 0,
                "compositeTaxRate": 0,
                "taxGroupRate": None,
                "taxAgencyXref": tax.agency_xref if tax else None,
                "stateTaxAgencyXref": tax.agency_xref if tax else None,
                "countyTaxAgencyXref": None,
                "cityTaxAgencyXref": None,
                "countryTaxAgencyXref": None,
                "compositeTaxAgencyXref": None,
                "taxLevels": [
                    {
                        "taxRate": rate,
                        "taxCodeXref": tax.xref if tax else None,
                        "agencyXref": tax.agency_xref if tax else None,
                        "taxLevel": 1,
                    }
                ],
            },
            "customer",
        )

    # --- expenses -------------------------------------------------------------------

    def unposted_expense(self, e: Expense) -> dict[str, Any]:
        """``UnpostedExpense``."""
        return self._cached("unposted_expense", e.id, e.rev, lambda: self._unposted_expense(e))

    def _unposted_expense(self, e: Expense) -> dict[str, Any]:
        s = self.s
        gross = e.amount + e.tax
        credit = e.offset_account_id if e.offset_account_id else s.ap_account_id
        out: dict[str, Any] = {
            "id": e.id,
            "locationId": e.location_id,
            "departmentId": e.department_id,
            "company": self.company_ref(e.company_id),
            "accountNumber": self.account_number(e.gl_account_id),
            "creditAccount": self.account_number(credit),
            "expenseDetailId": e.detail_id,
            "expenseType": {"id": zlib.crc32(e.type_name.encode()) % 97 + 1, "name": e.type_name},
            "classification": e.classification,
            "glType": s.gl_accounts[e.gl_account_id].gl_type
            if e.gl_account_id in s.gl_accounts
            else "EI",
            "member": self.member_ref(e.member_id),
            "dateExpense": iso(e.date),
            "chargeCode": None,
            "chargeDescription": e.notes,
            "inPolicy": True,
            "paymentMethod": {
                "id": 1 if e.payment_method == "Cash" else 2,
                "name": e.payment_method,
            },
            "currency": CURRENCY,
            "total": num(gross),
            "billableAmount": num(gross if e.billable else Decimal(0)),
            "nonBillableAmount": num(Decimal(0) if e.billable else gross),
            "agreement": None,
            "agreementAmountCovered": 0,
            "ticket": None,
            "project": None,
            "projectPhase": None,
            "taxCode": self.tax_ref(e.tax_code_id),
        }
        out.update(self._tax_levels(e.tax_code_id, e.tax != 0, e.tax))
        out.update(dateClosed=iso(e.date), _info=info(e.updated))
        return _p(out, "unpostedExpense")

    def export_expense(self, e: Expense) -> dict[str, Any]:
        """``GLExportExpense`` (with ``offset`` for company-paid expenses)."""
        return self._cached("export_expense", e.id, e.rev, lambda: self._export_expense(e))

    def _export_expense(self, e: Expense) -> dict[str, Any]:
        s = self.s
        member = s.members[e.member_id]
        company = s.companies.get(e.company_id)
        gross = e.amount + e.tax
        account = s.gl_accounts.get(e.gl_account_id)
        start = e.date - timedelta(days=e.date.weekday())
        personal = e.classification == "Personal"
        out: dict[str, Any] = {
            "id": e.id,
            "documentDate": iso(e.date),
            "documentType": "EXPENSE",
            "apAccountNumber": self.account_number(s.ap_account_id),
            "apClass": "",
            "accountNumber": self.account_number(
                e.offset_account_id if personal else e.gl_account_id
            ),
            "glClass": self.gl_class(e.gl_account_id),
            "glTypeId": account.gl_type if account else "EI",
            "memo": e.notes,
            "description": e.type_name,
            "periodStartDate": iso(start),
            "periodEndDate": iso(start + timedelta(days=6)),
            "member": self.member_ref(e.member_id),
            "vendorNumber": member.vendor_number,
            "company": self.company_ref(e.company_id),
            "companyAccountNumber": company.account_number if company else None,
            "project": None,
            "currency": CURRENCY,
            "total": num(-gross if personal else gross),
            "offset": None,
        }
        if e.offset_gl_id is not None and not personal:
            out["offset"] = _p(
                {
                    "id": e.offset_gl_id,
                    "documentDate": iso(e.date),
                    "documentType": "EXPENSE",
                    "accountNumber": self.account_number(e.offset_account_id),
                    "glTypeId": "EO",
                    "glClass": self.gl_class(e.offset_account_id),
                    "member": self.member_ref(e.member_id),
                    "memo": e.notes,
                    "description": "Expense Offset",
                    "total": num(-gross),
                }
            )
        return _p(out, "expense")

    @staticmethod
    def bill_key(e: Expense) -> tuple[int, Any]:
        """Expense bills group a member's bill-flagged expenses per week (Monday start)."""
        return e.member_id, e.date - timedelta(days=e.date.weekday())

    def expense_bill(self, expenses: list[Expense]) -> dict[str, Any]:
        """``GLExportExpenseBill``: one member's week of expenses, payable to the member.

        Shaped on Zynk's public Accounting Interface sample (``ExpenseBills``: document
        type ``GENERAL JOURNAL``, document number = first GL entry id + member id, one
        detail per expense with its GL entry ids, totals positive like the header).
        """
        s = self.s
        first = expenses[0]
        member = s.members[first.member_id]
        start = first.date - timedelta(days=first.date.weekday())
        end = start + timedelta(days=6)
        detail = []
        for e in expenses:
            account = s.gl_accounts.get(e.gl_account_id)
            detail.append(
                _p(
                    {
                        "id": e.gl_ids(),
                        "documentDate": iso(e.date),
                        "glTypeId": account.gl_type if account else "EE",
                        "memo": e.type_name,
                        "company": self.company_ref(e.company_id),
                        "accountNumber": self.account_number(e.gl_account_id),
                        "expenseClass": {"id": 1, "name": e.classification},
                        "currency": CURRENCY,
                        "total": num(e.amount + e.tax),
                        "billable": e.billable,
                        "reimbursable": e.classification == "Reimbursable",
                        "companyAdvance": e.classification != "Reimbursable",
                    }
                )
            )
        return _p(
            {
                "id": first.id,
                "documentDate": iso(end),
                "documentType": "GENERAL JOURNAL",
                "documentNumber": f"{first.id}{member.identifier}",
                "memo": f"Expenses for {start.isoformat()} - {end.isoformat()}",
                "glClass": "",
                "apAccountNumber": self.account_number(s.ap_account_id),
                "member": self.member_ref(member.id),
                "vendorNumber": member.vendor_number,
                "currency": CURRENCY,
                "total": num(sum((e.amount + e.tax for e in expenses), Decimal(0))),
                "detail": detail,
            },
            "expenseBill",
        )

    def member_vendor(self, member_id: int) -> dict[str, Any]:
        """``GLExportVendor`` for a member (the payee of expense bills)."""
        return self._cached("member_vendor", member_id, 0, lambda: self._member_vendor(member_id))

    def _member_vendor(self, member_id: int) -> dict[str, Any]:
        m = self.s.members[member_id]
        return _p(
            {
                "member": self.member_ref(member_id),
                "vendor": None,
                "vendorNumber": m.vendor_number,
                "company": None,
                "contact": None,
                "accountNumber": m.vendor_number,
                "billingTerms": None,
                "dueDays": None,
                "site": None,
                "taxCode": None,
            },
            "vendor",
        )

    # --- procurement ----------------------------------------------------------------

    def unposted_procurement(self, p: Procurement) -> dict[str, Any]:
        """``UnpostedProcurement`` (one row per receipt / adjustment)."""
        return self._cached("unposted_proc", p.id, p.rev, lambda: self._unposted_proc(p))

    def _unposted_proc(self, p: Procurement) -> dict[str, Any]:
        s = self.s
        rate = s.tax_rate(p.tax_code_id)
        tax = p.tax(rate)
        vendor = s.companies.get(p.vendor_id) if p.vendor_id is not None else None
        freight_tax = (
            Decimal(0) if p.kind != "Purchase" else (p.freight * rate).quantize(Decimal("0.01"))
        )
        out: dict[str, Any] = {
            "id": p.id,
            "description": p.reason if p.kind != "Purchase" and p.reason else p.kind,
            "unpostedProductId": p.unposted_product_id,
            "locationId": p.location_id,
            "departmentId": p.department_id,
            "procurementType": p.kind,
            "purchaseOrder": {"id": p.po_id, "name": p.document_number}
            if p.kind == "Purchase"
            else None,
            "purchaseDate": iso(p.date),
            "trackingNumber": None,
            "billingTerms": self.terms_ref(p.terms_id),
            "currency": self.currency(p.vendor_id),
            "total": num(p.subtotal + tax),
            "taxCode": self.tax_ref(p.tax_code_id),
            "avalaraTaxFlag": False,
            "itemTaxableFlag": tax != 0,
            "purchaseOrderTaxableFlag": tax != 0,
        }
        out.update(self._tax_levels(p.tax_code_id, tax != 0, tax))
        out.update(
            taxTotal=num(tax),
            customer=None,
            vendor=self.company_ref(p.vendor_id),
            vendorAccountNumber=vendor.account_number if vendor else None,
            vendorInvoiceNumber=p.vendor_invoice_number,
            vendorInvoiceDate=iso(p.vendor_invoice_date),
            taxFreightFlag=p.freight != 0,
            freightTaxTotal=num(freight_tax),
            freightCost=num(p.freight),
            dateClosed=iso(p.date),
            _info=info(p.updated),
        )
        return _p(out, "unpostedProcurement")

    def export_procurement(self, p: Procurement) -> dict[str, Any]:
        """``GLExportPurchaseTransaction``, ``GLExportAdjustmentTransaction`` or
        ``GLExportInventoryTransfer`` by the record's kind."""
        build = {"Purchase": self._purchase, "Adjustment": self._adjustment}.get(
            p.kind, self._transfer
        )
        return self._cached("export_proc", p.id, p.rev, lambda: build(p))

    def _purchase(self, p: Procurement) -> dict[str, Any]:
        s = self.s
        vendor = s.companies.get(p.vendor_id) if p.vendor_id is not None else None
        tax = s.tax_codes.get(p.tax_code_id) if p.tax_code_id is not None else None
        rate = tax.rate if tax else Decimal(0)
        term = s.terms.get(p.terms_id) if p.terms_id is not None else None
        total_tax = p.tax(rate)
        owner = next((c for c in s.companies.values() if "Owner" in c.types), None)
        # Zynk's 2014 REST sample shows a purchase detail dated "5/1/2014 5:21:58 AM", but
        # pyconnectwise (generated from the 2025 OpenAPI) parses these as date-time, so the
        # sandbox writes ISO instants; the extractor's own tests cover the odd forms.
        received = iso(p.date)

        def detail(
            gl_id: int,
            gl_account_id: int | None,
            item: Any,
            memo: str,
            qty: Decimal,
            cost: Decimal,
            total: Decimal,
            line_number: int,
            gl_type: str,
        ) -> dict[str, Any]:
            account = s.gl_accounts.get(gl_account_id) if gl_account_id is not None else None
            return _p(
                {
                    "id": gl_id,
                    "documentDate": received,
                    "glClass": self.gl_class(gl_account_id),
                    "glTypeId": gl_type,
                    "glItemId": item.identifier if item else "",
                    "salesCode": (account.sales_code if account else None) or "",
                    "description": "Purchase",
                    "cost": num(total),
                    "memo": memo,
                    "taxNote": "",
                    "vendorNumber": vendor.vendor_identifier if vendor else None,
                    "accountNumber": self.account_number(gl_account_id),
                    "costAccountNumber": (account.cogs[0] if account else "") or "",
                    "inventoryAccountNumber": (account.inventory if account else None) or "",
                    "vendorAccountNumber": vendor.account_number if vendor else None,
                    "item": {"id": item.id, "identifier": item.identifier} if item else None,
                    "itemDescription": item.description if item else memo,
                    "salesDescription": item.description if item else memo,
                    "taxable": bool(rate),
                    "itemPrice": num(item.price) if item else 0,
                    "itemCost": num(cost),
                    "unitOfMeasure": {"id": 13, "name": "Each"},
                    "quantity": num(-qty),
                    "total": num(-total),
                    "currency": self.currency(p.vendor_id),
                    "serializedFlag": False,
                    "serialNumbers": "",
                    "dropShippedFlag": False,
                    "lineNumber": line_number,
                    "taxCode": self.tax_ref(p.tax_code_id),
                    "taxCodeXref": tax.xref if tax else "",
                    "taxRate": num(rate),
                    "itemTypeXref": "Inventory" if item else "Other Charge",
                    "inventoryXref": "",
                    "cogsXref": "",
                },
                "purchaseTransaction",
            )

        lines = [
            detail(
                line.gl_id,
                line.gl_account_id,
                s.items.get(line.item_id),
                line.memo,
                line.quantity,
                line.cost,
                line.total,
                line.line_number,
                "RP",
            )
            for line in p.lines
        ]
        if p.freight_gl_id is not None:
            lines.append(
                detail(
                    p.freight_gl_id,
                    p.freight_account_id,
                    None,
                    "Freight",
                    Decimal(1),
                    p.freight,
                    p.freight,
                    len(lines) + 1,
                    "PF",
                )
            )
        taxes = []
        if p.tax_gl_id is not None:
            taxes.append(
                _p(
                    {
                        "id": p.tax_gl_id,
                        "documentDate": iso(p.date),
                        "glTypeId": "ST",
                        "accountNumber": self.account_number(s.purchase_tax_account_id),
                        "memo": "Purchase Tax",
                        "taxCode": self.tax_ref(p.tax_code_id),
                        "taxAgencyXref": tax.agency_xref if tax else "",
                        "taxNote": "AUTOSTAX",
                        "taxRate": num(rate),
                        "taxRatePercent": num(rate * 100),
                        "quantity": 0,
                        "total": num(-total_tax),
                        "currency": self.currency(p.vendor_id),
                    }
                )
            )
        return _p(
            {
                "id": f"PO #{p.document_number}, Packing Slip: {p.packing_slip}",
                "documentDate": iso(p.date),
                "documentNumber": p.document_number,
                "description": "Purchase",
                "memo": "",
                "apAccountNumber": self.account_number(p.ap_account_id or s.ap_account_id),
                "purchaseDate": iso(p.date),
                "company": self.company_ref(p.vendor_id),
                "companyType": self.company_type(vendor),
                "contact": self.contact_ref(vendor.default_contact_id) if vendor else None,
                "site": self.site_ref(vendor),
                "purchaseClass": "",
                "freightAmount": num(p.freight),
                "freightPackingSlip": p.packing_slip,
                "packingSlip": p.packing_slip,
                "dropshipFlag": False,
                "currency": self.currency(p.vendor_id),
                "total": num(p.subtotal + total_tax),
                "billingTerms": self.terms_ref(p.terms_id),
                "billingTermsXref": term.terms_xref if term else None,
                "dueDays": term.due_days if term else None,
                "vendorNumber": vendor.vendor_identifier if vendor else None,
                "vendorAccountNumber": vendor.account_number if vendor else None,
                "vendorInvoiceDate": iso(p.vendor_invoice_date),
                "vendorInvoiceNumber": p.vendor_invoice_number,
                "taxAgencyXref": tax.agency_xref if tax else None,
                "stateTaxXref": tax.xref if tax else None,
                "countyTaxXref": None,
                "cityTaxXref": None,
                "shipToCompany": self.company_ref(owner.id) if owner else None,
                "shipToCompanyAccountNumber": owner.account_number if owner else None,
                "shipToCompanyType": self.company_type(owner),
                "shipToContact": None,
                "shipToSite": self.site_ref(owner),
                "shipToTaxGroup": None,
                "taxCode": self.tax_ref(p.tax_code_id),
                "taxGroupRate": num(rate),
                "useAvalaraTaxFlag": False,
                "purchaseHeaderTaxGroup": tax.identifier if tax else None,
                "purchaseHeaderTaxableFlag": bool(rate),
                "purchaseHeaderFreightTaxableFlag": bool(rate and p.freight),
                "taxLevels": [{"taxLevel": 1, "taxCodeXref": tax.xref if tax else None}],
                "purchaseDetail": lines,
                "purchaseDetailTax": taxes,
            }
        )

    def _item_ref(self, item_id: int | None) -> dict[str, Any] | None:
        item = self.s.items.get(item_id) if item_id is not None else None
        return None if item is None else {"id": item.id, "identifier": item.identifier}

    def _adjustment(self, p: Procurement) -> dict[str, Any]:
        """``GLExportAdjustmentTransaction``: the header names the adjustment account (the
        balancing side, it has no total); each detail is an item's signed quantity (an
        integer in the model), unit ``cost`` and ``total``. Details carry no GL entry id,
        type or date in the published model: the record's GL ids are the unposted row's."""
        s = self.s
        return _p(
            {
                "id": p.document_number,
                "documentType": "ADJUSTMENT",
                "documentDate": iso(p.date),
                "glTypeID": "IA",
                "accountNumber": self.account_number(p.adjustment_account_id),
                "memo": p.reason or "",
                "glClass": self.gl_class(p.adjustment_account_id),
                "adjustmentDescription": p.reason or "Inventory adjustment",
                "adjustmentDetail": [
                    _p(
                        {
                            "glClass": self.gl_class(line.gl_account_id),
                            "description": line.memo,
                            "memo": p.reason or "",
                            "item": self._item_ref(line.item_id),
                            "quantity": num(line.quantity),
                            "total": num(line.total),
                            "cost": num(line.cost),
                            "costAccountNumber": self._cogs(line.gl_account_id),
                            "inventoryAccountNumber": self._inventory(line.gl_account_id),
                            "accountNumber": self.account_number(line.gl_account_id),
                            "productAccountNumber": self.account_number(
                                s.items[line.item_id].gl_account_id
                            )
                            if line.item_id in s.items
                            else "",
                        }
                    )
                    for line in p.lines
                ],
            },
            "adjustmentTransaction",
        )

    def _cogs(self, gl_account_id: int | None) -> str:
        account = self.s.gl_accounts.get(gl_account_id) if gl_account_id is not None else None
        return (account.cogs[0] if account else "") or ""

    def _inventory(self, gl_account_id: int | None) -> str:
        account = self.s.gl_accounts.get(gl_account_id) if gl_account_id is not None else None
        return (account.inventory if account else None) or ""

    def _transfer(self, p: Procurement) -> dict[str, Any]:
        """``GLExportInventoryTransfer``: one item moved between warehouses. The entry's
        account receives the value (``total`` positive), its ``offset`` gives it up."""
        s = self.s
        line = p.lines[0]
        item = s.items.get(line.item_id)
        return _p(
            {
                "id": p.document_number,
                "documentType": "TRANSFER",
                "documentDate": iso(p.date),
                "accountNumber": self.account_number(line.gl_account_id),
                "glClass": self.gl_class(line.gl_account_id),
                "glTypeId": "IT",
                "description": p.reason or "Inventory transfer",
                "salesCode": "",
                "memo": f"Transfer {p.transfer_from} to {p.transfer_to}",
                "costAccountNumber": self._cogs(line.gl_account_id),
                "inventoryAccountNumber": self._inventory(line.gl_account_id),
                "transferId": p.po_id,
                "item": self._item_ref(line.item_id),
                "glItemId": item.identifier if item else "",
                "salesDescription": item.description if item else line.memo,
                "itemDescription": item.description if item else line.memo,
                "currency": CURRENCY,
                "itemPrice": num(item.price) if item else 0,
                "taxable": False,
                "unitOfMeasure": {"id": 13, "name": "Each"},
                "quantity": num(line.quantity),
                "cost": num(line.cost),
                "total": num(line.total),
                "serializedFlag": False,
                "serialNumbers": "",
                "transferFromLocationXref": p.transfer_from,
                "transferToLocationXref": p.transfer_to,
                "locationXref": p.transfer_to,
                "itemTypeXref": "Inventory",
                "inventoryXref": self._inventory(line.gl_account_id),
                "cogsXref": self._cogs(line.gl_account_id),
                "taxNote": "",
                "offset": _p(
                    {
                        "id": p.offset_gl_id,
                        "documentType": "TRANSFER",
                        "documentDate": iso(p.date),
                        "accountNumber": self.account_number(p.adjustment_account_id),
                        "glClass": self.gl_class(p.adjustment_account_id),
                        "total": num(-line.total),
                        "memo": f"Transfer {p.transfer_from} to {p.transfer_to}",
                        "description": "Inventory Transfer Offset",
                        "glTypeId": "IT",
                    }
                ),
            },
            "inventoryTransfer",
        )

    def vendor(self, company_id: int) -> dict[str, Any]:
        """``GLExportVendor`` for a vendor company."""
        return self._cached("vendor", company_id, 0, lambda: self._vendor(company_id))

    def _vendor(self, company_id: int) -> dict[str, Any]:
        s = self.s
        c = s.companies[company_id]
        term = s.terms.get(c.terms_id) if c.terms_id is not None else None
        return _p(
            {
                "member": None,
                "vendor": self.company_ref(c.id),
                "vendorNumber": c.vendor_identifier,
                "company": self.company_ref(c.id),
                "contact": self.contact_ref(c.default_contact_id),
                "accountNumber": c.account_number,
                "billingTerms": self.terms_ref(c.terms_id),
                "dueDays": term.due_days if term else None,
                "site": self.site_ref(c),
                "taxCode": self.tax_ref(c.tax_code_id),
            },
            "vendor",
        )

    # --- batches and payments -------------------------------------------------------

    def batch(self, b: Batch) -> dict[str, Any]:
        """``AccountingBatch`` (immutable once created)."""
        return self._cached("batch", b.id, 0, lambda: self._batch(b))

    def _batch(self, b: Batch) -> dict[str, Any]:
        return _p(
            {
                "id": b.id,
                "batchIdentifier": b.identifier,
                "exportInvoicesFlag": b.export_invoices,
                "exportExpensesFlag": b.export_expenses,
                "exportProductsFlag": b.export_products,
                "closedFlag": b.closed_flag,
                "_info": info(b.created),
            },
            "accountingBatch",
        )

    def batch_entries(self, b: Batch) -> list[dict[str, Any]]:
        """``BatchEntry`` rows: one per GL entry of the batched records."""
        s = self.s
        rows: list[dict[str, Any]] = []
        for kind, rec_id in b.records:
            rec = s.record(kind, rec_id)
            if isinstance(rec, Invoice):
                export = self.export_transaction(rec)
                ref = {"id": rec.id, "identifier": rec.number}
                total = Decimal(str(export["total"]))
                rows.append(
                    self._entry(
                        rec.gl_ar_id,
                        "AR",
                        "Accounts Receivable",
                        export["accountNumber"],
                        total,
                        invoice=ref,
                    )
                )
                for d in export["detail"]:
                    amount = Decimal(str(d["total"]))  # already credit-signed
                    rows.append(
                        self._entry(
                            d["id"],
                            d["glTypeId"],
                            d["description"],
                            d["accountNumber"],
                            amount,
                            invoice=ref,
                            item=d.get("glItemId") or None,
                        )
                    )
            elif isinstance(rec, Expense):
                export = self.export_expense(rec)
                ref = {"id": rec.detail_id, "amount": export["total"]}
                rows.append(
                    self._entry(
                        rec.id,
                        export["glTypeId"],
                        export["description"],
                        export["accountNumber"],
                        Decimal(str(export["total"])),
                        expense=ref,
                    )
                )
                if export.get("offset"):
                    o = export["offset"]
                    rows.append(
                        self._entry(
                            o["id"],
                            "EO",
                            o["description"],
                            o["accountNumber"],
                            Decimal(str(o["total"])),
                            expense=ref,
                        )
                    )
            elif rec.kind == "Purchase":
                export = self.export_procurement(rec)
                po = {"id": rec.po_id, "name": rec.document_number}
                for d in [*export["purchaseDetail"], *export.get("purchaseDetailTax", [])]:
                    rows.append(
                        self._entry(
                            d["id"],
                            d["glTypeId"],
                            d.get("memo") or "Purchase",
                            d["accountNumber"],
                            -Decimal(str(d["total"])),  # the receipt's debit side
                            purchase_order=po,
                        )
                    )
            else:
                rows.extend(self._stock_entries(rec))
        return rows

    def _stock_entries(self, rec: Procurement) -> list[dict[str, Any]]:
        """``BatchEntry`` rows of an adjustment (one per item) or a transfer (to, from)."""
        s = self.s
        if rec.kind == "Adjustment":
            return [
                self._entry(
                    line.gl_id,
                    "IA",
                    line.memo,
                    self.account_number(line.gl_account_id),
                    line.total,
                    adjustment={"id": line.gl_id, "name": rec.document_number},
                    item=s.items[line.item_id].identifier if line.item_id in s.items else None,
                )
                for line in rec.lines
            ]
        line = rec.lines[0]
        entries = [(line.gl_id, line.gl_account_id, line.total)]
        if rec.offset_gl_id is not None:
            entries.append((rec.offset_gl_id, rec.adjustment_account_id, -line.total))
        return [
            self._entry(
                gl,
                "IT",
                line.memo,
                self.account_number(account),
                amount,
                transfer=rec.document_number,
            )
            for gl, account, amount in entries
        ]

    @staticmethod
    def _entry(
        gl_id: int,
        gl_type: str,
        name: str,
        account: str,
        amount: Decimal,
        *,
        invoice: Any = None,
        expense: Any = None,
        purchase_order: Any = None,
        adjustment: Any = None,
        transfer: str | None = None,
        item: str | None = None,
    ) -> dict[str, Any]:
        return _p(
            {
                "id": gl_id,
                "accountType": gl_type,
                "name": name,
                "accountNumber": account,
                "debit": num(amount) if amount > 0 else 0,
                "credit": num(-amount) if amount < 0 else 0,
                "cost": 0,
                "item": item,
                "salesCode": None,
                "costOfGoodsSoldAccountNumber": None,
                "invoice": invoice,
                "purchaseOrder": purchase_order,
                "lineItem": None,
                "transfer": transfer,
                "expense": expense,
                "adjustmentDetail": adjustment,
                "_info": info("2025-01-01T00:00:00Z"),
            },
            "batchEntry",
        )

    def payment(self, p: Payment) -> dict[str, Any]:
        """``InvoicePayment`` (plus the sandbox's ``transactionId``)."""
        s = self.s
        inv = s.invoices[p.invoice_id]
        balance = num(s.invoice_balance(inv))
        return _p(
            {
                "id": p.id,
                "type": p.type,
                "source": p.source,
                "invoice": {
                    "id": inv.id,
                    "identifier": inv.number,
                    "billingType": inv.type,
                    "applyToType": inv.apply_to_type,
                    "invoiceDate": iso(inv.date),
                    "chargeFirmFlag": False,
                },
                "credit": None,
                "amount": num(p.amount),
                "balance": balance,
                "invoiceBalance": balance,
                "invoiceTotal": num(s.invoice_total(inv)),
                "paymentDate": p.payment_date,
                "appliedBy": p.applied_by,
                "wisePayPayment": None,
                "paymentSyncStatus": None,
                "glBatchID": p.gl_batch_id,
                "paymentSyncDate": None,
                "paymentAccount": p.payment_account,
                "aRPaymentAccount": self.account_number(s.ar_account_id),
                "transactionId": p.transaction_id,
                "_info": info(p.created),
            },
            "invoicePayment",
        )
