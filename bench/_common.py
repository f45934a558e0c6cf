"""Shared helpers of the pipeline benchmarks: workloads, bench targets, call logs, waits.

* :func:`company_spec` / :func:`prepare_connectwise`: one company whose ConnectWise
  sandbox holds exactly ``invoices`` unposted invoices and credit memos (no seeded
  error cases) for ``customers`` customers, and whose Xero sandbox holds those
  customers as contacts (or none).
* :class:`LiftedXeroTarget`: the Xero target with its per-minute and daily limits
  lifted (throughput runs, against a sandbox with the same limits lifted).
* :class:`NaiveXeroTarget`: the baseline, Wise-Sync's way: one record per posting call
  and its customer looked up (and created when missing) for every record.
* :func:`registry_with`: the installed plugins with the ``xero`` target replaced.
* :class:`CallLog`: timestamps every Xero API call a sandbox answers.
* :func:`wait_results`, :func:`wait_acknowledged`, :func:`run_figures`: read the store.
* :func:`add_realism_flags`, :class:`Realism`: the flags every bench shares for realistic
  API latency (per sandbox, seeded, on the scaled clock) and a durable Postgres, and what
  the JSON output says about them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from collections import Counter
from typing import Any

from wisesync.events.models import PostOutcome, RecordEvent
from wisesync.plugins import Registry
from wisesync.plugins import registry as default_registry
from wisesync.testing.stack import CompanySpec
from wisesync_xero.contacts import new_contact_body, parse_contacts, where_for
from wisesync_xero.limits import LIMITS
from wisesync_xero.target import XeroContext, XeroTarget

COMPANY = "acme"
API = re.compile(r"^/api\.xro/")
DOCUMENT_WRITES = re.compile(r"^(PUT|POST) /(Invoices|CreditNotes)$")  # CallLog endpoint keys


# --- workload -------------------------------------------------------------------------------


def company_spec(
    *,
    invoices: int,
    customers: int,
    contacts: bool,
    seed: int,
    xero: dict[str, Any] | None = None,
    connectwise: dict[str, Any] | None = None,
    key: str = COMPANY,
    ledger: str = "xero",
) -> CompanySpec:
    """The bench company ``key``: ConnectWise with ``invoices`` generated invoices and credit
    memos (no error cases, not warmed yet: see :func:`prepare_connectwise`); Xero with the
    ``customers`` as contacts when ``contacts`` (same account numbers), else none.
    ``xero`` / ``connectwise``: more options of those sandboxes (a clock, limits).
    ``ledger="qbo"``: a QBO company instead (without customers; ``xero`` then holds the
    QBO sandbox's options)."""
    ledger_options = (
        {"contacts": customers if contacts else None, **(xero or {})}
        if ledger == "xero"
        else dict(xero or {})
    )
    return CompanySpec(
        key,
        name=f"{key.title()} MSP (bench)",
        ledger=ledger,
        record_types=["invoice", "credit_memo"],
        options={"require_item_code": True},
        seed=seed,
        sandbox_options={
            "connectwise": {
                "invoices": invoices,
                "expenses": 0,
                "procurement": 0,
                "customers": customers,
                "cases": False,
                "warm": False,
                **(connectwise or {}),
            },
            ledger: ledger_options,
        },
    )


def prepare_connectwise(app: Any) -> dict[str, int]:
    """Close the generated invoices left open (about 3%), so every one is unposted, and
    encode the views once (as ``start_sandbox`` does by default). Returns the counts."""
    state = app.state
    for invoice in list(state.invoices.values()):
        if not state.statuses[invoice.status_id].closed_flag:
            app.set_invoice_status(invoice.number, "Closed")
    app.warm()
    return {k: v for k, v in app.unposted_counts().items() if v}


# --- bench targets --------------------------------------------------------------------------


class LiftedXeroTarget(XeroTarget):
    """The Xero target without its per-minute and daily limits (5 concurrent calls kept),
    for throughput runs against a sandbox whose limits are lifted the same way."""

    limits = dataclasses.replace(LIMITS, calls_per_minute=None, daily_cap=None)


class NaiveXeroTarget(XeroTarget):
    """The baseline: Wise-Sync "batches individually", one record per posting call, and
    looks the record's customer up for every record (creating it when missing).

    Everything else (reference data, validation, the document itself) is the real target.
    """

    limits = dataclasses.replace(LIMITS, batch_size=1)

    def __init__(self, runtime: Any):
        super().__init__(runtime)
        self._customer = threading.Lock()  # one look-up-or-create at a time: no twin customers

    def post(self, records: list[RecordEvent], ctx: XeroContext) -> list[PostOutcome]:  # type: ignore[override]
        """Look up (or create) each record's customer, then post it alone."""
        xctx = ctx
        for record in records:
            if record.contact is None:
                continue
            with self._customer:
                body = xctx.client.get_json("/Contacts", {"where": where_for([record.contact])})
                found = parse_contacts(body)
                if not found:
                    created = xctx.client.api(
                        "PUT", "/Contacts", json={"Contacts": [new_contact_body(record.contact)]}
                    )
                    found = parse_contacts(created.body)
                xctx.contacts.add_all(found)
        outcomes: list[PostOutcome] = []
        for record in records:
            outcomes += super().post([record], ctx)
        return outcomes


class NaiveLiftedXeroTarget(NaiveXeroTarget):
    """The baseline with the per-minute and daily limits lifted (calls-per-1,000 runs)."""

    limits = dataclasses.replace(LIMITS, batch_size=1, calls_per_minute=None, daily_cap=None)


def registry_with(target: type[XeroTarget] | None) -> Registry:
    """The installed plugins, with ``target`` registered as ``xero`` (None: unchanged)."""
    base = default_registry()
    if target is None:
        return base
    return dataclasses.replace(base, targets={**base.targets, "xero": target})


BENCH_TARGETS: dict[str, type[XeroTarget]] = {
    "real": XeroTarget,
    "lifted": LiftedXeroTarget,
    "naive": NaiveXeroTarget,
    "naive-lifted": NaiveLiftedXeroTarget,
}


# --- measuring ------------------------------------------------------------------------------


#: what a ledger counts against its limits (token requests are left out), and the name of an
#: endpoint from its path
LEDGER_API = {
    "xero": (API, lambda path: path.split("/")[3] if path.count("/") >= 3 else path),
    "qbo": (re.compile(r"^/v3/company/"), lambda path: path.rstrip("/").rsplit("/", 1)[-1]),
}


class CallLog:
    """Counts and timestamps (``time.monotonic``) the ledger API calls a sandbox answers.

    Token requests (Xero's identity service, not counted against API limits) are left out;
    refused calls (429) are counted apart, as Xero does not count them either.
    ``ledger``: whose paths are API calls (:data:`LEDGER_API`).
    """

    def __init__(self, app: Any, ledger: str = "xero"):
        api, endpoint = LEDGER_API[ledger]
        self.first: float | None = None
        self.last: float | None = None
        self.calls = 0
        self.refused = 0
        self.endpoints: Counter[str] = Counter()
        self._lock = threading.Lock()
        original = app.record

        def record(method: str, path: str, status: int) -> None:
            original(method, path, status)
            if not api.match(path):
                return
            now = time.monotonic()
            with self._lock:
                if status == 429:
                    self.refused += 1
                    return
                self.calls += 1
                self.first = now if self.first is None else self.first
                self.last = now
                name = endpoint(path)
                self.endpoints[f"{method} /{name}"] += 1

        app.record = record

    def reads(self) -> int:
        """GET calls (reference data, contact listings and look-ups)."""
        return sum(n for key, n in self.endpoints.items() if key.startswith("GET "))

    def read_endpoints(self) -> int:
        """How many endpoints were read (each counted once): what one poster needs at least,
        however many posters each read the same reference data."""
        return sum(1 for key in self.endpoints if key.startswith("GET "))

    def reference_reads(self) -> int:
        """GET calls other than contacts (accounts, tax rates, tracking, items)."""
        return sum(
            n
            for key, n in self.endpoints.items()
            if key.startswith("GET ") and "Contacts" not in key
        )


def wait_results(db: Any, run_id: str, timeout_s: float, poll_s: float = 0.02) -> float:
    """Wait until every record of ``run_id`` has a stored result; the monotonic time then."""
    from wisesync.review import run_progress

    deadline = time.monotonic() + timeout_s
    while True:
        with db.connection() as conn:
            progress = run_progress(conn, run_id)
            conn.rollback()
        if progress.complete:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{progress.answered} of {progress.expected} results stored")
        time.sleep(poll_s)


def acknowledged_counts(db: Any, run_id: str) -> tuple[int, int]:
    """The posted records of ``run_id`` and how many of them are acknowledged."""
    with db.connection() as conn:
        posted, done = conn.execute(
            """SELECT count(*), count(k.done_at) FROM attempts a
                 LEFT JOIN acknowledgements k USING (result_id)
                WHERE a.run_id = %s AND a.status = 'posted'""",
            (run_id,),
        ).fetchone()
        conn.rollback()
    return int(posted), int(done)


def wait_acknowledged(db: Any, run_id: str, timeout_s: float, poll_s: float = 0.02) -> float:
    """Wait until every posted record of ``run_id`` is acknowledged in ConnectWise."""
    deadline = time.monotonic() + timeout_s
    while True:
        posted, done = acknowledged_counts(db, run_id)
        if posted and done == posted:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {posted} acknowledged")
        time.sleep(poll_s)


def run_figures(db: Any, run_id: str | list[str]) -> dict[str, Any]:
    """Statuses of the run's (or runs') results and the results that carry a 429 or
    LEDGER_UNAVAILABLE."""
    runs = [run_id] if isinstance(run_id, str) else list(run_id)
    with db.connection() as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM attempts WHERE run_id = ANY(%s) GROUP BY status",
                (runs,),
            ).fetchall()
        )
        (rate_limited,) = conn.execute(
            """SELECT count(DISTINCT a.result_id) FROM attempts a
                 JOIN result_messages m USING (result_id)
                WHERE a.run_id = ANY(%s)
                  AND (m.code = 'LEDGER_UNAVAILABLE' OR m.text LIKE '%%429 on %%'
                       OR m.text ILIKE '%%rate limit%%')""",
            (runs,),
        ).fetchone()
        codes = dict(
            conn.execute(
                """SELECT m.code, count(*) FROM attempts a JOIN result_messages m USING (result_id)
                    WHERE a.run_id = ANY(%s) GROUP BY m.code""",
                (runs,),
            ).fetchall()
        )
        conn.rollback()
    return {
        "statuses": statuses,
        "message_codes": codes,
        "results_with_429_or_ledger_unavailable": int(rate_limited),
    }


def xero_documents(app: Any) -> dict[str, int]:
    """Documents in the Xero sandbox and how many numbers are there more than once."""
    numbers = Counter(
        f"{d['Type']}:{d.get('InvoiceNumber') or d.get('CreditNoteNumber')}"
        for d in [*app.invoices(), *app.credit_notes()]
    )
    return {
        "documents": sum(numbers.values()),
        "numbers_not_exactly_once": sum(1 for n in numbers.values() if n != 1),
    }


def ledger_documents(stack: Any, company: str) -> dict[str, int]:
    """Documents in ``company``'s ledger sandbox (any ledger, through its
    :class:`~wisesync.testing.ledger.LedgerSandbox`) and how many numbers are there more
    than once."""
    numbers = Counter(f"{d.kind}:{d.number}" for d in stack.ledger(company).posted_documents())
    return {
        "documents": sum(numbers.values()),
        "numbers_not_exactly_once": sum(1 for n in numbers.values() if n != 1),
    }


def limit_bound_ideal(
    calls: int, *, per_minute: int, concurrency: int, latency_s: float
) -> dict[str, float]:
    """Ideal drain times for ``calls`` under a per-minute and a concurrency limit.

    ``rate_seconds``: calls / per_minute minutes (the issue's definition).
    ``schedule_seconds``: when the last call ends if every call starts as early as the
    limits allow: at most ``concurrency`` in flight, each taking ``latency_s``, and at most
    ``per_minute`` started in any rolling minute that is empty at the start (so the first
    ``per_minute`` go at once, a burst the rate definition does not grant).
    """
    starts: list[float] = []
    for i in range(calls):
        at = 0.0
        if i >= concurrency:
            at = max(at, starts[i - concurrency] + latency_s)
        if i >= per_minute:
            at = max(at, starts[i - per_minute] + 60.0)
        starts.append(at)
    return {
        "rate_seconds": round(calls / per_minute * 60.0, 1),
        "schedule_seconds": round(starts[-1] + latency_s, 1) if starts else 0.0,
    }


# --- realism: API latency and a durable Postgres ----------------------------------------------

#: simulated seconds a call takes, per system and kind (issue #15's realistic ranges)
REALISTIC_LATENCY = {
    "xero": "reads=0.15-0.3,writes=0.3-0.8",
    "qbo": "reads=0.15-0.3,writes=0.3-0.8",
    "connectwise": "all=0.1-0.25",
}


def add_realism_flags(parser: Any) -> None:
    """``--<system>-latency RANGES`` (per sandbox, see :meth:`Latency.parse`), ``--zero-latency``
    and ``--postgres-fast`` (fsync and synchronous commit off), shared by the benches."""
    for system, default in REALISTIC_LATENCY.items():
        parser.add_argument(
            f"--{system}-latency-ranges",
            default=default,
            metavar="RANGES",
            help=f"simulated seconds per {system} call (default {default})",
        )
    parser.add_argument(
        "--zero-latency", action="store_true", help="sandboxes answer at once (not realistic)"
    )
    parser.add_argument(
        "--postgres-fast",
        action="store_true",
        help="embedded Postgres with fsync and synchronous commit off (not durable)",
    )


@dataclasses.dataclass(frozen=True)
class Realism:
    """What latency the sandboxes add (None per system: none) and the seed of the draws."""

    ranges: dict[str, str | None]
    seed: int = 0

    @classmethod
    def from_args(cls, args: Any, *, zero: bool | None = None) -> Realism:
        """From :func:`add_realism_flags`'s flags (``zero`` overrides ``--zero-latency``)."""
        off = args.zero_latency if zero is None else zero
        return cls(
            {
                system: None if off else getattr(args, f"{system}_latency_ranges")
                for system in REALISTIC_LATENCY
            },
            seed=args.seed,
        )

    @property
    def label(self) -> str:
        """``"realistic"`` or ``"zero"``, as the JSON names the latency mode."""
        return "zero" if not any(self.ranges.values()) else "realistic"

    def apply(self, system: str, app: Any, salt: int = 0) -> None:
        """Give the sandbox ``app`` of ``system`` its latency (seeded by ``salt``, e.g. the
        company's index, so companies draw different times)."""
        from wisesync.testing.sandbox import Latency

        ranges = self.ranges.get(system)
        app.set_latency(Latency.parse(ranges, seed=self.seed * 1000 + salt) if ranges else None)

    def mean_write_seconds(self, system: str) -> float:
        """The mean time of a write to ``system`` (0 without latency)."""
        from wisesync.testing.sandbox import Latency

        ranges = self.ranges.get(system)
        low, high = Latency.parse(ranges).writes if ranges else (0.0, 0.0)
        return (low + high) / 2

    def to_json(self) -> dict[str, Any]:
        """The latency mode and ranges, for the output."""
        return {"mode": self.label, "simulated_seconds": dict(self.ranges)}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from ``/proc/stat`` (all
    cores; busy is everything but idle and iowait). Two readings give how busy the machine
    was between them: :func:`machine_busy`."""
    with open("/proc/stat") as stat:
        fields = [float(x) for x in stat.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return (total - idle) / tick, total / tick


def machine_busy(before: tuple[float, float], after: tuple[float, float]) -> dict[str, Any]:
    """How busy every core of the machine was between two :func:`machine_cpu` readings: the
    share (1.0: CPU-bound, whoever used it) and the busy seconds over the cores (the least
    wall time that work could have taken on this machine)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    cores = os.cpu_count() or 1
    return {
        "busy_share": round(busy / total, 3) if total else None,
        "busy_cpu_seconds": round(busy, 1),
        "cpu_floor_seconds": round(busy / cores, 1),
    }


def machine_load() -> dict[str, Any]:
    """The load average now (the machine is shared: CPU-bound figures move with it)."""
    return {"load_average": [round(x, 2) for x in os.getloadavg()], "at": time.strftime("%X")}
