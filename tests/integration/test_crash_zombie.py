"""A poster that outlived its own failure must not post beside its successor.

Two ways a "zombie" poster can keep posting while another poster works the same company,
both found by the Postgres-restart crash test (documents in Xero twice):

* inside one process: one company's thread failed (Postgres went away), the poll gave up
  and the service started a new poster, while another company's thread, which had only been
  waiting for a connection, carried on posting when Postgres came back;
* across processes: the company's posting lock (a Postgres advisory lock) vanished with the
  session that held it when Postgres restarted; the holder did not notice and went on
  claiming and posting while another poster took the lock.

Real Postgres (and the embedded transport for the in-process case).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from wisesync.events.codec import Codec
from wisesync.events.models import RecordEvent, RecordType
from wisesync.pipeline.journal import Journal
from wisesync.pipeline.poster import Poster
from wisesync.store.db import Database
from wisesync.store.migrate import migrate
from wisesync.testing.stack import CompanySpec, Stack
from wisesync.transport.base import Message


def _event(company: str, source_id: str) -> RecordEvent:
    return RecordEvent(
        company=company,
        source="connectwise",
        target="xero",
        record_type=RecordType.INVOICE,
        source_id=source_id,
        document_number=source_id,
    ).seal()


@pytest.fixture
def db(pg_database: str) -> Iterator[Database]:
    database = Database(pg_database, max_size=4)
    with database.connection() as conn:
        migrate(conn)
    try:
        yield database
    finally:
        database.close()


def test_a_poster_whose_lock_session_died_cannot_claim(db: Database, pg_database: str) -> None:
    """A holds the posting lock of a company; its session dies (as in a Postgres restart);
    B, another process, takes the lock and claims a record. A's next claim fails instead of
    claiming the record B is about to post (a claim is the last step before the API call)."""
    other = Database(pg_database, max_size=2)  # the other poster process
    try:
        a, b = Journal(db), Journal(other)
        event = _event("acme", "INV-1")
        with pytest.raises(psycopg.OperationalError), a.company_lock("acme", "xero"):
            with db.connection() as conn:  # end the session holding A's lock
                conn.execute(
                    """SELECT pg_terminate_backend(pid) FROM pg_locks
                        WHERE locktype = 'advisory' AND granted AND database =
                              (SELECT oid FROM pg_database WHERE datname = current_database())"""
                )
            with b.company_lock("acme", "xero"):  # free now: A's session is gone
                assert b.claim([event]) == {event.identity}
                with pytest.raises(psycopg.OperationalError):
                    a.claim([event])
        with db.connection() as conn:
            (attempts,) = conn.execute("SELECT attempts FROM posting_journal").fetchone()
        assert attempts == 1, "only B claimed"
    finally:
        other.close()


def test_a_failed_poll_waits_for_every_company_before_giving_up(pg_database: str) -> None:
    """One company's posting fails at once, another's takes a while: the poll raises only
    when the slow one is done, so no company goes on posting behind the poster the service
    starts in its place."""
    specs = [CompanySpec("one", seed=1), CompanySpec("two", seed=2)]
    with Stack(specs, dsn=pg_database, transport="embedded", partitions=1) as stack:
        poster = Poster(
            config=stack.config, registry=stack.registry, db=stack.db, transport=stack.transport
        )
        finished: list[str] = []

        def post_group(company: str, target: str, items: list) -> None:
            if company == "one":
                raise psycopg.OperationalError("the server closed the connection")
            time.sleep(0.5)
            finished.append(company)

        poster._post_group = post_group  # type: ignore[method-assign]
        codec = Codec()
        messages = [
            Message("records", 0, n, company.encode(), codec.encode(_event(company, "1")), [], 0)
            for n, company in enumerate(("one", "two"))
        ]
        try:
            with pytest.raises(psycopg.OperationalError):
                poster.handle(messages)
            assert finished == ["two"], "the slow company finished before the poll gave up"
        finally:
            poster.close()
