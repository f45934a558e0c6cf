"""A document batch's ``requestid``: the same record events sent again get QBO's first answer
(no document twice); a new attempt of the same documents is a new request, because QBO
answers a repeated requestid with its first answer, a refusal too."""

from __future__ import annotations

import dataclasses

from qbo_testkit import VOCABULARY, company, connect, limiter, target

from wisesync.events.models import Status
from wisesync.store.tokens import MemoryTokenStore
from wisesync.testing.records import RecordBuilder
from wisesync_qbo.sandbox import Limits, start_sandbox


def test_a_replay_after_a_refusal_is_not_answered_with_the_old_refusal() -> None:
    srv = start_sandbox(seed=9, customers=2, limits=Limits(10**6, 10**6, 10**6))
    try:
        comp = company(srv)
        store = MemoryTokenStore()
        connect(srv, store)
        qbo = target(srv, (comp,), store)
        records = RecordBuilder(VOCABULARY, prefix="RQ-")
        ctx = qbo.prepare(comp, limiter())
        qbo.post([records.record(records.line())], ctx)  # its customer now exists
        record = records.record(records.line())
        srv.app.fail_next("6000", "Invoice")  # QBO refuses it once (a business rule)
        (refused,) = qbo.post([record], ctx)
        assert refused.status is Status.FAILED
        # the same event again (a redelivery): QBO's record answers, nothing is written
        (again,) = qbo.post([record], ctx)
        assert again.status is Status.FAILED and srv.app.requestid_replays == 1
        # a replay (a new event of the record, attempt 2) is a new request: it posts
        replay = dataclasses.replace(record, event_id="replay-2", attempt=2).seal()
        (posted,) = qbo.post([replay], ctx)
        assert posted.status is Status.POSTED, posted.messages
        assert srv.app.requestid_replays == 1
        invoices = [
            d for d in srv.app.documents("Invoice") if d["DocNumber"] == record.document_number
        ]
        assert len(invoices) == 1
    finally:
        srv.stop()
