"""Time to first answer of an interactive Sync All (``wisesync sync-all``), as JSON.

For the demo company's records (the ConnectWise sandbox's demo MSP: about 60 records of
every type, with its error cases) and for ``--invoices`` (1,000) generated invoices, on the
Kafka transport and a durable Postgres (``--postgres-fast``: fsync off), with the sandboxes
answering with realistic latency (ConnectWise 0.1-0.25 s a call, Xero reads 0.15-0.3 s and
writes 0.3-0.8 s; ``--zero-latency`` beside it with ``--latency zero``): the bench starts
``wisesync --config FILE sync-all --company KEY`` as a user would and times, from the command:

* ``first_connectwise_call`` / ``first_xero_call`` / ``first_document_write``: when the
  sandboxes saw them (the process started, imported, migrated, joined, extracted...);
* ``first_posted_record``: the first result ``posted`` stored (the poster's ``finished_at``:
  after the ledger answered its write and the journal recorded it);
* ``review_printed``: the review's first line on stdout; ``exit``: the process's end.

``target_seconds`` is the issue's aim: 3 s plus one ledger round trip (the mean write time).
With ``--daemon`` a ``wisesync run`` (poster, reporter, acknowledger) is already running
(the console's case: the command only extracts), else the command runs those roles itself.

    python bench/first_answer.py                 # demo + 1,000, no daemon and with one
    python bench/first_answer.py --cases demo --daemon no
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as bench
from pipeline import service_process

from wisesync.testing.services import postgres_durability, script_services, temporary_database
from wisesync.testing.stack import CompanySpec, Stack

CASES = ("demo", "invoices")
WISESYNC = str(Path(sys.executable).with_name("wisesync"))


def _spec(case: str, args: Any) -> CompanySpec:
    if case == "demo":  # as `wisesync demo` configures its company
        return CompanySpec(
            "northwind",
            name="Northwind IT (demo)",
            ledger="xero",
            hold_billing_statuses=["Finance Hold"],
            options={"require_item_code": True},
        )
    return bench.company_spec(
        invoices=args.invoices, customers=args.customers, contacts=True, seed=args.seed
    )


class _Lines(threading.Thread):
    """Reads a process's stdout; the monotonic time each line arrived."""

    def __init__(self, stream: Any):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[tuple[float, str]] = []

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def first(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)


def _first_posted(db: Any, company: str) -> float | None:
    """Epoch seconds of the company's first result ``posted``."""
    with db.connection() as conn:
        (at,) = conn.execute(
            "SELECT min(finished_at) FROM attempts WHERE company = %s AND status = 'posted'",
            (company,),
        ).fetchone()
        conn.rollback()
    return at.timestamp() if at else None


Answer = tuple[float, str, str, int]
"""(monotonic time, method, path, status) of one request a sandbox answered."""


def _answer_log(app: Any) -> list[Answer]:
    """Every request the sandbox ``app`` answers from now on, in order."""
    seen: list[Answer] = []
    original = app.record

    def record(method: str, path: str, status: int) -> None:
        original(method, path, status)
        seen.append((time.monotonic(), method, path, status))

    app.record = record
    return seen


def _first_document_write(answers: list[Answer]) -> float | None:
    """When the ledger answered its first document write."""
    for at, method, path, _ in answers:
        name = f"{method} /{path.split('/')[3]}" if path.count("/") >= 3 else ""
        if bench.DOCUMENT_WRITES.match(name):
            return at
    return None


def first_answer(svc: dict[str, str], args: Any, case: str, daemon: bool) -> dict[str, Any]:
    """One interactive Sync All, timed from the command."""
    realism = bench.Realism.from_args(args)
    spec = _spec(case, args)
    with ExitStack() as es:
        dsn = es.enter_context(temporary_database(svc["postgres"], f"bench_first_{case}"))
        stack = es.enter_context(
            Stack([spec], dsn=dsn, transport="kafka", kafka_bootstrap=svc["kafka"], partitions=3)
        )
        cw = stack.sandbox("connectwise", spec.key).app
        if case != "demo":
            bench.prepare_connectwise(cw)
        records = sum(cw.unposted_counts().values())
        xero = stack.sandbox("xero", spec.key).app
        realism.apply("connectwise", cw)
        realism.apply("xero", xero)
        log = bench.CallLog(xero)
        answered = {"connectwise": _answer_log(cw), "xero": _answer_log(xero)}
        from wisesync.store.options import OptionsStore

        OptionsStore(stack.db).set(spec.key, "sync_all", "on", changed_by="bench")
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="wisesync-bench-")))
        config = tmp / "wisesync.toml"
        env = {**os.environ, **stack.write_config(config), "COLUMNS": "100"}
        if daemon:
            es.enter_context(
                service_process(stack, tmp, target="real", roles="poster,reporter,acknowledger")
            )
            time.sleep(args.daemon_settle)  # joined its group, as a daemon that runs already
        load = bench.machine_load()
        command = [WISESYNC, "--config", str(config), "sync-all", "--company", spec.key]
        if args.profile:  # where the command's time goes (python -m cProfile -o FILE)
            command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
        began, began_epoch = time.monotonic(), time.time()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines, errors = _Lines(proc.stdout), _Lines(proc.stderr)
        lines.start()
        errors.start()
        proc.wait(args.timeout)
        ended = time.monotonic()
        lines.join(5)
        errors.join(5)
        posted = _first_posted(stack.db, spec.key)

        def since(at: float | None) -> float | None:
            return round(at - began, 2) if at is not None else None

        extracted = lines.first("record(s) from")
        review = lines.first("Sync All:")
        round_trip = realism.mean_write_seconds("xero")
        first = round(posted - began_epoch, 2) if posted else None
        return {
            "case": case,
            "daemon_running": daemon,
            "command": " ".join(["wisesync", "--config", "FILE", *command[3:]]),
            "records": records,
            "exit_code": proc.returncode,
            "seconds_from_command": {
                "first_connectwise_call": since(
                    answered["connectwise"][0][0] if answered["connectwise"] else None
                ),
                "first_xero_call": since(log.first),
                "first_document_write": since(_first_document_write(answered["xero"])),
                "first_posted_record": first,
                "extraction_done_line": since(extracted),
                "review_printed": since(review),
                "exit": since(ended),
            },
            "target_seconds": round(3.0 + round_trip, 2),
            "first_posted_within_target": first is not None and first <= 3.0 + round_trip,
            "xero_api_calls": log.calls,
            "load": load,
            **(
                {
                    "trace": [
                        f"{at - began:6.2f} {line}"
                        for at, line in sorted(
                            lines.lines
                            + errors.lines
                            + [
                                (at, f"[{system} answered {method} {path} {status}]")
                                for system, answers in answered.items()
                                for at, method, path, status in answers
                            ]
                        )
                    ]
                }
                if args.trace
                else {}
            ),
        }


def _startup(args: Any) -> dict[str, float]:
    """The bare cost of starting the command: ``wisesync --help`` (imports, plugin loading)."""
    began = time.monotonic()
    subprocess.run([WISESYNC, "--help"], stdout=subprocess.DEVNULL, check=True)
    return {"wisesync_help_seconds": round(time.monotonic() - began, 2)}


def main(argv: list[str] | None = None) -> None:
    """Time the interactive Sync All of each case and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma list: demo,invoices")
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--daemon", default="no,yes", help="comma list: no,yes")
    parser.add_argument("--daemon-settle", type=float, default=15.0, help="s before the command")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--latency", default="realistic,zero", help="comma list")
    parser.add_argument("--trace", action="store_true", help="the command's output, timed")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the command into FILE")
    bench.add_realism_flags(parser)
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    daemons = [d.strip() == "yes" for d in args.daemon.split(",") if d.strip()]
    latencies = [m.strip() for m in args.latency.split(",") if m.strip()]
    if set(cases) - set(CASES) or set(latencies) - {"realistic", "zero"}:
        parser.error("--cases: demo,invoices; --latency: realistic,zero")

    began = time.monotonic()
    out: dict[str, Any] = {
        "benchmark": "first_answer",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_at_start": bench.machine_load(),
        "transport": "kafka",
        "startup": _startup(args),
        "runs": [],
    }
    with script_services(durable=not args.postgres_fast) as svc:
        out["postgres"] = postgres_durability(svc["postgres"])
        for latency in latencies:
            args.zero_latency = latency == "zero"
            for daemon in daemons:
                for case in cases:
                    print(f"first_answer: {case} daemon={daemon} {latency}", file=sys.stderr)
                    run = first_answer(svc, args, case, daemon)
                    run["latency"] = bench.Realism.from_args(args).to_json()
                    out["runs"].append(run)
    out["bench_seconds"] = round(time.monotonic() - began, 1)
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
