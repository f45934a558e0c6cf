"""What a post costs in QBO calls, counted by the sandbox (not timed): the bound of #12 is
calls per 1,000 invoices, reference data and new customers included, so a post must pack
its customer creates and its documents into full ``/batch`` calls of 30 operations."""

from __future__ import annotations

import math

import pytest
from qbo_testkit import VOCABULARY, company, limiter, target

from wisesync.events.models import Status
from wisesync.testing.records import RecordBuilder
from wisesync_qbo.limits import BATCH_OPERATIONS, LIMITS
from wisesync_qbo.sandbox import Limits, start_sandbox

API = r"^/v3/company/"


@pytest.fixture()
def server():
    s = start_sandbox(seed=5, limits=Limits(10**6, 10**6, 10**6))  # no customers yet
    yield s
    s.stop()


def test_new_customers_ride_in_the_document_batches(server) -> None:
    """One post of ``limits.batch_size`` invoices to 60 customers QBO does not have: the
    reference read, then (60 creates + 300 invoices) / 30 calls, each full, and nothing
    else; the next post to the same customers costs its invoices' calls only."""
    size = LIMITS.batch_size
    records = RecordBuilder(VOCABULARY, prefix="CC-", rotate_contacts=60)
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    outcomes = t.post(records.valid(size), ctx)
    assert [o.status for o in outcomes] == [Status.POSTED] * size
    assert len(server.app.documents("Customer")) == 60
    floor = 1 + math.ceil((size + 60) / BATCH_OPERATIONS)
    assert server.app.calls(path=API) == floor
    before = server.app.calls(path=API)
    assert all(o.status is Status.POSTED for o in t.post(records.valid(size), ctx))
    assert server.app.calls(path=API) - before == math.ceil(size / BATCH_OPERATIONS)
    assert len(server.app.documents("Invoice")) == 2 * size


def test_a_refused_customer_fails_only_its_own_documents(server) -> None:
    """A new customer QBO refuses (6240: a vendor has the name) fails the documents that
    needed it; the others of the post go on, in the same calls."""
    records = RecordBuilder(VOCABULARY, prefix="CR-", rotate_contacts=3)
    clash = records.customer(9, name="Dicker Data Limited")
    batch = [*records.valid(4), records.record(records.line(), contact=clash)]
    acme = company(server)
    t = target(server, (acme,))
    outcomes = t.post(batch, t.prepare(acme, limiter()))
    assert [o.status for o in outcomes] == [Status.POSTED] * 4 + [Status.FAILED]
    assert {m.code for m in outcomes[-1].messages} == {"CONTACT_INVALID"}
    # the read, the 4 creates, the look-up of the refused name (a vendor's, not a
    # customer's), then the 4 invoices of the customers made
    assert server.app.calls(path=API) == 4


def test_a_customer_qbo_has_but_the_book_missed_is_used_not_refused(server) -> None:
    """A create refused 6240 because the customer exists after all (an earlier attempt
    whose answer was lost made it, or someone added it since the book was read): looked
    up by name, used; nothing is created twice and the record posts."""
    records = RecordBuilder(VOCABULARY, prefix="CM-")
    contact = records.customer(4, name="Lost Answer Pty Ltd")
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    server.app.add("Customer", {"DisplayName": "Lost Answer Pty Ltd", "Active": True})
    outcome = t.post([records.record(records.line(), contact=contact)], ctx)[0]
    assert outcome.status is Status.POSTED, outcome.messages
    customers = server.app.documents("Customer")
    assert [c["DisplayName"] for c in customers] == ["Lost Answer Pty Ltd"]
    invoice = server.app.documents("Invoice")[0]
    assert invoice["CustomerRef"]["value"] == customers[0]["Id"]


def test_a_big_book_is_not_read_whole_names_are_looked_up() -> None:
    """More than a page (1,000) of customers: prepare reads the first page only; a post
    looks the names it lacks up (DisplayName IN, quotes escaped) in one batch call and
    creates only the customers QBO really does not have (no 6240 on an existing one, even
    with an apostrophe in its name)."""
    names = [f"C{n:05d}" for n in range(1, 1004)] + ["O'Brien & Sons"]
    s = start_sandbox(seed=6, customers=names, limits=Limits(10**6, 10**6, 10**6))
    try:
        records = RecordBuilder(VOCABULARY, prefix="BB-")
        late = [records.customer(1, name=n) for n in ("C01003", "O'Brien & Sons", "Brand New")]
        batch = [records.record(records.line(), contact=c) for c in late]
        acme = company(s)
        t = target(s, (acme,))
        ctx = t.prepare(acme, limiter())
        assert s.app.calls(path=API) == 1  # reference data + the first pages, no paging
        outcomes = t.post(batch, ctx)
        assert [o.status for o in outcomes] == [Status.POSTED] * 3, outcomes
        assert len(s.app.documents("Customer")) == len(names) + 1  # only "Brand New"
        # the lookup; the create of Brand New with the updates of the two found (their
        # e-mail and address) and the invoice of none; then the three invoices
        assert s.app.calls(path=API) == 1 + 1 + 1 + 1
    finally:
        s.stop()
