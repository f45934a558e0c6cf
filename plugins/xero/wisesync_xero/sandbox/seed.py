"""The default organisation, per docs/sandbox-scenario.md (the cross-system seed contract).

An AU-style GST organisation: the chart of accounts ConnectWise GL numbers map to
(including ARCHIVED ``477`` and the ROUNDING system account ``860``), the tax rates
CW tax xrefs name (``GST99`` deliberately absent), the items CW Non-Product IDs use,
tracking categories Location and Department (``Perth`` deliberately absent), and
optionally pre-existing contacts whose ContactNumber equals a CW account number.
Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .rules import new_contact
from .state import Org

# (Code, Name, Type, TaxType, Status, SystemAccount)
ACCOUNTS: tuple[tuple[str, str, str, str, str, str | None], ...] = (
    ("090", "Business Bank Account", "BANK", "NONE", "ACTIVE", None),
    ("200", "Sales", "REVENUE", "OUTPUT", "ACTIVE", None),
    ("210", "Managed Services Revenue", "REVENUE", "OUTPUT", "ACTIVE", None),
    ("220", "Project Revenue", "REVENUE", "OUTPUT", "ACTIVE", None),
    ("260", "Other Revenue", "REVENUE", "OUTPUT", "ACTIVE", None),
    ("300", "Purchases", "DIRECTCOSTS", "INPUT", "ACTIVE", None),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT", "ACTIVE", None),
    ("420", "Entertainment", "EXPENSE", "INPUT", "ACTIVE", None),
    ("429", "General Expenses", "EXPENSE", "INPUT", "ACTIVE", None),
    ("449", "Motor Vehicle Expenses", "EXPENSE", "INPUT", "ACTIVE", None),
    ("493", "Travel - National", "EXPENSE", "INPUT", "ACTIVE", None),
    ("630", "Inventory", "INVENTORY", "NONE", "ACTIVE", None),
    # the ConnectWise seed's second warehouse: inventory transfers move value 630 -> 631
    ("631", "Inventory (Melbourne)", "INVENTORY", "NONE", "ACTIVE", None),
    ("610", "Accounts Receivable", "CURRENT", "BASEXCLUDED", "ACTIVE", "DEBTORS"),
    ("800", "Accounts Payable", "CURRLIAB", "BASEXCLUDED", "ACTIVE", "CREDITORS"),
    ("820", "GST", "CURRLIAB", "BASEXCLUDED", "ACTIVE", "GST"),
    ("860", "Rounding", "EXPENSE", "BASEXCLUDED", "ACTIVE", "ROUNDING"),
    ("477", "Old Subscriptions", "EXPENSE", "INPUT", "ARCHIVED", None),
    ("880", "Owner Drawings", "EQUITY", "NONE", "ACTIVE", None),
)

_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "FIXED": "ASSET",
    "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "PAYG": "LIABILITY",
    "EQUITY": "EQUITY",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "DEPRECIATN": "EXPENSE",
}
ACCOUNT_TYPES = frozenset(_CLASS)

# (TaxType, Name, rate %, applies to, ReportTaxType)
TAX_RATES: tuple[tuple[str, str, str, str, str], ...] = (
    ("OUTPUT", "GST on Income", "10", "sales", "OUTPUT"),
    ("INPUT", "GST on Expenses", "10", "purchases", "INPUT"),
    ("EXEMPTOUTPUT", "GST Free Income", "0", "sales", "EXEMPTOUTPUT"),
    ("EXEMPTEXPENSES", "GST Free Expenses", "0", "purchases", "EXEMPTEXPENSES"),
    ("NONE", "No GST", "0", "both", "BASEXCLUDED"),
    ("BASEXCLUDED", "BAS Excluded", "0", "both", "BASEXCLUDED"),
)

# (Code, Name, sales account, sales tax, sales price, purchase account, purchase tax, cost)
ITEMS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("LABOR", "Labour", "200", "OUTPUT", "150.00", "300", "INPUT", "0"),
    ("MANAGED", "Managed Services", "210", "OUTPUT", "0", "300", "INPUT", "0"),
    ("PROJECT", "Project Services", "220", "OUTPUT", "0", "300", "INPUT", "0"),
    ("EXPENSE", "Reimbursable Expense", "260", "OUTPUT", "0", "429", "INPUT", "0"),
    ("FREIGHT", "Freight", "260", "OUTPUT", "0", "300", "INPUT", "0"),
    ("WISESYNC_ADJUSTMENT", "wisesync adjustment", "260", "NONE", "0", "429", "NONE", "0"),
    ("HW-LAPTOP", "Laptop", "200", "OUTPUT", "1899.00", "310", "INPUT", "1450.00"),
    ("HW-DOCK", "Docking Station", "200", "OUTPUT", "329.00", "310", "INPUT", "240.00"),
    (
        "SW-M365",
        "Microsoft 365 Business Premium",
        "200",
        "OUTPUT",
        "36.30",
        "300",
        "INPUT",
        "30.25",
    ),
    ("SW-AV", "Endpoint Antivirus", "200", "OUTPUT", "6.50", "300", "INPUT", "4.10"),
)

#: Currencies the default organisation has added besides its base currency (AUD): the
#: demo's foreign-currency customers invoice in these. Others are enabled per
#: organisation with ``XeroSandbox.enable_currency`` (or ``PUT /Currencies``).
SEED_CURRENCIES: tuple[str, ...] = ("USD", "NZD")
CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "GBP": "British Pound",
    "JPY": "Japanese Yen",
    "NZD": "New Zealand Dollar",
    "SGD": "Singapore Dollar",
    "USD": "United States Dollar",
}

TRACKING: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Location", ("Sydney", "Melbourne", "Brisbane")),
    ("Department", ("Managed Services", "Projects", "Hardware")),
)


def add_account(
    org: Org,
    code: str,
    name: str,
    type_: str,
    *,
    tax_type: str = "NONE",
    status: str = "ACTIVE",
    system_account: str | None = None,
    enable_payments: bool = False,
) -> dict[str, Any]:
    """Store a new account and return it."""
    account: dict[str, Any] = {
        "AccountID": org.new_id(),
        "Code": code,
        "Name": name,
        "Status": status,
        "Type": type_,
        "TaxType": tax_type,
        "Class": _CLASS.get(type_, "EXPENSE"),
        "EnablePaymentsToAccount": enable_payments,
        "ShowInExpenseClaims": type_ in ("EXPENSE", "OVERHEADS"),
        "BankAccountType": "BANK" if type_ == "BANK" else "",
        "ReportingCode": "",
        "HasAttachments": False,
        "AddToWatchlist": False,
    }
    if type_ == "BANK":
        account["BankAccountNumber"] = "062-000 12345678"
        account["CurrencyCode"] = org.organisation.get("BaseCurrency", "AUD")
    if system_account:
        account["SystemAccount"] = system_account
    org.stamp(account)
    org.accounts[account["AccountID"]] = account
    return account


def add_tax_rate(
    org: Org, tax_type: str, name: str, rate: Decimal, applies_to: str = "both"
) -> dict[str, Any]:
    """Store a tax rate (one component) and return it."""
    doc = {
        "Name": name,
        "TaxType": tax_type,
        "ReportTaxType": tax_type if tax_type in ("OUTPUT", "INPUT") else "BASEXCLUDED",
        "CanApplyToAssets": True,
        "CanApplyToEquity": True,
        "CanApplyToExpenses": applies_to != "sales",
        "CanApplyToLiabilities": True,
        "CanApplyToRevenue": applies_to != "purchases",
        "DisplayTaxRate": rate,
        "EffectiveRate": rate,
        "Status": "ACTIVE",
        "TaxComponents": [
            {
                "Name": "GST" if rate else "No GST",
                "Rate": rate,
                "IsCompound": False,
                "IsNonRecoverable": False,
            }
        ],
        "_applies_to": applies_to,
    }
    org.tax_rates[tax_type.upper()] = doc
    return doc


def add_tracking_category(org: Org, name: str, options: Iterable[str]) -> dict[str, Any]:
    """Store an ACTIVE tracking category with ACTIVE options."""
    cat_id = org.new_id()
    doc = {
        "TrackingCategoryID": cat_id,
        "Name": name,
        "Status": "ACTIVE",
        "Options": [],
    }
    for option in options:
        add_tracking_option(org, doc, option)
    org.tracking[cat_id] = doc
    return doc


def add_tracking_option(org: Org, category: dict[str, Any], name: str) -> dict[str, Any]:
    """Add an ACTIVE option to ``category`` and return it."""
    option = {
        "TrackingOptionID": org.new_id(),
        "Name": name,
        "Status": "ACTIVE",
        "HasValidationErrors": False,
        "IsDeleted": False,
        "IsArchived": False,
        "IsActive": True,
    }
    category["Options"].append(option)
    return option


def add_item(org: Org, row: tuple[str, str, str, str, str, str, str, str]) -> dict[str, Any]:
    """Store an item from an ``ITEMS`` row."""
    code, name, s_acc, s_tax, s_price, p_acc, p_tax, p_cost = row
    doc = {
        "ItemID": org.new_id(),
        "Code": code,
        "Name": name,
        "Description": name,
        "PurchaseDescription": name,
        "IsSold": True,
        "IsPurchased": True,
        "IsTrackedAsInventory": False,
        "SalesDetails": {"UnitPrice": Decimal(s_price), "AccountCode": s_acc, "TaxType": s_tax},
        "PurchaseDetails": {"UnitPrice": Decimal(p_cost), "AccountCode": p_acc, "TaxType": p_tax},
    }
    org.stamp(doc)
    org.items[doc["ItemID"]] = doc
    return doc


def organisation_doc(org: Org) -> dict[str, Any]:
    """The ``GET /Organisation`` record."""
    return {
        "OrganisationID": org.tenant_id,
        "APIKey": "",
        "Name": org.name,
        "LegalName": f"{org.name} Pty Ltd",
        "PaysTax": True,
        "Version": "AU",
        "OrganisationType": "COMPANY",
        "OrganisationEntityType": "COMPANY",
        "BaseCurrency": "AUD",
        "CountryCode": "AU",
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": "12345678901",
        "FinancialYearEndDay": 30,
        "FinancialYearEndMonth": 6,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "Timezone": "AUSEASTERNSTANDARDTIME",
        "ShortCode": org.short_code,
        "Class": "PREMIUM",
        "Edition": "BUSINESS",
        "LineOfBusiness": "IT managed services",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {
            "Bills": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
            "Sales": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
        },
    }


def seed_contacts(org: Org, contacts: int | Iterable[dict[str, Any] | str]) -> list[dict[str, Any]]:
    """Pre-existing contacts: a count (``C00001``...) or dicts/names."""
    if isinstance(contacts, int):
        rows: list[dict[str, Any]] = [
            {
                "Name": f"Customer {n:05d}",
                "ContactNumber": f"C{n:05d}",
                "AccountNumber": f"C{n:05d}",
            }
            for n in range(1, contacts + 1)
        ]
    else:
        rows = [{"Name": c} if isinstance(c, str) else dict(c) for c in contacts]
    made = []
    for row in rows:
        doc = new_contact(org, row)
        doc["IsCustomer"] = bool(row.get("IsCustomer", True))
        org.put_contact(doc)
        made.append(doc)
    return made


def add_currency(org: Org, code: str) -> dict[str, Any]:
    """Add ``code`` to the organisation's currencies (idempotent) and return it."""
    code = code.strip().upper()
    doc = org.currencies.get(code)
    if doc is None:
        doc = {"Code": code, "Description": CURRENCY_NAMES.get(code, code)}
        org.currencies[code] = doc
    return doc


def seed_default(
    org: Org,
    contacts: int | Iterable[dict[str, Any] | str] | None = None,
    currencies: Iterable[str] = SEED_CURRENCIES,
) -> None:
    """Fill ``org`` with the scenario's default organisation."""
    org.organisation = organisation_doc(org)
    for code in (org.base_currency, *currencies):
        add_currency(org, code)
    for tax_type, name, rate, applies, _report in TAX_RATES:
        add_tax_rate(org, tax_type, name, Decimal(rate), applies)
    for code, name, type_, tax, status, system in ACCOUNTS:
        add_account(org, code, name, type_, tax_type=tax, status=status, system_account=system)
    for category, options in TRACKING:
        add_tracking_category(org, category, options)
    for row in ITEMS:
        add_item(org, row)
    if contacts:
        seed_contacts(org, contacts)
