"""A company's reference data, read with QBO's query language and cached per realm.

The target reads :data:`ENTITIES` (accounts, items, tax codes and rates, classes,
departments (QBO's locations), terms, preferences and company info) in ONE ``/batch`` call
holding a ``Query`` per list (:func:`wisesync_qbo.client.read_lists`; customers and
vendors ride along when they are due too), and :func:`parse` makes the
:class:`ReferenceData` it keeps for ``reference_ttl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

LISTS = ("Account", "Item", "TaxCode", "TaxRate", "Class", "Department", "Term")
SINGLETONS = ("Preferences", "CompanyInfo")
ENTITIES = (*LISTS, *SINGLETONS)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _ref(value: Any) -> str | None:
    return str(value["value"]) if isinstance(value, dict) and value.get("value") else None


@dataclass(frozen=True, slots=True)
class Account:
    """A QBO account: ``number`` is AcctNum (the ConnectWise GL account number)."""

    id: str
    number: str
    name: str
    type: str
    active: bool


@dataclass(frozen=True, slots=True)
class Item:
    """A product/service; ``income_account`` / ``expense_account`` are account Ids."""

    id: str
    name: str
    active: bool
    income_account: str | None
    expense_account: str | None


@dataclass(frozen=True, slots=True)
class TaxCode:
    """A tax code with its sales and purchase rates (None: not usable on that side)."""

    id: str
    name: str
    active: bool
    sales_rate: Decimal | None
    purchase_rate: Decimal | None

    def rate(self, *, sales: bool) -> Decimal | None:
        """The rate (percent) on a sale or a purchase, None when it cannot be used there."""
        return self.sales_rate if sales else self.purchase_rate


@dataclass(frozen=True, slots=True)
class Named:
    """A class, department or term (``days``: a term's DueDays; ``day_of_month`` and
    ``next_month_days``: a date-driven term's DayOfMonthDue and DueNextMonthDays)."""

    id: str
    name: str
    active: bool
    days: int | None = None
    day_of_month: int | None = None
    next_month_days: int | None = None


@dataclass(slots=True)
class ReferenceData:
    """Everything ``validate`` needs, by the keys ConnectWise uses."""

    accounts: dict[str, Account] = field(default_factory=dict)  # by AcctNum
    accounts_by_id: dict[str, Account] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)  # by folded name
    tax_codes: dict[str, TaxCode] = field(default_factory=dict)  # by folded name
    classes: dict[str, Named] = field(default_factory=dict)
    departments: dict[str, Named] = field(default_factory=dict)
    terms: dict[str, Named] = field(default_factory=dict)
    country: str = "US"
    multicurrency: bool = False
    home_currency: str = "USD"
    loaded_at: float = 0.0

    @property
    def us(self) -> bool:
        """A US company: automated sales tax, line tax codes TAX/NON only."""
        return self.country.upper() in ("US", "USA")

    def account(self, number: str) -> Account | None:
        """The account with AcctNum ``number`` (or that Name), active or not."""
        found = self.accounts.get(number.strip())
        if found is None:
            found = next((a for a in self.accounts.values() if _key(a.name) == _key(number)), None)
        return found

    def item(self, name: str) -> Item | None:
        """The item named ``name`` (case- and space-insensitive)."""
        return self.items.get(_key(name))

    def item_for_account(self, account: Account, *, sales: bool) -> Item | None:
        """The first active item (by name) posting to ``account`` on that side."""
        for item in sorted(self.items.values(), key=lambda i: i.name):
            target = item.income_account if sales else item.expense_account
            if item.active and target == account.id:
                return item
        return None

    def tax_code(self, name: str) -> TaxCode | None:
        """The tax code named ``name``."""
        return self.tax_codes.get(_key(name))

    def zero_tax_code(self, *, sales: bool) -> TaxCode | None:
        """An active 0% code usable on that side (for rounding and adjustment lines)."""
        for code in self.tax_codes.values():
            if code.active and code.rate(sales=sales) == 0:
                return code
        return None

    def tracking(self, which: str, name: str) -> Named | None:
        """The active class or department ``name``."""
        table = self.classes if which == "class" else self.departments
        found = table.get(_key(name))
        return found if found is not None and found.active else None

    def add_term(self, row: dict[str, Any]) -> Named:
        """Remember a Term QBO returned (one wisesync created)."""
        term = _named(row)
        self.terms[_key(term.name)] = term
        return term

    def term(self, name: str) -> Named | None:
        """The active term ``name``."""
        found = self.terms.get(_key(name))
        return found if found is not None and found.active else None


def _rates(row: dict[str, Any], key: str, rates: dict[str, Decimal]) -> Decimal | None:
    details = (row.get(key) or {}).get("TaxRateDetail") or []
    if not details:
        return None
    return sum(
        (rates.get(_ref(d.get("TaxRateRef")) or "", Decimal("0")) for d in details), Decimal("0")
    )


def _whole(value: Any) -> int | None:
    return int(value) if value is not None and str(value).isdigit() else None


def _named(row: dict[str, Any]) -> Named:
    """A Class, Department or Term row."""
    return Named(
        str(row["Id"]),
        str(row.get("Name") or ""),
        row.get("Active", True) is not False,
        _whole(row.get("DueDays")),
        _whole(row.get("DayOfMonthDue")),
        _whole(row.get("DueNextMonthDays")),
    )


def parse(rows: dict[str, list[dict[str, Any]]], loaded_at: float) -> ReferenceData:
    """ReferenceData from the query results (entity -> rows)."""
    ref = ReferenceData(loaded_at=loaded_at)
    for row in rows.get("Account", []):
        account = Account(
            str(row["Id"]),
            str(row.get("AcctNum") or ""),
            str(row.get("Name") or ""),
            str(row.get("AccountType") or ""),
            row.get("Active", True) is not False,
        )
        ref.accounts_by_id[account.id] = account
        if account.number:
            ref.accounts[account.number] = account
        else:
            ref.accounts.setdefault(account.name, account)
    for row in rows.get("Item", []):
        item = Item(
            str(row["Id"]),
            str(row.get("Name") or ""),
            row.get("Active", True) is not False,
            _ref(row.get("IncomeAccountRef")),
            _ref(row.get("ExpenseAccountRef")),
        )
        ref.items[_key(item.name)] = item
    rates = {str(r["Id"]): Decimal(str(r.get("RateValue") or "0")) for r in rows.get("TaxRate", [])}
    for row in rows.get("TaxCode", []):
        code = TaxCode(
            str(row["Id"]),
            str(row.get("Name") or ""),
            row.get("Active", True) is not False,
            _rates(row, "SalesTaxRateList", rates),
            _rates(row, "PurchaseTaxRateList", rates),
        )
        ref.tax_codes[_key(code.name)] = code
    for entity, table in (
        ("Class", ref.classes),
        ("Department", ref.departments),
        ("Term", ref.terms),
    ):
        for row in rows.get(entity, []):
            table[_key(str(row.get("Name") or ""))] = _named(row)
    prefs = (rows.get("Preferences") or [{}])[0]
    currency = prefs.get("CurrencyPrefs") or {}
    ref.multicurrency = bool(currency.get("MultiCurrencyEnabled"))
    ref.home_currency = _ref(currency.get("HomeCurrency")) or "USD"
    info = (rows.get("CompanyInfo") or [{}])[0]
    ref.country = str(info.get("Country") or (info.get("CompanyAddr") or {}).get("Country") or "US")
    return ref
