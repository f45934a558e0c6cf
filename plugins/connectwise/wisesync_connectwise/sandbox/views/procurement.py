"""Procurement as ConnectWise JSON: unposted procurement, the GL export purchases,
inventory adjustments and transfers, and their vendors (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..state import Procurement, iso
from .common import CURRENCY, _p, info, num

_Base: Any = object


class ProcurementViews(_Base):
    """Procurement of a :class:`State`."""

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
