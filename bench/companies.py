"""Many companies at month end: each with its own ConnectWise and Xero organisation, as JSON.

``--companies`` (50) companies, each with ``--invoices`` (600) invoices and credit memos in
its own ConnectWise sandbox and its own Xero organisation (so its own limits: 60 calls a
rolling minute, 5 in flight, 5,000 a day), every sandbox answering with realistic latency
(``--xero-latency-ranges`` reads 0.15-0.3 s, writes 0.3-0.8 s; ``--connectwise-latency-ranges``
0.1-0.25 s; seeded per company) on a :class:`~wisesync.ratelimit.ScaledClock` of
``--scale``; the Kafka transport with ``--partitions`` (12). Every company's backlog is on the
records topic when the posters start (month end: every company's Sync All at once), then:

* ``one_poster``: one ``wisesync run --role poster,reporter,acknowledger`` process
  (``--layout split``: ``--role poster`` and ``--role reporter,acknowledger`` beside it); at
  ``--scale`` 1 (on another clock a Service on that clock, as the CLI has none to scale);
* ``two_posters``: that and a second ``wisesync run --role poster`` in the same group;
* ``stalled``: one poster, and company 0's Xero answers 503 for ``--outage-minutes`` (5)
  simulated minutes from the first call: the others' finish times beside ``one_poster``'s,
  and when company 0's records posted (they wait out the outage held, and post at the
  poster's next try after it: pauses as long as the outage so far, 30 s to ``poster.outage_retry``, 2 min).

Figures per scenario: the drain (first Xero call to every result stored) against the ideal
(every company at its own limits in parallel: the slowest company's minimal calls at 60 a
minute), each company's finish time and their spread, Xero calls per 1,000 invoices, 429s
(at the sandboxes and in results: must be 0), documents posted more than once (must be 0),
and the load average beside each (the machine is shared). Postgres is durable unless
``--postgres-fast``; ``--zero-latency`` runs the sandboxes without latency.

    python bench/companies.py                              # 50 companies (see README for time)
    python bench/companies.py --companies 10 --invoices 300 --only one_poster
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DOCUMENT_WRITES,
    CallLog,
    Realism,
    add_realism_flags,
    company_spec,
    limit_bound_ideal,
    machine_busy,
    machine_cpu,
    machine_load,
    prepare_connectwise,
    run_figures,
    xero_documents,
)
from pipeline import SERVICE_ROLES, service_process

from wisesync.testing.sandbox import Fault
from wisesync.testing.services import postgres_durability, script_services, temporary_database
from wisesync.testing.stack import Stack
from wisesync_xero.limits import LIMITS

SCENARIOS = ("one_poster", "two_posters", "stalled")
STALLED = 0  # the index of the company whose Xero is down in the "stalled" scenario


def _rss_mib(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM of a process in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Companies:
    """The stack of N companies, their sandboxes with latency, and their published backlog."""

    def __init__(self, es: ExitStack, svc: dict[str, str], args: Any, label: str):
        from wisesync.ratelimit import ScaledClock

        self.args = args
        self.scaled = ScaledClock(args.scale)
        self.keys = [f"co{i:02d}" for i in range(args.companies)]
        specs = [
            company_spec(
                key=key,
                invoices=args.invoices,
                customers=args.customers,
                contacts=True,
                seed=args.seed + i,
                xero={"clock": self.scaled},
                connectwise={"clock": self.scaled},
            )
            for i, key in enumerate(self.keys)
        ]
        began = time.monotonic()
        dsn = es.enter_context(temporary_database(svc["postgres"], f"bench_companies_{label}"))
        self.stack = es.enter_context(
            Stack(
                specs, dsn=dsn, transport="kafka", kafka_bootstrap=svc["kafka"],
                partitions=args.partitions,
            )
        )  # fmt: skip
        self.counts = {
            k: prepare_connectwise(self.stack.sandbox("connectwise", k).app) for k in self.keys
        }
        self.xero = {k: self.stack.sandbox("xero", k).app for k in self.keys}
        self.setup_seconds = round(time.monotonic() - began, 1)
        self.runs = {k: self.stack.sync(k) for k in self.keys}  # the backlog, on the topic
        self.published_seconds = round(time.monotonic() - began, 1)
        self.logs = {k: CallLog(app) for k, app in self.xero.items()}
        realism = Realism.from_args(args)
        for i, key in enumerate(self.keys):  # after extracting: only the drain is timed
            realism.apply("xero", self.xero[key], salt=i)
            realism.apply("connectwise", self.stack.sandbox("connectwise", key).app, salt=i)
        self.expected = {k: sum(self.counts[k].values()) for k in self.keys}

    def wait_all(self, timeout_s: float) -> float:
        """Wait until every run's records have a final stored result (posted or failed: a
        record held while its ledger is down is not done until it posts); the monotonic
        time then."""
        ids = [run.run_id for run in self.runs.values()]
        want = sum(self.expected.values())
        deadline = time.monotonic() + timeout_s
        while True:
            with self.stack.db.connection() as conn:
                (done,) = conn.execute(
                    "SELECT count(DISTINCT record_event_id) FROM attempts "
                    "WHERE run_id = ANY(%s) AND status <> 'held'",
                    (ids,),
                ).fetchone()
                conn.rollback()
            if done >= want:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {want} results stored")
            time.sleep(0.2)

    def result_epochs(self) -> dict[str, tuple[float, float]]:
        """Each company's first and last final result (the poster's ``finished_at``), epoch
        seconds."""
        ids = [run.run_id for run in self.runs.values()]
        with self.stack.db.connection() as conn:
            rows = conn.execute(
                "SELECT company, min(finished_at), max(finished_at) FROM attempts "
                "WHERE run_id = ANY(%s) AND status <> 'held' GROUP BY company",
                (ids,),
            ).fetchall()
            conn.rollback()
        return {company: (first.timestamp(), last.timestamp()) for company, first, last in rows}

    def ideal(self, key: str) -> dict[str, float | int]:
        """The company's minimal calls and their limit-bound drain times (simulated s)."""
        log = self.logs[key]
        minimal = log.read_endpoints() + sum(
            math.ceil(n / LIMITS.batch_size) for n in self.counts[key].values()
        )
        bound = limit_bound_ideal(
            minimal,
            per_minute=LIMITS.calls_per_minute or 60,
            concurrency=LIMITS.concurrency,
            latency_s=_mean_write_latency(self.args),
        )
        return {"minimal_calls": minimal, **bound}


def _mean_write_latency(args: Any) -> float:
    from wisesync.testing.sandbox import Latency

    if args.zero_latency:
        return 0.0
    low, high = Latency.parse(args.xero_latency_ranges).writes
    return (low + high) / 2


def _layout(layout: str, *, posters: int) -> list[str]:
    """The roles of each service process: ``split`` runs every poster alone and the reporter
    and acknowledger in one process beside them (how a busy installation runs them);
    ``combined`` runs the first poster with the reporter and acknowledger (``wisesync run``'s
    default roles) and any further poster alone."""
    if layout == "split":
        return ["poster"] * posters + ["reporter,acknowledger"]
    return [SERVICE_ROLES] + ["poster"] * (posters - 1)


def _epoch(monotonic_at: float) -> float:
    return time.time() - (time.monotonic() - monotonic_at)


def _spread(finish: dict[str, float]) -> dict[str, Any]:
    values = sorted(finish.values())
    if not values:
        return {}
    return {
        "first": values[0],
        "median": values[len(values) // 2],
        "last": values[-1],
        "spread": round(values[-1] - values[0], 1),
    }


def scenario(svc: dict[str, str], args: Any, name: str) -> dict[str, Any]:
    """One drain of every company's backlog: ``name`` is one of :data:`SCENARIOS`."""
    with ExitStack() as es:
        load_before = machine_load()
        co = _Companies(es, svc, args, name)
        bench_rss = _rss_mib()
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="wisesync-bench-")))
        outage = None
        if name == "stalled":  # armed before the first call; lifted after N simulated minutes
            outage = Fault("status", count=10**9, status=503, path=r"^/api\.xro/")
            co.xero[co.keys[STALLED]].faults.arm(outage)
        if args.workers:  # [poster] workers in the file the service processes read
            co.stack.raw_config.setdefault("poster", {})["workers"] = args.workers
        started = time.monotonic()
        bench_cpu_before = _cpu_seconds(os.getpid())
        machine_before = machine_cpu()
        cli = args.scale == 1.0  # `wisesync run` itself (the CLI has no clock to scale)
        layout = _layout(args.layout, posters=2 if name == "two_posters" else 1)
        procs = [
            es.enter_context(
                service_process(
                    co.stack,
                    tmp,
                    target="real",
                    roles=roles,
                    scale=args.scale,
                    cli=cli,
                    name=f"-{i}",
                    instance_id=f"bench-{i}" if cli else "",
                )
            )
            for i, roles in enumerate(layout, start=1)
        ]
        if outage is not None:
            lift = threading.Timer(
                args.outage_minutes * 60 / args.scale,
                co.xero[co.keys[STALLED]].faults.disarm,
                (outage,),
            )
            lift.daemon = True
            lift.start()
            es.callback(lift.cancel)
        done = co.wait_all(args.timeout)
        machine = machine_busy(machine_before, machine_cpu())
        bench_cpu = round(_cpu_seconds(os.getpid()) - bench_cpu_before, 1)
        cpu = [round(_cpu_seconds(p.pid), 1) for p in procs]
        rss = [_rss_mib(p.pid) for p in procs]
        load_after = machine_load()
        firsts = [log.first for log in co.logs.values() if log.first is not None]
        t0 = min(firsts)
        result_epochs = co.result_epochs()
        t0_epoch = _epoch(t0)
        first_result, finish = (
            {
                k: round((at[i] - t0_epoch) * args.scale, 1)
                for k, at in sorted(result_epochs.items())
            }
            for i in (0, 1)
        )
        # the stalled company's refused calls are no part of what the others need
        drained = [k for k in co.keys if not (outage is not None and k == co.keys[STALLED])]
        ideals = {k: co.ideal(k) for k in drained}
        ideal_rate = max(i["rate_seconds"] for i in ideals.values())
        ideal_floor = max(i["schedule_seconds"] for i in ideals.values())
        drain = round((done - t0) * args.scale, 1)
        calls = sum(log.calls for log in co.logs.values())
        writes = sum(
            n
            for log in co.logs.values()
            for k, n in log.endpoints.items()
            if DOCUMENT_WRITES.match(k)
        )
        records = sum(co.expected.values())
        documents = [xero_documents(app) for app in co.xero.values()]
        others = {k: v for k, v in finish.items() if k != co.keys[STALLED]}
        return {
            "companies": len(co.keys),
            "records": records,
            "poster_processes": sum("poster" in roles.split(",") for roles in layout),
            "service_processes": [f"wisesync run --role {roles}" for roles in layout]
            if cli
            else [
                f"a Service of {roles} on a ScaledClock (bench/pipeline.py --serve)"
                for roles in layout
            ],
            "setup_seconds_real": co.setup_seconds,
            "backlog_published_seconds_real": co.published_seconds,
            "drain_simulated_seconds": drain,
            "drain_real_seconds": round(done - started, 1),
            "ideal_seconds": ideal_rate,
            "fraction_of_ideal": round(ideal_rate / drain, 3) if drain else None,
            "schedule_floor_seconds": ideal_floor,
            "fraction_of_schedule_floor": round(ideal_floor / drain, 3) if drain else None,
            "service_start_to_first_call_real_seconds": round(t0 - started, 2),
            "finish_simulated_seconds": _spread(finish),
            "finish_spread_over_ideal": round(_spread(finish)["spread"] / ideal_rate, 2)
            if finish and ideal_rate
            else None,
            "finish_without_stalled_company": _spread(others),
            "stalled_company_finish": finish.get(co.keys[STALLED]) if outage is not None else None,
            "finish_per_company": finish,
            "first_result_simulated_seconds": _spread(first_result),
            "first_result_per_company": first_result,
            "xero_api_calls": calls,
            "calls_per_1000": round(calls / records * 1000, 1),
            "document_writes": writes,
            "minimal_calls_per_company": sorted({i["minimal_calls"] for i in ideals.values()}),
            "ideal_over": "every company but the stalled one" if outage is not None else "all",
            "sandbox_rate_limited_429": sum(app.rate_limited for app in co.xero.values()),
            "connectwise_calls": sum(
                co.stack.sandbox("connectwise", k).app.calls() for k in co.keys
            ),
            "xero_documents": sum(d["documents"] for d in documents),
            "documents_posted_more_than_once": sum(
                d["numbers_not_exactly_once"] for d in documents
            ),
            **run_figures(co.stack.db, [run.run_id for run in co.runs.values()]),
            "service_cpu_seconds": cpu,
            "bench_process_cpu_seconds_during_drain": bench_cpu,
            "machine_cpu_from_service_start": machine,
            "service_rss_mib": rss,
            "bench_process_rss_mib_with_sandboxes": bench_rss,
            "load_before": load_before,
            "load_after": load_after,
        }


def _compare(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's aims, from the scenarios that ran."""
    aims: dict[str, Any] = {}
    one = out.get("one_poster")
    if one:
        aims["drain_at_least_90_percent_of_ideal"] = one["fraction_of_ideal"] >= 0.9
        aims["spread_within_10_percent_of_ideal"] = one["finish_spread_over_ideal"] <= 0.1
        aims["zero_429"] = one["sandbox_rate_limited_429"] == 0
    two = out.get("two_posters")
    if one and two:
        aims["second_poster_shortens_the_drain"] = (
            two["drain_simulated_seconds"] < one["drain_simulated_seconds"]
        )
    stalled = out.get("stalled")
    if one and stalled:
        base = one["finish_without_stalled_company"]["last"]
        moved = stalled["finish_without_stalled_company"]["last"]
        aims["stalled_moves_others_last_finish_by"] = round(moved / base - 1, 3) if base else None
        aims["stalled_moves_others_at_most_5_percent"] = bool(base) and moved <= base * 1.05
    runs = [out[s] for s in SCENARIOS if s in out]
    aims["zero_documents_posted_twice"] = all(
        r["documents_posted_more_than_once"] == 0 for r in runs
    )
    return aims


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=50)
    parser.add_argument("--invoices", type=int, default=600, help="per company")
    parser.add_argument("--customers", type=int, default=60, help="per company")
    parser.add_argument("--scale", type=float, default=1.0, help="simulated s per real s")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--outage-minutes", type=float, default=5.0, help="stalled scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="real s per scenario")
    parser.add_argument(
        "--layout",
        choices=("split", "combined"),
        default="combined",
        help="combined: the first poster runs the reporter and acknowledger too (wisesync "
        "run's default roles); split: they run in a process of their own beside the posters",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="[poster] workers of every poster (default: the poster's, 32); few workers make "
        "one poster latency-bound, as many more companies per poster would",
    )
    parser.add_argument("--only", default="", help=f"comma list of {','.join(SCENARIOS)}")
    add_realism_flags(parser)
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")

    began = time.monotonic()
    out: dict[str, Any] = {
        "benchmark": "companies",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_at_start": machine_load(),
        "transport": "kafka",
        "partitions": args.partitions,
        "layout": args.layout,
        "poster_workers": args.workers or "default (32)",
        "companies": args.companies,
        "invoices_per_company": args.invoices,
        "clock_scale": args.scale,
        "latency": Realism.from_args(args).to_json(),
        "limits_per_company": "Xero: 60 calls a rolling minute, 5 in flight, 5,000 a day",
        "ideal_definition": "ideal_seconds: every company drained at its own limit in parallel "
        "= the largest per-company minimal_calls (one read per endpoint it read, however many "
        "posters read it, + one write per 50 invoices and "
        "per 50 credit memos) / 60 a minute; schedule_floor_seconds: the same with the first "
        "60 calls at once and 5 in flight of the mean write latency",
    }
    with script_services(durable=not args.postgres_fast) as svc:
        out["postgres"] = postgres_durability(svc["postgres"])
        for name in only:
            print(f"scenario {name} ...", file=sys.stderr)
            out[name] = scenario(svc, args, name)
    out["aims"] = _compare(out)
    out["bench_seconds"] = round(time.monotonic() - began, 1)
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
