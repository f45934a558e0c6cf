"""Expenses as ConnectWise JSON: unposted expenses, the GL export expenses and expense
bills, and the member vendors they are owed to (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..state import Expense, iso
from .common import CURRENCY, _p, info, num

_Base: Any = object


class ExpenseViews(_Base):
    """Expenses of a :class:`State`."""

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
