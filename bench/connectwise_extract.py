"""ConnectWise extraction throughput and API calls per 1,000 records, printed as JSON.

Starts the ConnectWise sandbox in-process seeded with ``--records`` unposted records
(70% invoices incl. credit memos, 20% expenses, 10% procurement; every named edge case
included), extracts everything with the real source plugin, then acknowledges it (one
accounting batch per record, the default, and, on a fresh tenant, one grouped batch).

It reports records/s and ConnectWise calls per 1,000 records for extraction at zero
latency and, with ``--latency`` (seconds added to every sandbox call, default 0.1 s as a
stand-in for a cloud tenant), how the few calls translate into wall time.

    python bench/connectwise_extract.py
    python bench/connectwise_extract.py --records 5000 --latency 0.25
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from typing import Any

from wisesync.config import CompanyOptions
from wisesync.events.models import RecordEvent
from wisesync.protocols import Held
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.sandbox import start_sandbox
from wisesync_connectwise.testing import company_for, posted, runtime_for

TYPES = ["invoice", "credit_memo", "expense", "procurement"]


def _tenant(records: int, seed: int, latency: float):
    invoices = round(records * 0.7)
    expenses = round(records * 0.2)
    return start_sandbox(
        seed=seed,
        invoices=invoices,
        expenses=expenses,
        procurement=records - invoices - expenses,
        customers=max(20, records // 15),
        latency=latency,
    )


def _extract(server: Any, options: CompanyOptions | None = None) -> dict[str, Any]:
    company = company_for(server, options=options)
    source = ConnectWiseSource(runtime_for(server))
    calls_before = server.app.calls()
    started = time.perf_counter()
    items = list(source.extract(company, TYPES))
    seconds = time.perf_counter() - started
    calls = server.app.calls() - calls_before
    events = [e for e in items if isinstance(e, RecordEvent)]
    return {
        "company": company,
        "source": source,
        "events": events,
        "report": {
            "records": len(events),
            "held": sum(1 for e in items if isinstance(e, Held)),
            "per_type": dict(Counter(str(e.record_type) for e in events)),
            "matches_unposted_lists": dict(Counter(str(e.record_type) for e in events))
            == server.app.unposted_counts(),
            "seconds": round(seconds, 3),
            "records_per_second": round(len(events) / seconds, 1),
            "cw_calls": calls,
            "cw_calls_per_1000_records": round(calls / max(1, len(events)) * 1000, 2),
        },
    }


def _acknowledge(server: Any, run: dict[str, Any]) -> dict[str, Any]:
    calls_before = server.app.calls()
    started = time.perf_counter()
    outcomes = run["source"].acknowledge(run["company"], [posted(e) for e in run["events"]])
    seconds = time.perf_counter() - started
    calls = server.app.calls() - calls_before
    left = sum(server.app.unposted_counts().values())
    return {
        "acknowledged": sum(o.acknowledged for o in outcomes),
        "batches": len({o.batch_id for o in outcomes if o.batch_id}),
        "seconds": round(seconds, 3),
        "cw_calls": calls,
        "cw_calls_per_1000_records": round(calls / max(1, len(outcomes)) * 1000, 2),
        "unposted_left": left,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call (0 = skip)")
    args = parser.parse_args(argv)

    out: dict[str, Any] = {
        "benchmark": "connectwise_extract",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "records_requested": args.records,
    }
    server = _tenant(args.records, args.seed, 0.0)
    try:
        run = _extract(server)
        out["extract"] = run["report"]
        second = _extract(server)
        out["content_hash_stable"] = {e.identity: e.content_hash for e in run["events"]} == {
            e.identity: e.content_hash for e in second["events"]
        }
        out["acknowledge_batch_per_record"] = _acknowledge(server, run)
        out["second_extraction_records"] = _extract(server)["report"]["records"]
    finally:
        server.stop()

    server = _tenant(args.records, args.seed, 0.0)
    try:
        grouped = _extract(server, CompanyOptions(ack_batch_per_record=False))
        out["acknowledge_grouped"] = _acknowledge(server, grouped)
    finally:
        server.stop()

    if args.latency > 0:
        server = _tenant(args.records, args.seed, args.latency)
        try:
            report = _extract(server)["report"]
            out["extract_with_latency"] = {"latency_seconds_per_call": args.latency, **report}
        finally:
            server.stop()
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
