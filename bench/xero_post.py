"""Xero posting: API calls per 1,000 invoices and documents per second, printed as JSON.

Drives the Xero target the way the poster does (prepare once, then for each chunk of
``limits.batch_size`` records: validate, post the valid ones) against the Xero
sandbox with zero latency, through a :class:`~wisesync.ratelimit.CallLimiter` with
Xero's real limits.

* ``calls_per_1000_invoices.customers_exist``: 1,000 invoices to 200 customers who
  already exist in Xero (their ContactNumber is the ConnectWise account number);
* ``calls_per_1000_invoices.customers_new``: the same 1,000 invoices into an
  organisation with no contacts (every customer is created);
* ``mixed``: ``--documents`` mixed records (invoices, credit memos, expenses, purchase
  receipts, with warning cases) into a fresh organisation: documents/s, and checks
  that Xero holds exactly one document per record and no request failed the spec;
  once within Xero's limits (60 calls a minute bound it: a mixed batch needs a PUT
  /Invoices and a PUT /CreditNotes) and once with the limits lifted (wisesync's own
  cost per document, sandbox included).

Calls are Accounting API calls as Xero counts them against the tenant's limits
(reference data and contacts included; token requests, which go to the identity
service, are reported apart).

    python bench/xero_post.py
    python bench/xero_post.py --documents 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from typing import Any

from wisesync.config import AppConfig, CompanyConfig, CompanyOptions
from wisesync.events.models import RecordEvent, Status
from wisesync.messages import has_errors
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync_xero.limits import LIMITS
from wisesync_xero.sandbox import Limits, start_sandbox
from wisesync_xero.target import XeroTarget
from wisesync_xero.workload import Workload

API = r"^/api\.xro/"


def _target(server: Any) -> tuple[XeroTarget, CompanyConfig]:
    creds = server.app.credentials()
    company = CompanyConfig(
        key="acme",
        name="Acme MSP",
        ledger="xero",
        options=CompanyOptions(require_item_code=True),
        settings={
            "xero": {
                "grant": "client_credentials",
                "client_id_env": "XERO_CLIENT_ID",
                "client_secret_env": "XERO_CLIENT_SECRET",
                "base_url": server.url,
                "identity_url": server.url,
            }
        },
    )
    runtime = PluginRuntime(
        config=AppConfig(companies=(company,)),
        environ={"XERO_CLIENT_ID": creds.client_id, "XERO_CLIENT_SECRET": creds.client_secret},
    )
    return XeroTarget(runtime), company


def run(
    records: list[RecordEvent], *, contacts: int, seed: int, throttled: bool = True
) -> dict[str, Any]:
    """Post ``records`` into a fresh sandbox as the poster would; calls and outcomes.

    ``throttled=False`` lifts Xero's per-minute limit in the sandbox and the limiter, to
    measure wisesync's own cost per document.
    """
    options: dict[str, Any] = {}
    limits = LIMITS
    if not throttled:
        options["limits"] = Limits(per_minute=1_000_000, per_day=1_000_000)
        limits = replace(LIMITS, calls_per_minute=None, daily_cap=None)
    server = start_sandbox(seed=seed, contacts=contacts or None, **options)
    try:
        app = server.app
        target, company = _target(server)
        limiter = CallLimiter(limits)
        started = time.perf_counter()
        ctx = target.prepare(company, limiter)
        statuses: dict[str, int] = {}
        warnings: dict[str, int] = {}
        size = target.limits.batch_size
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            valid = [r for r in chunk if not has_errors(target.validate(r, ctx))]
            for outcome in target.post(valid, ctx):
                statuses[outcome.status.value] = statuses.get(outcome.status.value, 0) + 1
                for m in outcome.messages:
                    if not m.is_error:
                        warnings[m.code] = warnings.get(m.code, 0) + 1
            statuses["invalid"] = statuses.get("invalid", 0) + len(chunk) - len(valid)
        elapsed = time.perf_counter() - started
        numbers: dict[str, int] = {}
        for doc in [*app.invoices(), *app.credit_notes()]:
            key = f"{doc['Type']}:{doc.get('InvoiceNumber') or doc.get('CreditNoteNumber')}"
            numbers[key] = numbers.get(key, 0) + 1
        return {
            "records": len(records),
            "api_calls": app.calls(path=API),
            "api_calls_by_endpoint": {
                name: app.calls(path=rf"^/api\.xro/2\.0/{name}")
                for name in (
                    "Accounts",
                    "TaxRates",
                    "TrackingCategories",
                    "Items",
                    "Contacts",
                    "Invoices",
                    "CreditNotes",
                    "ManualJournals",
                    "Currencies",
                    "Organisation",
                )
                if app.calls(path=rf"^/api\.xro/2\.0/{name}")
            },
            "limiter_calls": limiter.calls,
            "token_requests": app.calls(path="/connect/token"),
            "rate_limited_429": app.rate_limited,
            "seconds": round(elapsed, 3),
            "documents_per_second": round(len(records) / elapsed, 1),
            "statuses": statuses,
            "warnings": warnings,
            "documents_in_xero": app.documents_count(),
            "documents_not_exactly_once": sum(1 for v in numbers.values() if v != 1),
            "contacts_in_xero": len(app.contacts()),
            "spec_violations": len(app.spec_violations),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    invoices = Workload(seed=args.seed, customers=args.customers).invoices(args.invoices)
    exist = run(invoices, contacts=args.customers, seed=args.seed)
    new = run(invoices, contacts=0, seed=args.seed)
    mixed_records = Workload(seed=args.seed + 1, customers=args.customers, prefix="MX").mixed(
        args.documents
    )
    mixed = run(mixed_records, contacts=args.customers, seed=args.seed)
    unthrottled = run(mixed_records, contacts=args.customers, seed=args.seed, throttled=False)
    per = 1000 / args.invoices
    print(
        json.dumps(
            {
                "benchmark": "xero_post",
                "python": platform.python_version(),
                "calls_per_1000_invoices": {
                    "customers_exist": round(exist["api_calls"] * per, 1),
                    "customers_new": round(new["api_calls"] * per, 1),
                },
                "documents_per_second": {
                    "within_xero_limits": mixed["documents_per_second"],
                    "limits_lifted": unthrottled["documents_per_second"],
                },
                "invoices_customers_exist": exist,
                "invoices_customers_new": new,
                "mixed": mixed,
                "mixed_limits_lifted": unthrottled,
                "posted_exactly_once": mixed["documents_not_exactly_once"] == 0
                and mixed["statuses"].get(Status.POSTED.value) == args.documents,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
