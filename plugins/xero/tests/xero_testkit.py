"""Shared builders for the Xero plugin tests: reference data like the sandbox seed,
records, companies and a target wired to a running sandbox."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal as D
from typing import Any

from wisesync.config import AppConfig, CompanyConfig, CompanyOptions
from wisesync.events.models import Line, RecordEvent, RecordType, Totals
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync.testing.records import RecordBuilder, ledger_company, seed_vocabulary
from wisesync_xero.limits import LIMITS
from wisesync_xero.reference import (
    ReferenceData,
    parse_accounts,
    parse_items,
    parse_tax_rates,
    parse_tracking,
)

_ACCOUNTS = [
    ("090", "BANK", "NONE", "ACTIVE", None, "ASSET"),
    ("200", "REVENUE", "OUTPUT", "ACTIVE", None, "REVENUE"),
    ("210", "REVENUE", "OUTPUT", "ACTIVE", None, "REVENUE"),
    ("260", "REVENUE", "OUTPUT", "ACTIVE", None, "REVENUE"),
    ("300", "DIRECTCOSTS", "INPUT", "ACTIVE", None, "EXPENSE"),
    ("310", "DIRECTCOSTS", "INPUT", "ACTIVE", None, "EXPENSE"),
    ("630", "INVENTORY", "NONE", "ACTIVE", None, "ASSET"),
    ("429", "EXPENSE", "INPUT", "ACTIVE", None, "EXPENSE"),
    ("610", "CURRENT", "BASEXCLUDED", "ACTIVE", "DEBTORS", "ASSET"),
    ("860", "EXPENSE", "BASEXCLUDED", "ACTIVE", "ROUNDING", "EXPENSE"),
    ("477", "EXPENSE", "INPUT", "ARCHIVED", None, "EXPENSE"),
]
_TAX = [
    ("OUTPUT", "10", "sales"),
    ("INPUT", "10", "purchases"),
    ("EXEMPTOUTPUT", "0", "sales"),
    ("EXEMPTEXPENSES", "0", "purchases"),
    ("NONE", "0", "both"),
    ("BASEXCLUDED", "0", "both"),
]
ITEMS = ["LABOR", "MANAGED", "PROJECT", "EXPENSE", "WISESYNC_ADJUSTMENT", "HW-LAPTOP"]


def reference(
    *, rounding: bool = True, currencies: tuple[str, ...] = ("AUD", "USD", "NZD")
) -> ReferenceData:
    """Reference data shaped like the sandbox seed (docs/sandbox-scenario.md)."""
    accounts = {
        "Accounts": [
            {
                "Code": code,
                "Name": code,
                "Type": type_,
                "TaxType": tax,
                "Status": status,
                "Class": cls,
                **(
                    {"SystemAccount": system}
                    if system and (rounding or system != "ROUNDING")
                    else {}
                ),
            }
            for code, type_, tax, status, system, cls in _ACCOUNTS
        ]
    }
    taxes = {
        "TaxRates": [
            {
                "TaxType": t,
                "Name": t,
                "Status": "ACTIVE",
                "EffectiveRate": D(rate),
                "CanApplyToRevenue": applies != "purchases",
                "CanApplyToExpenses": applies != "sales",
                "CanApplyToAssets": True,
                "CanApplyToLiabilities": True,
                "CanApplyToEquity": True,
            }
            for t, rate, applies in _TAX
        ]
    }
    tracking = {
        "TrackingCategories": [
            {
                "Name": "Location",
                "Status": "ACTIVE",
                "Options": [{"Name": n, "Status": "ACTIVE"} for n in ("Sydney", "Melbourne")],
            },
            {
                "Name": "Department",
                "Status": "ACTIVE",
                "Options": [{"Name": n, "Status": "ACTIVE"} for n in ("Projects", "Hardware")],
            },
        ]
    }
    return ReferenceData(
        accounts=parse_accounts(accounts),
        tax_rates=parse_tax_rates(taxes),
        tracking=parse_tracking(tracking),
        items=parse_items({"Items": [{"Code": c, "ItemID": c.lower()} for c in ITEMS]}),
        currencies=frozenset(currencies),
        base_currency="AUD",
    )


#: The Xero sandbox seed as the shared record builders see it.
VOCABULARY = seed_vocabulary("xero")
_records = RecordBuilder(VOCABULARY, prefix="T-")
customer = _records.customer
line = _records.line


def record(*lines: Line, company: str = "acme", **kw: Any) -> RecordEvent:
    """A sealed record; totals from the lines unless ``total`` overrides the header total."""
    return _records.record(*lines, company=company, **kw)


_ids = itertools.count(1)


def inventory(
    *amounts: tuple[str, str],
    subtype: str = "adjustment",
    number: str | None = None,
    **kw: Any,
) -> RecordEvent:
    """An inventory adjustment or transfer as contract C1 shapes it: ``amounts`` are
    (GL account, signed amount) pairs, debit +, credit -, the balancing line included."""
    lines = [
        Line(
            description=f"Stock {'in' if D(a) > 0 else 'out'}",
            quantity=D(1 if D(a) > 0 else -1),
            unit_amount=abs(D(a)).quantize(D("0.0001")),
            line_amount=D(a),
            gl_account=account,
            item_code="HW-DOCK",
        )
        for account, a in amounts
    ]
    debits = sum((ln.line_amount for ln in lines if ln.line_amount > 0), D(0))
    n = next(_ids)
    return RecordEvent(
        company=kw.pop("company", "acme"),
        source="connectwise",
        target="xero",
        record_type=RecordType.PROCUREMENT,
        source_id=kw.pop("source_id", f"inventory-{n}"),
        document_number=number or f"ADJ-{n:05d}",
        date=kw.pop("date", date(2026, 1, 7)),
        contact=None,
        lines=lines,
        totals=Totals(debits, D(0), debits),
        subtype=subtype,
        **kw,
    ).seal()


def company(
    server: Any = None,
    *,
    key: str = "acme",
    grant: str = "client_credentials",
    options: CompanyOptions | None = None,
    **xero: Any,
) -> CompanyConfig:
    """A company posting to ``server`` (a running sandbox), or to api.xero.com."""
    section = {
        "grant": grant,
        "client_id_env": "XERO_CLIENT_ID",
        "client_secret_env": "XERO_CLIENT_SECRET",
        **xero,
    }
    if server is not None:
        section.setdefault("base_url", server.url)
        section.setdefault("identity_url", server.url)
    return ledger_company("xero", section, key=key, options=options)


def runtime(
    server: Any, companies: tuple[CompanyConfig, ...], *, db: Any = None, web_app: bool = False
) -> PluginRuntime:
    """A runtime whose environment holds the sandbox's credentials."""
    app = server.app
    if web_app:
        cid, secret = app.client_id, app.client_secret
    else:
        creds = app.credentials()
        cid, secret = creds.client_id, creds.client_secret
    return PluginRuntime(
        config=AppConfig(companies=companies),
        db=db,
        environ={"XERO_CLIENT_ID": cid, "XERO_CLIENT_SECRET": secret},
    )


def target_for(server: Any, **kw: Any) -> Any:
    """(a Xero target posting to ``server``, its company); ``kw`` go to :func:`company`."""
    from wisesync_xero.target import XeroTarget

    comp = company(server, **kw)
    return XeroTarget(runtime(server, (comp,))), comp


def limiter() -> CallLimiter:
    """A limiter with Xero's declared limits."""
    return CallLimiter(LIMITS)
