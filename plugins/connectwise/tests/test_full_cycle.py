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

    assert dict(Counter(str(e.record_type) for e in events)) == expected
    assert len({e.identity for e in events}) == len(events)
    assert [h.document_number for h in held] == [app.case("finance_hold")]
    # every event is complete and internally consistent
    for e in events:
        assert e.content_hash and e.source_batch_ids and e.lines and e.totals and e.date
        assert (
            sum(x.line_amount for x in e.lines) == e.totals.subtotal or e.record_type == "invoice"
        )
        if e.record_type != "procurement" or e.subtype == "receipt":
            assert e.contact is not None
    # a handful of calls per 1,000 records, not one per record
    assert extract_calls / len(events) * 1000 <= 12

    outcomes = source.acknowledge(company, [posted(e) for e in events])
    assert all(o.acknowledged for o in outcomes), next(
        o.error for o in outcomes if not o.acknowledged
    )
    assert app.unposted_counts() == dict.fromkeys(expected, 0)
    assert len(app.batches()) == len(events)

    second = list(ConnectWiseSource(runtime_for(big)).extract(company, ALL))
    assert [e for e in second if isinstance(e, RecordEvent)] == []
    assert [h.document_number for h in second if isinstance(h, Held)] == [app.case("finance_hold")]
