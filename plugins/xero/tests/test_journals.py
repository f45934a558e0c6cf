"""Inventory adjustments and transfers (contract C1) post as balanced Xero manual
journals, exactly once: found again by narration after a crash; the sandbox checks
journals as Xero documents them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from xero_testkit import customer, inventory, limiter, line, record, reference, target_for

from wisesync.config import CompanyOptions
from wisesync.events.models import Status
from wisesync.testing.sandbox import Fault
from wisesync_xero.mapping import plan
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.sandbox.journals import check_manual_journal
from wisesync_xero.settings import DEFAULT_APPROVAL, Approval

TRACKING = {"location": "Location", "department": "Department"}
OPTS = CompanyOptions(require_item_code=True)


def build(rec, options=OPTS, approval=DEFAULT_APPROVAL):
    return plan(rec, reference(), options, TRACKING, approval)


def codes(p):
    return [m.code for m in p.messages]


@pytest.fixture
def server():
    srv = start_sandbox(seed=13, contacts=10)
    yield srv
    assert srv.app.spec_violations == []
    srv.stop()


# --- mapping ---------------------------------------------------------------------------


def test_an_adjustment_becomes_a_signed_balanced_manual_journal():
    rec = inventory(("310", "48.10"), ("630", "-48.10"), number="ADJ-77",
                    attributes={"reason": "Damaged  in\ntransit"})  # fmt: skip
    p = build(rec)
    assert p.ok and p.kind.is_journal and p.messages == []
    assert p.body == {
        "Narration": "ConnectWise inventory adjustment ADJ-77: Damaged in transit",
        "Status": "POSTED",
        "LineAmountTypes": "NoTax",
        "JournalLines": [
            {"Description": "Stock in", "LineAmount": D("48.10"), "AccountCode": "310"},
            {"Description": "Stock out", "LineAmount": D("-48.10"), "AccountCode": "630"},
        ],
        "Date": "2026-01-07",
    }
    assert p.expected_total == D("48.10") and p.number == p.body["Narration"]
    transfer = build(inventory(("630", "10.00"), ("630", "-10.00"), subtype="transfer"))
    assert transfer.ok and transfer.body["Narration"].startswith("ConnectWise inventory transfer")
    draft = build(rec, approval=Approval(bill_status="DRAFT"))
    assert draft.body["Status"] == "DRAFT"


@pytest.mark.parametrize(
    ("amounts", "kw", "code", "words"),
    [
        ((("310", "48.10"), ("630", "-48.00")), {}, "RECORD_INVALID", "does not balance"),
        ((("310", "0.00"),), {}, "RECORD_INVALID", "at least two"),
        ((("090", "5.00"), ("630", "-5.00")), {}, "LEDGER_ACCOUNT_MISSING", "'090'"),
        ((("610", "5.00"), ("630", "-5.00")), {}, "LEDGER_ACCOUNT_MISSING", "'610'"),
        ((("477", "5.00"), ("630", "-5.00")), {}, "LEDGER_ACCOUNT_MISSING", "archived"),
        ((("310", "5.005"), ("630", "-5.005")), {}, "RECORD_INVALID", "not in cents"),
        ((("310", "5.00"), ("630", "-5.00")), {"currency": "USD"}, "RECORD_INVALID", "base"),
        ((("310", "5.00"), ("630", "-5.00")), {"number": " "}, "RECORD_INVALID", "identifier"),
    ],
)
def test_a_journal_xero_would_refuse_fails_alone_with_a_code(amounts, kw, code, words):
    p = build(inventory(*amounts, **kw))
    assert not p.ok and code in codes(p)
    assert any(words in m.text for m in p.messages if m.code == code)


def test_a_journal_line_without_gl_account_is_a_gl_mapping_error():
    rec = inventory(("310", "5.00"), ("630", "-5.00"))
    rec.lines[1].gl_account = None
    assert codes(build(rec)) == ["GL_MAPPING_MISSING"]


# --- against the sandbox ---------------------------------------------------------------


def test_a_mixed_batch_posts_invoices_and_journals_in_order(server):
    app = server.app
    target, comp = target_for(server)
    adjustment = inventory(("310", "120.00"), ("630", "-120.00"))
    transfer = inventory(("630", "35.50"), ("630", "-35.50"), subtype="transfer")
    invoice = record(line("90"), contact=customer(2))
    outcomes = target.post([adjustment, invoice, transfer], target.prepare(comp, limiter()))
    assert [o.status for o in outcomes] == [Status.POSTED] * 3
    journals = {j["ManualJournalID"]: j for j in app.manual_journals()}
    assert set(journals) == {outcomes[0].ledger_id, outcomes[2].ledger_id}
    assert outcomes[0].ledger_total == D("120.00") and outcomes[2].ledger_total == D("35.50")
    stored = journals[outcomes[0].ledger_id]
    assert stored["Status"] == "POSTED"
    assert [(ln["AccountCode"], ln["LineAmount"]) for ln in stored["JournalLines"]] == [
        ("310", D("120.00")),
        ("630", D("-120.00")),
    ]
    # one invoice and two journals: the double-posting detector counts journals too
    assert app.calls("PUT", "ManualJournals") == 1 and app.documents_count() == 3
    assert len(app.invoices()) == 1


def test_a_lost_answer_is_replayed_and_after_a_crash_found_by_narration(server):
    app = server.app
    target, comp = target_for(server)
    batch = [inventory(("310", f"{n}.00"), ("630", f"-{n}.00")) for n in (11, 12)]
    never = inventory(("310", "13.00"), ("630", "-13.00"))
    app.faults.arm(Fault(kind="lose_response", method="PUT", path="ManualJournals"))
    outcomes = target.post(batch, target.prepare(comp, limiter()))
    assert [o.status for o in outcomes] == [Status.POSTED] * 2
    assert app.idempotent_replays == 1 and len(app.manual_journals()) == 2
    fresh, _ = target_for(server)  # a new process after a crash before the results were kept
    found = fresh.find_existing([*batch, never], fresh.prepare(comp, limiter()))
    assert set(found) == {r.source_id for r in batch}
    assert {o.ledger_id for o in found.values()} == {o.ledger_id for o in outcomes}
    assert all(o.status is Status.POSTED for o in found.values())
    assert app.calls("GET", "ManualJournals") == 1  # one where=Narration== query for all


def test_a_voided_or_different_journal_is_not_taken_for_ours(server):
    app = server.app
    target, comp = target_for(server)
    rec = inventory(("310", "20.00"), ("630", "-20.00"))
    ctx = target.prepare(comp, limiter())
    (posted,) = target.post([rec], ctx)
    assert target.find_existing([rec], ctx)[rec.source_id].ledger_id == posted.ledger_id
    changed = inventory(("310", "21.00"), ("630", "-21.00"), number=rec.document_number)
    assert target.find_existing([changed], ctx) == {}  # same narration, other amounts
    app.org().manual_journals[posted.ledger_id]["Status"] = "VOIDED"
    assert target.find_existing([rec], ctx) == {}


def test_narration_look_ups_keep_their_filter_short():
    from wisesync_xero.post import LOOKUP_CHARS, lookup_chunks

    narrations = [f"ConnectWise inventory adjustment {n}: " + "r" * 150 for n in range(30)]
    chunks = lookup_chunks(narrations)
    assert [n for c in chunks for n in c] == narrations and len(chunks) > 1
    assert all(sum(len(n) + 20 for n in c) <= LOOKUP_CHARS for c in chunks)
    assert [len(c) for c in lookup_chunks([f"INV-{n}" for n in range(90)])] == [40, 40, 10]


# --- the sandbox's rules ---------------------------------------------------------------


def _check(server, lines, **extra):
    org = server.app.org()
    raw = {"Narration": "n", "JournalLines": lines, **extra}
    return check_manual_journal(org, raw, None)


def test_the_sandbox_checks_journals_as_xero_documents_them(server):
    ok = _check(server, [{"LineAmount": 5, "AccountCode": "310"},
                         {"LineAmount": -5, "AccountCode": "630"}])  # fmt: skip
    assert ok.ok and ok.doc["Status"] == "DRAFT" and ok.doc["LineAmountTypes"] == "NoTax"
    unbalanced = _check(server, [{"LineAmount": 100, "AccountCode": "310"},
                                 {"LineAmount": -10, "AccountCode": "630"}])  # fmt: skip
    assert unbalanced.errors == ["The total debits (100.00) must equal total credits (-10.00)"]
    unknown = _check(server, [{"LineAmount": 5, "AccountCode": "476"},
                              {"LineAmount": -5, "AccountCode": "630"}])  # fmt: skip
    assert unknown.warnings == [
        "Account code ''476'' has been removed as it does not match a recognised account."
    ]
    assert unknown.errors == ["The total debits (0.00) must equal total credits (-5.00)"]
    bank = _check(server, [{"LineAmount": 5, "AccountCode": "090"},
                           {"LineAmount": -5, "AccountCode": "800"}])  # fmt: skip
    assert len(bank.errors) == 2 and all("bank or system" in e for e in bank.errors)
    assert (
        _check(server, [{"LineAmount": 5, "AccountCode": "310"}])
        .errors[0]
        .startswith("The JournalLines element must contain at least two")
    )
    no_narration = check_manual_journal(server.app.org(), {"JournalLines": []}, None)
    assert "Narration must be specified" in no_narration.errors
    bad_status = _check(server, [{"LineAmount": 5, "AccountCode": "310"},
                                 {"LineAmount": -5, "AccountCode": "630"}],
                        Status="VOIDED")  # fmt: skip
    assert bad_status.errors == ["Manual Journal not of valid status for creation"]
