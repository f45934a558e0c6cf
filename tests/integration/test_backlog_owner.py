"""One poster drains a company's backlog at a time, and a dead poster's backlogs are free at once.

Two posters (two :class:`~wisesync.pipeline.backlog.Backlog` objects on one real Postgres):
a backlog is owned by one of them until it lets it go; when the owner's session dies (its
process was killed, or it lost Postgres) the other adopts it at once, with no lease to wait
out. Without ownership every poster would drain every company's backlog, the second posting
the same rows after the first under the company's lock and finding them journaled.
"""

from __future__ import annotations

import psycopg
import pytest

from wisesync.pipeline.backlog import Backlog
from wisesync.store.db import Database

ACME, BETA = ("acme", "xero"), ("beta", "xero")


@pytest.mark.postgres
def test_a_backlog_has_one_owner_and_a_dead_owners_are_adopted_at_once(
    migrated_database: Database, pg_database: str
) -> None:
    first, second = Backlog(migrated_database), Backlog(migrated_database)
    try:
        assert first.put({ACME: [b"one", b"two"], BETA: [b"three"]}) == 3
        assert [event for _, event in first.take(*ACME, 10)] == [b"one", b"two"]
        assert first.own(*ACME) and first.own(*ACME), "its own, asked twice"
        assert not second.own(*ACME), "another live poster drains it"

        with psycopg.connect(pg_database, autocommit=True) as admin:  # the first poster dies
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed == (1,)
        assert second.own(*ACME), "a dead poster's backlog is adopted at once"
        assert second.own(*BETA)
        first.check()  # what a poster does before adopting
        assert first.owned() == set(), "its lost session owns nothing"
        assert not first.own(*ACME)

        second.disown(*ACME)  # its lane emptied it
        assert second.owned() == {BETA}
        assert first.own(*ACME)
        second.close()
        assert first.own(*BETA), "closing a poster frees its backlogs"
    finally:
        first.close()
        second.close()
