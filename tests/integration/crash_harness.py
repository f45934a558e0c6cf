"""Shared parts of the crash-proofing tests (``test_crash_*.py``).

* :func:`workload` -- the companies of a run: ConnectWise sandboxes seeded with invoices,
  credit memos, expenses and procurement (every seeded error/warning case included), ledger
  sandboxes (Xero by default, or the ledger named; see :data:`LEDGERS`) with room for the
  calls that restarts cost;
* :class:`RoleProcess` -- ``wisesync`` roles in a subprocess (``crash_runner.py`` or the real
  ``wisesync run`` CLI) that a test can SIGKILL and start again;
* :class:`OwnKafka` / :class:`OwnPostgres` -- a broker / a Postgres of the test's own, started
  with the same code as the session fixtures, that a test may stop and start again on the same
  data directory and port;
* :func:`assert_exactly_once` -- every record of the runs is in its ledger once (as the
  ledger's :class:`~wisesync.testing.ledger.LedgerSandbox` lists its documents), and the
  review has exactly one result for every record event.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wisesync.events.models import SyncRun
from wisesync.review import Review, ReviewFilter, load_review, wait_for_run
from wisesync.testing.stack import CompanySpec, Stack

HERE = Path(__file__).parent
RUNNER = HERE / "crash_runner.py"
REPO = HERE.parents[1]
WISESYNC = Path(sys.executable).with_name("wisesync")
READY = "wisesync running"

#: Per company: ~250 records (the seeded cases plus random invoices, bills and receipts).
MIX = {"invoices": 160, "expenses": 60, "procurement": 40, "customers": 25}


@dataclass(frozen=True)
class CrashLedger:
    """What the crash tests need to know of one ledger's sandbox.

    Attributes:
        name: the ledger plugin.
        writes: a regex of the paths its document writes go to (what a write fault hits and
            what "ledger writes" counts), with ``write_method``.
        write_method: the HTTP method of those writes.
    """

    name: str
    writes: str
    write_method: str

    def sandbox_options(self) -> dict[str, Any]:
        """Sandbox options with room for the calls that restarts cost: every restarted poster
        loads each company's reference data again (a new process has an empty cache), and a
        run with a dozen kills would otherwise spend most of its time waiting out 429s, which
        other tests cover."""
        if self.name == "xero":
            from wisesync_xero.sandbox import Limits

            return {"limits": Limits(per_minute=600, concurrent=10)}  # Xero: 60
        from wisesync_qbo.sandbox import Limits as QboLimits

        # QBO: 500 a minute, 10 a second, 40 batch calls a minute
        return {"limits": QboLimits(per_minute=5000, per_second=100, batch_per_minute=400)}

    def writes_served(self, app: Any) -> int:
        """Document writes the ledger sandbox ``app`` was sent (answered or not)."""
        if self.name == "xero":
            return app.calls(self.write_method, self.writes)
        return sum(n for entity, n in app.batch_writes.items() if entity in QBO_DOCUMENTS)


#: the QBO entities of documents wisesync writes
QBO_DOCUMENTS = ("Invoice", "CreditMemo", "Bill", "VendorCredit", "JournalEntry")


#: The ledgers the crash harness knows. Xero's invoice and credit-note PUTs; QBO's batches
#: that write documents (its sandbox shows faults such a batch as ``/batch/write/{Entity}``).
LEDGERS = {
    "xero": CrashLedger("xero", r"/(Invoices|CreditNotes)$", "PUT"),
    "qbo": CrashLedger("qbo", rf"/batch/write/({'|'.join(QBO_DOCUMENTS)})$", "POST"),
}


def stretch_writes(stack: Stack, seconds: float) -> None:
    """Every document write to each company's ledger sandbox takes ``seconds`` (so an
    outage or a kill lands in the middle of a run)."""
    from wisesync.testing.sandbox import Fault

    for spec in stack.specs:
        writes = crash_ledger(spec.ledger)
        stack.sandbox(writes.name, spec.key).app.faults.arm(
            Fault(
                "latency",
                count=10**6,
                method=writes.write_method,
                path=writes.writes,
                seconds=seconds,
            )
        )


def crash_ledger(name: str | None = None) -> CrashLedger:
    """The :class:`CrashLedger` ``name`` (default ``$WISESYNC_LEDGER``, else Xero)."""
    return LEDGERS[name or os.environ.get("WISESYNC_LEDGER") or "xero"]


def workload(
    companies: int, seed: int, mix: dict[str, int] | None = None, ledger: str | None = None
) -> list[CompanySpec]:
    """``companies`` companies, each with its own ConnectWise and ledger sandbox (``ledger``:
    see :func:`crash_ledger`)."""
    chosen = crash_ledger(ledger)
    return [
        CompanySpec(
            f"crash{i}",
            ledger=chosen.name,
            seed=seed + i,
            sandbox_options={
                "connectwise": dict(mix or MIX),
                chosen.name: chosen.sandbox_options(),
            },
        )
        for i in range(companies)
    ]


def fast_role_options(kind: str, instance: str | None = None) -> dict[str, dict[str, Any]]:
    """Role options for restart-heavy tests (JSON-able, for ``crash_runner.py``).

    A short consumer session, and on Kafka static membership (``group_instance_id``): a member
    started again after ``kill -9`` takes over its dead predecessor at once. Short retry delays
    for an unavailable ledger.
    """
    if kind == "kafka":
        consumer: dict[str, Any] = {
            "session_timeout_s": 6.0,
            "heartbeat_interval_s": 0.5,
            "max_poll_interval_s": 60.0,
        }
        if instance:
            consumer["config"] = {"group_instance_id": instance}
    else:
        consumer = {"session_timeout_s": 1.5, "heartbeat_interval_s": 0.25}
    return {
        "poster": {
            "consumer_options": consumer,
            "retry_delays": [0.5, 1.0, 2.0],
            "outage_wait_s": 0,  # fail after the retries: these tests replay what failed
        },
        "reporter": {
            "consumer_options": dict(consumer, config={}) if kind == "kafka" else consumer
        },
    }


# --- processes ------------------------------------------------------------------------------


@dataclass
class RoleProcess:
    """``wisesync`` roles in a subprocess, started again after each kill.

    ``cli=True`` runs the real ``wisesync --config F run --role R`` (default consumer
    options); otherwise ``crash_runner.py`` with ``options`` (see :func:`fast_role_options`).
    ``crash_at`` sets the poster's test hook (``WISESYNC_CRASH_AT``) for the next start only.
    """

    config: Path
    env: dict[str, str]
    log_dir: Path
    roles: str = "poster"
    options: dict[str, Any] = field(default_factory=dict)
    cli: bool = False
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        """The stderr of the current (latest) start."""
        return self.log_dir / f"{self.roles.replace(',', '-')}-{self.starts}.log"

    def start(self, crash_at: str | None = None) -> RoleProcess:
        """Start the roles (the previous process must be gone)."""
        assert self.proc is None or self.proc.poll() is not None, "still running"
        self.starts += 1
        env = {**os.environ, **self.env, "CRASH_ROLE_OPTIONS": json.dumps(self.options)}
        env.pop("WISESYNC_CRASH_AT", None)
        if crash_at:
            env["WISESYNC_CRASH_AT"] = crash_at
        if self.cli:
            cmd = [str(WISESYNC), "--config", str(self.config), "run", "--role", self.roles]
            cmd += ["--metrics-port", "0"]
        else:
            cmd = [sys.executable, str(RUNNER), str(self.config), self.roles]
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
        return self

    def launch(self) -> RoleProcess:
        """Start the roles and wait until they run; fails the test, with the log's end, when
        the process exits first."""
        self.start()
        assert self.wait_ready(), self.tail()
        return self

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the roles run (True), or the process exited (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY in self.log_path.read_text(errors="replace"):
                return True
            if self.proc is not None and self.proc.poll() is not None:
                self._reap()
                return False
            time.sleep(0.05)
        raise TimeoutError(f"{self.roles} did not start in {timeout}s:\n{self.tail()}")

    def alive(self) -> bool:
        """True while the current process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL (no cleanup, no flush, no commit); returns the exit status."""
        assert self.proc is not None
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        return self._reap()

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the process to end by itself; its exit status (None: still running)."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self._reap()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (the batch in hand is finished); SIGKILL after ``timeout``."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._reap()

    def _reap(self) -> int:
        assert self.proc is not None
        code = self.proc.wait()
        if len(self.exits) < self.starts:  # once per start
            self.exits.append(code)
        return code

    def tail(self, lines: int = 40) -> str:
        """The end of the current log (for failure messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


# --- services of the test's own -------------------------------------------------------------


def _pinned_broker_class() -> type:
    from wisesync.testing import kafka_broker

    class PinnedBroker(kafka_broker.KafkaBroker):
        """A broker that starts again on the broker and controller ports of its first start."""

        pinned: tuple[int, int] | None = None

        def _write_config(self) -> None:
            if self.pinned is None:
                super()._write_config()
                return
            self.broker_port, self.controller_port = self.pinned
            (self.data_dir / "server.properties").write_text(
                kafka_broker._SERVER_PROPERTIES.format(
                    broker_port=self.broker_port,
                    controller_port=self.controller_port,
                    log_dir=self.data_dir / "kraft",
                )
            )

    return PinnedBroker


class OwnKafka:
    """A single-node broker of this test (same code as the ``kafka_bootstrap`` fixture).

    :meth:`stop` (SIGTERM, or SIGKILL with ``hard``) and :meth:`start` again use the same data
    directory and the same broker and controller ports, so clients reconnect to the address they
    know, and topics, committed offsets and producer state survive.
    """

    def __init__(self) -> None:
        from wisesync.testing.services import _scratch_dir

        self.dir = _scratch_dir("wisesync-test-kafka-")
        self.broker = _pinned_broker_class()(self.dir)
        self.bootstrap = self.broker.start()
        self.broker.pinned = (self.broker.broker_port, self.broker.controller_port)

    def stop(self, *, hard: bool = False) -> None:
        """Stop the broker: controlled shutdown, or SIGKILL with ``hard``."""
        if hard and self.broker.process is not None:
            proc, self.broker.process = self.broker.process, None
            proc.kill()
            proc.wait(30)
        else:
            self.broker.stop()

    def start(self) -> float:
        """Start it again; returns the seconds it took."""
        started = time.monotonic()
        assert self.broker.start() == self.bootstrap
        return time.monotonic() - started

    def close(self) -> None:
        """Stop and remove everything."""
        try:
            self.broker.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class OwnPostgres:
    """An embedded Postgres of this test (same code as the ``postgres_dsn`` fixture) that can be
    stopped and started again on the same data directory and port."""

    def __init__(self) -> None:
        from wisesync.store.embedded import EmbeddedPostgres
        from wisesync.testing.services import _scratch_dir

        self.dir = _scratch_dir(
            "wisesync-test-pg-", cleanup=lambda stale: EmbeddedPostgres(stale / "postgres").stop()
        )
        self.dir.chmod(0o711)  # as root, the server runs as a user that must enter it
        # durable: a commit that returned survives an immediate shutdown (the session fixture's
        # server trades that away for speed, with synchronous_commit=off)
        self.server = EmbeddedPostgres(self.dir / "postgres", durable=True, database="crash")
        self.dsn = self.server.start()
        self.server.requested_port = self.server.port

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (clients are disconnected) or ``immediate`` (a crash:
        no checkpoint, recovery at the next start)."""
        if mode == "fast":
            self.server.stop()
            return
        self.server._run(
            ["pg_ctl", "stop", "-D", str(self.server.pgdata), "-w", "-m", mode], timeout=60
        )

    def start(self) -> float:
        """Start it again; returns the seconds it took."""
        started = time.monotonic()
        assert self.server.start() == self.dsn
        return time.monotonic() - started

    def close(self) -> None:
        """Stop and remove everything."""
        try:
            self.server.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- waiting and checking ---------------------------------------------------------------------


def _db_down(stack: Stack) -> None:
    """After a failed query (Postgres restarting): drop the pool's dead connections."""
    with suppress(Exception):
        stack.db.pool.check()


def runs_complete(stack: Stack, runs: Iterable[SyncRun]) -> bool:
    """True when every record event of every run has a result (or a dead letter); False
    while Postgres does not answer."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        return all(wait_for_run(stack.db, r.run_id, 0).complete for r in runs)
    except (psycopg.OperationalError, PoolTimeout):
        _db_down(stack)
        return False


def wait_runs(
    stack: Stack, runs: list[SyncRun], timeout: float, *, while_: Callable[[], Any] | None = None
) -> list[Review]:
    """Wait for every run to complete (calling ``while_`` each round); the reviews."""
    deadline = time.monotonic() + timeout
    while not runs_complete(stack, runs):
        if time.monotonic() > deadline:
            progress = [wait_for_run(stack.db, r.run_id, 0) for r in runs]
            raise TimeoutError(f"runs not complete after {timeout}s: {progress}")
        if while_ is not None:
            while_()
        time.sleep(0.2)
    return [load_review(stack.db, ReviewFilter(run_id=r.run_id)) for r in runs]


def run_with_poster(
    stack: Stack,
    poster: RoleProcess,
    disturb: Callable[[list[SyncRun]], int],
    timeout: float = 120.0,
) -> tuple[list[SyncRun], list[Review], int]:
    """Sync every company, the reporter and acknowledger in this process and ``poster`` in its
    subprocess: ``disturb(runs)`` starts, kills or crashes the poster as the test wishes and
    says how many times it did; then a poster without a hook finishes the runs, and SIGTERM
    must stop it cleanly (exit 0). Returns the runs, their reviews and ``disturb``'s count."""
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        try:
            count = disturb(runs)
            if not poster.alive():
                poster.launch()
            reviews = wait_runs(stack, runs, timeout)
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    return runs, reviews, count


def documents(app: Any) -> list[dict[str, Any]]:
    """Every invoice, bill and credit note in a Xero sandbox."""
    return [*app.invoices(), *app.credit_notes()]


def ledger_documents(app: Any) -> list[dict[str, Any]]:
    """:func:`documents` plus every manual journal (inventory adjustments and transfers)."""
    journals = [{**j, "Type": "MANUALJOURNAL"} for j in app.manual_journals()]
    return [*documents(app), *journals]


def doc_number(doc: dict[str, Any]) -> str:
    """A ledger document's number (a manual journal's: its narration)."""
    return doc.get("InvoiceNumber") or doc.get("CreditNoteNumber") or doc.get("Narration") or ""


def doc_id(doc: dict[str, Any]) -> str:
    """A ledger document's id, whatever its kind."""
    return doc.get("InvoiceID") or doc.get("CreditNoteID") or doc.get("ManualJournalID") or ""


def assert_exactly_once(
    stack: Stack,
    runs: list[SyncRun],
    reviews: list[Review],
    *,
    dead_letters: int = 0,
    poisoned: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Every record of ``runs`` is in its company's ledger once and has exactly one result.

    * the ledger: document numbers unique per kind, one document per ``posted`` record, the
      posted records' ledger ids are exactly the documents' ids;
    * review: no result missing, exactly one result (attempt) per record event, one record row
      per extracted record, no journal row left ``claimed``;
    * ``dead_letters`` of the runs' events were dead-lettered (default none); the records of
      the source ids in ``poisoned`` (their plugin raised) failed and may stay ``claimed``
      (the ledger's answer is unknown: a replay reconciles them first).

    Returns ``{status: n}`` over all runs.
    """
    totals: Counter[str] = Counter()
    for run, review in zip(runs, reviews, strict=True):
        docs = stack.ledger(run.company).posted_documents()
        numbers = Counter((d.kind, d.number) for d in docs)
        twice = {k: n for k, n in numbers.items() if n > 1}
        assert not twice, f"{run.company}: documents in the ledger more than once: {twice}"
        posted = [r for r in review.rows if r.status == "posted"]
        assert len(docs) == len(posted), (
            f"{run.company}: {len(docs)} documents in the ledger for {len(posted)} posted records"
        )
        assert {r.ledger_id for r in posted} == {d.ledger_id for d in docs}, run.company
        assert review.missing == 0, f"{run.company}: {review.missing} results missing"
        # one row per extracted record and per record the source held
        assert len(review.rows) == sum(run.extracted.values()) + sum(run.held.values())
        totals.update(r.status for r in review.rows)
    with stack.db.connection() as conn:
        ids = [r.run_id for r in runs]
        repeated = conn.execute(
            """SELECT record_event_id, count(*) FROM attempts WHERE run_id = ANY(%s)
               GROUP BY record_event_id HAVING count(*) > 1 LIMIT 5""",
            (ids,),
        ).fetchall()
        assert not repeated, f"record events with more than one result: {repeated}"
        (answered,) = conn.execute(
            "SELECT count(DISTINCT record_event_id) FROM attempts WHERE run_id = ANY(%s)", (ids,)
        ).fetchone()
        (letters,) = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE run_id = ANY(%s)", (ids,)
        ).fetchone()
        claimed = conn.execute(
            "SELECT company, record_type, source_id FROM posting_journal "
            "WHERE state = 'claimed' AND NOT source_id = ANY(%s) LIMIT 5",
            (list(poisoned),),
        ).fetchall()
    # a result per extracted record and per record the source held
    expected = sum(sum(r.extracted.values()) + sum(r.held.values()) for r in runs)
    assert letters == dead_letters, f"{letters} dead letters, expected {dead_letters}"
    assert answered + letters >= expected and answered <= expected, (answered, expected)
    assert not claimed, f"journal rows left claimed: {claimed}"
    return dict(totals)


def linked(reviews: Iterable[Review]) -> int:
    """Posted records whose document was found in the ledger, not posted (a crash between
    post and record, or a lost answer): their results carry ALREADY_IN_LEDGER."""
    return sum(
        1
        for review in reviews
        for row in review.rows
        if row.status == "posted" and any(m.code == "ALREADY_IN_LEDGER" for m in row.messages)
    )


def journal_done(stack: Stack) -> int:
    """Records the posting journal holds an outcome for (posted or failed)."""
    return _journal_count(stack, claimed=False)


def journal_claimed(stack: Stack) -> int:
    """Records claimed and not (yet) recorded: a write may be on its way to the ledger."""
    return _journal_count(stack, claimed=True)


def _journal_count(stack: Stack, *, claimed: bool) -> int:
    with stack.db.connection() as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM posting_journal WHERE (state = 'claimed') = %s", (claimed,)
        ).fetchone()
    return int(n)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        time.sleep(0.01)


def kafka_stack(
    specs: list[CompanySpec], kafka_bootstrap: str, dsn: str, partitions: int = 2
) -> Stack:
    """A stack of ``specs`` on the session's Kafka broker and the database ``dsn``."""
    return Stack(
        specs, dsn=dsn, transport="kafka", kafka_bootstrap=kafka_bootstrap, partitions=partitions
    )
