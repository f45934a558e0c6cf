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

import psycopg
import pytest

from wisesync.events.codec import Codec
from wisesync.events.models import RecordEvent, RecordType
from wisesync.pipeline.journal import Journal, PostingLockLost
from wisesync.pipeline.poster import Poster
from wisesync.ratelimit import CallLimiter, TargetLimits
from wisesync.store.db import Database
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


def _terminate_lock_sessions(db: Database) -> None:
    """End every session that holds an advisory lock in this database."""
    with db.connection() as conn:
        conn.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND database =
                      (SELECT oid FROM pg_database WHERE datname = current_database())"""
        )


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def test_a_poster_whose_lock_session_died_cannot_claim(db: Database, pg_database: str) -> None:
    """A holds the posting lock of a company; its session dies (as in a Postgres restart);
    B, another process, takes the lock and claims a record. A's next claim fails instead of
    claiming the record B is about to post (a claim is the last step before the API call)."""
    other = Database(pg_database, max_size=2)  # the other poster process
    try:
        a, b = Journal(db), Journal(other)
        event = _event("acme", "INV-1")
        with a.company_lock("acme", "xero"):  # leaving it after the session died is quiet
            _terminate_lock_sessions(db)  # as in a Postgres restart
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


def test_a_poster_whose_lock_session_died_sends_nothing_more(db: Database) -> None:
    """The fence before each ledger call: while A holds the lock, a call stamps A's claims
    with the send time; once A's lock session is gone, the next call raises PostingLockLost
    and is not made (A's limiter slot is given back)."""
    a = Journal(db)
    events = [_event("acme", "INV-1"), _event("acme", "INV-2")]
    limiter = CallLimiter(TargetLimits(concurrency=5))
    sent: list[int] = []

    def claimed_at() -> list:
        with db.connection() as conn:
            return [r[0] for r in conn.execute("SELECT claimed_at FROM posting_journal")]

    with a.company_lock("acme", "xero"):
        a.claim(events)
        first = claimed_at()
        time.sleep(0.05)
        with limiter.before_each_call(lambda: a.stamp_claims(events)):
            with limiter.call():
                sent.append(1)
            assert all(now > then for now, then in zip(claimed_at(), first, strict=True))
            _terminate_lock_sessions(db)
            lost = pytest.raises(PostingLockLost, match="posting lock of acme/xero was lost")
            with lost, limiter.call():
                sent.append(2)
    assert sent == [1]
    assert limiter._in_flight == 0


def test_a_fresh_claim_is_waited_for_before_it_is_looked_up(db: Database) -> None:
    """``in_flight_wait`` counts from the newest claim of a chunk by the database's clock;
    posted rows and other companies do not count."""
    journal = Journal(db)
    fresh, other = _event("acme", "INV-1"), _event("zeta", "INV-1")
    journal.claim([fresh])
    journal.claim([other])
    wait = journal.in_flight_wait([fresh], 30.0)
    assert 28.0 < wait <= 30.0
    with db.connection() as conn:
        conn.execute("UPDATE posting_journal SET claimed_at = now() - interval '40 s'")
    assert journal.in_flight_wait([fresh], 30.0) == 0.0
    assert journal.in_flight_wait([_event("acme", "never-claimed")], 30.0) == 0.0
