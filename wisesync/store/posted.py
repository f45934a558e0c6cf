"""The read-only view of the posting journal that plugins may use: what wisesync posted.

A payments source needs to know which ledger documents wisesync posted, and for which
source records (a payment applied in the ledger to a document wisesync did not post is
not ours to send). It asks the runtime (:meth:`wisesync.protocols.PluginRuntime.posted`),
which reads here; no plugin runs SQL on the core's tables.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wisesync.store.tokens import connection


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One record wisesync posted: where it came from and what the ledger made of it."""

    company: str
    target: str
    record_type: str
    source_id: str
    ledger_id: str | None
    ledger_number: str | None
    ledger_total: Decimal | None


def posted_entries(
    db: Any,
    company: str,
    target: str,
    *,
    ledger_ids: Collection[str] | None = None,
    source_ids: Collection[str] | None = None,
) -> list[JournalEntry]:
    """The records of ``company`` posted to ``target``, narrowed to those whose ledger id
    (compared case-insensitively, as ledgers' GUIDs come in either case) or source id is
    listed; both None: every posted record. ``db`` is a Database or a DSN."""
    if db is None or (ledger_ids is not None and not ledger_ids):
        return []
    if source_ids is not None and not source_ids:
        return []
    sql = [
        "SELECT company, target, record_type, source_id, ledger_id, ledger_number, "
        "ledger_total FROM posting_journal WHERE company = %s AND target = %s "
        "AND state = 'posted'"
    ]
    args: list[Any] = [company, target]
    if ledger_ids is not None:
        sql.append("AND lower(ledger_id) = ANY(%s)")
        args.append([i.lower() for i in ledger_ids])
    if source_ids is not None:
        sql.append("AND source_id = ANY(%s)")
        args.append(list(source_ids))
    with connection(db) as conn:
        rows = conn.execute(" ".join(sql) + " ORDER BY record_type, source_id", args).fetchall()
        conn.commit()
    return [JournalEntry(*row) for row in rows]
