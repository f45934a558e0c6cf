"""A document in the ledger is never a record reported failed, whatever the path.

Every path that used to produce "Xero has the document, wisesync says failed" (issue #10):

* same-named customers and vendors: Xero already has a contact with the name of a
  ConnectWise customer (and of each vendor) but another's ContactNumber (a same-named
  customer synced earlier), and a hand-made contact with a third customer's name and no
  number. Matched by name, the documents landed on the other's contact; after a crash
  reconciliation compared contact numbers, disowned its own documents and posted them
  again: DUPLICATE_DOCUMENT_NUMBER for invoices (failed, never acknowledged), a second bill
  for bills;
* a poster killed right after Xero committed a batch (``after_post``), then every answer
  to the next writes lost on every try (the poster reconciles the ``claimed`` records);
* Xero unreachable to the end (writes committed, answers and look-ups lost: the records
  fail LEDGER_UNAVAILABLE with their outcome unknown), then ``replay --failed``.

At the end, per record's last result: a failed record has no document in Xero, a posted
one has exactly its document, each document is on its own customer's contact. Real Kafka
and Postgres, ConnectWise and Xero sandboxes; the poster runs as a subprocess to be killed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wisesync import replay
from wisesync.review import Review
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import CompanySpec, Stack

sys.path.insert(0, str(Path(__file__).parent))
import crash_harness as harness

WRITES = r"/(Invoices|CreditNotes|ManualJournals)$"
#: Every record's customer or vendor has a same-named contact in Xero (see same_named_contacts;
#: expenses are left out: their vendors are ConnectWise members).
SMALL = {"invoices": 24, "expenses": 0, "procurement": 8, "customers": 4, "cases": False}
SALES = {"invoice", "credit_memo"}


def _spec(key: str, seed: int) -> CompanySpec:
    from wisesync_xero.sandbox import Limits

    return CompanySpec(
        key,
        seed=seed,
        record_types=["invoice", "credit_memo", "procurement"],
        sandbox_options={
            "connectwise": dict(SMALL),
            "xero": {"limits": Limits(per_minute=600, concurrent=10)},
        },
    )


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    with harness.kafka_stack([_spec("twins", seed=41)], kafka_bootstrap, pg_database) as stack:
        yield stack


def same_named_contacts(stack: Stack) -> tuple[set[str], str]:
    """Before the first sync: Xero gets a contact named like each ConnectWise customer but
    the last and like each vendor, with another's number, and a hand-made one (no number)
    named like the last customer. Returns the others' ids and the hand-made's."""
    key = stack.specs[0].key
    companies = stack.sandbox("connectwise", key).app.state_ref().companies.values()
    customers = sorted(
        (c for c in companies if (c.account_number or "").startswith("C")), key=lambda c: c.id
    )
    vendors = [c for c in companies if c.is_vendor]
    assert len(customers) >= 3 and vendors
    rows: list[dict[str, Any]] = [
        {"Name": c.name, "ContactNumber": f"OTHER-{c.account_number}"}
        for c in [*customers[:-1], *vendors]
    ]
    rows.append({"Name": customers[-1].name})  # made by hand: adopted
    made = stack.sandbox("xero", key).app.add_contacts(rows)
    return {c["ContactID"] for c in made[:-1]}, made[-1]["ContactID"]


def assert_ledger_truth(stack: Stack, reviews: list[Review], others: set[str], hand: str) -> None:
    """Per record (its last result): failed -> no document of its number and side in Xero;
    posted -> its document; no document on another customer's same-named contact."""
    app = stack.sandbox("xero", stack.specs[0].key).app
    docs = harness.documents(app)
    held = {
        (d["Type"].startswith("ACCREC"), d.get("InvoiceNumber") or d.get("CreditNoteNumber"))
        for d in docs
    }
    last = {(r.record_type, r.source_id): r for review in reviews for r in review.rows}
    in_ledger_failed = [
        (r.label, [m.code for m in r.messages])
        for r in last.values()
        if r.status == "failed" and (r.record_type in SALES, r.document_number) in held
    ]
    assert not in_ledger_failed, f"in Xero but reported failed: {in_ledger_failed}"
    ids = {d.get("InvoiceID") or d.get("CreditNoteID") for d in docs}
    assert ids <= {r.ledger_id for r in last.values() if r.status == "posted"}
    wrong = [d["Contact"]["Name"] for d in docs if d["Contact"]["ContactID"] in others]
    assert not wrong, f"documents on another customer's same-named contact: {wrong}"
    contacts = {c["ContactID"]: c for c in app.contacts()}
    on = [contacts[d["Contact"]["ContactID"]] for d in docs]
    assert all(c.get("ContactNumber") for c in on), "every document is on a numbered contact"
    assert any(c["Name"].endswith(")") for c in on), "a same-named customer got its own name"
    assert any(c["ContactID"] == hand for c in on), "the hand-made contact was adopted"


def test_crash_after_commit_and_lost_answers_with_same_named_customers(
    stack: Stack, tmp_path: Path
) -> None:
    others, hand = same_named_contacts(stack)
    app = stack.sandbox("xero", stack.specs[0].key).app
    env = stack.write_config(tmp_path / "wisesync.toml")
    options = harness.fast_role_options("kafka", instance=f"{stack.namespace}-poster")
    options["poster"]["retry_delays"] = [0.2, 0.5]
    options["poster"]["chunk_workers"] = 1  # one write at a time: the lost answers hit one batch
    poster = harness.RoleProcess(tmp_path / "wisesync.toml", env, tmp_path, options=options)
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        try:
            poster.start(crash_at="after_post")  # Xero committed the first batch, unrecorded
            assert poster.wait_exit(60) == 137, poster.tail()
            # every answer to the next writes is lost, on every try of the HTTP client
            app.faults.arm(Fault("lose_response", count=5, method="PUT", path=WRITES))
            poster.launch()
            reviews = harness.wait_runs(stack, runs, 90)
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    harness.assert_exactly_once(stack, runs, reviews)
    assert_ledger_truth(stack, reviews, others, hand)
    assert harness.linked(reviews) >= 2, (
        "the crashed and the lost batches were found, not re-posted"
    )
    codes = {m.code for r in reviews[0].rows for m in r.messages}
    assert "DUPLICATE_DOCUMENT_NUMBER" not in codes, codes


def test_unknown_outcome_then_replay_with_same_named_customers(stack: Stack) -> None:
    others, hand = same_named_contacts(stack)
    app = stack.sandbox("xero", stack.specs[0].key).app
    app.faults.arm(Fault("lose_response", count=10**6, method="PUT", path=WRITES))
    app.faults.arm(Fault("status", count=10**6, method="GET", path=WRITES, status=503))
    options = harness.fast_role_options("kafka")
    options["poster"]["retry_delays"] = (0.2,)
    with stack.service(("poster", "reporter", "acknowledger"), **options):
        first = stack.sync(stack.specs[0].key)
        (before,) = harness.wait_runs(stack, [first], 120)
        # the one honest "failed" with a document in Xero: Xero never answered, the outcome
        # is unknown and says so; the journal keeps the records claimed for the replay
        assert {r.status for r in before.rows} == {"failed"}
        assert all("LEDGER_UNAVAILABLE" in {m.code for m in r.messages} for r in before.rows)
        taken = len(harness.ledger_documents(app))
        # every document was written, but a journal, which is looked up (and refused
        # here) before it is written
        cw = stack.sandbox("connectwise", stack.specs[0].key).app.state_ref()
        journals = sum(1 for p in cw.procurement.values() if p.kind != "Purchase")
        assert len(before.rows) - journals <= taken <= len(before.rows)
        app.faults.clear()
        (outcome,) = stack.replay(replay.select(stack.db, run_id=first.run_id))
        (after,) = harness.wait_runs(stack, [outcome.run], 90)
    assert_ledger_truth(stack, [before, after], others, hand)
    assert harness.linked([after]) == taken, "each found in Xero, none posted again"
    # the replay found what was taken and posted the journals that were not: each once
    assert len(harness.ledger_documents(app)) == len(before.rows)
