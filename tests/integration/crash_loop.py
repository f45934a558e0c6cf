"""A crash loop of the whole daemon: ``wisesync run`` (all roles) SIGKILLed again and again.

Shared by ``test_crash_daemon_loop.py`` (a short loop per transport) and
``bench/crash_loop.py`` (>= 50 kills, ~1,500 records, printing JSON):

* :class:`RandomFaults` -- the ledger sandbox (Xero or QBO, see ``crash_harness.LEDGERS``)
  answers a share of its document writes with a 5xx or a 429 before writing, and loses the
  answer of another share after writing;
* :func:`crash_loop` -- start ``wisesync run`` (the real CLI, default options: the schedule
  syncs the company at the first start), kill it with SIGKILL after a random 2-6 s (or what
  the caller says), ``kills`` times; then let one life finish; returns the figures
  (:class:`LoopFigures`) and checks nothing;
* :func:`assert_loop_outcome` -- exactly one document per posted record, no record failed
  that is in the ledger, exactly one ConnectWise batch per posted record, created once.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crash_harness import RoleProcess, crash_ledger, wait_until

from wisesync.review import wait_for_run
from wisesync.testing.sandbox import Fault, Faults
from wisesync.testing.stack import Stack

#: Every role of the daemon, as ``wisesync run --role`` takes them.
ALL_ROLES = "extractor,poster,reporter,acknowledger"
#: ConnectWise's accounting batch creates (one per acknowledged record).
BATCHES = r"/finance/accounting/batches$"


class RandomFaults(Faults):
    """Armed faults first, then at random on the ledger's document writes (the paths
    ``writes`` finds): ``p_5xx`` answered 503 and ``p_429`` answered 429 (nothing written),
    ``p_lost`` written but the answer lost; the others take ``write_latency_s`` (a ledger
    write of 30-50 documents takes seconds)."""

    def __init__(
        self,
        rng: random.Random,
        p_5xx: float,
        p_429: float,
        p_lost: float,
        *,
        writes: str,
        write_latency_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.writes = writes
        self.rng, self.p_5xx, self.p_429, self.p_lost = rng, p_5xx, p_429, p_lost
        self.write_latency_s = write_latency_s
        self.injected: Counter[str] = Counter()
        self._rng_lock = threading.Lock()

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """An armed fault, else a random one for a document write."""
        armed = super().take(method, path, kinds)
        if armed is not None or method not in ("PUT", "POST") or not re.search(self.writes, path):
            return armed
        with self._rng_lock:
            draw = self.rng.random()
            if "lose_response" in kinds:
                fault = Fault("lose_response") if draw < self.p_lost else None
            elif draw < self.p_5xx:
                fault = Fault("status", status=503)
            elif draw < self.p_5xx + self.p_429:
                fault = Fault("rate_limit", retry_after=1.0)
            else:
                fault = None
            if fault is not None:
                self.injected[fault.kind] += 1
        if fault is None and "latency" in kinds and self.write_latency_s:
            return Fault("latency", seconds=self.write_latency_s)
        return fault


@dataclass
class LoopFigures:
    """What a crash loop cost and how it went (the bench prints these as JSON)."""

    transport: str
    records: int
    kills: int
    lives: int = 0
    #: killed lives that started with work left / in which the journal recorded an outcome /
    #: in which something was posted or acknowledged
    lives_with_work: int = 0
    lives_that_posted: int = 0
    lives_that_progressed: int = 0
    attempts: int = 0
    acknowledgement_rows: int = 0
    ledger_writes: int = 0
    needed_batches: int = 0
    connectwise_calls: int = 0
    seconds_to_finish_after_last_kill: float = 0.0
    #: from the first start to the work done (seen at the start of a life, or in the last
    #: one): compare with an undisturbed run's seconds_to_finish_after_last_kill
    seconds_to_finish_from_start: float = 0.0
    seconds_total: float = 0.0
    faults_injected: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def attempts_per_record(self) -> float:
        """Results stored per record (1.0: every record answered once)."""
        return self.attempts / max(1, self.records)

    @property
    def ledger_writes_per_needed_batch(self) -> float:
        """Ledger document writes per write the posted records needed (1.0: none repeated)."""
        return self.ledger_writes / max(1, self.needed_batches)

    @property
    def connectwise_calls_per_record(self) -> float:
        """ConnectWise calls (extraction + acknowledgement) per record."""
        return self.connectwise_calls / max(1, self.records)

    @property
    def share_of_lives_that_posted(self) -> float:
        """Of the killed lives that had work left, those that posted (the journal recorded
        at least one outcome)."""
        return self.lives_that_posted / max(1, self.lives_with_work)

    @property
    def share_of_lives_that_progressed(self) -> float:
        """Of the killed lives that had work left, those that posted or acknowledged."""
        return self.lives_that_progressed / max(1, self.lives_with_work)

    def to_json(self) -> dict[str, Any]:
        """The figures and the ratios, rounded."""
        out = asdict(self)
        for name in (
            "attempts_per_record",
            "ledger_writes_per_needed_batch",
            "connectwise_calls_per_record",
            "share_of_lives_that_posted",
            "share_of_lives_that_progressed",
        ):
            out[name] = round(getattr(self, name), 3)
        for name in (
            "seconds_to_finish_after_last_kill",
            "seconds_to_finish_from_start",
            "seconds_total",
        ):
            out[name] = round(out[name], 1)
        return out


def install_faults(
    stack: Stack,
    seed: int,
    mix: tuple[float, float, float],
    *,
    write_latency_s: float = 1.0,
    batch_latency_s: float = 0.05,
) -> RandomFaults:
    """Put :class:`RandomFaults` (``mix`` = shares of 5xx, 429, lost answers) in front of
    every company's ledger sandbox, each kind also armed once for the first writes (so a short
    run meets all three); ConnectWise takes ``batch_latency_s`` per batch create. Returns the
    faults (shared by the companies)."""
    ledger = _ledger(stack)
    faults = RandomFaults(
        random.Random(seed), *mix, write_latency_s=write_latency_s, writes=ledger.writes
    )
    for kind in ("status", "rate_limit", "lose_response"):
        faults.arm(Fault(kind, method=ledger.write_method, path=ledger.writes))
    for spec in stack.specs:
        stack.sandbox(ledger.name, spec.key).app.faults = faults
        stack.sandbox("connectwise", spec.key).app.faults.arm(
            Fault("latency", count=10**6, method="POST", path=BATCHES, seconds=batch_latency_s)
        )
    return faults


def _ledger(stack: Stack) -> Any:
    """The crash harness's :class:`~crash_harness.CrashLedger` of the stack's companies."""
    return crash_ledger(stack.specs[0].ledger)


def expected_records(stack: Stack) -> int:
    """How many records (events and held ones) the companies' sources list now: what the
    daemon's first sync will extract. Read before the loop (its ConnectWise calls are not
    counted)."""
    total = 0
    for spec in stack.specs:
        company = stack.config.company(spec.key)
        by_source: dict[str, list[Any]] = {}
        for record_type in company.record_types:
            by_source.setdefault(company.source_for(record_type), []).append(record_type)
        for name, types in by_source.items():
            source = stack.registry.source(name)(_runtime(stack))
            wanted = [t for t in types if t in source.record_types]
            total += sum(1 for _ in source.extract(company, wanted, None, None))
    return total


def _runtime(stack: Stack) -> Any:
    from wisesync.protocols import PluginRuntime

    return PluginRuntime(config=stack.config, db=stack.db)


def _scalar(stack: Stack, sql: str) -> int:
    with stack.db.connection() as conn:
        (n,) = conn.execute(sql).fetchone()
    return int(n or 0)


def journal_outcomes(stack: Stack) -> int:
    """Journal rows holding an outcome (posted or failed)."""
    return _scalar(stack, "SELECT count(*) FROM posting_journal WHERE state <> 'claimed'")


def acknowledged(stack: Stack) -> int:
    """Acknowledgement rows done."""
    return _scalar(stack, "SELECT count(*) FROM acknowledgements WHERE state = 'done'")


def finished(stack: Stack, records: int) -> bool:
    """Every record has a result, nothing is claimed, set aside or waiting for its
    acknowledgement, and every finished run has all its results."""
    with stack.db.connection() as conn:
        (answered,) = conn.execute("SELECT count(*) FROM records").fetchone()
        (busy,) = conn.execute(
            """SELECT (SELECT count(*) FROM posting_journal WHERE state = 'claimed')
                    + (SELECT count(*) FROM parked_records)
                    + (SELECT count(*) FROM acknowledgements WHERE state = 'pending')"""
        ).fetchone()
        runs = [
            r for (r,) in conn.execute("SELECT run_id FROM sync_runs WHERE finished_at IS NOT NULL")
        ]
    if answered < records or busy or not runs:
        return False
    return all(wait_for_run(stack.db, run_id, 0).complete for run_id in runs)


def crash_loop(
    stack: Stack,
    tmp_path: Path,
    *,
    kills: int,
    records: int,
    seed: int,
    life_s: tuple[float, float] = (2.0, 6.0),
    finish_timeout_s: float = 300.0,
    on_life: Any = None,
) -> LoopFigures:
    """Kill ``wisesync run`` (all roles) ``kills`` times, each after ``life_s`` seconds (at
    random, from the moment it says it runs), then let one life finish and stop it with
    SIGTERM. ``records`` is :func:`expected_records`. Returns the figures."""
    rng = random.Random(seed)
    env = stack.write_config(tmp_path / "wisesync.toml")
    daemon = RoleProcess(tmp_path / "wisesync.toml", env, tmp_path, roles=ALL_ROLES, cli=True)
    figures = LoopFigures(transport=stack.kind, records=records, kills=kills)
    cw_before = sum(stack.sandbox("connectwise", s.key).app.calls() for s in stack.specs)
    started = time.monotonic()
    try:
        for life in range(kills):
            work = not finished(stack, records)
            if not work and not figures.seconds_to_finish_from_start:
                figures.seconds_to_finish_from_start = time.monotonic() - started
            posted_before, acked_before = journal_outcomes(stack), acknowledged(stack)
            daemon.launch()
            time.sleep(rng.uniform(*life_s))
            assert daemon.alive(), f"the daemon died by itself:\n{daemon.tail()}"
            daemon.kill()
            posted = journal_outcomes(stack) > posted_before
            progressed = posted or acknowledged(stack) > acked_before
            figures.lives += 1
            figures.lives_with_work += work
            figures.lives_that_posted += work and posted
            figures.lives_that_progressed += work and progressed
            if on_life is not None:
                on_life(life, work, posted, progressed)
        last_kill = time.monotonic()
        daemon.launch()
        wait_until(lambda: finished(stack, records), finish_timeout_s, "the last life finishes")
        figures.seconds_to_finish_after_last_kill = time.monotonic() - last_kill
        if not figures.seconds_to_finish_from_start:
            figures.seconds_to_finish_from_start = time.monotonic() - started
    finally:
        if daemon.alive():
            code = daemon.stop()
            assert code == 0, daemon.tail()
    figures.seconds_total = time.monotonic() - started
    _count(stack, figures, cw_before)
    return figures


def _count(stack: Stack, figures: LoopFigures, cw_before: int) -> None:
    ledger = _ledger(stack)
    batch_size = stack.registry.target(ledger.name).limits.batch_size
    figures.attempts = _scalar(stack, "SELECT count(*) FROM attempts")
    figures.acknowledgement_rows = _scalar(stack, "SELECT count(*) FROM acknowledgements")
    with stack.db.connection() as conn:
        per_type = conn.execute(
            "SELECT record_type, count(*) FROM records "
            "WHERE status IN ('posted', 'skipped_already_posted') GROUP BY 1"
        ).fetchall()
        figures.statuses = dict(
            conn.execute("SELECT status, count(*) FROM records GROUP BY 1").fetchall()
        )
    figures.needed_batches = sum(-(-n // batch_size) for _, n in per_type)
    figures.ledger_writes = sum(
        ledger.writes_served(stack.sandbox(ledger.name, s.key).app) for s in stack.specs
    )
    cw_after = sum(stack.sandbox("connectwise", s.key).app.calls() for s in stack.specs)
    figures.connectwise_calls = cw_after - cw_before
    faults = stack.sandbox(ledger.name, stack.specs[0].key).app.faults
    figures.faults_injected = dict(getattr(faults, "injected", {}))


def _unlinked(stack: Stack, docs: list[Any], linked: list[tuple]) -> list[tuple]:
    """(number, status, source id, codes) of the records whose documents no record links, or
    that lost their number to a later result (at most 5)."""
    ids = {r[4] for r in linked}
    numbers = [d.number for d in docs if d.ledger_id not in ids]
    with stack.db.connection() as conn:
        rows = conn.execute(
            """SELECT r.document_number, r.status, r.source_id,
                      (SELECT array_agg(m.code) FROM result_messages m
                        WHERE m.result_id = r.last_result_id)
                 FROM records r
                WHERE r.document_number = ANY(%s)
                   OR (r.document_number IS NULL AND r.status <> 'posted')
                LIMIT 5""",
            (numbers,),
        ).fetchall()
    return [*rows, ("unlinked", len(numbers), numbers[:5])]


def _combined(stack: Stack, company: str) -> set[tuple[str, str]]:
    """(record type, source id) of the records ConnectWise exported inside another
    record's document (an expense bill): held with SOURCE_RECORD_COMBINED."""
    with stack.db.connection() as conn:
        rows = conn.execute(
            """SELECT r.record_type, r.source_id FROM records r
                 JOIN result_messages m ON m.result_id = r.last_result_id
                WHERE r.company = %s AND r.status = 'held'
                  AND m.code = 'SOURCE_RECORD_COMBINED'""",
            (company,),
        ).fetchall()
    return {(t, str(i)) for t, i in rows}


def assert_loop_outcome(stack: Stack) -> None:
    """Exactly one ledger document per posted record (and none for a failed one); exactly one
    ConnectWise batch per posted record, each created once; every posted record batched."""
    with stack.db.connection() as conn:
        rows = conn.execute(
            "SELECT company, record_type, source_id, status, ledger_id, document_number "
            "FROM records"
        ).fetchall()
    for spec in stack.specs:
        mine = [r for r in rows if r[0] == spec.key]
        docs = stack.ledger(spec.key).posted_documents()
        ids = Counter(d.ledger_id for d in docs)
        numbers = Counter((d.kind, d.number) for d in docs)
        assert not [k for k, n in numbers.items() if n > 1], f"{spec.key}: a document twice"
        # in the ledger: posted, or answered from the journal by a later copy of its event
        posted = [r for r in mine if r[3] in ("posted", "skipped_already_posted")]
        assert Counter(r[4] for r in posted) == ids, (
            f"{spec.key}: {len(docs)} documents in the ledger for {len(posted)} records in it "
            "(each posted record links exactly one document, and every document is linked); "
            f"the records of unlinked documents: {_unlinked(stack, docs, posted)}"
        )
        failed = [r for r in mine if r[3] == "failed" and r[4]]
        assert not failed, f"{spec.key}: failed records that link a document: {failed[:3]}"
        cw = stack.sandbox("connectwise", spec.key).app
        batches = cw.batches()
        batched = Counter(
            (b_rec["kind"], str(b_rec["id"])) for b in batches for b_rec in b["records"]
        )
        assert not [k for k, n in batched.items() if n > 1], f"{spec.key}: batched twice"
        assert cw.calls("POST", BATCHES) == len(batches), f"{spec.key}: a batch created twice"
        # an expense bill's batch also carries the expenses it combined (held, not posted)
        want = {("invoice" if r[1] == "credit_memo" else r[1], r[2]) for r in posted}
        want |= _combined(stack, spec.key)
        assert set(batched) == want, f"{spec.key}: batches do not match the posted records"
