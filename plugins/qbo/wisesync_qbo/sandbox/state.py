"""One QBO company (realm) in memory: its entities by type and Id, and its preferences.

Every stored entity carries what QBO adds: ``Id`` (a numeric string), ``SyncToken``
(``"0"``, incremented on every update), ``domain`` ``"QBO"``, ``sparse`` ``false`` and
``MetaData`` (``CreateTime``, ``LastUpdatedTime`` on the sandbox's wall clock).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from wisesync.ratelimit import Clock

#: entity name -> the field QBO keeps unique (None: no name)
NAME_FIELD = {
    "Account": "Name",
    "Item": "Name",
    "Term": "Name",
    "Class": "Name",
    "Department": "Name",
    "TaxCode": "Name",
    "TaxRate": "Name",
    "PaymentMethod": "Name",
    "Customer": "DisplayName",
    "Vendor": "DisplayName",
    "Employee": "DisplayName",
}
#: customers, vendors and employees share one DisplayName space (error 6240)
NAME_LIST = ("Customer", "Vendor", "Employee")
#: transaction entities (DocNumber, TotalAmt)
SALES = ("Invoice", "CreditMemo", "SalesReceipt")
PURCHASES = ("Bill", "VendorCredit")
TRANSACTIONS = (*SALES, *PURCHASES, "JournalEntry", "Payment", "BillPayment")
#: every entity the sandbox serves, by its URL segment (lower case)
ENTITIES = {
    name.lower(): name
    for name in (
        *NAME_FIELD,
        *TRANSACTIONS,
        "CompanyInfo",
        "Preferences",
        "CompanyCurrency",
    )
}


class WallClock:
    """Wall time that moves with the sandbox clock (a ManualClock moves it in tests)."""

    def __init__(self, clock: Clock, start: datetime | None = None):
        self.clock = clock
        self.start = start or datetime.now(UTC).replace(microsecond=0)
        self.t0 = clock.now()

    def now(self) -> datetime:
        """The current wall time (UTC)."""
        return self.start + timedelta(seconds=self.clock.now() - self.t0)

    def stamp(self) -> str:
        """The current time as QBO writes it (``2026-12-07T08:01:02-08:00`` style, UTC here)."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class Company:
    """One realm: preferences, entities, counters.

    Attributes:
        country: ``US`` (automated sales tax, line codes TAX/NON) or another ISO code
            (TaxCodeRef per line, GlobalTaxCalculation).
        multicurrency: ``Preferences.CurrencyPrefs.MultiCurrencyEnabled``.
        home_currency: the company's currency.
        sales_tax_rate: the US automated sales tax rate (percent) the sandbox applies
            to TAX lines when the request does not override the tax.
        custom_txn_numbers: ``SalesFormsPrefs.CustomTxnNumbers`` (DocNumber is taken as sent).
        warn_duplicate_bill_number: ``OtherPrefs WarnDuplicateBillNumber`` (6140 for a
            second bill with the same vendor and number).
    """

    realm_id: str
    name: str
    wall: WallClock
    country: str = "US"
    multicurrency: bool = False
    home_currency: str = "USD"
    currencies: set[str] = field(default_factory=lambda: {"USD"})
    sales_tax_rate: Decimal = Decimal("0")
    custom_txn_numbers: bool = True
    warn_duplicate_bill_number: bool = True
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        """A fresh numeric Id (unique across entity types, as QBO's are in practice)."""
        return str(next(self._ids))

    def table(self, entity: str) -> dict[str, dict[str, Any]]:
        """The stored entities of one type, by Id."""
        return self.entities.setdefault(entity, {})

    def all(self, entity: str) -> list[dict[str, Any]]:
        """Every stored entity of a type, oldest first."""
        return list(self.table(entity).values())

    def get(self, entity: str, entity_id: Any) -> dict[str, Any] | None:
        """One entity by Id (None when absent)."""
        return self.table(entity).get(str(entity_id))

    def find(self, entity: str, **fields: Any) -> dict[str, Any] | None:
        """The first entity whose fields equal ``fields`` (case-insensitive strings)."""
        for row in self.table(entity).values():
            if all(str(row.get(k, "")).lower() == str(v).lower() for k, v in fields.items()):
                return row
        return None

    def insert(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a new entity with QBO's Id, SyncToken and MetaData; returns it."""
        stamp = self.wall.stamp()
        row = copy.deepcopy(body)
        row.pop("sparse", None)
        row.update(
            Id=self.next_id(),
            SyncToken="0",
            domain="QBO",
            sparse=False,
            MetaData={"CreateTime": stamp, "LastUpdatedTime": stamp},
        )
        self.table(entity)[row["Id"]] = row
        return row

    def replace(self, entity: str, row: dict[str, Any]) -> dict[str, Any]:
        """Store an updated version: SyncToken + 1, LastUpdatedTime now."""
        row["SyncToken"] = str(int(row.get("SyncToken") or 0) + 1)
        row.setdefault("MetaData", {})["LastUpdatedTime"] = self.wall.stamp()
        self.table(entity)[str(row["Id"])] = row
        return row

    def delete(self, entity: str, entity_id: str) -> dict[str, Any]:
        """Remove an entity, keeping the tombstone change data capture reports."""
        self.table(entity).pop(str(entity_id))
        tomb = {
            "Id": str(entity_id),
            "status": "Deleted",
            "domain": "QBO",
            "MetaData": {"LastUpdatedTime": self.wall.stamp()},
        }
        self.deleted.setdefault(entity, {})[str(entity_id)] = tomb
        return tomb

    def ref(self, entity: str, row: dict[str, Any]) -> dict[str, str]:
        """A reference to ``row`` as QBO writes one (``value`` and ``name``)."""
        name = NAME_FIELD.get(entity)
        out = {"value": str(row["Id"])}
        if name and row.get(name):
            out["name"] = str(row[name])
        return out

    def company_info(self) -> dict[str, Any]:
        """The CompanyInfo entity."""
        return {
            "Id": "1",
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": False,
            "CompanyName": self.name,
            "LegalName": self.name,
            "Country": self.country,
            "CompanyAddr": {"Country": self.country},
            "SupportedLanguages": "en",
            "NameValue": [{"Name": "CompanyType", "Value": "QuickBooks"}],
        }

    def preferences(self) -> dict[str, Any]:
        """The Preferences entity (the parts the poster reads)."""
        return {
            "Id": "1",
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": False,
            "AccountingInfoPrefs": {"TrackDepartments": True, "ClassTrackingPerTxnLine": True},
            "SalesFormsPrefs": {"CustomTxnNumbers": self.custom_txn_numbers},
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": self.multicurrency,
                "HomeCurrency": {"value": self.home_currency},
            },
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": self.country == "US"},
            "OtherPrefs": {
                "NameValue": [
                    {
                        "Name": "WarnDuplicateBillNumber",
                        "Value": str(self.warn_duplicate_bill_number).lower(),
                    }
                ]
            },
        }
