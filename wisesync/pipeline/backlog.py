"""The poster's durable backlog: records a company's lane could not hold in memory.

When a company's lane is full (its ledger is slow, down or at its limits while its records
keep arriving) or the poster's memory budget is spent, the consumer loop stores the records
here, in ``parked_records`` with reason :data:`QUEUED`, and commits their offsets: they are
as durable as the journal, so the partition moves on and the other companies that share it
are not held up. The company's lane posts them from here, oldest first, once it has posted
what it holds; a row is deleted only after its record's outcome is journaled and its result
sent, so a crash in between posts nothing twice (the journal answers the record again).

Unlike the other parked records (a daily limit, a write in flight) these are never
re-published to the records topic: any poster may post them, under the company's lock.

One poster drains a company's backlog at a time: the one that *owns* it (:meth:`Backlog.own`,
a Postgres advisory lock held on a session of the poster's own). A poster owns what it
spills and adopts only backlogs no live poster owns, so a second poster takes over the
companies of its partitions, not a share of every company's backlog (posting the same
rows under the company's lock one after the other, the second finding them journaled).
The lock goes with the session: a poster that dies or loses Postgres frees its backlogs for
the others at once, no lease to wait out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import psycopg

from wisesync.store.db import Database, advisory_lock_key

#: ``parked_records.reason`` of backlog rows.
QUEUED = "queued"


class Backlog:
    """Reads and writes the backlog rows of ``parked_records``."""

    def __init__(self, db: Database):
        self.db = db
        self._owner: psycopg.Connection | None = None
        self._owned: set[tuple[str, str]] = set()
        self._owner_lock = threading.Lock()

    def own(self, company: str, target: str) -> bool:
        """Take the draining of (company, target)'s backlog: True when this poster holds it
        (now, or already as of the last :meth:`check`), False when another live poster
        does."""
        key = (company, target)
        with self._owner_lock:
            if key in self._owned and self._owner is not None and not self._owner.closed:
                return True
            conn = self._owner_session()
            (got,) = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (_owner_key(company, target),)
            ).fetchone()
            if got:
                self._owned.add(key)
            return bool(got)

    def disown(self, company: str, target: str) -> None:
        """Let another poster drain (company, target)'s backlog (this one's lane emptied it)."""
        with self._owner_lock:
            if (company, target) not in self._owned:
                return
            self._owned.discard((company, target))
            if self._owner is None or self._owner.closed:
                return
            try:
                self._owner.execute("SELECT pg_advisory_unlock(%s)", (_owner_key(company, target),))
            except psycopg.Error:  # a lost session holds no lock
                self._owner.close()

    def check(self) -> None:
        """Make sure the owning session is alive: one that died (Postgres restarted, the
        session was terminated) took its locks with it, so this poster owns nothing."""
        with self._owner_lock:
            if self._owner is None:
                return
            try:
                self._owner.execute("SELECT 1")
            except psycopg.Error:
                self._owner.close()
            if self._owner.closed:
                self._owner = None
                self._owned.clear()

    def owned(self) -> set[tuple[str, str]]:
        """The backlogs this poster owns."""
        with self._owner_lock:
            return set(self._owned)

    def close(self) -> None:
        """Release every backlog this poster owns (closing its session)."""
        with self._owner_lock:
            self._owned.clear()
            if self._owner is not None:
                self._owner.close()
                self._owner = None

    def _owner_session(self) -> psycopg.Connection:
        if self._owner is None or self._owner.closed:
            self._owned.clear()  # a lost session took its locks with it
            self._owner = psycopg.connect(self.db.dsn, autocommit=True)
        return self._owner

    def put(self, groups: Mapping[tuple[str, str], Iterable[bytes]]) -> int:
        """Store encoded record events, each (company, target)'s in order, in one
        transaction (a poll spills to many companies at once: one commit, one COPY).
        Returns how many."""
        stored = 0
        with (
            self.db.connection() as conn,
            conn.cursor() as cur,
            cur.copy(
                "COPY parked_records (company, target, not_before, reason, event) FROM STDIN"
            ) as copy,
        ):
            for (company, target), values in groups.items():
                for value in values:
                    copy.write_row((company, target, "infinity", QUEUED, value))
                    stored += 1
        return stored

    def take(self, company: str, target: str, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` backlog rows of (company, target): (row id, encoded event)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, event FROM parked_records WHERE company = %s AND target = %s "
                "AND reason = %s ORDER BY id LIMIT %s",
                (company, target, QUEUED, limit),
            ).fetchall()
        return [(row_id, bytes(event)) for row_id, event in rows]

    def remove(self, ids: list[int]) -> None:
        """Delete backlog rows whose records are answered."""
        if not ids:
            return
        with self.db.connection() as conn:
            conn.execute("DELETE FROM parked_records WHERE id = ANY(%s)", (ids,))

    def keys(self) -> set[tuple[str, str]]:
        """The (company, target) pairs with a backlog."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT company, target FROM parked_records WHERE reason = %s", (QUEUED,)
            ).fetchall()
        return {(company, target) for company, target in rows}


def _owner_key(company: str, target: str) -> int:
    """The advisory lock of (company, target)'s backlog (not its posting lock)."""
    return advisory_lock_key(f"wisesync-backlog:{company}:{target}")
