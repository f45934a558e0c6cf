"""Done means: 2,000 mixed records extracted right, acknowledged, and gone on the next run."""

from __future__ import annotations

from collections import Counter

import pytest

from wisesync.events.models import RecordEvent
from wisesync.protocols import Held
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.sandbox import start_sandbox
from wisesync_connectwise.testing import company_for, posted, runtime_for

ALL = ["invoice", "credit_memo", "expense", "procurement"]


@pytest.fixture(scope="module")
def big():
    server = start_sandbox(seed=11, invoices=1400, expenses=400, procurement=200, customers=150)
    yield server
    server.stop()
    server.app.assert_published_shapes()


def test_two_thousand_records_extract_acknowledge_and_disappear(big):
    app = big.app
    company = company_for(big)
    source = ConnectWiseSource(runtime_for(big))
    expected = app.unposted_counts()
    assert sum(expected.values()) >= 1900

    calls_before = app.calls()
    first = list(source.extract(company, ALL))
    extract_calls = app.calls() - calls_before
    events = [e for e in first if isinstance(e, RecordEvent)]
    held = [e for e in first if isinstance(e, Held)]
    by_status = [h for h in held if h.code == "BILLING_STATUS_HOLD"]
    combined = [h for h in held if h.code == "SOURCE_RECORD_COMBINED"]
    # records ConnectWise exports inconsistently (the seeded mismatch and zero-line cases)
    unreadable = [h for h in held if h.code in ("SOURCE_TOTALS_MISMATCH", "SOURCE_FIELD_INVALID")]

    # one outcome per unposted row, none lost
    outcomes = Counter(str(e.record_type) for e in [*events, *combined, *unreadable])
    assert dict(outcomes) == expected
    assert len(held) == len(by_status) + len(combined) + len(unreadable)
    assert len({e.identity for e in events}) == len(events)
    assert [h.document_number for h in by_status] == [app.case("finance_hold")]
    assert sorted(h.document_number for h in unreadable) == sorted(
        app.case(c) for c in ("totals_mismatch", "zero_line")
    )
    # every event is complete and internally consistent
    for e in events:
        assert e.content_hash and e.source_batch_ids and e.lines and e.totals and e.date
        amounts = [x.line_amount for x in e.lines]
        if e.subtype in ("adjustment", "transfer"):  # journals (contract C1)
            assert sum(amounts) == 0 and sum(a for a in amounts if a > 0) == e.totals.total
        else:
            assert sum(amounts) == e.totals.subtotal or e.record_type == "invoice"
        if e.record_type != "procurement" or e.subtype == "receipt":
            assert e.contact is not None
    # a handful of calls per 1,000 records, not one per record
    assert extract_calls / len(events) * 1000 <= 12

    outcomes = source.acknowledge(company, [posted(e) for e in events])
    assert all(o.acknowledged for o in outcomes), next(
        o.error for o in outcomes if not o.acknowledged
    )
    # what stays unposted is exactly what was not published: the unreadable records (an
    # expense bill's event acknowledges every expense it covers)
    left = Counter(str(h.record_type) for h in unreadable)
    assert app.unposted_counts() == {k: left.get(k, 0) for k in expected}
    assert len(app.batches()) == len(events)

    second = list(ConnectWiseSource(runtime_for(big)).extract(company, ALL))
    assert [e for e in second if isinstance(e, RecordEvent)] == []
    assert sorted((h.document_number, h.code) for h in second if isinstance(h, Held)) == sorted(
        (h.document_number, h.code) for h in [*by_status, *unreadable]
    )
