"""Invoices as ConnectWise JSON: unposted invoices, ``/finance/invoices``, the GL export
transaction and its customer (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from wisesync.money import round_money

from ..state import Invoice, InvoiceLine, iso
from .common import CURRENCIES, LINE_ITEM_TYPE, _p, info, num

_Base: Any = object


class InvoiceViews(_Base):
    """Invoices of a :class:`State`."""

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
