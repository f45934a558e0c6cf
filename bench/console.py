"""The web console's figures (JSON on stdout; progress on stderr).

1. ``review_page``: the server's time per review page (``Server-Timing``, measured inside the
   console process, so the HTTP client's own time is left out) for one run of 10,000 records
   (the Wise-Sync cases in turn: posted, warnings, errors, held), stored through the real
   reporter: the first page (which loads the review), then every page of the unfiltered
   review (100 rows a page; the loaded review is reused while the run is unchanged), then
   pages filtered by status, code and record type. Median and p95 per kind.
2. ``sync_all_first_progress``: from sending the Sync All POST to the first progress JSON
   that counts an extracted record, on the demo's stack (ConnectWise and Xero sandboxes,
   embedded transport, poster/reporter/acknowledger running), as the progress page polls it
   (the job's state is read from Postgres, written by the job's thread: the first record at
   once, then every 0.5 s).

    .venv/bin/python bench/console.py            # about a minute on 2 cores
    .venv/bin/python bench/console.py --records 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import httpx2

from wisesync.console.app import create_app
from wisesync.console.jobs import Backend
from wisesync.console.server import ConsoleServer
from wisesync.console.users import UserStore
from wisesync.testing.console import csrf_of, feed, offline_backend, seeded_run
from wisesync.testing.services import postgres_durability, script_services, temporary_database

PASSWORD = "bench-password-long"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def signed_in(base: str) -> httpx2.Client:
    client = httpx2.Client(base_url=base, timeout=120)
    token = csrf_of(client.get("/signin").text)
    r = client.post("/signin", data={"username": "root", "password": PASSWORD, "csrf_token": token})
    assert r.status_code in (200, 303), r.text
    return client


def server_ms(response: Any) -> float:
    timing = response.headers["server-timing"]
    return float(timing.split("dur=", 1)[1])


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "pages": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
    }


def review_pages(dsn: str, records: int) -> dict[str, Any]:
    backend = offline_backend(dsn, ["acme"])
    try:
        UserStore(backend.db).add("root", PASSWORD, "super_admin")
        began = time.monotonic()
        feed(backend.db, seeded_run("acme", records, run_id="bench-run"))
        log(f"stored {records} results in {time.monotonic() - began:.1f}s")
        with ConsoleServer(create_app(backend)) as server:
            client = signed_in(server.url)
            pages = -(-records // 100)
            kinds = {
                "unfiltered": [f"/runs/bench-run?page={p}" for p in range(1, pages + 1)],
                "status_failed": [f"/runs/bench-run?status=failed&page={p}" for p in (1, 2, 3)],
                "code": [f"/runs/bench-run?code=LEDGER_ACCOUNT_MISSING&page={p}" for p in (1, 2)],
                "type": ["/runs/bench-run?type=invoice&page=50"],
            }
            first = client.get(kinds["unfiltered"][0])  # loads the review (then cached)
            out: dict[str, Any] = {
                "records": records,
                "rows_per_page": 100,
                "first_page_loading_the_review_ms": round(server_ms(first), 1),
            }
            everything = []
            for kind, urls in kinds.items():
                times = []
                for url in urls:
                    r = client.get(url)
                    assert r.status_code == 200, (url, r.status_code)
                    times.append(server_ms(r))
                everything += times
                out[kind] = summary(times)
                log(f"{kind}: {out[kind]}")
            out["all"] = summary(everything)
            csv = client.get("/runs/bench-run/review.csv")
            out["csv_ms"] = round(server_ms(csv), 1)
            client.close()
        return out
    finally:
        backend.transport.close()
        backend.db.close()


def first_progress(dsn: str, repeat: int) -> dict[str, Any]:
    from wisesync.testing.stack import CompanySpec, Stack

    results = []
    with Stack(
        [CompanySpec("acme", name="Acme (bench)", ledger="xero")], dsn=dsn, partitions=2
    ) as stack:
        UserStore(stack.db).add("root", PASSWORD, "super_admin")
        backend = Backend(
            config=stack.config, db=stack.db, registry=stack.registry, transport=stack.transport
        )
        with stack.service(), ConsoleServer(create_app(backend)) as server:
            client = signed_in(server.url)
            for i in range(repeat):
                token = csrf_of(client.get("/sync").text)
                began = time.perf_counter()
                r = client.post(
                    "/sync",
                    data={
                        "csrf_token": token,
                        "company": "acme",
                        "types": ["invoice", "credit_memo", "expense", "procurement"],
                    },
                )
                job_url = r.headers.get("location", "")
                assert r.status_code == 303 and job_url.startswith("/jobs/"), r.text
                first = posted = None
                while True:
                    p = client.get(job_url + "/progress.json").json()
                    now = time.perf_counter() - began
                    if first is None and p["extracted"] > 0:
                        first = now
                    if posted is None and p["posted"] + p["failed"] + p["held"] > 0:
                        posted = now
                    if p["finished"]:
                        break
                    time.sleep(0.05)
                results.append(
                    {
                        "first_extracted_s": round(first or 0, 3),
                        "first_result_s": round(posted or 0, 3),
                        "records": p["extracted"],
                        "finished_s": round(now, 2),
                    }
                )
                log(f"sync all {i + 1}: {results[-1]}")
            client.close()
    return {
        "runs": results,
        "median_first_progress_s": statistics.median(r["first_extracted_s"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="Sync All runs to time.")
    args = parser.parse_args()
    # the ledger the review's documents belong to (the Sync All stack names Xero itself)
    os.environ.setdefault("WISESYNC_LEDGER", "xero")
    with script_services(kafka=False, postgres=True) as services:
        durability = postgres_durability(services["postgres"])
        with temporary_database(services["postgres"], "bench_console_review") as dsn:
            review = review_pages(dsn, args.records)
        with temporary_database(services["postgres"], "bench_console_sync") as dsn:
            progress = first_progress(dsn, args.repeat)
    out = {"postgres": durability, "review_page": review, "sync_all_first_progress": progress}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
