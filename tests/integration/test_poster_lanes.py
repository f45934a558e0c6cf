"""No head-of-line blocking: a company whose ledger stalls delays no other company that shares
its partition, and posts everything exactly once when its ledger comes back.

Three companies on one Kafka partition, the stalled one's records first on it. Its Xero
sandbox holds every document write until the test lets it go (a ledger that hangs); the poster
polls a few records at a time and its lanes hold only a few, so the stalled company's records
fill its lane and spill to the backlog while the others' are posted. A poster that waited for
a poll's companies would never get past the stalled company's first poll. A record is
decoded once, whether it waits in memory or in the backlog: one that spills is stored as it
came, routed by its key and target header.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from wisesync.events.codec import Codec
from wisesync.events.models import RecordEvent
from wisesync.testing.stack import CompanySpec, Stack

STALLED, HEALTHY = "stalled", ("one", "two")


def _company(key: str, seed: int) -> CompanySpec:
    return CompanySpec.invoices_only(
        key, ledger="xero", invoices=40, customers=6, seed=seed, credit_memos=True
    )


class Gate:
    """Holds a sandbox's document writes until :meth:`open`; counts the writes held."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.released = threading.Event()
        self.held = 0
        self.lock = threading.Lock()
        original = app.dispatch

        def dispatch(request):  # type: ignore[no-untyped-def]
            if request.method in ("PUT", "POST") and request.path.startswith("/api.xro/"):
                with self.lock:
                    self.held += 1
                self.released.wait(45)  # within the client's read timeout
            return original(request)

        app.dispatch = dispatch

    def open(self) -> None:
        self.released.set()


def _documents(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [d["InvoiceNumber"] for d in app.invoices()] + [
        d["CreditNoteNumber"] for d in app.credit_notes()
    ]


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_stalled_ledger_delays_no_other_company_on_its_partition(
    pg_database: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: Counter[str] = Counter()
    decode = Codec.decode

    def counting(self: Codec, data: bytes) -> object:
        event = decode(self, data)
        if isinstance(event, RecordEvent):
            decoded[event.event_id] += 1
        return event

    monkeypatch.setattr(Codec, "decode", counting)
    specs = [_company(STALLED, 7), *(_company(key, n) for n, key in enumerate(HEALTHY))]
    with Stack(
        specs, dsn=pg_database, transport="kafka", kafka_bootstrap=kafka_bootstrap, partitions=1
    ) as stack:
        stalled = stack.sandbox("xero", STALLED).app
        gate = Gate(stalled)
        runs = {key: stack.sync(key) for key in (STALLED, *HEALTHY)}  # stalled first in line
        options = {"max_records": 10, "linger_s": 0.05, "lane_records": 10, "max_in_hand": 30}
        try:
            with stack.service(poster=options) as service:
                poster = service.role("poster")
                healthy = {key: stack.wait(runs[key], 90, acknowledged=False) for key in HEALTHY}
                # every healthy record answered while the stalled ledger has not written one
                assert gate.held >= 1 and not gate.released.is_set()
                assert _documents(stalled) == []
                assert poster.stats.spilled > 0, "the stalled lane filled and spilled"
                gate.open()
                review = stack.wait(runs[STALLED], 120, acknowledged=False)
        finally:
            gate.open()

        for key, rows in ((STALLED, review), *healthy.items()):
            statuses = Counter(r.status for r in rows.rows)
            assert statuses["posted"] == sum(runs[key].extracted.values()), (key, statuses)
            documents = _documents(stack.sandbox("xero", key).app)
            assert len(documents) == len(set(documents)) == statuses["posted"], key
        with stack.db.connection() as conn:
            busy = conn.execute(
                "SELECT (SELECT count(*) FROM parked_records),"
                " (SELECT count(*) FROM posting_journal WHERE state <> 'posted')"
            ).fetchone()
        assert busy == (0, 0), "nothing left in the backlog or claimed"
    records = sum(sum(run.extracted.values()) for run in runs.values())
    assert len(decoded) == records and set(decoded.values()) == {1}, "each decoded once"


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_poster_that_joins_later_takes_over_the_backlogs_of_its_partitions(
    pg_database: str, kafka_bootstrap: str
) -> None:
    """The first poster reads both companies' records into its backlog (it holds both
    partitions) before a second joins; after the rebalance the second posts the company
    whose partition it got, and the first lets that backlog go after the batch it held."""
    specs = [_company("north", 3), _company("south", 4)]  # partitions 0 and 1 of 2
    with Stack(
        specs, dsn=pg_database, transport="kafka", kafka_bootstrap=kafka_bootstrap, partitions=2
    ) as stack:
        gates = {spec.key: Gate(stack.sandbox("xero", spec.key).app) for spec in specs}
        runs = {spec.key: stack.sync(spec.key) for spec in specs}
        total = sum(sum(run.extracted.values()) for run in runs.values())
        lane = {"max_records": 10, "linger_s": 0.05, "lane_records": 5, "max_in_hand": 10}
        consumer = {"session_timeout_s": 6.0, "heartbeat_interval_s": 0.5}
        options = {**lane, "consumer_options": consumer}
        try:
            with stack.service(("poster", "reporter", "acknowledger"), poster=options) as first:
                poster = first.role("poster")
                _until(lambda: poster.stats.spilled >= total - 10, "the first poster spilled")
                assert {key for key, _ in poster.backlog.owned()} == {"north", "south"}
                with stack.service(("poster",), poster=options) as second:
                    joined = second.role("poster")
                    _until(lambda: joined._assigned, "the second poster has a partition")
                    # the first learns of the rebalance at its next poll (within a second)
                    _until(lambda: len(poster._assigned) == 1, "the first poster has one")
                    moved = "north" if 0 in joined._assigned else "south"
                    for gate in gates.values():
                        gate.open()
                    reviews = {key: stack.wait(runs[key], 90, acknowledged=False) for key in runs}
                    posted_by_second = joined.stats.results["posted"]
        finally:
            for gate in gates.values():
                gate.open()

        moved_records = sum(runs[moved].extracted.values())
        # the second posted all of the moved company's but what the first held in memory
        assert moved_records - 10 <= posted_by_second <= moved_records
        for key, review in reviews.items():
            statuses = Counter(r.status for r in review.rows)
            assert statuses["posted"] == sum(runs[key].extracted.values()), (key, statuses)
            documents = _documents(stack.sandbox("xero", key).app)
            assert len(documents) == len(set(documents)) == statuses["posted"], key


def _until(condition, what: str, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
