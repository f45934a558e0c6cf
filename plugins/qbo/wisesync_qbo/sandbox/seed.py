"""The default QBO company, per docs/sandbox-scenario.md (the cross-system seed contract).

The same MSP as the ConnectWise and Xero seeds, in QBO's terms: accounts carry the
ConnectWise GL numbers in ``AcctNum`` (``477`` inactive, ``4999`` absent, so both are
LEDGER_ACCOUNT_MISSING), items are named by the ConnectWise Non-Product IDs and product
codes (``OLD-SUPPORT`` inactive), tax codes carry the ConnectWise tax xref names
(``GST99`` absent: TAX_CODE_INVALID), classes are the departments and QBO departments
the locations (``Perth`` absent: TRACKING_MISSING), terms ``Net 30``, ``Net 14`` and
``Due on receipt`` (no ``EOM``: TERMS_XREF), and the three ConnectWise vendors.
Deterministic: Ids are handed out in this order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .state import Company

# (AcctNum, Name, AccountType, AccountSubType, Active)
ACCOUNTS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("090", "Business Bank Account", "Bank", "Checking", True),
    ("200", "Sales", "Income", "SalesOfProductIncome", True),
    ("210", "Managed Services Revenue", "Income", "ServiceFeeIncome", True),
    ("220", "Project Revenue", "Income", "ServiceFeeIncome", True),
    ("260", "Other Revenue", "Income", "OtherPrimaryIncome", True),
    ("300", "Purchases", "Cost of Goods Sold", "SuppliesMaterialsCogs", True),
    ("310", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", True),
    ("420", "Entertainment", "Expense", "Entertainment", True),
    ("429", "General Expenses", "Expense", "OtherMiscellaneousServiceCost", True),
    ("449", "Motor Vehicle Expenses", "Expense", "Auto", True),
    ("493", "Travel - National", "Expense", "Travel", True),
    ("630", "Inventory", "Other Current Asset", "Inventory", True),
    # the ConnectWise seed's second warehouse: inventory transfers move value 630 -> 631
    ("631", "Inventory (Melbourne)", "Other Current Asset", "Inventory", True),
    ("610", "Accounts Receivable", "Accounts Receivable", "AccountsReceivable", True),
    ("800", "Accounts Payable", "Accounts Payable", "AccountsPayable", True),
    ("820", "Sales Tax Payable", "Other Current Liability", "SalesTaxPayable", True),
    ("860", "Rounding", "Expense", "OtherMiscellaneousServiceCost", True),
    ("477", "Old Subscriptions", "Expense", "OtherMiscellaneousServiceCost", False),
    ("880", "Owner Drawings", "Equity", "OwnersEquity", True),
)

# (Name, income AcctNum, expense AcctNum, UnitPrice, Active)
ITEMS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("LABOR", "200", "300", "150.00", True),
    ("MANAGED", "210", "300", "0", True),
    ("PROJECT", "220", "300", "0", True),
    ("EXPENSE", "260", "429", "0", True),
    ("FREIGHT", "260", "300", "0", True),
    ("WISESYNC_ADJUSTMENT", "260", "429", "0", True),
    ("HW-LAPTOP", "200", "310", "1899.00", True),
    ("HW-DOCK", "200", "310", "329.00", True),
    ("SW-M365", "200", "300", "36.30", True),
    ("SW-AV", "200", "300", "6.50", True),
    ("OLD-SUPPORT", "210", "300", "0", False),
)

# (Name, rate %, sales, purchases): the ConnectWise tax xrefs; US companies also get TAX/NON
TAX_CODES: tuple[tuple[str, str, bool, bool], ...] = (
    ("OUTPUT", "10", True, False),
    ("INPUT", "10", False, True),
    ("EXEMPTOUTPUT", "0", True, False),
    ("EXEMPTEXPENSES", "0", False, True),
    ("NONE", "0", True, True),
    ("BASEXCLUDED", "0", True, True),
)

#: Currencies the scenario's company has added besides its home currency (AUD) when
#: multi-currency is on, as the Xero organisation has: the ConnectWise seed's NZD customer
#: (Aoraki Software Limited) invoices in one of them.
SEED_CURRENCIES: tuple[str, ...] = ("USD", "NZD")

TERMS: tuple[tuple[str, int], ...] = (("Net 30", 30), ("Net 14", 14), ("Due on receipt", 0))
CLASSES = ("Managed Services", "Projects", "Hardware")
DEPARTMENTS = ("Sydney", "Melbourne", "Brisbane")
VENDORS = ("Ingram Micro Australia", "Dicker Data Limited", "Leader Computers Pty Ltd")
PAYMENT_METHODS = ("Cash", "Check", "Credit Card")


def seed_default(
    company: Company, customers: int | list[str | dict[str, Any]] | None = None
) -> None:
    """Fill ``company`` with the scenario's reference data and ``customers`` (a count:
    ``C00001``...; or DisplayNames; or whole Customer bodies)."""
    accounts: dict[str, dict[str, Any]] = {}
    for number, name, type_, subtype, active in ACCOUNTS:
        accounts[number] = add_account(company, number, name, type_, subtype, active=active)
    for name, income, expense, price, active in ITEMS:
        company.insert(
            "Item",
            {
                "Name": name,
                "FullyQualifiedName": name,
                "Type": "Service" if not name.startswith("HW-") else "NonInventory",
                "Active": active,
                "UnitPrice": Decimal(price),
                "IncomeAccountRef": company.ref("Account", accounts[income]),
                "ExpenseAccountRef": company.ref("Account", accounts[expense]),
                "Taxable": True,
            },
        )
    _seed_tax(company)
    for name, days in TERMS:
        company.insert("Term", {"Name": name, "Active": True, "Type": "STANDARD", "DueDays": days})
    for name in CLASSES:
        company.insert("Class", {"Name": name, "FullyQualifiedName": name, "Active": True})
    for name in DEPARTMENTS:
        company.insert("Department", {"Name": name, "FullyQualifiedName": name, "Active": True})
    for name in PAYMENT_METHODS:
        company.insert("PaymentMethod", {"Name": name, "Active": True})
    for name in VENDORS:
        company.insert("Vendor", {"DisplayName": name, "CompanyName": name, "Active": True})
    names = (
        [f"C{n:05d}" for n in range(1, customers + 1)]
        if isinstance(customers, int)
        else list(customers or [])
    )
    for entry in names:
        body = entry if isinstance(entry, dict) else {"DisplayName": entry, "CompanyName": entry}
        company.insert("Customer", {"Active": True, **body})


def add_account(
    company: Company, number: str, name: str, type_: str, subtype: str, *, active: bool = True
) -> dict[str, Any]:
    """Store an account (``AcctNum`` = the ConnectWise GL number) and return it."""
    return company.insert(
        "Account",
        {
            "Name": name,
            "AcctNum": number,
            "FullyQualifiedName": name,
            "AccountType": type_,
            "AccountSubType": subtype,
            "Classification": _classification(type_),
            "Active": active,
            "CurrentBalance": Decimal("0"),
            "CurrencyRef": {"value": company.home_currency},
        },
    )


def _classification(type_: str) -> str:
    if type_ in ("Income", "Other Income"):
        return "Revenue"
    if type_ in ("Expense", "Cost of Goods Sold", "Other Expense"):
        return "Expense"
    if type_ == "Equity":
        return "Equity"
    if type_ in ("Accounts Payable", "Other Current Liability", "Long Term Liability"):
        return "Liability"
    return "Asset"


def _seed_tax(company: Company) -> None:
    for name, rate, sales, purchases in TAX_CODES:
        tax_rate = company.insert(
            "TaxRate", {"Name": f"{name} {rate}%", "RateValue": Decimal(rate), "Active": True}
        )
        detail = {"TaxRateDetail": [{"TaxRateRef": company.ref("TaxRate", tax_rate)}]}
        company.insert(
            "TaxCode",
            {
                "Name": name,
                "Active": True,
                "Taxable": Decimal(rate) > 0,
                "TaxGroup": False,
                "SalesTaxRateList": detail if sales else {"TaxRateDetail": []},
                "PurchaseTaxRateList": detail if purchases else {"TaxRateDetail": []},
            },
        )


def tax_rate_of(company: Company, code_id: str, *, sales: bool) -> Decimal | None:
    """The rate (percent) of the tax code ``code_id`` (None: no such code)."""
    code = company.get("TaxCode", code_id)
    if code is None:
        return None
    rates = (code.get("SalesTaxRateList" if sales else "PurchaseTaxRateList") or {}).get(
        "TaxRateDetail"
    ) or []
    total = Decimal("0")
    for detail in rates:
        rate = company.get("TaxRate", (detail.get("TaxRateRef") or {}).get("value"))
        total += Decimal(str((rate or {}).get("RateValue", "0")))
    return total
