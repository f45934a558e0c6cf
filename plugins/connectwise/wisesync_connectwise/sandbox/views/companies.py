"""Companies and contacts as ConnectWise JSON (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

from typing import Any

from ..state import Company, Contact
from .common import COMPANY_TYPES, _p, info

_Base: Any = object


class CompanyViews(_Base):
    """Companies and contacts of a :class:`State`."""

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
