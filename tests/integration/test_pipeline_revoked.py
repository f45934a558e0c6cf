"""A company whose Xero connection is revoked fails with AUTH_TOKEN_INVALID and says how to
reconnect, while another company in the same deployment keeps posting; after a reconnect a
replay posts the failed records once (real Kafka, real Postgres, both sandboxes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from wisesync import replay
from wisesync.errors import AuthError, WisesyncError
from wisesync.events.models import Trigger, new_id
from wisesync.pipeline.extractor import Extractor
from wisesync.protocols import PluginRuntime
from wisesync.review import Review, ReviewFilter, load_review, wait_for_run
from wisesync.store.tokens import PostgresTokenStore
from wisesync.testing.stack import CompanySpec, Stack
from wisesync_xero.journals import narration_number

A, B = "acme", "globex"
#: small, clean books: ordinary invoices, expenses and purchase receipts, no seeded cases
SMALL = {"invoices": 12, "expenses": 4, "procurement": 3, "customers": 5, "cases": False}


@pytest.fixture
def stack(pg_database: str, kafka_bootstrap: str) -> Iterator[Stack]:
    specs = [
        CompanySpec(key, seed=seed, sandbox_options={"connectwise": SMALL})
        for key, seed in ((A, 11), (B, 12))
    ]
    with Stack(specs, dsn=pg_database, transport="kafka", kafka_bootstrap=kafka_bootstrap) as s:
        yield s


def connect(stack: Stack, company: str) -> None:
    """``wisesync xero connect --company <company>``: fetch and store the connection's token."""
    from wisesync_xero.connect_cli import connect_company

    runtime = PluginRuntime(config=stack.config, db=stack.db)
    connect_company(
        runtime, stack.config.company(company), PostgresTokenStore(stack.db), echo=lambda _: None
    )


def start_sync_all(stack: Stack, company: str) -> tuple[str, WisesyncError | None]:
    """Publish a Sync All of ``company``: its run id, and the error extraction stopped with."""
    extractor = Extractor(
        config=stack.config, registry=stack.registry, db=stack.db, transport=stack.transport
    )
    run_id, error = new_id(), None
    try:
        extractor.sync(
            stack.config.company(company),
            trigger=Trigger.SYNC_ALL,
            requested_by="test",
            run_id=run_id,
        )
    except WisesyncError as exc:
        error = exc
    finally:
        extractor.close()
    return run_id, error


def review_of(stack: Stack, run_id: str) -> Review:
    """The review of ``run_id`` once every record has its result and acknowledgement try."""
    assert wait_for_run(stack.db, run_id, 60, acknowledged=True).complete
    return load_review(stack.db, ReviewFilter(run_id=run_id))


def auth_codes(review: Review) -> list[str]:
    """Labels of the records whose result carries AUTH_TOKEN_INVALID."""
    return [r.label for r in review.rows if any(m.code == "AUTH_TOKEN_INVALID" for m in r.messages)]


def unposted_total(stack: Stack, company: str) -> int:
    return sum(stack.sandbox("connectwise", company).app.unposted_counts().values())


def test_revoked_company_fails_with_auth_token_invalid_while_the_other_keeps_posting(
    stack: Stack,
) -> None:
    xero_a, xero_b = stack.sandbox("xero", A).app, stack.sandbox("xero", B).app
    waiting_b = unposted_total(stack, B)
    connect(stack, B)  # B was connected and working; then its Xero user disconnects the app
    xero_b.revoke()

    with stack.service():
        run_b, error_b = start_sync_all(stack, B)
        run_a, error_a = start_sync_all(stack, A)
        review_b, review_a = review_of(stack, run_b), review_of(stack, run_a)

        # B: every record failed with the auth code and a message saying how to reconnect;
        # nothing reached its Xero organisation and nothing was batched in ConnectWise.
        # Its payments (read from Xero) could not be extracted: the run says so, and why.
        assert error_a is None
        assert isinstance(error_b, AuthError)
        assert f"wisesync xero connect --company {B}" in review_b.run.error
        assert not review_b.all_posted
        assert len(review_b.rows) == sum(review_b.run.extracted.values()) == waiting_b > 0
        for row in review_b.rows:
            assert row.status == "failed", row.label
            (error,) = row.errors()
            assert error.code == "AUTH_TOKEN_INVALID"
            assert f"wisesync xero connect --company {B}" in error.text
            assert f"wisesync replay --failed --company {B}" in error.text
            assert error.hint
        assert xero_b.documents_count() == 0
        assert unposted_total(stack, B) == waiting_b
        assert not stack.sandbox("connectwise", B).app.batches()

        # A: posted in the same service at the same time, untouched by B's failure (only a
        # record Xero cannot take, such as an inventory adjustment, fails, for its own reason).
        assert review_a.run.error is None
        assert len(review_a.rows) == sum(review_a.run.extracted.values())
        posted_a = [r for r in review_a.rows if r.status == "posted"]
        assert len(posted_a) >= len(review_a.rows) - 2 > 0
        assert all(r.status == "posted" for r in review_a.rows if r.record_type == "invoice")
        assert not auth_codes(review_a)
        assert xero_a.documents_count() == len(posted_a)
        assert unposted_total(stack, A) == len(review_a.rows) - len(posted_a)

        # A Sync All of B while still revoked fails again, without disturbing A.
        again = review_of(stack, start_sync_all(stack, B)[0])
        assert Counter(r.status for r in again.rows) == {"failed": waiting_b}
        assert xero_b.documents_count() == 0

        # Do what the message says: reconnect (in Xero, then `wisesync xero connect`) and
        # replay what failed: B's records post once and are batched.
        xero_b.reconnect()
        connect(stack, B)
        selection = replay.select(stack.db, company=B)
        assert len(selection) == waiting_b
        assert {w.reason for w in selection.records} == {"AUTH_TOKEN_INVALID"}
        (outcome,) = stack.replay(selection)
        assert outcome.company == B and not outcome.gone
        replayed = stack.wait(outcome.run)

    assert len(replayed.rows) == waiting_b and not auth_codes(replayed)
    assert all(r.trigger == "replay" and r.attempt >= 2 for r in replayed.rows)
    posted_b = [r for r in replayed.rows if r.status == "posted"]
    assert len(posted_b) >= waiting_b - 2
    assert all(r.status == "posted" for r in replayed.rows if r.record_type == "invoice")
    numbers = [d["InvoiceNumber"] for d in xero_b.invoices()] + [
        d["CreditNoteNumber"] for d in xero_b.credit_notes()
    ]
    numbers += [narration_number(j["Narration"]) for j in xero_b.manual_journals()]
    assert len(numbers) == len(set(numbers)) == len(posted_b) == xero_b.documents_count()
    assert sorted(numbers) == sorted(r.document_number for r in posted_b)
    assert unposted_total(stack, B) == waiting_b - len(posted_b)
    assert len(stack.sandbox("connectwise", B).app.batches()) == len(posted_b)
    # A was not posted again by anything that happened to B; nothing says AUTH any more.
    assert xero_a.documents_count() == len(posted_a)
    assert not auth_codes(load_review(stack.db, ReviewFilter()))
    assert all("AUTH_TOKEN_INVALID" not in w.reason for w in replay.select(stack.db).records)
