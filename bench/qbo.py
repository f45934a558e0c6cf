"""QuickBooks Online posting: API calls per 1,000 invoices and the drain of a backlog under
QBO's limits, printed as JSON.

Drives the QBO target the way the poster does (prepare once, then for each chunk of
``limits.batch_size`` (300) records: validate, post the valid ones) against the QBO
sandbox. A post goes out in ``/batch`` calls of at most 30 operations, new customers
packed with documents.

* ``calls_per_1000_invoices``: QBO API calls (``/v3/company/...``: reference data,
  customers and documents; token requests reported apart) for ``--invoices`` (1,000)
  invoices to ``--customers`` (200) customers, once with the customers already in QBO
  (same DisplayName) and once into a company with none (every customer is created).
  Aim: at most 40. ``floor_calls_per_1000``: the fewest calls that can carry the work
  (one reference read + (documents + new customers) / 30 operations a batch): with every
  customer new (197 of them here) that floor is 41, so the aim cannot be met there.
* ``mixed``: ``--documents`` (2,000) mixed records (70% invoices, 8% credit memos, 12%
  expenses, 10% purchase receipts, with warning cases) into a fresh company: every
  record posted, QBO holding exactly one document each.
* ``drain_under_qbo_limits``: ``--drain-invoices`` (3,000) invoices into a fresh company
  under QBO's real limits, enforced by the sandbox on a
  :class:`~wisesync.ratelimit.ScaledClock` (``--scale``) that the target's limiters pace
  by: 500 requests a minute and 10 a second per realm, 40 batch requests a minute; each
  call takes ``--latency`` simulated seconds. ``minimal_calls`` = one read (the batch of
  reference, customer and vendor queries) + one batch per 30 writes (invoices and new
  parties); ``ideal_seconds`` = minimal_calls / 40 per minute (the
  binding limit: every call is a batch); ``fraction_of_ideal`` = ideal / drain time
  (aim: at least 0.95). ``schedule_floor_seconds``: when the last call could end if each
  started as early as the limits allow (the first 40 at once): the stricter bound.
  The scaled clock also scales this process's own work per call (mapping, JSON, and the
  sandbox answering in a thread of the same process): ``own_work_real_seconds_per_call``
  (from the run without limits) x ``--scale`` + ``--latency`` must stay under the 1.5 s a
  batch call may take at 40 a minute, or the drain measures this machine's CPU, not the
  limits (``limit_bound_at_this_scale``). On the 2 shared cores it was written on that
  is about 0.2 s a call, so the default scale is 2 (at 10 the drain reads about 0.5).

The drain is the target's, not the whole pipeline's (Kafka, journal and results add
nothing to the calls QBO sees; bench/pipeline.py measures them for Xero).

    python bench/qbo.py
    python bench/qbo.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import limit_bound_ideal

from wisesync.config import AppConfig, CompanyConfig, CompanyOptions
from wisesync.events.models import RecordEvent
from wisesync.messages import has_errors
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter, Clock, ScaledClock
from wisesync.store.tokens import MemoryTokenStore, OAuthToken
from wisesync_qbo.connection import PROVIDER, Connections
from wisesync_qbo.contacts import details, display_name
from wisesync_qbo.limits import BATCH_LIMITS, BATCH_OPERATIONS, LIMITS
from wisesync_qbo.sandbox import Limits, start_sandbox
from wisesync_qbo.target import QboTarget
from wisesync_xero.workload import Workload, customer

API = r"^/v3/company/"
LIFTED = Limits(per_minute=10**9, per_second=10**9, batch_per_minute=10**9)


def _target(server: Any, clock: Clock) -> tuple[QboTarget, CompanyConfig]:
    section, _ = server.connection_settings("acme")
    section.pop("refresh_token_env")
    section["throttle_wait"] = 60  # Intuit's wait, on the scaled clock
    section.update(client_id_env="QBO_CLIENT_ID", client_secret_env="QBO_CLIENT_SECRET")
    company = CompanyConfig(
        key="acme",
        name="Acme MSP",
        ledger="qbo",
        options=CompanyOptions(require_item_code=True),
        settings={"qbo": section},
    )
    app = server.app.app
    runtime = PluginRuntime(
        config=AppConfig(companies=(company,)),
        clock=clock,
        environ={"QBO_CLIENT_ID": app.client_id, "QBO_CLIENT_SECRET": app.client_secret},
    )
    store = MemoryTokenStore()
    token = OAuthToken.from_response(server.app.issue_tokens())
    store.save("acme", PROVIDER, token.with_data(realm_id=server.app.realm_id))
    target = QboTarget(runtime)
    target.connections = Connections(runtime, store)
    return target, company


def run(
    records: list[RecordEvent],
    *,
    customers: int,
    seed: int,
    clock: Clock | None = None,
    limits: Limits = LIFTED,
    latency: float = 0.0,
) -> dict[str, Any]:
    """Post ``records`` into a fresh sandbox as the poster would; calls, time, outcomes."""
    clock = clock or Clock()
    # as wisesync created them: same DisplayName and details (no update needed)
    known = [
        {"DisplayName": display_name(customer(n)), **details(customer(n))}
        for n in range(1, customers + 1)
    ]
    server = start_sandbox(seed=seed, customers=known or None, clock=clock, limits=limits)
    try:
        app = server.app
        app.faults.latency = latency
        target, company = _target(server, clock)
        limiter = CallLimiter(LIMITS, clock)
        started = clock.now()
        ctx = target.prepare(company, limiter)
        statuses: dict[str, int] = {}
        size = target.limits.batch_size
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            valid = [r for r in chunk if not has_errors(target.validate(r, ctx))]
            for outcome in target.post(valid, ctx):
                statuses[outcome.status.value] = statuses.get(outcome.status.value, 0) + 1
            statuses["invalid"] = statuses.get("invalid", 0) + len(chunk) - len(valid)
        elapsed = clock.now() - started
        numbers: dict[str, int] = {}
        for entity in ("Invoice", "CreditMemo", "Bill", "VendorCredit", "JournalEntry"):
            for doc in app.documents(entity):
                key = f"{entity}:{doc['DocNumber']}"
                numbers[key] = numbers.get(key, 0) + 1
        return {
            "records": len(records),
            "api_calls": app.calls(path=API),
            "batch_calls": app.calls(path=r"/batch$"),
            "limiter_calls": limiter.calls,
            "token_requests": app.calls(path="/oauth2/"),
            "rate_limited_429": app.rate_limited,
            "seconds": round(elapsed, 2),
            "statuses": statuses,
            "documents_in_qbo": sum(numbers.values()),
            "documents_not_exactly_once": sum(1 for v in numbers.values() if v != 1),
            "customers_created": len(app.documents("Customer")) - customers,
            "vendors_created": len(app.documents("Vendor")) - 3,
        }
    finally:
        server.stop()


def floor_calls(result: dict[str, Any]) -> int:
    """The fewest calls that carry ``result``'s work: one batch of reads, then the writes
    (documents, new customers and vendors) 30 to a batch."""
    writes = result["records"] + result["customers_created"] + result["vendors_created"]
    return 1 + math.ceil(writes / BATCH_OPERATIONS)


def drain(
    records: list[RecordEvent], *, customers: int, seed: int, scale: float, latency: float
) -> dict[str, Any]:
    """The backlog under QBO's real limits on a scaled clock."""
    clock = ScaledClock(scale)
    real = time.monotonic()
    result = run(
        records,
        customers=customers,
        seed=seed,
        clock=clock,
        limits=Limits(),
        latency=latency / scale,
    )
    minimal = floor_calls(result)
    per_minute = BATCH_LIMITS.calls_per_minute or 40
    ideal = limit_bound_ideal(minimal, per_minute=per_minute, concurrency=1, latency_s=latency)
    seconds = result["seconds"]
    return {
        **result,
        "clock_scale": scale,
        "latency_simulated_seconds": latency,
        "real_seconds": round(time.monotonic() - real, 1),
        "minimal_calls": minimal,
        "drain_simulated_seconds": seconds,
        "ideal_seconds": ideal["rate_seconds"],
        "fraction_of_ideal": round(ideal["rate_seconds"] / seconds, 3),
        "schedule_floor_seconds": ideal["schedule_seconds"],
        "fraction_of_schedule_floor": round(ideal["schedule_seconds"] / seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--drain-invoices", type=int, default=3000)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=2.0, help="simulated seconds per real one")
    parser.add_argument("--latency", type=float, default=1.0, help="simulated seconds per call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small numbers")
    args = parser.parse_args()
    if args.quick:
        args.invoices, args.drain_invoices, args.customers, args.documents = 300, 300, 50, 300

    invoices = Workload(seed=args.seed, customers=args.customers).invoices(args.invoices)
    exist = run(invoices, customers=args.customers, seed=args.seed)
    new = run(invoices, customers=0, seed=args.seed)
    mixed_records = Workload(seed=args.seed + 2, customers=args.customers, prefix="MX").mixed(
        args.documents
    )
    mixed = run(mixed_records, customers=args.customers, seed=args.seed)
    backlog = Workload(seed=args.seed + 1, customers=args.customers, prefix="DR").invoices(
        args.drain_invoices
    )
    drained = drain(
        backlog, customers=args.customers, seed=args.seed, scale=args.scale, latency=args.latency
    )
    per = 1000 / args.invoices
    own = exist["seconds"] / max(1, exist["api_calls"])
    spacing = 60 / (BATCH_LIMITS.calls_per_minute or 40)
    drained["own_work_real_seconds_per_call"] = round(own, 3)
    drained["limit_bound_at_this_scale"] = own * args.scale + args.latency < spacing
    figures = {
        "calls_per_1000_invoices": {
            "customers_exist": round(exist["api_calls"] * per, 1),
            "customers_new": round(new["api_calls"] * per, 1),
        },
        "floor_calls_per_1000": {
            "customers_exist": round(floor_calls(exist) * per, 1),
            "customers_new": round(floor_calls(new) * per, 1),
        },
        "drain_fraction_of_ideal": drained["fraction_of_ideal"],
        "mixed_posted_exactly_once": mixed["documents_not_exactly_once"] == 0
        and mixed["statuses"].get("posted") == args.documents,
    }
    print(
        json.dumps(
            {
                "benchmark": "qbo",
                "python": platform.python_version(),
                **figures,
                "aims": {
                    "calls_per_1000_at_most_40": max(figures["calls_per_1000_invoices"].values())
                    <= 40,
                    "drain_at_least_95_percent_of_ideal": drained["fraction_of_ideal"] >= 0.95,
                },
                "invoices_customers_exist": exist,
                "invoices_customers_new": new,
                "mixed": mixed,
                "drain_under_qbo_limits": drained,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
