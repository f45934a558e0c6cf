"""Acknowledging posted records: accounting batches, one per record, never two."""

from __future__ import annotations

from wisesync.config import CompanyOptions
from wisesync.events.models import RecordEvent, Status
from wisesync.testing.sandbox import Fault
from wisesync_connectwise.acknowledge import batch_identifier
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.testing import company_for, posted, runtime_for

ALL = ["invoice", "credit_memo", "expense", "procurement"]


def extract(source, company, types=ALL) -> list[RecordEvent]:
    return [e for e in source.extract(company, types) if isinstance(e, RecordEvent)]


def pick(events, *types) -> list[RecordEvent]:
    return [next(e for e in events if e.record_type == t) for t in types]


def test_one_batch_per_record_marks_them_posted(server, company, source):
    events = pick(extract(source, company), "invoice", "credit_memo", "expense", "procurement")
    before = server.app.unposted_counts()
    outcomes = source.acknowledge(company, [posted(e) for e in events])
    assert [o.acknowledged for o in outcomes] == [True] * 4
    assert all(o.error is None and o.batch_id for o in outcomes)
    batches = {b["batchIdentifier"]: b for b in server.app.batches()}
    for e, o in zip(events, outcomes, strict=True):
        ident = batch_identifier("demo", e.record_type, e.source_id)
        assert batches[ident]["id"] == int(o.batch_id)
        assert sorted(batches[ident]["glEntryIds"]) == sorted(int(x) for x in e.source_batch_ids)
    after = server.app.unposted_counts()
    assert {k: before[k] - after[k] for k in before} == dict.fromkeys(before, 1)
    assert {e.identity for e in extract(source, company)}.isdisjoint({e.identity for e in events})


def test_acknowledging_again_finds_the_batches_and_creates_none(server, company, source):
    events = extract(source, company, ["expense"])[:3]
    first = source.acknowledge(company, [posted(e) for e in events])
    posts = server.app.calls("POST", "/accounting/batches$")
    second = source.acknowledge(company, [posted(e) for e in events])
    assert [o.batch_id for o in second] == [o.batch_id for o in first]
    assert all(o.acknowledged for o in second)
    assert server.app.calls("POST", "/accounting/batches$") == posts
    assert len(server.app.batches()) == 3


def test_a_lost_response_does_not_create_a_second_batch(server, company, source):
    (event,) = pick(extract(source, company, ["invoice"]), "invoice")
    server.app.faults.arm(
        Fault("lose_response", count=1, method="POST", path="/accounting/batches$")
    )
    (outcome,) = source.acknowledge(company, [posted(event)])
    assert outcome.acknowledged and outcome.batch_id
    ident = batch_identifier("demo", event.record_type, event.source_id)
    assert [b["batchIdentifier"] for b in server.app.batches()] == [ident]
    assert server.app.calls("POST", "/accounting/batches$") == 1  # looked, found, did not repost
    # And the retry of the whole acknowledge (the acknowledger crashed) still finds it.
    (again,) = ConnectWiseSource(runtime_for(server)).acknowledge(company, [posted(event)])
    assert again.batch_id == outcome.batch_id
    assert len(server.app.batches()) == 1


def test_grouped_batches(server):
    company = company_for(server, options=CompanyOptions(ack_batch_per_record=False))
    source = ConnectWiseSource(runtime_for(server))
    every = extract(source, company)
    events = list(
        {e.identity: e for e in every[:5] + pick(every, "expense", "procurement")}.values()
    )
    outcomes = source.acknowledge(company, [posted(e) for e in events])
    assert all(o.acknowledged for o in outcomes)
    assert len({o.batch_id for o in outcomes}) == 1
    (batch,) = server.app.batches()
    assert len(batch["batchIdentifier"]) <= 50 and batch["batchIdentifier"].startswith(
        "WS-demo-GRP-"
    )
    assert (
        batch["exportInvoicesFlag"] and batch["exportExpensesFlag"] and batch["exportProductsFlag"]
    )
    assert len(batch["records"]) == len(events)
    again = source.acknowledge(company, [posted(e) for e in events])
    assert [o.batch_id for o in again] == [o.batch_id for o in outcomes]
    assert len(server.app.batches()) == 1


def test_results_that_did_not_post_are_not_acknowledged(server, company, source):
    a, b = extract(source, company, ["invoice"])[:2]
    no_ids = posted(b)
    no_ids.source_batch_ids = []
    outcomes = source.acknowledge(company, [posted(a, Status.FAILED), no_ids])
    assert [o.acknowledged for o in outcomes] == [False, False]
    assert "failed" in outcomes[0].error and "GL entry ids" in outcomes[1].error
    assert server.app.batches() == []


def test_already_posted_results_are_acknowledged(server, company, source):
    (event,) = extract(source, company, ["invoice"])[:1]
    (outcome,) = source.acknowledge(company, [posted(event, Status.SKIPPED_ALREADY_POSTED)])
    assert outcome.acknowledged


def test_a_record_batched_elsewhere_is_reported_not_hidden(server, company, source):
    (event,) = extract(source, company, ["invoice"])[:1]
    manual = {
        "batchIdentifier": "M-manual",
        "exportInvoicesFlag": True,
        "processedRecordIds": [int(event.source_batch_ids[0])],
    }
    with server.app.lock:
        server.app.state.create_batch(manual)
    (outcome,) = source.acknowledge(company, [posted(event)])
    assert not outcome.acknowledged and "already in batch" in outcome.error


def test_a_batch_created_meanwhile_by_someone_else_is_found(server, company, source, monkeypatch):
    (event,) = extract(source, company, ["invoice"])[:1]
    ident = batch_identifier("demo", event.record_type, event.source_id)
    from wisesync_connectwise import acknowledge

    real_find = acknowledge.Acknowledger._find
    calls = []

    def racing_find(self, identifiers):
        calls.append(identifiers)
        if len(calls) == 1:  # the first look-up runs before the other acknowledger creates it
            found = real_find(self, identifiers)
            with server.app.lock:
                server.app.state.create_batch(
                    {
                        "batchIdentifier": ident,
                        "exportInvoicesFlag": True,
                        "processedRecordIds": [int(event.source_batch_ids[0])],
                    }
                )
            return found
        return real_find(self, identifiers)

    monkeypatch.setattr(acknowledge.Acknowledger, "_find", racing_find)
    (outcome,) = source.acknowledge(company, [posted(event)])
    assert outcome.acknowledged and len(server.app.batches()) == 1
    assert outcome.batch_id == str(server.app.batches()[0]["id"])
