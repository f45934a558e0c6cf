"""The whole pipeline, ConnectWise -> Kafka -> poster -> Xero -> results -> ConnectWise, as JSON.

Starts its own Kafka broker and Postgres the way the tests do
(:func:`wisesync.testing.services.script_services`; ``WISESYNC_TEST_KAFKA_BOOTSTRAP`` /
``WISESYNC_TEST_POSTGRES_DSN`` name running ones instead). Each run gets a fresh database
and a :class:`~wisesync.testing.stack.Stack`: one company, its ConnectWise and Xero
sandboxes in this process, the Kafka transport, and the service in a subprocess (as
deployed: the sandboxes stand for remote APIs and do not share the service's CPU).
Figures, explained in bench/README.md:

1. ``throughput``: ``--invoices`` (5,000) invoices and credit memos through ``wisesync
   run`` (all four roles; its scheduled sync extracts them), the Xero limits lifted: records/s from the sync's start to every result stored, and to
   every record acknowledged in ConnectWise.
2. ``calls_per_1000_invoices``: Xero API calls (reference data and contacts included) of
   a Sync All of ``--calls-invoices`` (3,000) with the service running, customers already
   in Xero and all new; the naive baseline on ``--naive-calls-invoices`` (300).
3. ``drain_under_limits``: ``--drain-invoices`` (3,000) already on the records topic,
   drained under Xero's real limits (60 calls a rolling minute, 5 concurrent, 5,000 a day)
   on a :class:`~wisesync.ratelimit.ScaledClock`: the Xero sandbox enforces the limits on
   it and the poster's call limiter paces by it. Drain time as a fraction of the limit-bound ideal; 429s counted in
   the results and at the sandbox.
4. ``naive``: the same pipeline with a Xero target that posts one record per call and looks
   its customer up every time (``_common.NaiveXeroTarget``), as Wise-Sync does; its drain
   is measured on ``--naive-drain-invoices`` (500) and projected to ``--drain-invoices``.
5. ``throughput.memory``: peak RSS (VmHWM) of the ``wisesync run`` process of figure 1.

Figures 1, 3 and 4 are measured on a durable Postgres and a fast one (``--postgres``) and
with the sandboxes' realistic latency and without (``--latency``; ranges in
``bench/_common.REALISTIC_LATENCY``): ``modes`` holds each, ``table`` sums them up.
``--ledger qbo``: figure 3 (and its calls per 1,000) for a QBO company.

    python bench/pipeline.py                      # every mode, about 17 minutes (2 cores, load ~20)
    python bench/pipeline.py --quick              # small numbers, to try the bench itself
    python bench/pipeline.py --only drain,naive   # some figures only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_TARGETS,
    COMPANY,
    DOCUMENT_WRITES,
    CallLog,
    Realism,
    acknowledged_counts,
    add_realism_flags,
    company_spec,
    ledger_documents,
    limit_bound_ideal,
    machine_load,
    prepare_connectwise,
    run_figures,
    wait_acknowledged,
    wait_results,
    xero_documents,
)

from wisesync.testing.services import (
    postgres_durability,
    script_services,
    temporary_database,
)
from wisesync.testing.stack import Stack
from wisesync_xero.limits import LIMITS
from wisesync_xero.sandbox import Limits

LIFTED = Limits(per_minute=10**9, per_day=10**9, app_per_minute=10**9)
ALL_ROLES = "extractor,poster,reporter,acknowledger"
SERVICE_ROLES = "poster,reporter,acknowledger"  # drains: the records are extracted already


def _per_1000(calls: int, records: int) -> float:
    return round(calls / records * 1000, 1)


# --- the service in a subprocess -------------------------------------------------------------


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in KiB, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class _Sampler(threading.Thread):
    """Samples a process's memory every ``every_s`` until ``halt`` is set."""

    def __init__(self, pid: int, every_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.samples: list[dict[str, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            try:
                self.samples.append(_memory(self.pid))
            except (OSError, ValueError):
                return


@contextmanager
def service_process(
    stack: Stack,
    tmp: Path,
    *,
    target: str,
    roles: str,
    scale: float = 0.0,
    cli: bool = False,
    name: str = "",
    instance_id: str = "",
) -> Iterator[subprocess.Popen]:
    """The stack's service in a subprocess (``--serve``), stopped with SIGTERM afterwards.

    ``cli``: through the ``wisesync run`` command itself; otherwise a :class:`Service` on a
    ScaledClock of ``scale`` (the CLI has no clock to scale). ``name`` tells the logs of
    several processes apart; ``instance_id``: ``wisesync run --instance-id`` (each process
    running the same role on one host needs its own).
    """
    config = tmp / f"wisesync-{target}.toml"
    env = {**os.environ, **stack.write_config(config)}
    command = [sys.executable, __file__, "--serve", str(config), "--serve-target", target]
    command += ["--serve-roles", roles, "--serve-scale", str(scale)]
    command += ["--serve-cli"] if cli else []
    command += ["--serve-instance-id", instance_id] if instance_id else []
    log_path = tmp / f"service-{target}{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if proc.returncode not in (0, -signal.SIGTERM):
            tail = log_path.read_text(errors="replace")[-3000:]
            print(f"service exited with {proc.returncode}:\n{tail}", file=sys.stderr)


def serve(args: Any) -> None:
    """Child mode: run the service with a bench Xero target until SIGTERM."""
    from wisesync.config import load_config
    from wisesync.daemon import Service, parse_roles
    from wisesync.plugins import registry
    from wisesync.ratelimit import Clock, ScaledClock

    target = BENCH_TARGETS[args.serve_target]
    if args.serve_cli:  # `wisesync run` itself, with the bench target registered as xero
        from wisesync.cli import main

        registry().targets["xero"] = target
        sys.argv = ["wisesync", "--config", args.serve, "run", "--metrics-port", "0"]
        sys.argv += ["--role", args.serve_roles]
        sys.argv += ["--instance-id", args.serve_instance_id] if args.serve_instance_id else []
        main()
        return
    from _common import registry_with

    clock = ScaledClock(args.serve_scale) if args.serve_scale else Clock()
    service = Service(
        load_config(args.serve),
        roles=parse_roles([args.serve_roles]),
        registry=registry_with(target),
        clock=clock,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop_event.set())
    service.open().start()
    while not service.stop_event.wait(0.2):
        pass
    service.close()
    sys.exit(1 if service.errors else 0)


def _stack(es: ExitStack, svc: dict[str, str], args: Any, spec: Any, label: str) -> Stack:
    dsn = es.enter_context(temporary_database(svc["postgres"], f"bench_{label}"))
    return es.enter_context(
        Stack(
            [spec], dsn=dsn, transport="kafka", kafka_bootstrap=svc["kafka"],
            partitions=args.partitions,
        )
    )  # fmt: skip


def _wait_for_run(db: Any, proc: subprocess.Popen, timeout_s: float) -> tuple[str, float]:
    """The scheduled sync's run id and start (epoch seconds), once its manifest is stored."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited early with {proc.returncode}")
        with db.connection() as conn:
            row = conn.execute(
                "SELECT run_id, started_at FROM sync_runs WHERE company = %s", (COMPANY,)
            ).fetchone()
            conn.rollback()
        if row:
            return row[0], row[1].timestamp()
        time.sleep(0.02)
    raise TimeoutError("the service's scheduled sync did not report a run")


def _epoch(monotonic_at: float) -> float:
    return time.time() - (time.monotonic() - monotonic_at)


# --- 1 + 2 + 5: a sync through `wisesync run` --------------------------------------------------


def sync_run(
    svc: dict[str, str],
    args: Any,
    *,
    invoices: int,
    contacts: bool,
    target: str,
    label: str,
    realism: Realism,
    cli: bool = False,
) -> dict[str, Any]:
    """Start the whole service (its scheduler syncs the company at once, its poster posts
    while the extraction runs); time it, count Xero calls, sample the process's memory.

    With latency, the acknowledgements (one ConnectWise call per record, one at a time) are
    waited for ``--ack-window`` seconds after the results and their rate reported."""
    spec = company_spec(
        invoices=invoices,
        customers=args.customers,
        contacts=contacts,
        seed=args.seed,
        xero={"limits": LIFTED},
    )
    with ExitStack() as es:
        stack = _stack(es, svc, args, spec, label)
        counts = prepare_connectwise(stack.sandbox("connectwise", COMPANY).app)
        records = sum(counts.values())
        xero = stack.sandbox("xero", COMPANY).app
        realism.apply("xero", xero)
        realism.apply("connectwise", stack.sandbox("connectwise", COMPANY).app)
        log = CallLog(xero)
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="wisesync-bench-")))
        launched = time.time()
        with service_process(stack, tmp, target=target, roles=ALL_ROLES, cli=cli) as proc:
            sampler = _Sampler(proc.pid)
            sampler.start()
            run_id, started = _wait_for_run(stack.db, proc, args.timeout)
            results = _epoch(wait_results(stack.db, run_id, args.timeout)) - started
            window = args.timeout if realism.label == "zero" else args.ack_window
            acks = _acknowledged(stack.db, run_id, window)
            acked = acks["epoch"] - started
            sampler.halt.set()
            sampler.join()
            final = _memory(proc.pid)
        rss = [s["VmRSS"] for s in sampler.samples]
        return {
            "records": records,
            "per_type": counts,
            "service_start_to_sync_start_seconds": round(started - launched, 2),
            "seconds_to_results_stored": round(results, 2),
            "records_per_second_to_results_stored": round(records / results, 1),
            "acknowledged": f"{acks['done']} of {acks['posted']}",
            "seconds_to_acknowledged": round(acked, 2) if acks["complete"] else None,
            "records_per_second_to_acknowledged": round(acks["done"] / acked, 1),
            "xero_api_calls": log.calls,
            "calls_per_1000": _per_1000(log.calls, records),
            "by_endpoint": dict(log.endpoints),
            "xero": xero_documents(xero),
            "contacts_in_xero": len(xero.contacts()),
            **run_figures(stack.db, run_id),
            "memory": {
                "peak_rss_mib": round(final["VmHWM"] / 1024, 1),
                "rss_at_end_mib": round(final["VmRSS"] / 1024, 1),
                "rss_median_mib": round(sorted(rss)[len(rss) // 2] / 1024, 1) if rss else None,
                "samples": len(rss),
            },
            "load_at_end": machine_load(),
        }


def _acknowledged(db: Any, run_id: str, window_s: float) -> dict[str, Any]:
    """Every posted record acknowledged, or as many as are after ``window_s`` seconds."""
    try:
        at = wait_acknowledged(db, run_id, window_s)
        complete = True
    except TimeoutError:
        at, complete = time.monotonic(), False
    posted, done = acknowledged_counts(db, run_id)
    return {"epoch": _epoch(at), "complete": complete, "posted": posted, "done": done}


# --- 3 + 4: draining a backlog under the ledger's limits ---------------------------------------


def _ledger_limits(ledger: str) -> tuple[Any, Any]:
    """The ledger's declared posting limits and the limit that binds a drain (per minute)."""
    if ledger == "qbo":
        from wisesync_qbo.limits import BATCH_LIMITS
        from wisesync_qbo.limits import LIMITS as QBO_LIMITS

        return QBO_LIMITS, BATCH_LIMITS  # every call is a batch: 40 a minute binds
    return LIMITS, LIMITS


def drain_run(
    svc: dict[str, str],
    args: Any,
    *,
    invoices: int,
    target: str,
    scale: float,
    label: str,
    realism: Realism,
    ledger: str = "xero",
) -> dict[str, Any]:
    """Publish ``invoices`` first, then start the service and time the drain on the scaled
    clock that the sandbox enforces the ledger's limits on and the poster paces by."""
    from wisesync.ratelimit import ScaledClock

    scaled = ScaledClock(scale)  # the sandbox's; the service makes its own at the same rate
    spec = company_spec(
        invoices=invoices,
        customers=args.customers,
        contacts=True,
        seed=args.seed,
        xero={"clock": scaled},  # the ledger's own limits (Xero: 60/min, 5,000/day, 5 at once)
        ledger=ledger,
    )
    with ExitStack() as es:
        stack = _stack(es, svc, args, spec, label)
        counts = prepare_connectwise(stack.sandbox("connectwise", COMPANY).app)
        records = sum(counts.values())
        app = stack.sandbox(ledger, COMPANY).app
        run = stack.sync(COMPANY)  # the backlog: every record on the topic before posting
        realism.apply(ledger, app)  # on the sandbox's scaled clock
        realism.apply("connectwise", stack.sandbox("connectwise", COMPANY).app)
        log = CallLog(app, ledger)
        load = machine_load()
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="wisesync-bench-")))
        with service_process(stack, tmp, target=target, roles=SERVICE_ROLES, scale=scale):
            started = time.monotonic()
            done = wait_results(stack.db, run.run_id, args.timeout)
        assert log.first is not None and log.last is not None
        seconds = (done - log.first) * scale
        limits, binding = _ledger_limits(ledger)
        batch = BENCH_TARGETS[target].limits.batch_size if ledger == "xero" else limits.batch_size
        writes = sum(n for k, n in log.endpoints.items() if DOCUMENT_WRITES.match(k))
        needed = sum(math.ceil(n / batch) for n in counts.values())
        if ledger == "qbo":  # two batches of queries + every write, 30 operations a call
            from wisesync_qbo.limits import BATCH_OPERATIONS

            created = len(stack.ledger(COMPANY).app.documents("Customer"))
            ops = created + sum(counts.values())
            minimal = 2 + math.ceil(ops / BATCH_OPERATIONS)
        elif batch > 1:  # the reads the run needed + full batches of each type
            minimal = log.reads() + needed
        else:  # the naive way has no better way: its calls are its minimum
            minimal = log.calls
        ideal = limit_bound_ideal(
            minimal,
            per_minute=binding.calls_per_minute or 60,
            concurrency=binding.concurrency,
            latency_s=realism.mean_write_seconds(ledger),
        )
        return {
            "ledger": ledger,
            "records": records,
            "per_type": counts,
            "clock_scale": scale,
            "api_calls": log.calls,
            "calls_per_1000": _per_1000(log.calls, records),
            "document_writes": writes if ledger == "xero" else None,
            "minimal_calls": minimal,
            "by_endpoint": dict(log.endpoints),
            "drain_simulated_seconds": round(seconds, 1),
            "ideal_seconds": ideal["rate_seconds"],
            "fraction_of_ideal": round(ideal["rate_seconds"] / seconds, 3),
            "schedule_floor_seconds": ideal["schedule_seconds"],
            "fraction_of_schedule_floor": round(ideal["schedule_seconds"] / seconds, 3),
            "last_call_simulated_seconds": round((log.last - log.first) * scale, 1),
            "service_start_to_first_call_real_seconds": round(log.first - started, 2),
            "real_seconds": round(done - started, 2),
            "reference_reads": log.reference_reads(),
            "sandbox_rate_limited_429": app.rate_limited,
            "documents": ledger_documents(stack, COMPANY),
            **run_figures(stack.db, run.run_id),
            "load_at_start": load,
        }


def project(drain: dict[str, Any], invoices: int) -> dict[str, Any]:
    """The naive drain of ``invoices``, from the calls per record it was measured with.

    Its 2+ calls per invoice exceed Xero's 5,000 a day beyond about 2,500 invoices; the
    rolling day frees the first call's slot 24 h after it, then one a second (at the pace
    they were made), so the rest wait for that. Under 5,000 calls it is the rate bound.
    """
    fixed = drain["reference_reads"] + 1  # + one contact listing; the rest is per record
    per_record = (drain["api_calls"] - fixed) / drain["records"]
    calls = fixed + math.ceil(per_record * invoices)
    per_minute, per_day = LIMITS.calls_per_minute or 60, LIMITS.daily_cap or 5000
    seconds = calls / per_minute * 60.0
    if calls > per_day:
        seconds = 86400.0 + (calls - per_day) / per_minute * 60.0
    return {
        "invoices": invoices,
        "calls_per_record": round(per_record, 3),
        "calls": calls,
        "exceeds_daily_limit": calls > per_day,
        "drain_simulated_seconds": round(seconds / max(drain["fraction_of_ideal"], 1e-9), 1)
        if calls <= per_day
        else round(seconds, 1),
        "how": "calls at 60 a minute, divided by the measured fraction of its ideal; beyond "
        "5,000 calls: 24 h until the rolling day frees, then the rest at 60 a minute",
    }


# --- main ---------------------------------------------------------------------------------------

IDEAL_DEFINITION = (
    "drain_simulated_seconds: from the first ledger call to every result stored, in simulated "
    "seconds. ideal_seconds = minimal_calls / the binding per-minute limit (Xero: 60 calls; "
    "QBO: 40 batch requests); minimal_calls = Xero: the reads the run made (reference data, "
    "contacts) + one write per 50 invoices and one per 50 credit memos (naive: the calls it "
    "made); QBO: two batches of queries + the customers it holds and the documents, 30 "
    "operations a batch. schedule_floor_seconds = when the last of minimal_calls could end "
    "if each started as early as the limits allow (the first minute's calls at once; Xero 5 "
    "in flight, QBO 1), each taking the mean write latency."
)
LATENCY_MODES = ("realistic", "zero")
POSTGRES_MODES = ("durable", "fast")


def _aims(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's aims, on the headline mode (durable Postgres, realistic latency)."""
    aims: dict[str, Any] = {}
    head = out.get("modes", {}).get("durable", {}).get("realistic", {})
    drain = head.get("drain_under_limits", {}).get("wisesync")
    if drain:
        aims["drain_at_least_95_percent_of_ideal"] = drain["fraction_of_ideal"] >= 0.95
        aims["zero_429_in_results"] = drain["results_with_429_or_ledger_unavailable"] == 0
    calls = out.get("calls_per_1000_invoices", {}).get("wisesync")
    if calls:
        aims["at_most_25_calls_per_1000_invoices"] = max(calls.values()) <= 25
    return aims


def mode_figures(
    svc: dict[str, str], args: Any, only: set[str], realism: Realism, *, tag: str, naive: bool
) -> dict[str, Any]:
    """Figures 1, 3 (and 4 when ``naive``) with one latency mode on one Postgres."""
    out: dict[str, Any] = {"latency": realism.to_json()}
    if args.ledger == "xero" and (not only or "throughput" in only):
        out["throughput"] = {
            "command": "wisesync run --role extractor,poster,reporter,acknowledger "
            "(launched by bench/pipeline.py --serve-cli: the CLI command itself, with "
            "the xero target's per-minute and daily limits lifted, as the sandbox's)",
            **sync_run(
                svc, args, invoices=args.invoices, contacts=True, target="lifted",
                label=f"throughput_{tag}", cli=True, realism=realism,
            ),
        }  # fmt: skip
    drains: dict[str, Any] = {}
    if not only or "drain" in only:
        drains["wisesync"] = drain_run(
            svc, args, invoices=args.drain_invoices, target="real", scale=args.scale,
            label=f"drain_{tag}", realism=realism, ledger=args.ledger,
        )  # fmt: skip
    if naive and args.ledger == "xero" and (not only or "naive" in only):
        result = drain_run(
            svc, args, invoices=args.naive_drain_invoices, target="naive",
            scale=args.naive_scale, label=f"naive_{tag}", realism=realism,
        )  # fmt: skip
        result["projected"] = project(result, args.drain_invoices)
        drains["naive"] = result
    if drains:
        out["drain_under_limits"] = {
            "limits": "Xero: 60 calls a rolling minute, 5 concurrent, 5,000 a day (per tenant)"
            if args.ledger == "xero"
            else "QBO: 500 requests a minute, 10 a second, 40 batch requests a minute (per realm)",
            **drains,
        }
        if len(drains) == 2:
            out["drain_under_limits"]["naive_over_wisesync_time"] = round(
                drains["naive"]["projected"]["drain_simulated_seconds"]
                / drains["wisesync"]["drain_simulated_seconds"],
                1,
            )
    return out


def calls_figures(svc: dict[str, str], args: Any, realism: Realism) -> dict[str, Any]:
    """Figure 2: Xero calls per 1,000 invoices, wisesync and naive, customers exist / new."""
    runs = {
        f"{who}.{case}": sync_run(
            svc, args, invoices=n, contacts=case == "customers_exist", target=target,
            label=f"calls_{who}_{case}", realism=realism,
        )
        for who, target, n in (
            ("wisesync", "lifted", args.calls_invoices),
            ("naive", "naive-lifted", args.naive_calls_invoices),
        )
        for case in _CASES
    }  # fmt: skip
    return {
        "calls_per_1000_invoices": {
            who: {case: runs[f"{who}.{case}"]["calls_per_1000"] for case in _CASES}
            for who in ("wisesync", "naive")
        },
        "calls_runs": runs,
    }


def _table(modes: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per Postgres and latency mode: the headline figures side by side."""
    rows = []
    for pg, by_latency in modes.items():
        for latency, figures in by_latency.items():
            if latency == "postgres":
                continue
            throughput = figures.get("throughput", {})
            drain = figures.get("drain_under_limits", {}).get("wisesync", {})
            rows.append(
                {
                    "postgres": pg,
                    "latency": latency,
                    "records_per_second_to_results_stored": throughput.get(
                        "records_per_second_to_results_stored"
                    ),
                    "records_per_second_to_acknowledged": throughput.get(
                        "records_per_second_to_acknowledged"
                    ),
                    "peak_rss_mib": throughput.get("memory", {}).get("peak_rss_mib"),
                    "drain_fraction_of_ideal": drain.get("fraction_of_ideal"),
                    "drain_fraction_of_schedule_floor": drain.get("fraction_of_schedule_floor"),
                    "drain_calls_per_1000": drain.get("calls_per_1000"),
                    "drain_429": drain.get("sandbox_rate_limited_429"),
                    "load_average": (
                        throughput.get("load_at_end") or drain.get("load_at_start") or {}
                    ).get("load_average"),
                }
            )
    return rows


@contextmanager
def _postgres(mode: str) -> Iterator[dict[str, str]]:
    """Postgres for one mode: durable (fsync, synchronous commit) or fast (both off)."""
    with script_services(kafka=False, durable=mode == "durable") as found:
        yield found


def _modes(value: str, known: tuple[str, ...], flag: str) -> list[str]:
    chosen = [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in chosen if m not in known]
    if bad or not chosen:
        raise SystemExit(f"{flag}: choose from {', '.join(known)} (comma list), not {value!r}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    """Run every figure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000, help="throughput run (1, 5)")
    parser.add_argument("--calls-invoices", type=int, default=3000, help="calls runs (2)")
    parser.add_argument("--naive-calls-invoices", type=int, default=300, help="naive calls (2)")
    parser.add_argument("--drain-invoices", type=int, default=3000, help="drain runs (3, 4)")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--scale", type=float, default=5.0, help="clock scale, wisesync drain")
    parser.add_argument("--naive-drain-invoices", type=int, default=500, help="naive drain (4)")
    parser.add_argument("--naive-scale", type=float, default=30.0, help="clock scale, naive")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--ack-window", type=float, default=30.0,
        help="with latency: seconds to wait for acknowledgements after the results",
    )  # fmt: skip
    parser.add_argument("--ledger", choices=("xero", "qbo"), default="xero")
    parser.add_argument("--latency", default=",".join(LATENCY_MODES), help="comma list")
    parser.add_argument("--postgres", default=",".join(POSTGRES_MODES), help="comma list")
    parser.add_argument("--quick", action="store_true", help="small numbers (try the bench)")
    parser.add_argument("--only", default="", help="comma list: throughput,calls,drain,naive")
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--serve-target", default="real", help=argparse.SUPPRESS)
    parser.add_argument("--serve-roles", default=ALL_ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--serve-scale", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--serve-cli", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-instance-id", default="", help=argparse.SUPPRESS)
    add_realism_flags(parser)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return
    if args.quick:
        args.invoices, args.calls_invoices, args.naive_calls_invoices = 500, 300, 100
        args.drain_invoices, args.naive_drain_invoices, args.customers = 300, 100, 40
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    latencies = _modes(args.latency, LATENCY_MODES, "--latency")
    if args.zero_latency:
        latencies = ["zero"]
    pg_modes = _modes(args.postgres, POSTGRES_MODES, "--postgres")
    if args.postgres_fast:
        pg_modes = ["fast"]

    started = time.monotonic()
    out: dict[str, Any] = {
        "benchmark": "pipeline",
        "ledger": args.ledger,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "transport": "kafka",
        "partitions": args.partitions,
        "customers": args.customers if args.ledger == "xero" else "all new (QBO)",
        "seed": args.seed,
        "ideal_definition": IDEAL_DEFINITION,
    }
    modes: dict[str, Any] = {}
    with script_services(postgres=False) as kafka:
        out["services"] = {"kafka_from": kafka["kafka_from"]}
        for pg in pg_modes:
            with _postgres(pg) as found:
                svc = {**kafka, **found}
                modes[pg] = {"postgres": postgres_durability(found["postgres"])}
                for latency in latencies:
                    realism = Realism.from_args(args, zero=latency == "zero")
                    tag = f"{pg}_{latency}"
                    print(f"pipeline: {tag} ...", file=sys.stderr)
                    modes[pg][latency] = mode_figures(
                        svc,
                        args,
                        only,
                        realism,
                        tag=tag,
                        naive=(pg, latency) == (pg_modes[0], latencies[0]),
                    )
                if args.ledger == "xero" and (not only or "calls" in only) and pg == pg_modes[0]:
                    # call counts do not depend on latency or fsync: measured once
                    out.update(calls_figures(svc, args, Realism.from_args(args, zero=True)))
    out["modes"] = modes
    out["table"] = _table(modes)
    out["aims"] = _aims(out)
    out["bench_seconds"] = round(time.monotonic() - started, 1)
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


_CASES = ("customers_exist", "customers_new")


if __name__ == "__main__":
    main()
