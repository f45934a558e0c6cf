"""Peak memory of the daemon while it drains a backlog, as JSON (issue #15, item 4).

One company whose ConnectWise sandbox holds ``--records`` unposted records (the sandbox's
``records=N`` knob: invoices, credit memos, expenses and procurement in the seed's mix,
no error cases) and a Xero sandbox with its limits lifted. The service runs as deployed,
in subprocesses on the Kafka transport: its scheduler extracts the whole backlog at once,
the poster posts it, the reporter stores the results, the acknowledger batches the records
in ConnectWise. Each process's RSS is sampled from /proc until every posted record is
acknowledged (``--until results``: until every result is stored); the figure is its peak
(VmHWM).

``--layout one`` runs every role in one process (``wisesync run``), ``--layout roles``
one process per role (``wisesync run --role X``), which says where the memory goes;
``both`` (default) runs both. ``--trace`` also records, in the one-process layout, the
Python allocations at the traced peak by file (tracemalloc; slower, so its wall time
is not comparable).

    python bench/memory.py --records 5000
    python bench/memory.py --records 50000 --layout one --until results
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import COMPANY, LiftedXeroTarget, registry_with, wait_acknowledged, wait_results

from wisesync.testing.services import script_services, temporary_database
from wisesync.testing.stack import CompanySpec, Stack
from wisesync_xero.sandbox import Limits

ROLES = ("extractor", "poster", "reporter", "acknowledger")
LIFTED = Limits(per_minute=10**9, per_day=10**9, app_per_minute=10**9)
MIB = 1024


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


class Watch(threading.Thread):
    """Samples the RSS of some processes every ``every_s`` until :attr:`halt`."""

    def __init__(self, procs: dict[str, subprocess.Popen], every_s: float = 0.25):
        super().__init__(daemon=True)
        self.procs, self.every_s = procs, every_s
        self.rss: dict[str, list[int]] = {name: [] for name in procs}
        self.peak: dict[str, int] = {name: 0 for name in procs}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        for name, proc in self.procs.items():
            try:
                status = _status(proc.pid)
            except (OSError, ValueError):
                continue
            self.rss[name].append(status["VmRSS"])
            self.peak[name] = max(self.peak[name], status["VmHWM"])

    def figures(self) -> dict[str, Any]:
        self.sample()
        return {
            name: {
                "peak_rss_mib": round(self.peak[name] / MIB, 1),
                "rss_at_end_mib": round(rss[-1] / MIB, 1) if rss else None,
                "rss_median_mib": round(sorted(rss)[len(rss) // 2] / MIB, 1) if rss else None,
                "samples": len(rss),
            }
            for name, rss in self.rss.items()
        }


def spec(records: int, seed: int, customers: int | None = None) -> CompanySpec:
    """The bench company: ``records`` unposted records of every type, no error cases, for
    ``customers`` customers (default: the sandbox's one per 25 records)."""
    connectwise: dict[str, Any] = {"records": records, "cases": False}
    if customers:
        connectwise["customers"] = customers
    return CompanySpec(
        COMPANY,
        name="Acme MSP (memory bench)",
        ledger="xero",
        record_types=["invoice", "credit_memo", "expense", "procurement"],
        options={"require_item_code": True},
        seed=seed,
        interval="24h",
        sandbox_options={
            "connectwise": connectwise,
            "xero": {"limits": LIFTED, "contacts": None},
        },
    )


def _wait_run(db: Any, procs: dict[str, subprocess.Popen], timeout_s: float) -> str:
    """The scheduled sync's run id, once its manifest is stored."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early with {proc.returncode}")
        with db.connection() as conn:
            row = conn.execute(
                "SELECT run_id FROM sync_runs WHERE company = %s AND finished_at IS NOT NULL",
                (COMPANY,),
            ).fetchone()
            conn.rollback()
        if row:
            return row[0]
        time.sleep(0.1)
    raise TimeoutError("the scheduled sync did not finish its extraction")


def measure(svc: dict[str, str], args: Any, layout: str) -> dict[str, Any]:
    """One drain of ``args.records`` with the roles laid out as ``layout``."""
    groups = {"all": ",".join(ROLES)} if layout == "one" else {r: r for r in ROLES}
    with ExitStack() as es:
        dsn = es.enter_context(temporary_database(svc["postgres"], f"bench_memory_{layout}"))
        stack = es.enter_context(
            Stack(
                [spec(args.records, args.seed, args.customers)], dsn=dsn, transport="kafka",
                kafka_bootstrap=svc["kafka"], partitions=args.partitions,
            )
        )  # fmt: skip
        cw = stack.sandbox("connectwise", COMPANY).app
        counts = {k: v for k, v in cw.unposted_counts().items() if v}
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="wisesync-memory-")))
        config = tmp / "wisesync.toml"
        env = {**os.environ, **stack.write_config(config)}
        if args.cw_page_size:  # the ConnectWise plugin's page_size setting (default 1,000)
            text = config.read_text().replace(
                "[companies.connectwise]\n",
                f"[companies.connectwise]\npage_size = {args.cw_page_size}\n",
            )
            config.write_text(text)
        procs: dict[str, subprocess.Popen] = {}
        logs = []
        started = time.monotonic()
        try:
            for name, roles in groups.items():
                trace = tmp / f"trace-{name}.json" if args.trace and layout == "one" else None
                command = [sys.executable, __file__, "--serve", str(config), "--roles", roles]
                command += ["--trace-to", str(trace)] if trace else []
                log = (tmp / f"{name}.log").open("wb")
                logs.append(log)
                procs[name] = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=log
                )
            watch = Watch(procs)
            watch.start()
            run_id = _wait_run(stack.db, procs, args.timeout)
            extracted = time.monotonic() - started
            results = wait_results(stack.db, run_id, args.timeout) - started
            acked = None
            if args.until == "acknowledged":
                acked = round(wait_acknowledged(stack.db, run_id, args.timeout) - started, 1)
            watch.halt.set()
            watch.join()
            figures = watch.figures()
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for name, proc in procs.items():
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.returncode not in (0, -signal.SIGTERM):
                    tail = (tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                    print(f"{name} exited with {proc.returncode}:\n{tail}", file=sys.stderr)
            for log in logs:
                log.close()
        out: dict[str, Any] = {
            "layout": "one process (all roles)" if layout == "one" else "one process per role",
            "processes": figures,
            "peak_rss_mib": max(f["peak_rss_mib"] for f in figures.values()),
            "seconds_to_extracted": round(extracted, 1),
            "seconds_to_results_stored": round(results, 1),
            "seconds_to_acknowledged": acked,
            "measured_until": args.until,
            "per_type": counts,
        }
        trace = tmp / "trace-all.json"
        if trace.exists():
            out["tracemalloc_at_peak"] = json.loads(trace.read_text())
        return out


def serve(args: Any) -> None:
    """Child mode: run the given roles until SIGTERM (with ``--trace-to``: write the Python
    allocations by file at the traced peak there on exit)."""
    from wisesync.config import load_config
    from wisesync.daemon import Service, parse_roles

    tracer = _Tracer(Path(args.trace_to)) if args.trace_to else None
    service = Service(
        load_config(args.serve),
        roles=parse_roles([args.roles]),
        registry=registry_with(LiftedXeroTarget),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop_event.set())
    service.open().start()
    while not service.stop_event.wait(0.5):
        if tracer:
            tracer.sample()
    service.close()
    if tracer:
        tracer.write()
    sys.exit(1 if service.errors else 0)


class _Tracer:
    """Keeps the tracemalloc snapshot taken at the highest traced memory seen."""

    def __init__(self, path: Path):
        import tracemalloc

        self.tm = tracemalloc
        self.path = path
        self.best = 0
        self.snapshot: Any = None
        tracemalloc.start(1)

    def sample(self) -> None:
        current, _ = self.tm.get_traced_memory()
        if current > self.best:
            self.best = current
            self.snapshot = self.tm.take_snapshot()

    def write(self) -> None:
        if self.snapshot is None:
            return
        stats = self.snapshot.statistics("filename")
        root = str(Path(__file__).resolve().parent.parent)
        top = {
            s.traceback[0].filename.replace(root, "").replace(sys.prefix, "<venv>"): round(
                s.size / MIB / MIB, 1
            )
            for s in stats[:25]
        }
        self.path.write_text(json.dumps({"traced_mib": round(self.best / MIB / MIB, 1), **top}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="the backlog (records)")
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="customers in ConnectWise (default one per 25 records, as the sandbox seeds)",
    )
    parser.add_argument("--layout", choices=("one", "roles", "both"), default="both")
    parser.add_argument("--trace", action="store_true", help="tracemalloc in layout one")
    parser.add_argument(
        "--until",
        choices=("results", "acknowledged"),
        default="acknowledged",
        help="stop sampling once every result is stored, or every posted record is "
        "acknowledged in ConnectWise (one accounting batch per record: slow at 50,000)",
    )
    parser.add_argument("--cw-page-size", type=int, help="ConnectWise page_size setting")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--roles", default=",".join(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--trace-to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return
    layouts = ("one", "roles") if args.layout == "both" else (args.layout,)
    with script_services() as svc:
        started = time.monotonic()
        runs = {layout: measure(svc, args, layout) for layout in layouts}
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "ledger": "xero",
                "backlog": args.records,
                "customers": args.customers or max(20, args.records // 25),
                "connectwise_page_size": args.cw_page_size or "default (1000)",
                "transport": "kafka",
                "runs": runs,
                "wall_seconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
