"""References (companies, contacts, terms, tax codes, members, locations, departments,
sites), the GL mapping (account strings, ``glClass``, GL accounts, the caption) and the
reference data (billing terms and statuses, tax codes) as ConnectWise JSON (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

from typing import Any

from ..state import Company, GLAccount
from .common import ACCOUNT_SEPARATOR, COMPANY_TYPES, PLAIN_ACCOUNT_TYPES, _p, info, num

_Base: Any = object


class ReferenceViews(_Base):
    """References, the GL mapping and the reference data of a :class:`State`."""

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
