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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from wisesync.store.db import Database

#: ``parked_records.reason`` of backlog rows.
QUEUED = "queued"


class Backlog:
    """Reads and writes the backlog rows of ``parked_records``."""

    def __init__(self, db: Database):
        self.db = db

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
