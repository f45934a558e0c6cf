"""The acknowledger role: mark posted records posted at their source, retried until done.

The reporter queues one ``pending`` row in ``acknowledgements`` for every new ``posted`` or
``skipped_already_posted`` result whose source plugin is installed (see
:mod:`wisesync.pipeline.reporter` for why the queue is a table and not a second consumer).
The acknowledger works the rows that are due:

1. it leases up to ``claim_limit`` due rows (``FOR UPDATE SKIP LOCKED``, then pushes their
   ``next_attempt_at`` ``lease_s`` ahead and commits; a keeper thread renews the lease every
   third of it while the pass works the rows), so several processes can share the
   queue and a crash mid-call delays a retry by seconds, not minutes; a clean stop (SIGTERM)
   ends the pass after the chunk in hand and hands the rest back at once;
2. groups them by (company, source) and, per record, keeps the newest result (older pending
   rows of the same record are settled with it);
3. calls ``source.acknowledge_each(company, results)`` in chunks of ``chunk_size``, sorted
   by run, so a run's records land in the same ConnectWise batches where the source groups;
4. marks acknowledged rows ``done`` with the source's ``batch_id`` as the outcomes come
   (every :data:`MARK_EVERY_S` while a call runs: a kill mid-call keeps what was done); on
   a refusal, a missing outcome or an exception, stores ``last_error``, ``tries + 1`` and
   ``next_attempt_at = now + min(max_delay_s, base_delay_s * 2 ** (tries))``.

Nothing gives up: a record whose acknowledgement keeps failing stays ``pending`` and shows
in the review as ``ACKNOWLEDGE_PENDING`` with its last error. ``Source.acknowledge`` must be
idempotent, so a retry after a lost answer never batches a record twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wisesync.config import AppConfig, CompanyConfig
from wisesync.errors import ConfigError
from wisesync.events.codec import Codec
from wisesync.events.models import PostingResult
from wisesync.protocols import PluginRuntime, Source
from wisesync.requestlog.context import request_context
from wisesync.store.db import Database

log = logging.getLogger(__name__)

#: While one ``acknowledge`` call streams outcomes, they are written this often (seconds).
MARK_EVERY_S = 0.25


@dataclass(slots=True)
class _Row:
    result_id: str
    company: str
    source: str
    record_type: str
    source_id: str
    result: PostingResult
    tries: int


@dataclass
class AckStats:
    """What one :meth:`Acknowledger.run_once` (or the whole life, in ``totals``) did."""

    claimed: int = 0
    done: int = 0
    failed: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: AckStats) -> None:
        """Accumulate ``other`` into these counts."""
        self.claimed += other.claimed
        self.done += other.done
        self.failed += other.failed
        self.calls += other.calls
        self.errors = (self.errors + other.errors)[-20:]


def backoff_delay(tries: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait after the ``tries``-th failed try: base, 2*base, 4*base ... capped."""
    return min(cap_s, base_s * (2 ** max(0, tries - 1)))


class _LeaseKeeper:
    """Keeps one pass's leased rows leased: every ``lease_s / 3`` a thread pushes the
    ``next_attempt_at`` of the rows not yet settled ``lease_s`` ahead. A call may so take
    longer than a lease (a slow ConnectWise, a Retry-After) without another acknowledger
    taking its rows, while a killed process's rows are due again within ``lease_s``."""

    def __init__(self, db: Database, lease_s: float, result_ids: list[str]):
        self.db = db
        self.lease_s = lease_s
        self._ids = set(result_ids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if result_ids:
            self._thread = threading.Thread(
                target=self._run, name="acknowledger-lease", daemon=True
            )
            self._thread.start()

    def settle(self, result_ids: Iterable[str]) -> None:
        """Stop renewing ``result_ids`` (their outcome is about to be written). Waits for
        a renewal in flight, so it never lands after the outcome."""
        with self._lock:
            self._ids.difference_update(result_ids)

    def stop(self) -> None:
        """Stop renewing; the rows left keep their current lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self._renew()
            except Exception:  # the lease then runs out: a retry, never a loss
                log.warning("acknowledger could not renew its lease", exc_info=True)

    def _renew(self) -> None:
        with self._lock:
            if not self._ids or self._stop.is_set():
                return
            with self.db.connection() as conn:
                conn.execute(
                    "UPDATE acknowledgements "
                    "SET next_attempt_at = now() + make_interval(secs => %s) "
                    "WHERE result_id = ANY(%s) AND state = 'pending'",
                    (self.lease_s, list(self._ids)),
                )


class _Marks:
    """Outcomes of one ``acknowledge`` call not yet written to the table: written every
    :data:`MARK_EVERY_S` while the call runs and at its end, so a kill mid-call loses at
    most that much bookkeeping (the source's own look-up finds what it already did)."""

    def __init__(self, owner: Acknowledger, company: str, source: str, stats: AckStats):
        self.owner = owner
        self.company = company
        self.source = source
        self.stats = stats
        self._done: list[tuple[_Row, str | None]] = []
        self._failed: list[tuple[_Row, str]] = []
        self._last = time.monotonic()

    def done(self, rows: list[_Row], batch_id: str | None) -> None:
        """``rows`` (one record's pending rows) were acknowledged in ``batch_id``."""
        self._done.extend((r, batch_id) for r in rows)

    def failed(self, rows: list[_Row], why: str) -> None:
        """``rows`` were not acknowledged, because ``why``."""
        self._failed.extend((r, why) for r in rows)

    def flush_if_due(self) -> None:
        """Write what is held when :data:`MARK_EVERY_S` passed since the last write."""
        if time.monotonic() - self._last >= MARK_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Write what is held (one transaction each for done and failed rows)."""
        done, failed = self._done, self._failed
        self._done, self._failed = [], []
        self._last = time.monotonic()
        if not done and not failed:
            return
        self.owner._mark_done(done, self.stats)
        self.owner._mark_failed(failed, self.stats)
        if self.owner.metrics is not None:
            self.owner.metrics.acknowledged(
                self.company, self.source, done=len(done), failed=len(failed)
            )


class Acknowledger:
    """Works due pending acknowledgements through the source plugins.

    Args:
        db: the store.
        registry: the plugin registry (``registry.source(name)`` gives the class).
        config: the configuration (companies by key).
        codec: decodes the stored results (default: a new one).
        runtime: what plugin instances get (default: built from config and db).
        chunk_size: most results per ``acknowledge`` call.
        claim_limit: most rows leased per :meth:`run_once`.
        base_delay_s / max_delay_s: exponential backoff after a failure (cap 1 hour).
        lease_s: how long leased rows stay invisible to other acknowledgers unless renewed;
            the pass renews them every ``lease_s / 3`` while it works them, so a call may
            take longer, and a killed process's rows are due again within ``lease_s``.
        idle_s: how long :meth:`run` sleeps when nothing was due.
        metrics: a :class:`wisesync.observability.Metrics` (optional).
    """

    def __init__(
        self,
        db: Database,
        registry: Any,
        config: AppConfig,
        codec: Codec | None = None,
        runtime: PluginRuntime | None = None,
        *,
        chunk_size: int = 50,
        claim_limit: int = 50,
        base_delay_s: float = 10.0,
        max_delay_s: float = 3600.0,
        lease_s: float = 3.0,
        idle_s: float = 2.0,
        metrics: Any = None,
    ):
        self.db = db
        self.registry = registry
        self.config = config
        self.codec = codec or Codec()
        self.runtime = runtime or PluginRuntime(config=config, db=db)
        self.chunk_size = max(1, chunk_size)
        self.claim_limit = max(1, claim_limit)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.metrics = metrics
        self.totals = AckStats()
        self._keeper = _LeaseKeeper(db, lease_s, [])
        self._sources: dict[str, Source] = {}

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work the queue until ``stop`` is set; sleeps ``idle_s`` when nothing was due."""
        while not stop.is_set():
            try:
                stats = self.run_once(stop)
            except Exception:
                log.exception("acknowledger pass failed; retrying in %ss", self.idle_s)
                stats = AckStats()
            if not stats.claimed:
                stop.wait(self.idle_s)

    def run_once(self, stop: threading.Event | None = None) -> AckStats:
        """Lease the due rows, acknowledge them, record the outcomes. Returns what it did.

        When ``stop`` is set meanwhile, the pass ends after the chunk in hand and the rows
        not yet worked are due again at once (:meth:`release`), for whoever runs next."""
        stats = AckStats()
        rows = self._claim()
        stats.claimed = len(rows)
        if not rows:
            return stats
        self._keeper = _LeaseKeeper(self.db, self.lease_s, [r.result_id for r in rows])
        groups: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for row in rows:
            groups[(row.company, row.source)].append(row)
        worked: set[str] = set()
        try:
            for (company_key, source_name), group in groups.items():
                self._work_group(company_key, source_name, group, stats, stop, worked)
                if stop is not None and stop.is_set():
                    break
        finally:
            self._keeper.stop()
            left = [r.result_id for r in rows if r.result_id not in worked]
            if left and stop is not None and stop.is_set():
                self.release(left)
        self.totals.add(stats)
        return stats

    def release(self, result_ids: list[str]) -> None:
        """Make the leased rows ``result_ids`` (still pending) due now: a clean stop hands
        them to the next acknowledger without making it wait out the lease."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE acknowledgements SET next_attempt_at = now() "
                "WHERE result_id = ANY(%s) AND state = 'pending'",
                (result_ids,),
            )
        log.info("acknowledger stopping: %d leased acknowledgement(s) released", len(result_ids))

    def close(self) -> None:
        """Nothing to release (connections are pooled); present for symmetry with the roles."""

    # --- one (company, source) -------------------------------------------------------

    def _work_group(
        self,
        company_key: str,
        source_name: str,
        rows: list[_Row],
        stats: AckStats,
        stop: threading.Event | None = None,
        worked: set[str] | None = None,
    ) -> None:
        worked = set() if worked is None else worked
        by_record: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for row in rows:
            by_record[(row.record_type, row.source_id)].append(row)
        # The newest result of each record speaks for all its pending rows.
        leaders = [
            max(rs, key=lambda r: (r.result.finished_at, r.result_id)) for rs in by_record.values()
        ]
        leaders.sort(key=lambda r: (r.result.run_id, r.record_type, r.source_id))
        try:
            company = self.config.company(company_key)
            source = self.source(source_name)
        except ConfigError as exc:
            self._fail(rows, f"cannot acknowledge: {exc}", stats)
            worked.update(r.result_id for r in rows)
            return
        for i in range(0, len(leaders), self.chunk_size):
            if stop is not None and stop.is_set():
                return
            chunk = leaders[i : i + self.chunk_size]
            marks = _Marks(self, company_key, source_name, stats)
            for leader in chunk:
                worked.update(
                    r.result_id for r in by_record[(leader.record_type, leader.source_id)]
                )
            waiting = {leader.result_id: leader for leader in chunk}
            error = self._stream(source, company, chunk, stats, waiting, marks, by_record)
            for leader in waiting.values():
                why = error or f"the {source_name} plugin returned no outcome for this record"
                marks.failed(by_record[(leader.record_type, leader.source_id)], why)
            marks.flush()

    def _stream(
        self,
        source: Source,
        company: CompanyConfig,
        chunk: list[_Row],
        stats: AckStats,
        waiting: dict[str, _Row],
        marks: _Marks,
        by_record: dict[tuple[str, str], list[_Row]],
    ) -> str | None:
        """Acknowledge ``chunk``, recording each outcome as the source yields it (taken out
        of ``waiting``). Returns the error text when the call raised (None otherwise)."""
        stats.calls += 1
        try:
            results = [r.result for r in chunk]
            with request_context(company.key, source.name, events=results):
                for outcome in source.acknowledge_each(company, results):
                    leader = waiting.pop(outcome.result_id, None)
                    if leader is None:
                        continue
                    group = by_record[(leader.record_type, leader.source_id)]
                    if outcome.acknowledged:
                        marks.done(group, outcome.batch_id)
                    else:
                        marks.failed(
                            group, outcome.error or "the source refused the acknowledgement"
                        )
                    marks.flush_if_due()
        except Exception as exc:  # a plugin failure must not stop the queue
            log.warning(
                "%s acknowledge for %s failed (%d records): %s: %s",
                source.name,
                company.key,
                len(chunk),
                type(exc).__name__,
                exc,
            )
            return f"{type(exc).__name__}: {exc}"[:2000]
        return None

    def source(self, name: str) -> Source:
        """The (cached) instance of source plugin ``name``."""
        if name not in self._sources:
            self._sources[name] = self.registry.source(name)(self.runtime)
        return self._sources[name]

    # --- the table ---------------------------------------------------------------------

    def _claim(self) -> list[_Row]:
        with self.db.connection() as conn:
            rows = conn.execute(
                """UPDATE acknowledgements a
                      SET next_attempt_at = now() + make_interval(secs => %s)
                    WHERE a.result_id IN (
                          SELECT result_id FROM acknowledgements
                           WHERE state = 'pending' AND next_attempt_at <= now()
                           ORDER BY next_attempt_at, created_at
                           LIMIT %s
                             FOR UPDATE SKIP LOCKED)
                RETURNING a.result_id, a.company, a.source, a.record_type, a.source_id,
                          a.result, a.tries""",
                (self.lease_s, self.claim_limit),
            ).fetchall()
        out = []
        for rid, company, source, rtype, sid, data, tries in rows:
            try:
                result = self.codec.decode(bytes(data))
            except Exception as exc:
                self._mark_failed_ids([(rid, tries, f"stored result does not decode: {exc}")])
                continue
            out.append(_Row(rid, company, source, rtype, sid, result, tries))
        return out

    def _mark_done(self, done: list[tuple[_Row, str | None]], stats: AckStats) -> None:
        if not done:
            return
        self._keeper.settle(row.result_id for row, _ in done)
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                """UPDATE acknowledgements
                      SET state = 'done', batch_id = %s, done_at = now(), tries = tries + 1,
                          last_error = NULL
                    WHERE result_id = %s AND state = 'pending'""",
                [(batch_id, row.result_id) for row, batch_id in done],
            )
        stats.done += len(done)

    def _mark_failed(self, failed: list[tuple[_Row, str]], stats: AckStats) -> None:
        if not failed:
            return
        self._mark_failed_ids([(row.result_id, row.tries, why) for row, why in failed])
        stats.failed += len(failed)
        stats.errors.extend(why for _, why in failed[:5])

    def _fail(self, rows: list[_Row], why: str, stats: AckStats) -> None:
        self._mark_failed([(r, why) for r in rows], stats)

    def _mark_failed_ids(self, items: list[tuple[str, int, str]]) -> None:
        self._keeper.settle(rid for rid, _, _ in items)
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                """UPDATE acknowledgements
                      SET tries = tries + 1, last_error = %s,
                          next_attempt_at = now() + make_interval(secs => %s)
                    WHERE result_id = %s AND state = 'pending'""",
                [
                    (why, backoff_delay(tries + 1, self.base_delay_s, self.max_delay_s), rid)
                    for rid, tries, why in items
                ],
            )


def next_due(db: Database) -> datetime | None:
    """When the next pending acknowledgement is due (None when nothing is pending)."""
    with db.connection() as conn:
        (when,) = conn.execute(
            "SELECT min(next_attempt_at) FROM acknowledgements WHERE state = 'pending'"
        ).fetchone()
    return when
