"""The posting journal: the poster's exactly-once guard (ARCHITECTURE section 3).

One row per (company, target, record type, source id). The poster reads the rows
of a batch before any API call, claims the records it will post, posts, then
records each outcome with the encoded result it emits. After a crash:

* ``posted`` -> the stored result is emitted again, no API call;
* ``claimed`` -> the post may or may not have reached the ledger: the target's
  ``find_existing`` decides before anything is posted again;
* ``failed`` (or no row) -> the record is posted.

A company's batches are serialised across processes with a Postgres advisory
lock (:meth:`Journal.company_lock`), so even two posters that both believe they
own a partition during a rebalance cannot post the same record twice. The lock
lives as long as the session that took it, so a claim runs on that very session:
a poster whose session died (a Postgres restart) cannot claim, and so cannot
post, while another poster may hold the lock by then.

A lock can pass to another poster while a write of the first is still on its way
to the ledger (the first was killed, or Postgres restarted, mid-call). Two rules
close that window:

* every call a chunk makes is fenced (:meth:`Journal.stamp_claims`, run by the
  call limiter as the call gets its slot): on the lock's session it stamps the
  chunk's claims with the send time, and raises :class:`PostingLockLost` when
  that session is gone, so a poster that lost its lock sends nothing more;
* the next poster asks the ledger about a ``claimed`` record only once the claim
  is older than the target's ``in_flight_s`` (:meth:`Journal.in_flight`), by which
  time any write sent under it has landed or never will. Meanwhile only those records
  wait (the poster sets them aside until then); the company's other records are posted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.pq import TransactionStatus

from wisesync.events.models import PostingResult, RecordEvent, Status
from wisesync.store.db import Database, advisory_lock_key

Identity = tuple[str, str, str, str]

CLAIMED, POSTED, FAILED = "claimed", "posted", "failed"

#: Lock sessions a journal keeps open between locks.
IDLE_LOCK_SESSIONS = 8


@dataclass(slots=True)
class JournalEntry:
    """One journal row."""

    identity: Identity
    state: str
    content_hash: str
    record_event_id: str
    ledger_id: str | None
    ledger_number: str | None
    ledger_total: Decimal | None
    last_result: bytes | None
    attempts: int


class PostingLockLost(Exception):
    """The session holding a company's posting lock is gone; another poster may hold the
    lock now, so this one must not send anything more for the company."""


#: The ``claimed`` rows of one chunk (all of one company and target).
_CLAIMED_ROWS = """WHERE state = 'claimed' AND company = %s AND target = %s
    AND (record_type, source_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"""


def _chunk_keys(records: list[RecordEvent]) -> tuple[str, str, list[str], list[str]]:
    """The parameters of :data:`_CLAIMED_ROWS` for ``records``."""
    return (
        records[0].company,
        records[0].target,
        [str(r.record_type) for r in records],
        [r.source_id for r in records],
    )


def _lock_key(company: str, target: str) -> int:
    return advisory_lock_key(f"wisesync-post:{company}:{target}")


class Journal:
    """Reads and writes the ``posting_journal`` table."""

    def __init__(self, db: Database):
        self.db = db
        #: The sessions holding a company's posting lock in this process (claims run there).
        self._held: dict[tuple[str, str], psycopg.Connection] = {}
        #: Idle lock sessions, kept for the next lock.
        self._idle: list[psycopg.Connection] = []
        self._idle_lock = threading.Lock()

    @contextmanager
    def company_lock(self, company: str, target: str) -> Iterator[None]:
        """Hold the (company, target) posting lock for the duration of a batch; claims of
        its records made meanwhile run on the session that holds it (see :meth:`claim`).

        The lock lives on a session of its own, outside the pool: a company waiting on its
        ledger holds it for as long as it waits, and the pool stays free for the others
        (many companies posting at once would otherwise hold every pooled connection).
        """
        key = _lock_key(company, target)
        conn = self._lock_session()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            self._held[(company, target)] = conn
            try:
                yield
            finally:
                self._held.pop((company, target), None)
                if not conn.closed:  # a dead session took its lock with it
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            self._release_session(conn)

    def _lock_session(self) -> psycopg.Connection:
        with self._idle_lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return psycopg.connect(self.db.dsn, autocommit=True)

    def _release_session(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.close()
            return
        with self._idle_lock:
            if len(self._idle) < IDLE_LOCK_SESSIONS:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle lock sessions (those in use close when their lock is released)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def stamp_claims(self, records: list[RecordEvent]) -> None:
        """Stamp the ``claimed`` rows of ``records`` with the time now, on the session that
        holds their company's posting lock (the fence before each ledger call).

        Raises :class:`PostingLockLost` when that session is gone.
        """
        if not records:
            return
        held = self._held.get((records[0].company, records[0].target))
        if held is None:
            return
        try:
            held.execute(
                "UPDATE posting_journal SET claimed_at = now() " + _CLAIMED_ROWS,
                _chunk_keys(records),
            )
        except psycopg.Error as exc:
            raise PostingLockLost(
                f"the posting lock of {records[0].company}/{records[0].target} was lost "
                f"({type(exc).__name__}); nothing more is sent for it from this poster"
            ) from exc

    def in_flight_wait(self, records: list[RecordEvent], in_flight_s: float) -> float:
        """Seconds until the newest ``claimed`` row of ``records`` is ``in_flight_s`` old
        (0 when none is younger), by the database's clock."""
        if not records:
            return 0.0
        with self.db.connection() as conn:
            (wait,) = conn.execute(
                "SELECT coalesce(extract(epoch FROM max(claimed_at) + make_interval(secs => %s)"
                " - now()), 0) FROM posting_journal " + _CLAIMED_ROWS,
                (float(in_flight_s), *_chunk_keys(records)),
            ).fetchone()
        return max(0.0, float(wait))

    def in_flight(self, records: list[RecordEvent], in_flight_s: float) -> dict[Identity, datetime]:
        """The ``claimed`` rows of ``records`` younger than ``in_flight_s`` (a write sent under
        them may still land), each with the time it stops being in flight (database clock)."""
        if not records:
            return {}
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT company, target, record_type, source_id,"
                " claimed_at + make_interval(secs => %s) FROM posting_journal "
                + _CLAIMED_ROWS
                + " AND claimed_at + make_interval(secs => %s) > now()",
                (float(in_flight_s), *_chunk_keys(records), float(in_flight_s)),
            ).fetchall()
        return {tuple(r[:4]): r[4] for r in rows}

    def read(self, records: Iterable[RecordEvent]) -> dict[Identity, JournalEntry]:
        """The journal rows of ``records``, by identity (absent = never claimed)."""
        ids = [r.identity for r in records]
        if not ids:
            return {}
        cols = list(zip(*ids, strict=True))
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT j.company, j.target, j.record_type, j.source_id, j.state, j.content_hash,
                          j.record_event_id, j.ledger_id, j.ledger_number, j.ledger_total,
                          j.last_result, j.attempts
                   FROM posting_journal j
                   JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[])
                        AS k(company, target, record_type, source_id)
                     USING (company, target, record_type, source_id)""",
                [list(c) for c in cols],
            ).fetchall()
        return {
            tuple(r[:4]): JournalEntry(
                tuple(r[:4]),
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                bytes(r[10]) if r[10] is not None else None,
                r[11],
            )
            for r in rows
        }

    def claim(self, records: list[RecordEvent]) -> set[Identity]:
        """Mark ``records`` claimed (not over a ``posted`` row). Returns the identities claimed.

        Under :meth:`company_lock` the claim runs on the session that holds the lock: when
        that session is gone (Postgres restarted, and another poster may hold the lock now),
        it raises ``psycopg.OperationalError`` instead of claiming what the other may post.
        """
        if not records:
            return set()
        held = self._held.get((records[0].company, records[0].target))
        with nullcontext(held) if held is not None else self.db.connection() as conn:
            rows = conn.execute(
                """INSERT INTO posting_journal AS j
                       (company, target, record_type, source_id, state, content_hash,
                        record_event_id, attempts, claimed_at)
                   SELECT k.company, k.target, k.record_type, k.source_id, 'claimed',
                          k.content_hash, k.event_id, 1, now()
                   FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                               %s::text[])
                        AS k(company, target, record_type, source_id, content_hash, event_id)
                   ON CONFLICT (company, target, record_type, source_id) DO UPDATE
                   SET state = 'claimed', content_hash = EXCLUDED.content_hash,
                       record_event_id = EXCLUDED.record_event_id,
                       attempts = j.attempts + 1, claimed_at = now(), updated_at = now()
                   WHERE j.state <> 'posted'
                   RETURNING j.company, j.target, j.record_type, j.source_id""",
                [
                    [r.company for r in records],
                    [r.target for r in records],
                    [str(r.record_type) for r in records],
                    [r.source_id for r in records],
                    [r.content_hash for r in records],
                    [r.event_id for r in records],
                ],
            ).fetchall()
        return {tuple(r) for r in rows}

    def record(self, entries: list[tuple[RecordEvent, PostingResult, bytes]]) -> None:
        """Store each outcome and its encoded result in one transaction.

        ``posted`` and ``skipped_already_posted`` -> state posted; ``failed`` -> failed,
        except when the ledger may hold the document (``uncertain`` results, see
        :func:`journal_state`), which stay claimed for reconciliation.
        """
        if not entries:
            return
        params = []
        for event, result, encoded in entries:
            params.append(
                (
                    journal_state(result),
                    event.content_hash,
                    event.event_id,
                    result.ledger_id,
                    result.ledger_number,
                    result.ledger_total,
                    encoded,
                    *event.identity,
                )
            )
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO posting_journal AS j
                       (state, content_hash, record_event_id, ledger_id, ledger_number,
                        ledger_total, last_result, company, target, record_type, source_id,
                        attempts, claimed_at)
                   VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,1,NULL)
                   ON CONFLICT (company, target, record_type, source_id) DO UPDATE
                   SET state = EXCLUDED.state, content_hash = EXCLUDED.content_hash,
                       record_event_id = EXCLUDED.record_event_id,
                       ledger_id = COALESCE(EXCLUDED.ledger_id, j.ledger_id),
                       ledger_number = COALESCE(EXCLUDED.ledger_number, j.ledger_number),
                       ledger_total = COALESCE(EXCLUDED.ledger_total, j.ledger_total),
                       last_result = EXCLUDED.last_result, updated_at = now()
                   WHERE j.state <> 'posted' OR EXCLUDED.state = 'posted'""",
                params,
            )

    def awaiting_acknowledgement(self, records: Iterable[RecordEvent]) -> set[Identity]:
        """The identities of ``records`` posted with this very content (``content_hash``)
        that their source has not acknowledged yet: the acknowledgement is pending, or not
        queued yet (the posted result is on its way to the reporter, which queues it). The
        acknowledger owns them, and publishing them again would only cost a journal read, a
        result and another acknowledgement row each (see
        :class:`wisesync.pipeline.extractor.Extractor`). A record acknowledged before and
        listed as unposted again (its batch was deleted at the source) is not among them."""
        records = [r for r in records if r.content_hash]
        if not records:
            return set()
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT j.company, j.target, j.record_type, j.source_id
                   FROM posting_journal j
                   JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
                        AS k(company, target, record_type, source_id, content_hash)
                     USING (company, target, record_type, source_id, content_hash)
                   WHERE j.state = 'posted' AND NOT EXISTS (
                         SELECT 1 FROM acknowledgements a
                          WHERE a.state = 'done' AND a.company = j.company
                            AND a.record_type = j.record_type AND a.source_id = j.source_id)""",
                [
                    [r.company for r in records],
                    [r.target for r in records],
                    [str(r.record_type) for r in records],
                    [r.source_id for r in records],
                    [r.content_hash for r in records],
                ],
            ).fetchall()
        return {tuple(r) for r in rows}

    def state_counts(self, company: str | None = None) -> dict[str, int]:
        """How many rows are in each state (for metrics and tests)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT state, count(*) FROM posting_journal WHERE %s::text IS NULL OR company=%s "
                "GROUP BY state",
                (company, company),
            ).fetchall()
        return {state: n for state, n in rows}


#: Result codes after which the ledger may already hold the document.
UNCERTAIN_CODES = frozenset({"LEDGER_UNAVAILABLE", "INTERNAL_ERROR"})


def journal_state(result: PostingResult) -> str:
    """The journal state a result leaves its record in."""
    if result.status in (Status.POSTED, Status.SKIPPED_ALREADY_POSTED):
        return POSTED
    if any(m.code in UNCERTAIN_CODES for m in result.messages):
        return CLAIMED
    return FAILED
