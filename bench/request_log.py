"""The request log's cost: what recording adds to each API call on the calling thread, and
how many entries per second its writer stores in a real Postgres.

    .venv/bin/python bench/request_log.py [--calls 20000]

Prints one JSON document. Postgres comes from ``WISESYNC_TEST_POSTGRES_DSN`` or an embedded
server started for the run (``wisesync.testing.services.script_services``).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from wisesync.requestlog.recorder import RequestLog
from wisesync.requestlog.store import RequestEntry, RequestLogWriter


class _Discard:
    def put(self, entry: RequestEntry) -> None:
        pass


class _Response:
    status_code = 200
    headers = {"Xero-Correlation-Id": "6d1f1c7e"}
    content = b'{"Invoices":[{"Total":"110.00","Contact":{"Name":"Olivia Rossi"}}]}'


class _XeroClient:
    __module__ = "wisesync_xero.client"
    system = "Xero"
    company = "acme"


def recording_cost(calls: int, debug_bodies: bool) -> float:
    """Microseconds per call that :meth:`RequestLog.record` takes on the calling thread."""
    log = RequestLog(_Discard(), {"canary-secret-0001", "canary-secret-0002"}, debug_bodies)  # type: ignore[arg-type]
    client, response = _XeroClient(), _Response()
    body = b'{"Invoices":[{"Total":"110.00"}]}'
    url = "https://api.xero.com/api.xro/2.0/Invoices"
    started = time.perf_counter()
    for _ in range(calls):
        log.record(client, "POST", url, {"summarizeErrors": "false"}, body, response, None, 0.1, 1)
    return (time.perf_counter() - started) / calls * 1e6


def writer_rate(dsn: str, calls: int) -> float:
    """Entries per second the writer stores (queue to committed rows)."""
    from wisesync.store import migrate
    from wisesync.testing.services import temporary_database

    with temporary_database(dsn, "bench_request_log") as db_dsn:
        import psycopg

        with psycopg.connect(db_dsn) as conn:
            migrate.migrate(conn)
        writer = RequestLogWriter(db_dsn, keep_seconds=0, max_queue=calls + 10)
        entry = RequestEntry(
            datetime.now(UTC), "acme", "xero", "Xero", "POST", "api.xero.com",
            "/api.xro/2.0/Invoices", 200, None, 120, 0, "6d1f1c7e", "run1",
            ["invoice:1042"], ["e1"],
        )  # fmt: skip
        started = time.perf_counter()
        for _ in range(calls):
            writer.put(entry)
        assert writer.flush(timeout=600)
        seconds = time.perf_counter() - started
        writer.close()
        assert writer.written == calls, (writer.written, writer.dropped)
        return calls / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    from wisesync.testing.services import postgres_durability, script_services

    with script_services(kafka=False) as services:
        result = {
            "calls": args.calls,
            "record_us_per_call": round(recording_cost(args.calls, False), 1),
            "record_us_per_call_debug_bodies": round(recording_cost(args.calls, True), 1),
            "writer_entries_per_s": round(writer_rate(services["postgres"], args.calls)),
            "postgres": services["postgres_from"],
            "postgres_durability": postgres_durability(services["postgres"]),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
