"""The read-only journal API plugins use (``PluginRuntime.posted``): what wisesync posted,
for which source records, never what is only claimed or failed."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from wisesync.config import AppConfig
from wisesync.protocols import PluginRuntime
from wisesync.store.migrate import migrate
from wisesync.store.posted import JournalEntry

ROWS = [
    # company, target, record_type, source_id, state, ledger_id, ledger_number, total
    ("acme", "books", "invoice", "1", "posted", "AB-CD", "INV-1", "110.00"),
    ("acme", "books", "credit_memo", "2", "posted", "ef-01", "CN-2", "5.00"),
    ("acme", "books", "invoice", "3", "failed", "ff-ff", None, None),
    ("acme", "books", "invoice", "4", "claimed", None, None, None),
    ("acme", "other", "invoice", "5", "posted", "ab-cd", "X-5", "1.00"),
    ("globex", "books", "invoice", "1", "posted", "99-99", "G-1", "2.00"),
]


@pytest.mark.postgres
def test_posted_lists_what_was_posted_narrowed_by_ledger_or_source_ids(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        migrate(conn)
        for c, t, rt, sid, state, lid, num, total in ROWS:
            conn.execute(
                "INSERT INTO posting_journal (company, target, record_type, source_id, state, "
                "content_hash, record_event_id, ledger_id, ledger_number, ledger_total) "
                "VALUES (%s, %s, %s, %s, %s, 'h', 'e', %s, %s, %s)",
                (c, t, rt, sid, state, lid, num, total),
            )
    runtime = PluginRuntime(config=AppConfig(), db=pg_database)
    every = runtime.posted("acme", "books")
    assert every == [
        JournalEntry("acme", "books", "credit_memo", "2", "ef-01", "CN-2", Decimal("5.00")),
        JournalEntry("acme", "books", "invoice", "1", "AB-CD", "INV-1", Decimal("110.00")),
    ]
    # ledger ids in any case; failed and claimed records are not "posted"
    by_ledger = runtime.posted("acme", "books", ledger_ids=["ab-cd", "FF-FF", "EF-01"])
    assert [e.source_id for e in by_ledger] == ["2", "1"]
    assert [e.ledger_number for e in runtime.posted("acme", "books", source_ids=["1", "4"])] == [
        "INV-1"
    ]
    assert runtime.posted("acme", "books", ledger_ids=[]) == []
    assert PluginRuntime(config=AppConfig()).posted("acme", "books") == []  # no store
