"""What a daemon restart costs (issue #10 items 2 and 3), piece by piece, on real Postgres and
the sandboxes:

* the schedule survives a restart: a company synced less than its interval ago is not synced
  again when the daemon starts;
* a record event redelivered in the same run, whose record already failed with the same
  content, gets the stored failure again, with no ledger call;
* on the embedded transport a static member (``instance_id``) started again after its
  predecessor was killed takes the partitions at once, and the predecessor, if it was not
  dead after all, is fenced instead of taking them back.

The whole-daemon crash loop is ``test_crash_daemon_loop.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from wisesync.events.models import utcnow
from wisesync.pipeline.extractor import Extractor, Scheduler
from wisesync.review import ReviewFilter, load_review
from wisesync.store.state import plugin_state
from wisesync.testing.stack import CompanySpec, Stack
from wisesync.transport.errors import FencedInstanceError

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import wait_until

COMPANY = "acme"


@pytest.fixture
def stack(pg_database: str) -> Iterator[Stack]:
    """One company with every seeded case, embedded transport, a fresh database."""
    with Stack([CompanySpec(COMPANY)], dsn=pg_database, transport="embedded") as stack:
        yield stack


def _extractor(stack: Stack) -> Extractor:
    return Extractor(
        config=stack.config, registry=stack.registry, db=stack.db, transport=stack.transport
    )


def _answered(stack: Stack, run_id: str) -> int:
    """Record events of ``run_id`` with a result."""
    with stack.db.connection() as conn:
        (n,) = conn.execute(
            "SELECT count(DISTINCT record_event_id) FROM attempts WHERE run_id = %s", (run_id,)
        ).fetchone()
    return int(n)


def test_a_restarted_scheduler_does_not_sync_a_company_within_its_interval(stack: Stack) -> None:
    extractor = _extractor(stack)
    company = stack.config.company(COMPANY)
    try:
        assert [r.company for r in Scheduler(extractor, stack.config).tick()] == [COMPANY]
        restarted = Scheduler(extractor, stack.config)  # a new daemon, same database
        assert restarted.tick() == []
        assert restarted.due_in(company) > company.interval_seconds - 60
        # once the interval has passed since the stored sync, the company is due again
        state = plugin_state(stack.db, Scheduler.STATE)
        long_ago = utcnow() - timedelta(seconds=company.interval_seconds + 1)
        state.set(COMPANY, Scheduler.KEY, long_ago.isoformat())
        assert [r.company for r in Scheduler(extractor, stack.config).tick()] == [COMPANY]
    finally:
        extractor.close()


def test_a_failed_record_redelivered_in_the_same_run_is_answered_from_the_journal(
    stack: Stack,
) -> None:
    xero = stack.sandbox("xero", COMPANY).app
    extractor = _extractor(stack)
    try:
        with stack.service(roles=("poster", "reporter")) as service:
            first = stack.wait(stack.sync(COMPANY), acknowledged=False)
            failed = {r.source_id: r for r in first.rows if r.status == "failed"}
            assert failed
            writes = xero.calls("PUT") + xero.calls("POST")
            # the same run's records published again (new events; a crash mid-publish, a
            # producer retry): the failed ones are answered from the journal
            again = extractor.sync(stack.config.company(COMPANY), run_id=first.run.run_id)
            assert sum(again.extracted.values()) >= len(failed)
            events = len(first.rows) + sum(again.extracted.values()) + sum(again.held.values())
            wait_until(lambda: _answered(stack, again.run_id) >= events, 60, "the copies answered")
            reemitted = service.role("poster").stats.reemitted
    finally:
        extractor.close()
    assert xero.calls("PUT") + xero.calls("POST") == writes, "no ledger call"
    assert reemitted >= len(failed)
    rows = load_review(stack.db, ReviewFilter(run_id=first.run.run_id)).rows
    for source_id, before in failed.items():
        (now,) = [r for r in rows if r.source_id == source_id]
        assert now.status == "failed"
        assert now.record_event_id != before.record_event_id  # the new event got an answer
        assert [m.code for m in now.messages] == [m.code for m in before.messages]


def test_an_embedded_static_member_takes_its_dead_predecessors_partitions_at_once(
    stack: Stack,
) -> None:
    topic = stack.config.topics.records
    options = {"session_timeout_s": 60.0, "instance_id": "host-a-poster"}
    first = stack.transport.consumer("static-group", [topic], **options)
    first.poll(0.5)
    assert first.assignment()
    # "killed": it never leaves; its lease runs for another minute
    second = stack.transport.consumer("static-group", [topic], **options)
    second.poll(0.5)
    assert second.assignment() == first.assignment()
    deadline = time.monotonic() + 30
    with pytest.raises(FencedInstanceError, match="--instance-id"):
        while time.monotonic() < deadline:  # its heartbeat finds it was replaced
            first.poll(0.5)
    assert second.assignment()  # and it did not take them back
    second.close()
