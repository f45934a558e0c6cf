"""Accounting Interface payloads in ConnectWise's published shapes, for tests.

Only fields of ``connectwise_accounting.schema.json`` appear, with the signs of a GL
export (a journal): detail lines are the other side of their header, so a positive
invoice has negative product and ``ST`` sales-tax lines (tax note AUTOSTAX, quantity 0),
and a purchase receipt's details are negative with ``cost`` the extended cost and
``itemCost`` the unit cost. :class:`Tenant` holds a tenant's unposted rows and export
parts and answers the few calls the extractor makes (:class:`TenantClient`), so the
extractor can be tested against these shapes without the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from wisesync.config import CompanyConfig, CompanyOptions
from wisesync.events.models import RecordEvent
from wisesync.protocols import Held, PluginRuntime
from wisesync.ratelimit import Clock

D = Decimal
CENT = D("0.01")
TEN_PERCENT = D("0.1")
NONE = D(0)

#: Segments 1-2 are the account (number and sub-account, the second usually empty),
#: 3-5 classes. ConnectWise joins each kind with the separators of the package setup.
CAPTION = {
    "id": 1,
    "segment1": "Account",
    "segment1type": "Account",
    "segment2": "Sub Account",
    "segment2type": "Account",
    "segment3": "Location",
    "segment3type": "Class",
    "segment4": "Department",
    "segment4type": "Class",
    "segment5": "Non-Product ID",
    "segment5type": "Class",
}
SEP = ":"


def gl_account(ident: int, gl_type: str, account: str, sub: str, *classes: str) -> dict[str, Any]:
    """A GLAccount mapping row."""
    row: dict[str, Any] = {
        "id": ident,
        "glType": gl_type,
        "mappedType": {"id": 1, "name": "Product Category"},
        "mappedRecord": {"id": ident, "name": f"mapping {ident}"},
        "segment1": account,
        "segment2": sub,
    }
    for n, value in enumerate(classes, start=3):
        row[f"segment{n}"] = value
    return row


GL_ACCOUNTS = [
    gl_account(1, "RP", "4001", "", "Sydney", "Services", "LABOR"),
    gl_account(2, "RP", "4002", "", "Brisbane-North", "Hardware", "HW"),
    gl_account(3, "ST", "2200", "", "", "", ""),
    gl_account(4, "AR", "1100", "", "", "", ""),
    gl_account(5, "EI", "6100", "10", "Sydney", "", ""),
    gl_account(6, "IA", "1300", "", "", "", ""),
    gl_account(7, "IT", "1310", "", "", "", ""),
]


def account_string(account: str, sub: str = "") -> str:
    """``accountNumber`` as the export writes it: both account segments, separator kept."""
    return f"{account}{SEP}{sub}"


def class_string(*values: str) -> str:
    """``glClass`` as the export writes it."""
    return "-".join(values)


def currency(code: str = "AUD", decimals: int = 2) -> dict[str, Any]:
    """A CurrencyReference."""
    return {"id": 1, "currencyCode": code, "numberOfDecimals": decimals, "symbol": "$"}


def money(value: Decimal) -> Decimal:
    """Round to cents half up, as ConnectWise shows totals."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def company_ref(ident: int) -> dict[str, Any]:
    """A CompanyReference."""
    return {"id": ident, "identifier": f"C{ident}", "name": f"Customer {ident}"}


def invoice(
    ident: int,
    lines: list[tuple[Decimal, Decimal]],
    *,
    rate: Decimal = TEN_PERCENT,
    credit: bool = False,
    kind: str = "Standard",
    code: str = "AUD",
    company: int = 10,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(UnpostedInvoice, GLExportTransaction) of (quantity, unit price) lines."""
    sign = D(-1) if credit else D(1)
    amounts = [money(q * p) for q, p in lines]
    tax = money(sum(amounts, D(0)) * rate)
    total = (sum(amounts, D(0)) + tax) * sign
    details: list[dict[str, Any]] = []
    for n, ((q, p), amount) in enumerate(zip(lines, amounts, strict=True)):
        details.append(
            {
                "id": ident * 100 + n + 1,
                "documentDate": "2025-04-25T00:00:00Z",
                "documentType": "INVOICE",
                "accountNumber": account_string("4001" if n % 2 == 0 else "4002"),
                "glClass": class_string("Sydney", "Services", "LABOR")
                if n % 2 == 0
                else class_string("Brisbane-North", "Hardware", "HW"),
                "glTypeId": "RP",
                "glItemId": "",
                "quantity": -q * sign,
                "total": -amount * sign,
                "itemPrice": p,
                "taxableFlag": True,
                "taxRate": D(0),
                "memo": f"line {n}",
                "currency": currency(code),
            }
        )
    details.append(
        {
            "id": ident * 100 + 99,
            "documentType": "INVOICE",
            "accountNumber": account_string("2200"),
            "glClass": "",
            "glTypeId": "ST",
            "taxNote": "AUTOSTAX",
            "quantity": D(0),
            "total": -tax * sign,
            "taxRate": rate,
            "taxRatePercent": rate * 100,
            "memo": "Sales Tax",
            "description": "Level 1 Sales Tax",
        }
    )
    number = f"INV-{ident}"
    unposted = {
        "id": ident + 500000,
        "billingLogId": ident,
        "company": company_ref(company),
        "accountNumber": f"ACC{company}",
        "invoiceNumber": number,
        "invoiceDate": "2025-04-25T00:00:00Z",
        "invoiceType": "CreditMemo" if credit else kind,
        "currency": currency(code),
        "subTotal": sum(amounts, D(0)) * sign,
        "total": total,
        "salesTaxAmount": tax * sign,
        "hasTime": True,
        "hasExpenses": False,
        "hasProducts": True,
    }
    txn = {
        "id": ident,
        "glClass": "",
        "glTypeId": "AR",
        "documentDate": "2025-04-25T00:00:00Z",
        "documentNumber": number,
        "documentType": "CREDIT MEMO" if credit else "INVOICE",
        "company": company_ref(company),
        "companyAccountNumber": f"ACC{company}",
        "billingTerms": {"id": 1, "name": "Net 30"},
        "billingTermsXref": "30",
        "dueDays": 30,
        "dueDate": "2025-05-25T00:00:00Z",
        "accountNumber": account_string("1100"),
        "glEntryIds": ",".join(str(d["id"]) for d in details),
        "purchaseOrder": {"id": 3, "name": f"PO-{ident}"},
        "currency": currency(code),
        "total": total,
        "taxAccountNumber": account_string("2200"),
        "salesTax": tax * sign,
        "shipContact": "Jo Bloggs",
        "detail": details,
    }
    return unposted, txn


def expense(ident: int, gross: Decimal, tax: Decimal, member: int = 7) -> tuple[dict, dict]:
    """(UnpostedExpense, GLExportExpense) of a reimbursable expense."""
    unposted = {
        "id": ident,
        "expenseDetailId": ident,
        "expenseType": {"id": 1, "name": "Mileage"},
        "classification": "Reimbursable",
        "glType": "EI",
        "member": {"id": member, "identifier": f"m{member}", "name": f"Member {member}"},
        "dateExpense": "2025-04-20T00:00:00Z",
        "currency": currency(),
        "total": gross,
        "billableAmount": D(0),
        "stateTaxAmount": tax,
        "stateTaxXref": "GST",
    }
    exp = {
        "id": ident,
        "documentDate": "2025-04-20T00:00:00Z",
        "apAccountNumber": account_string("2100"),
        "accountNumber": account_string("6100", "10"),
        "glClass": class_string("Sydney", "", ""),
        "glTypeId": "EI",
        "member": {"id": member, "identifier": f"m{member}", "name": f"Member {member}"},
        "currency": currency(),
        "total": gross,
        "offset": {"id": ident + 90000, "accountNumber": account_string("2100"), "total": -gross},
    }
    return unposted, exp


def expense_bill(ident: int, parts: list[tuple[int, Decimal]], member: int = 7) -> dict[str, Any]:
    """GLExportExpenseBill covering ``(expense id, amount)`` parts (details: credit side)."""
    total = sum((a for _, a in parts), D(0))
    return {
        "id": ident,
        "documentDate": "2025-04-30T00:00:00Z",
        "documentNumber": f"EB-{ident}",
        "apAccountNumber": account_string("2100"),
        "member": {"id": member, "identifier": f"m{member}", "name": f"Member {member}"},
        "currency": currency(),
        "total": total,
        "detail": [
            {
                "id": [eid],
                "glTypeId": "EI",
                "accountNumber": account_string("6100", "10"),
                "expenseClass": {"id": 1, "name": "Reimbursable"},
                "total": -a,
                "reimbursable": True,
            }
            for eid, a in parts
        ],
    }


def purchase(
    ident: int,
    lines: list[tuple[Decimal, Decimal]],
    *,
    rate: Decimal = TEN_PERCENT,
    freight: Decimal = NONE,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(UnpostedProcurement, GLExportPurchaseTransaction) of (quantity, unit cost) lines,
    freight as a PF detail line."""
    amounts = [money(q * c) for q, c in lines]
    subtotal = sum(amounts, D(0)) + freight
    tax = money(subtotal * rate)
    details = [
        {
            "id": ident,  # the unposted row's GL entry
            "documentDate": "5/1/2014 5:21:58 AM",
            "glClass": "",
            "glTypeId": "RP",
            "glItemId": f"ITEM{n}",
            "cost": amount,
            "itemCost": c,
            "itemPrice": c * 2,
            "quantity": -q,
            "total": -amount,
            "accountNumber": account_string("4001"),
            "costAccountNumber": account_string("5000"),
            "inventoryAccountNumber": account_string("1300"),
            "lineNumber": n + 1,
            "taxRate": rate,
        }
        for n, ((q, c), amount) in enumerate(zip(lines, amounts, strict=True))
    ]
    for n, d in enumerate(details[1:], start=1):
        d["id"] = ident * 1000 + n
    if freight:
        details.append(
            {
                "id": ident * 1000 + 999,
                "glTypeId": "PF",
                "description": "Freight",
                "cost": freight,
                "quantity": D(-1),
                "total": -freight,
                "accountNumber": account_string("5100"),
                "lineNumber": len(details) + 1,
                "taxRate": rate,
            }
        )
    unposted = {
        **_unposted_procurement(ident, "Purchase", f"PO{ident}", "2025-04-10", subtotal + tax),
        "unpostedProductId": f"P{ident}",
        "vendor": company_ref(20),
        "vendorInvoiceNumber": f"VI-{ident}",
        "freightCost": freight,
    }
    ptx = {
        "id": f"PO #PO{ident}, Packing Slip: PS{ident}",
        "documentDate": "2025-04-10T00:00:00Z",
        "documentNumber": f"PO{ident}",
        "apAccountNumber": account_string("2100"),
        "company": company_ref(20),
        "freightAmount": freight,
        "packingSlip": f"PS{ident}",
        "currency": currency(),
        "total": subtotal + tax,
        "vendorInvoiceNumber": f"VI-{ident}",
        "purchaseDetail": details,
        "purchaseDetailTax": [
            {
                "id": ident * 1000 + 500,
                "glTypeId": "ST",
                "accountNumber": account_string("2200"),
                "quantity": D(0),
                "total": -tax,
                "taxRate": rate,
                "taxNote": "AUTOSTAX",
            }
        ],
    }
    return unposted, ptx


def _unposted_procurement(
    ident: int, kind: str, number: str, day: str, total: Decimal
) -> dict[str, Any]:
    """An UnpostedProcurement row whose ``unpostedProductId`` and purchase order are
    ``number``."""
    return {
        "id": ident,
        "unpostedProductId": number,
        "procurementType": kind,
        "purchaseOrder": {"id": ident, "name": number},
        "purchaseDate": f"{day}T00:00:00Z",
        "currency": currency(),
        "total": total,
    }


def adjustment(ident: int, lines: list[tuple[int, Decimal]]) -> tuple[dict, dict]:
    """(UnpostedProcurement, GLExportAdjustmentTransaction) of (quantity, unit cost) lines."""
    total = sum((money(q * c) for q, c in lines), D(0))
    unposted = _unposted_procurement(ident, "Adjustment", f"ADJ{ident}", "2025-04-11", total)
    adj = {
        "id": f"ADJ{ident}",
        "documentType": "ADJUSTMENT",
        "documentDate": "2025-04-11T00:00:00Z",
        "glTypeID": "IA",
        "accountNumber": account_string("5300"),
        "adjustmentDescription": "Stock count",
        "adjustmentDetail": [
            {
                "item": {"id": n + 1, "identifier": f"ITEM{n}"},
                "quantity": q,
                "cost": c,
                "total": money(q * c),
                "inventoryAccountNumber": account_string("1300"),
                "accountNumber": account_string("1300"),
            }
            for n, (q, c) in enumerate(lines)
        ],
    }
    return unposted, adj


def transfer(ident: int, quantity: Decimal, cost: Decimal) -> tuple[dict, list[dict]]:
    """(UnpostedProcurement, [GLExportInventoryTransfer]) moving stock between accounts."""
    value = money(quantity * cost)
    unposted = {
        "id": ident,
        "unpostedProductId": f"TR{ident}",
        "procurementType": "Transfer",
        "purchaseDate": "2025-04-12T00:00:00Z",
        "currency": currency(),
        "total": value,
    }
    entry = {
        "id": f"TR{ident}",
        "documentType": "TRANSFER",
        "documentDate": "2025-04-12T00:00:00Z",
        "accountNumber": account_string("1310"),
        "inventoryAccountNumber": account_string("1310"),
        "glTypeId": "IT",
        "transferId": ident,
        "item": {"id": 1, "identifier": "ITEM0"},
        "quantity": quantity,
        "cost": cost,
        "total": value,
        "offset": {"id": ident * 10, "accountNumber": account_string("1300"), "total": -value},
    }
    return unposted, [entry]


@dataclass
class Tenant:
    """Unposted rows and their export parts, keyed the way the extractor asks for them."""

    invoices: list[tuple[dict, dict]] = field(default_factory=list)
    expenses: list[tuple[dict, dict]] = field(default_factory=list)
    bills: list[tuple[list[dict], dict]] = field(default_factory=list)
    procurement: list[tuple[dict, str, Any]] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    #: export parts served as given instead (a test's broken ``transactions``, say)
    overrides: dict[str, Any] = field(default_factory=dict)

    def export(self, request: dict[str, Any]) -> dict[str, Any]:
        """The GLExport of one export request."""
        out = self._export(request)
        out.update({k: v for k, v in self.overrides.items() if k in out})
        return out

    def _export(self, request: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if request.get("exportInvoicesFlag"):
            out["transactions"] = [t for _, t in self.invoices]
            out["customers"] = self.customers
        if request.get("exportExpensesFlag"):
            out["expenses"] = [e for _, e in self.expenses]
            out["expenseBills"] = [b for _, b in self.bills]
        if request.get("exportProductsFlag"):
            for kind, key in (
                ("purchase", "purchaseTransactions"),
                ("adjustment", "adjustmentTransactions"),
                ("transfer", "inventoryTransfers"),
            ):
                found: list[Any] = []
                for _, k, entry in self.procurement:
                    if k == kind:
                        found.extend(entry if isinstance(entry, list) else [entry])
                out[key] = found
        return out

    def unposted(self, path: str) -> list[dict[str, Any]]:
        """The unposted list of ``path``."""
        if path.endswith("unpostedinvoices"):
            return [u for u, _ in self.invoices]
        if path.endswith("unpostedexpenses"):
            return [u for u, _ in self.expenses] + [u for us, _ in self.bills for u in us]
        return [u for u, _, _ in self.procurement]


@dataclass
class _Response:
    body: Any


class TenantClient:
    """The calls the extractor makes, answered from a :class:`Tenant`."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant
        self.requests: list[dict[str, Any]] = []

    def pages(self, path: str, **_: Any) -> list[list[dict[str, Any]]]:
        """One page: the whole unposted list."""
        found = self.tenant.unposted(path)
        return [found] if found else []

    def post_json(self, path: str, body: dict[str, Any], **_: Any) -> _Response:
        """The GL export of the request."""
        self.requests.append(body)
        return _Response(self.tenant.export(body))

    def get_all(self, path: str, **_: Any) -> list[dict[str, Any]]:
        """Captions and GL accounts."""
        if path.endswith("glCaptions"):
            return [CAPTION]
        if path.endswith("glAccounts"):
            return GL_ACCOUNTS
        return []

    def get_by_ids(self, path: str, ids: Any) -> list[dict[str, Any]]:
        """Companies, contacts and members (none known: references are enough)."""
        return []


ALL_TYPES = ["invoice", "credit_memo", "expense", "procurement"]


def company() -> CompanyConfig:
    """A company whose ConnectWise is a :class:`TenantClient` (never called over HTTP)."""
    return CompanyConfig(
        key="demo",
        name="Demo MSP",
        ledger="xero",
        hold_billing_statuses=(),
        options=CompanyOptions(),
        settings={"connectwise": {"base_url": "https://cw.invalid", "company_id": "demo"}},
    )


def extract(tenant: Tenant, types: list[str] | None = None) -> list[RecordEvent | Held]:
    """Everything the ConnectWise source yields for ``tenant``."""
    from wisesync_connectwise.extract import ConnectWiseSource

    source = ConnectWiseSource(PluginRuntime(config=None, clock=Clock(), environ={}))
    co = company()
    source._clients[co.key] = TenantClient(tenant)  # type: ignore[assignment]
    return list(source.extract(co, types or ALL_TYPES))
