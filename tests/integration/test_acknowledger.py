"""The acknowledger on real Postgres: pending acknowledgements are handed to the source in
chunks, retried with exponential backoff (capped) until done, and stay visible in the review
as ACKNOWLEDGE_PENDING while they fail."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import pytest

from wisesync.config import parse_config
from wisesync.events.codec import Codec
from wisesync.events.models import PostingResult, RecordType, Status, Trigger, new_id, utcnow
from wisesync.hookspecs import hookimpl
from wisesync.pipeline.acknowledger import Acknowledger, backoff_delay
from wisesync.pipeline.reporter import Reporter
from wisesync.plugins import build_registry
from wisesync.protocols import AckOutcome, Source
from wisesync.review import ReviewFilter, load_review, unacknowledged
from wisesync.store.db import Database
from wisesync.transport.base import Message as BusMessage

CODEC = Codec()
CONFIG = parse_config(
    {"companies": [{"key": "acme", "ledger": "xero"}, {"key": "globex", "ledger": "xero"}]},
    environ={},
)


class FakeSource(Source):
    """A ConnectWise stand-in: records every call; fails while ``failures`` is positive."""

    name = "fakecw"
    record_types = frozenset(RecordType)
    calls: ClassVar[list[list[str]]] = []
    failures: ClassVar[int] = 0
    refuse: ClassVar[set[str]] = set()
    omit: ClassVar[set[str]] = set()
    delay_s: ClassVar[float] = 0.0
    lock = threading.Lock()

    def extract(self, company, record_types, since=None, source_ids=None):  # pragma: no cover
        return iter(())

    def acknowledge(self, company, results: list[PostingResult]) -> list[AckOutcome]:
        with self.lock:
            FakeSource.calls.append([r.source_id for r in results])
            if FakeSource.failures > 0:
                FakeSource.failures -= 1
                raise RuntimeError("ConnectWise answered 503 Service Unavailable")
        time.sleep(self.delay_s)
        out = []
        for r in results:
            if r.source_id in self.omit:
                continue
            if r.source_id in self.refuse:
                out.append(AckOutcome(r.result_id, r.source_id, False, error="batch is locked"))
            else:
                out.append(AckOutcome(r.result_id, r.source_id, True, batch_id=f"B-{r.source_id}"))
        return out


class _Plugin:
    @hookimpl
    def register_sources(self, register) -> None:
        register(FakeSource)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "")
    FakeSource.calls = []
    FakeSource.failures = 0
    FakeSource.refuse = set()
    FakeSource.omit = set()
    FakeSource.delay_s = 0.0
    return build_registry(extra_plugins=(_Plugin(),))


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def posted(source_id: str, *, company: str = "acme", status: Status = Status.POSTED, **kw: Any):
    return PostingResult(
        record_event_id=new_id(),
        run_id=kw.pop("run_id", "run-1"),
        company=company,
        record_type=RecordType.INVOICE,
        source="fakecw",
        source_id=source_id,
        target="xero",
        status=status,
        trigger=Trigger.SYNC_ALL,
        document_number=f"INV-{source_id}",
        ledger_id=f"x-{source_id}",
        source_batch_ids=[f"gl-{source_id}"],
        **kw,
    )


def report(db: Database, registry, results: list[PostingResult]) -> None:
    """Store results the way the reporter does (queues the acknowledgements)."""
    reporter = Reporter(db, None, CODEC, registry=registry)
    with db.connection() as conn:
        (start,) = conn.execute(
            "SELECT coalesce(max(next_offset), 0) FROM reporter_offsets"
        ).fetchone()
    reporter.store(
        [
            BusMessage(
                "wisesync.results.v1", 0, start + i, b"acme", CODEC.encode(r), CODEC.headers(r), 0
            )
            for i, r in enumerate(results)
        ]
    )


def acks(db: Database) -> dict[str, tuple]:
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, state, batch_id, tries, last_error, "
            "extract(epoch FROM next_attempt_at - now()) FROM acknowledgements"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def make_due(db: Database) -> None:
    """Time passes: every pending row is due now."""
    with db.connection() as conn:
        conn.execute("UPDATE acknowledgements SET next_attempt_at = now() WHERE state='pending'")


def acknowledger(db: Database, registry, **kw: Any) -> Acknowledger:
    return Acknowledger(db, registry, CONFIG, CODEC, **kw)


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff_delay(t, 10, 3600) for t in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff_delay(20, 10, 3600) == 3600


@pytest.mark.postgres
def test_pending_acknowledgements_go_to_the_source_in_chunks_and_are_marked_done(
    db: Database, registry
) -> None:
    report(db, registry, [posted(str(i)) for i in range(5)])
    stats = acknowledger(db, registry, chunk_size=2).run_once()

    assert (stats.claimed, stats.done, stats.failed, stats.calls) == (5, 5, 0, 3)
    assert sorted(len(c) for c in FakeSource.calls) == [1, 2, 2]
    state = acks(db)
    assert {k: v[:3] for k, v in state.items()} == {str(i): ("done", f"B-{i}", 1) for i in range(5)}
    assert acknowledger(db, registry).run_once().claimed == 0  # nothing left, nothing resent
    review = load_review(db, ReviewFilter(run_id="run-1"))
    assert all(r.acknowledged is True for r in review.rows)
    assert not review.warnings()


@pytest.mark.postgres
def test_a_failing_source_is_retried_with_exponential_backoff_until_done(
    db: Database, registry
) -> None:
    report(db, registry, [posted("1")])
    FakeSource.failures = 3
    ack = acknowledger(db, registry, base_delay_s=1000, max_delay_s=3600)

    delays = []
    for expected_tries in (1, 2, 3):
        stats = ack.run_once()
        assert (stats.claimed, stats.failed) == (1, 1)
        state, batch, tries, error, wait = acks(db)["1"]
        assert (state, batch, tries) == ("pending", None, expected_tries)
        assert "503" in error
        delays.append(wait)
        assert ack.run_once().claimed == 0  # not due yet: nothing is called
        make_due(db)
    assert [round(d, -1) for d in delays] == [1000, 2000, 3600]  # 4000 capped at 1 h

    assert ack.run_once().done == 1
    state, batch, tries, error, _ = acks(db)["1"]
    assert (state, batch, tries, error) == ("done", "B-1", 4, None)
    assert len(FakeSource.calls) == 4


@pytest.mark.postgres
def test_posted_but_not_acknowledged_is_visible_in_the_review_with_the_last_error(
    db: Database, registry
) -> None:
    report(db, registry, [posted("1"), posted("2")])
    FakeSource.refuse = {"2"}
    acknowledger(db, registry).run_once()

    review = load_review(db, ReviewFilter(run_id="run-1"))
    pending = review.unacknowledged()
    assert [r.source_id for r in pending] == ["2"]
    [(row, warning)] = review.warnings()
    assert (row.source_id, warning.code, warning.severity) == (
        "2",
        "ACKNOWLEDGE_PENDING",
        "warning",
    )
    assert "batch is locked" in warning.text and "after 1 try" in warning.text
    assert warning.hint.startswith("wisesync keeps retrying")
    assert review.exit_code() == 0  # it is in the ledger: a warning, not a failure
    assert [r.source_id for r in unacknowledged(db, company="acme")] == ["2"]
    js = review.to_json()
    assert js["summary"]["unacknowledged"] == 1
    assert js["records"][1]["acknowledgement"]["last_error"] == "batch is locked"


@pytest.mark.postgres
def test_refused_and_missing_outcomes_are_retried_while_the_rest_is_done(
    db: Database, registry
) -> None:
    report(db, registry, [posted("1"), posted("2"), posted("3")])
    FakeSource.refuse, FakeSource.omit = {"2"}, {"3"}
    acknowledger(db, registry).run_once()
    state = acks(db)
    assert state["1"][:2] == ("done", "B-1")
    assert state["2"][0] == "pending" and state["2"][3] == "batch is locked"
    assert state["3"][0] == "pending" and "no outcome" in state["3"][3]


@pytest.mark.postgres
def test_several_pending_results_of_one_record_are_settled_by_one_call(
    db: Database, registry
) -> None:
    first = posted("1", finished_at=utcnow())
    time.sleep(0.01)
    again = posted("1", status=Status.SKIPPED_ALREADY_POSTED, run_id="run-2")
    report(db, registry, [first, again])
    acknowledger(db, registry).run_once()
    assert FakeSource.calls == [["1"]]
    with db.connection() as conn:
        rows = conn.execute("SELECT state, batch_id FROM acknowledgements").fetchall()
    assert rows == [("done", "B-1"), ("done", "B-1")]


@pytest.mark.postgres
def test_a_company_missing_from_the_config_backs_off_instead_of_crashing(
    db: Database, registry
) -> None:
    report(db, registry, [posted("1", company="gone")])
    stats = acknowledger(db, registry, base_delay_s=60).run_once()
    assert stats.failed == 1 and FakeSource.calls == []
    state, _, tries, error, wait = acks(db)["1"]
    assert (state, tries) == ("pending", 1) and "gone" in error and 50 < wait <= 60


@pytest.mark.postgres
def test_two_acknowledgers_never_acknowledge_the_same_row_twice(db: Database, registry) -> None:
    report(db, registry, [posted(str(i), company="acme" if i % 2 else "globex") for i in range(40)])
    FakeSource.delay_s = 0.2
    workers = [acknowledger(db, registry, chunk_size=5, claim_limit=10) for _ in range(2)]

    def drain(a: Acknowledger) -> None:
        while a.run_once().claimed:
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent = [sid for call in FakeSource.calls for sid in call]
    assert sorted(sent, key=int) == [str(i) for i in range(40)]
    assert all(w.totals.claimed for w in workers)  # both took a share
    assert {v[0] for v in acks(db).values()} == {"done"}


@pytest.mark.postgres
def test_a_pass_holds_a_short_lease_renewed_while_it_works_and_a_stop_hands_back_the_rest(
    db: Database, registry
) -> None:
    """A pass leases its rows for ``lease_s`` only, and renews the lease while a call runs:
    a call slower than the lease keeps its rows from a second acknowledger, a killed pass's
    rows are due again within ``lease_s`` (no renewal), and a clean stop ends the pass after
    the chunk in hand and makes the rest due at once."""
    report(db, registry, [posted(str(i)) for i in range(12)])
    FakeSource.delay_s = 1.2  # four times the lease
    ack = acknowledger(db, registry, chunk_size=3, claim_limit=6, lease_s=0.3)
    rival: list[int] = []
    worker = threading.Thread(target=lambda: rival.append(ack.run_once().done))
    worker.start()
    time.sleep(0.8)  # the first call runs; its lease ran out twice over unless renewed
    other = acknowledger(db, registry, chunk_size=3, claim_limit=12, lease_s=0.3)
    assert other.run_once().claimed == 6  # only the six rows the pass did not lease
    worker.join()
    assert rival == [6]
    sources = [sid for call in FakeSource.calls for sid in call]
    assert sorted(sources, key=int) == [str(i) for i in range(12)]  # each row once

    report(db, registry, [posted(f"k{i}") for i in range(3)])
    with db.connection() as conn:  # a pass killed with these leased: no one renews them
        conn.execute(
            "UPDATE acknowledgements SET next_attempt_at = now() + interval '0.3 seconds' "
            "WHERE state = 'pending'"
        )
    FakeSource.delay_s = 0.0
    assert ack.run_once().claimed == 0
    time.sleep(0.4)
    assert ack.run_once().done == 3

    report(db, registry, [posted(f"s{i}") for i in range(6)])
    stop = threading.Event()
    FakeSource.calls = []
    real = FakeSource.acknowledge

    def stop_after_first(self, company, results):  # type: ignore[no-untyped-def]
        stop.set()  # SIGTERM arrives while the first chunk is being acknowledged
        return real(self, company, results)

    FakeSource.acknowledge = stop_after_first  # type: ignore[method-assign]
    try:
        stats = acknowledger(db, registry, chunk_size=3, claim_limit=6, lease_s=60).run_once(stop)
    finally:
        FakeSource.acknowledge = real  # type: ignore[method-assign]
    assert stats.claimed == 6 and stats.done == 3 and len(FakeSource.calls) == 1
    left = {sid: v for sid, v in acks(db).items() if v[0] == "pending"}
    assert len(left) == 3
    assert all(tries == 0 and wait <= 0.5 for _, _, tries, _, wait in left.values()), left
    assert acknowledger(db, registry).run_once().done == 3  # the next one takes them at once


def test_outcomes_are_recorded_as_the_source_yields_them_so_a_kill_keeps_them(
    db: Database, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source settling one record at a time (ConnectWise: one batch POST each) has its
    outcomes written while the call still runs, so a process killed mid-call keeps them;
    when the source raises half way, what it yielded before stays done and only the rest
    is retried, with the error."""
    report(db, registry, [posted(str(i)) for i in range(6)])
    seen_mid_call: dict[str, tuple] = {}

    def one_by_one(self, company, results):  # type: ignore[no-untyped-def]
        for n, r in enumerate(results):
            if n == 3:
                seen_mid_call.update(acks(db))  # what a SIGKILL here would leave
                raise RuntimeError("ConnectWise answered 503 Service Unavailable")
            time.sleep(0.15)
            yield AckOutcome(r.result_id, r.source_id, True, batch_id=f"B-{r.source_id}")

    monkeypatch.setattr(FakeSource, "acknowledge_each", one_by_one)
    stats = acknowledger(db, registry, chunk_size=6).run_once()

    kept = {sid for sid, v in seen_mid_call.items() if v[0] == "done"}
    assert len(kept) >= 2, seen_mid_call  # written during the call, not only at its end
    after = acks(db)
    assert {sid for sid, v in after.items() if v[0] == "done"} == {"0", "1", "2"}
    assert after["0"][1] == "B-0"
    failed = {sid: v for sid, v in after.items() if v[0] == "pending"}
    assert sorted(failed) == ["3", "4", "5"]
    assert all("503" in v[3] and v[2] == 1 for v in failed.values()), failed
    assert stats.done == 3 and stats.failed == 3
