"""A Xero organisation's reference data, parsed from the API and cached per tenant.

Loaded once per ``reference_ttl`` (GET /Accounts, /TaxRates, /TrackingCategories,
/Items, /Currencies, /Organisation: six calls, at most five at a time) and
kept in the :class:`~wisesync.protocols.TargetContext`. Contacts are a separate,
lazily filled :class:`ContactBook` (see :mod:`wisesync_xero.contacts`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync.money import to_decimal

Getter = Callable[[str, dict[str, Any] | None], Any]
"""``get(path, params) -> decoded JSON body`` for an accounting API path like ``/Accounts``."""


@dataclass(frozen=True, slots=True)
class Account:
    """One chart-of-accounts entry."""

    code: str
    name: str
    type: str
    status: str
    tax_type: str | None = None
    account_class: str | None = None
    system_account: str | None = None
    account_id: str | None = None

    @property
    def active(self) -> bool:
        """Usable on new documents (not ARCHIVED or DELETED)."""
        return self.status == "ACTIVE"


@dataclass(frozen=True, slots=True)
class TaxRate:
    """One tax rate (``TaxType`` is what lines reference)."""

    tax_type: str
    name: str
    status: str
    rate: Decimal
    applies_to: dict[str, bool] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Usable on new documents."""
        return self.status == "ACTIVE"

    def can_apply_to(self, account_class: str | None) -> bool:
        """Whether this rate may be used on an account of ``account_class``
        (REVENUE, EXPENSE, ASSET, LIABILITY, EQUITY); unknown -> True."""
        if not account_class:
            return True
        return self.applies_to.get(account_class.upper(), True)


@dataclass(frozen=True, slots=True)
class TrackingOption:
    """One option of a tracking category."""

    name: str
    option_id: str | None
    status: str

    @property
    def active(self) -> bool:
        """Usable on new documents."""
        return self.status == "ACTIVE"


@dataclass(frozen=True, slots=True)
class TrackingCategory:
    """A tracking category and its options (keyed by case-folded name)."""

    name: str
    category_id: str | None
    status: str
    options: dict[str, TrackingOption]

    def option(self, name: str) -> TrackingOption | None:
        """The ACTIVE option called ``name`` (case-insensitive), or None."""
        opt = self.options.get(name.casefold())
        return opt if opt is not None and opt.active else None


@dataclass(frozen=True, slots=True)
class Item:
    """An item (product or service, a ConnectWise Non-Product ID)."""

    code: str
    item_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class ReferenceData:
    """What validation and mapping look things up in."""

    accounts: dict[str, Account] = field(default_factory=dict)
    tax_rates: dict[str, TaxRate] = field(default_factory=dict)
    tracking: dict[str, TrackingCategory] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    currencies: frozenset[str] = frozenset()
    base_currency: str | None = None
    loaded_at: float = 0.0

    def currency_enabled(self, code: str) -> bool:
        """Whether the organisation can take documents in ``code`` (its base currency or
        one it added). True when the currencies were not loaded (nothing to judge by)."""
        wanted = code.strip().upper()
        if not self.currencies and self.base_currency is None:
            return True
        return wanted in self.currencies or wanted == self.base_currency

    def is_base_currency(self, code: str | None) -> bool:
        """``code`` is None (the company's home currency) or the organisation's base
        (True when the base currency is not known)."""
        if code is None or self.base_currency is None:
            return True
        return code.strip().upper() == self.base_currency.upper()

    def account(self, code: str) -> Account | None:
        """The account with ``code`` (exact, then case-insensitive), any status."""
        found = self.accounts.get(code)
        if found is None:
            folded = code.casefold()
            found = next((a for c, a in self.accounts.items() if c.casefold() == folded), None)
        return found

    def tax_rate(self, tax_type: str) -> TaxRate | None:
        """The tax rate for ``tax_type`` (case-insensitive), any status."""
        return self.tax_rates.get(tax_type) or self.tax_rates.get(tax_type.upper())

    def item(self, code: str) -> Item | None:
        """The item with ``code`` (exact, then case-insensitive)."""
        found = self.items.get(code)
        if found is None:
            folded = code.casefold()
            found = next((i for c, i in self.items.items() if c.casefold() == folded), None)
        return found

    def category(self, name: str) -> TrackingCategory | None:
        """The ACTIVE tracking category called ``name`` (case-insensitive)."""
        cat = self.tracking.get(name.casefold())
        return cat if cat is not None and cat.status == "ACTIVE" else None

    @property
    def rounding_account(self) -> Account | None:
        """The organisation's rounding system account (``SystemAccount == ROUNDING``)."""
        return next((a for a in self.accounts.values() if a.system_account == "ROUNDING"), None)

    def usable_tax(self, tax_type: str, *, sales: bool) -> TaxRate | None:
        """The ACTIVE rate ``tax_type`` when it may be used on a sales (else purchase)
        document, else None."""
        rate = self.tax_rate(tax_type)
        if rate is None or not rate.active:
            return None
        return rate if rate.can_apply_to("REVENUE" if sales else "EXPENSE") else None

    def zero_tax_type(self, account: Account | None, *, sales: bool) -> str | None:
        """An ACTIVE 0% tax type usable on ``account`` in a sales (else purchase)
        document: the account's own when it is 0%, else NONE, BASEXCLUDED, then any
        other 0% rate. None when the org has none."""
        candidates: list[str] = []
        if account is not None and account.tax_type:
            candidates.append(account.tax_type)
        candidates += ["NONE", "BASEXCLUDED"]
        candidates += sorted(self.tax_rates)
        cls = account.account_class if account is not None else None
        for tax_type in candidates:
            rate = self.usable_tax(tax_type, sales=sales)
            if rate is not None and rate.rate == 0 and rate.can_apply_to(cls):
                return rate.tax_type
        return None


# --- parsing ------------------------------------------------------------------------


def _s(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_accounts(body: Any) -> dict[str, Account]:
    """``GET /Accounts`` body -> accounts by code (accounts without a code are skipped:
    no line can reference them)."""
    out: dict[str, Account] = {}
    for raw in (body or {}).get("Accounts", []):
        code = _s(raw.get("Code"))
        if code is None:
            continue
        out[code] = Account(
            code=code,
            name=str(raw.get("Name") or ""),
            type=str(raw.get("Type") or ""),
            status=str(raw.get("Status") or "ACTIVE"),
            tax_type=_s(raw.get("TaxType")),
            account_class=_s(raw.get("Class")),
            system_account=_s(raw.get("SystemAccount")),
            account_id=_s(raw.get("AccountID")),
        )
    return out


_APPLIES = {
    "CanApplyToAssets": "ASSET",
    "CanApplyToEquity": "EQUITY",
    "CanApplyToExpenses": "EXPENSE",
    "CanApplyToLiabilities": "LIABILITY",
    "CanApplyToRevenue": "REVENUE",
}


def parse_tax_rates(body: Any) -> dict[str, TaxRate]:
    """``GET /TaxRates`` body -> tax rates by TaxType."""
    out: dict[str, TaxRate] = {}
    for raw in (body or {}).get("TaxRates", []):
        tax_type = _s(raw.get("TaxType"))
        if tax_type is None:
            continue
        rate = raw.get("EffectiveRate", raw.get("DisplayTaxRate"))
        if rate is None:
            rate = sum(
                (to_decimal(c.get("Rate"), field="Rate") for c in raw.get("TaxComponents") or []),
                Decimal("0"),
            )
        out[tax_type] = TaxRate(
            tax_type=tax_type,
            name=str(raw.get("Name") or tax_type),
            status=str(raw.get("Status") or "ACTIVE"),
            rate=to_decimal(rate, field="EffectiveRate"),
            applies_to={cls: bool(raw[k]) for k, cls in _APPLIES.items() if k in raw},
        )
    return out


def parse_tracking(body: Any) -> dict[str, TrackingCategory]:
    """``GET /TrackingCategories`` body -> categories by case-folded name."""
    out: dict[str, TrackingCategory] = {}
    for raw in (body or {}).get("TrackingCategories", []):
        name = _s(raw.get("Name"))
        if name is None:
            continue
        options = {}
        for opt in raw.get("Options") or []:
            oname = _s(opt.get("Name"))
            if oname is not None:
                options[oname.casefold()] = TrackingOption(
                    name=oname,
                    option_id=_s(opt.get("TrackingOptionID")),
                    status=str(opt.get("Status") or "ACTIVE"),
                )
        out[name.casefold()] = TrackingCategory(
            name=name,
            category_id=_s(raw.get("TrackingCategoryID")),
            status=str(raw.get("Status") or "ACTIVE"),
            options=options,
        )
    return out


def parse_items(body: Any) -> dict[str, Item]:
    """``GET /Items`` body -> items by code."""
    out: dict[str, Item] = {}
    for raw in (body or {}).get("Items", []):
        code = _s(raw.get("Code"))
        if code is not None:
            out[code] = Item(code=code, item_id=_s(raw.get("ItemID")), name=_s(raw.get("Name")))
    return out


def parse_currencies(body: Any) -> frozenset[str]:
    """``GET /Currencies`` body -> the codes the organisation has enabled."""
    return frozenset(
        str(raw["Code"]).upper()
        for raw in (body or {}).get("Currencies", [])
        if isinstance(raw, dict) and raw.get("Code")
    )


def parse_base_currency(body: Any) -> str | None:
    """``GET /Organisation`` body -> the organisation's base currency."""
    orgs = (body or {}).get("Organisations") or [{}]
    return _s(orgs[0].get("BaseCurrency")) if isinstance(orgs[0], dict) else None


#: What :func:`load_reference` reads; at most :data:`MAX_IN_FLIGHT` at a time.
REFERENCE_PATHS = (
    "/Accounts",
    "/TaxRates",
    "/TrackingCategories",
    "/Items",
    "/Currencies",
    "/Organisation",
)
MAX_IN_FLIGHT = 5  # Xero's concurrent-call limit per tenant


def load_reference(get: Getter, now: float) -> ReferenceData:
    """Load accounts, tax rates, tracking categories, items, currencies and the
    organisation's base currency: six GETs, five at the same time (Xero allows 5 in
    flight; one after the other, they held up the first batch and, under the minute
    limit, pushed every later window back by as long)."""
    with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="xero-reference") as pool:
        accounts, tax_rates, tracking, items, currencies, organisation = pool.map(
            lambda path: get(path, None), REFERENCE_PATHS
        )
    return ReferenceData(
        accounts=parse_accounts(accounts),
        tax_rates=parse_tax_rates(tax_rates),
        tracking=parse_tracking(tracking),
        items=parse_items(items),
        currencies=parse_currencies(currencies),
        base_currency=parse_base_currency(organisation),
        loaded_at=now,
    )
