"""The Xero target against the sandbox: codes, contacts, document types, call counts,
duplicates, limits and faults. Every test ends with no spec violation."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from xero_testkit import customer, limiter, line, record, target_for

from wisesync.config import CompanyOptions
from wisesync.errors import DailyLimitReached
from wisesync.events.models import Address, Person, RecordType, Status, Terms
from wisesync.terms import TermKind
from wisesync.testing.sandbox import Fault
from wisesync_xero.payment_terms import XERO_TYPES
from wisesync_xero.sandbox import Limits, start_sandbox


@pytest.fixture
def server():
    srv = start_sandbox(seed=3, contacts=20)
    yield srv
    assert srv.app.spec_violations == []
    srv.stop()


def num() -> str:
    return f"T{uuid.uuid4().hex[:8]}"


def codes(outcome):
    return {m.code for m in outcome.messages}


def test_every_error_and_warning_case_produces_its_code(server):
    app = server.app
    app.add_contacts(
        [{"Name": "Archived Pty", "ContactNumber": "ARCH1", "ContactStatus": "ARCHIVED"}]
    )
    target, comp = target_for(server)
    other = record(line(), number="DUP-1", contact=customer(2))
    target.post([other], target.prepare(comp, limiter()))
    cases = {
        "GL_MAPPING_MISSING": record(line(account=None)),
        "LEDGER_ACCOUNT_MISSING": record(line(account="477")),
        "TAX_CODE_INVALID": record(line(tax="GST99")),
        "ADJUSTMENT_OVER_CAP": record(line("100"), total="125.00"),
        "RECORD_INVALID": record(line(), contact=None),
        "DUPLICATE_DOCUMENT_NUMBER": record(line("99"), number="DUP-1", contact=customer(3)),
        "CONTACT_INVALID": record(
            line(), contact=customer(50, name="Archived Pty", account_number="ARCH1")
        ),
        "ROUNDING_APPLIED": record(
            *[line("0.3333333", tax="EXEMPTOUTPUT") for _ in range(3)], total="1.00"
        ),
        "ADJUSTMENT_APPLIED": record(line("150"), total="168.50"),
        "TERMS_XREF": record(line(), terms=Terms("EOM", None, None)),
        "NO_BILLING_CONTACT": record(line(), contact=customer(4, billing_contact=None)),
        "DESCRIPTION_TRUNCATED": record(line(description="long " * 1000)),
        "TRACKING_MISSING": record(line(location="Perth")),
    }
    ctx = target.prepare(comp, limiter())
    outcomes = target.post(list(cases.values()), ctx)
    errors = {
        "GL_MAPPING_MISSING",
        "LEDGER_ACCOUNT_MISSING",
        "TAX_CODE_INVALID",
        "ADJUSTMENT_OVER_CAP",
        "RECORD_INVALID",
        "DUPLICATE_DOCUMENT_NUMBER",
        "CONTACT_INVALID",
    }
    for (code, rec), outcome in zip(cases.items(), outcomes, strict=True):
        assert outcome.source_id == rec.source_id
        assert code in codes(outcome), (code, outcome.messages)
        expected = Status.FAILED if code in errors else Status.POSTED
        assert outcome.status is expected, (code, outcome)
    # Xero's own texts come through for what only Xero can know
    dup = outcomes[list(cases).index("DUPLICATE_DOCUMENT_NUMBER")]
    (error,) = [m for m in dup.messages if m.code == "DUPLICATE_DOCUMENT_NUMBER"]
    assert "Invoice # must be unique." in error.text  # and it names the other document:
    assert "ACCREC DUP-1" in error.text and "'Customer 00002'" in error.text
    assert "total 110.00" in error.text
    # what posted balances to the ConnectWise total
    adj = outcomes[list(cases).index("ADJUSTMENT_APPLIED")]
    assert adj.ledger_total == D("168.50")
    rnd = outcomes[list(cases).index("ROUNDING_APPLIED")]
    assert rnd.ledger_total == D("1.00")


def test_tracking_halt_fails_the_record(server):
    target, comp = target_for(server, options=CompanyOptions(tracking_missing="halt"))
    (out,) = target.post([record(line(location="Perth"))], target.prepare(comp, limiter()))
    assert out.status is Status.FAILED and "TRACKING_MISSING" in codes(out)


def test_contacts_matched_by_number_then_name_else_created_once(server):
    app = server.app
    app.add_contacts(["O'Brien & Sons"])  # exists by name only, no ContactNumber
    before = len(app.contacts())
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    new = customer(77, name='The "Byte" Shop', account_number="C00077")
    batch = [
        record(line(), contact=customer(1)),
        record(line(), contact=customer(2, name="Renamed in CW")),
        record(line(), contact=customer(60, name="O'Brien & Sons", account_number="C00060")),
        record(line(), contact=new),
        record(line(), contact=new),
    ]
    outcomes = target.post(batch, ctx)
    assert [o.status for o in outcomes] == [Status.POSTED] * 5
    contacts = app.contacts()
    assert len(contacts) == before + 1  # only the Byte Shop is new, and only once
    created = next(c for c in contacts if c.get("ContactNumber") == "C00077")
    assert created["Name"] == 'The "Byte" Shop'
    assert created["EmailAddress"] == "bill@example.com"
    assert created["Addresses"][0]["City"] == "Sydney"
    by_number = {i["InvoiceNumber"]: i["Contact"] for i in app.invoices()}
    assert by_number[batch[1].document_number]["ContactNumber"] == "C00002"
    assert by_number[batch[2].document_number]["Name"] == "O'Brien & Sons"
    assert by_number[batch[3].document_number]["ContactID"] == created["ContactID"]
    assert by_number[batch[4].document_number]["ContactID"] == created["ContactID"]


def test_contacts_learned_from_a_batch_are_sent_by_id_next_time(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    new = customer(88)
    target.post([record(line(), contact=new)], ctx)
    app.reset()  # clears the request log
    target.post([record(line(), contact=new)], target.prepare(comp, limiter()))
    assert app.calls() == 1  # reference data and contacts cached: one PUT
    assert sum(1 for c in app.contacts() if c.get("ContactNumber") == "C00088") == 1


def test_call_count_for_a_first_and_a_second_batch(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    # accounts, tax rates, tracking, items, currencies, organisation
    assert app.calls(path=r"^/api\.xro/") == 6
    target.post([record(line(), contact=customer(i)) for i in range(1, 21)], ctx)
    assert app.calls(path="Contacts") == 1
    assert app.calls("PUT", "Invoices") == 1
    target.post([record(line(), contact=customer(i)) for i in range(1, 21)], ctx)
    assert app.calls(path=r"^/api\.xro/") == 6 + 1 + 2
    assert ctx.limiter.calls == 6 + 1 + 2


def test_large_organisations_look_contacts_up_per_batch(server, monkeypatch):
    from wisesync_xero import post

    monkeypatch.setattr(post, "CONTACT_PAGE_SIZE", 5)
    monkeypatch.setattr(post, "MAX_LIST_PAGES", 1)  # 20 contacts = 4 pages: too many to list
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    byte = customer(70, name='The "Byte" Shop', account_number=None)
    batch = [record(line(), contact=c) for c in (customer(1), customer(2), customer(99), byte)]
    assert [o.status for o in target.post(batch, ctx)] == [Status.POSTED] * 4
    assert ctx.contacts.targeted
    assert app.calls("GET", "Contacts") == 2  # page 1 of the listing, then one where query
    before = len(app.contacts())
    # a seeded customer the first page did not list (contacts made in the same clock tick
    # are listed in ContactID order, so which ones page 1 holds varies)
    unknown = next(c for c in map(customer, range(3, 21)) if ctx.contacts.find(c) is None)
    again = [record(line(), contact=c) for c in (customer(1), customer(99), byte, unknown)]
    assert [o.status for o in target.post(again, ctx)] == [Status.POSTED] * 4
    assert app.calls("GET", "Contacts") == 3  # only the unknown customer was looked up
    assert len(app.contacts()) == before  # 99 and the Byte Shop were created once, earlier


def test_mixed_document_types_in_one_batch(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    vendor = customer(30, name="Ingram Micro", account_number="V001")
    member = customer(31, name="Sam Tech", account_number="EMP-31")
    batch = [
        record(line(), number=num()),
        record(line("80"), record_type=RecordType.CREDIT_MEMO, number=num()),
        record(
            line("40", account="429", item="EXPENSE", tax="INPUT"),
            record_type=RecordType.EXPENSE,
            number=num(),
            contact=member,
            terms=None,
            subtype="reimbursable",
        ),
        record(
            line("25", account="429", item="EXPENSE", tax="INPUT"),
            record_type=RecordType.EXPENSE,
            number=num(),
            contact=member,
            terms=None,
            subtype="personal",
        ),
        record(
            line("1450", account="310", item="HW-LAPTOP", tax="INPUT"),
            record_type=RecordType.PROCUREMENT,
            number=num(),
            contact=vendor,
            subtype="receipt",
        ),
    ]
    outcomes = target.post(batch, ctx)
    assert [o.status for o in outcomes] == [Status.POSTED] * 5
    assert app.calls("PUT", "Invoices") == 1 and app.calls("PUT", "CreditNotes") == 1
    types = {
        d.get("InvoiceNumber") or d.get("CreditNoteNumber"): d["Type"]
        for d in [*app.invoices(), *app.credit_notes()]
    }
    assert [types[r.document_number] for r in batch] == [
        "ACCREC",
        "ACCRECCREDIT",
        "ACCPAY",
        "ACCPAYCREDIT",
        "ACCPAY",
    ]
    assert outcomes[1].ledger_total == D("88.00")
    assert outcomes[4].ledger_total == D("1595.00")


def test_zero_total_invoice_posts(server):
    target, comp = target_for(server)
    (out,) = target.post([record(line("0"), total="0.00")], target.prepare(comp, limiter()))
    assert out.status is Status.POSTED and out.ledger_total == D("0.00")
    assert server.app.invoice_by_number(out.ledger_number)["Status"] == "PAID"


def test_draft_and_sent_options_reach_xero(server):
    target, comp = target_for(server, invoice_status="draft")  # [companies.xero]
    (out,) = target.post([record(line())], target.prepare(comp, limiter()))
    assert server.app.invoice_by_number(out.ledger_number)["Status"] == "DRAFT"
    target, comp = target_for(server, mark_sent=True)
    (out,) = target.post([record(line())], target.prepare(comp, limiter()))
    doc = server.app.invoice_by_number(out.ledger_number)
    assert doc["Status"] == "AUTHORISED" and doc["SentToContact"] is True


def test_due_dates_from_terms_and_xero_default(server):
    target, comp = target_for(server)
    net14 = record(line(), terms=Terms("Net 14", "14", 14), contact=customer(71))
    eom = record(line(), terms=Terms("EOM", None, None), contact=customer(72))
    target.post([net14, eom], target.prepare(comp, limiter()))
    app = server.app
    assert app.invoice_by_number(net14.document_number)["DueDateString"].startswith("2026-01-19")
    # Xero applied the organisation's default (the sandbox org: 30 days after): the new
    # contact of a term without a rule gets no payment terms of its own
    assert app.invoice_by_number(eom.document_number)["DueDateString"].startswith("2026-02-04")
    terms = {c["ContactNumber"]: c.get("PaymentTerms") for c in app.contacts()}
    assert terms["C00071"] == {"Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"}}
    assert terms["C00072"] is None


@pytest.mark.parametrize(
    ("xref_type", "day", "issued", "due"),
    [
        ("days_after_month_end", 0, date(2026, 2, 10), "2026-02-28"),
        ("days_after_month_end", 15, date(2026, 2, 10), "2026-03-15"),
        ("day_of_next_month", 20, date(2026, 1, 31), "2026-02-20"),
        ("day_of_next_month", 31, date(2026, 1, 5), "2026-02-28"),  # clamped (unconfirmed)
        ("day_of_month", 25, date(2026, 3, 2), "2026-03-25"),
    ],
)
def test_term_types_set_the_due_date_and_the_contacts_payment_terms(
    server, xref_type, day, issued, due
):
    target, comp = target_for(server)
    rec = record(
        line(),
        terms=Terms("Special", None, None),
        contact=customer(73),
        date=issued,
        attributes={"terms_type": xref_type, "terms_day": str(day)},
    )
    (out,) = target.post([rec], target.prepare(comp, limiter()))
    assert out.status is Status.POSTED and not [m for m in out.messages if m.code == "TERMS_XREF"]
    app = server.app
    assert app.invoice_by_number(rec.document_number)["DueDateString"].startswith(due)
    [contact] = [c for c in app.contacts() if c["ContactNumber"] == "C00073"]
    kind = XERO_TYPES[TermKind(xref_type)]
    assert contact["PaymentTerms"] == {"Sales": {"Day": day, "Type": kind}}


def test_same_request_again_is_answered_from_xeros_idempotency_cache(server):
    target, comp = target_for(server)
    rec = record(line("42"))
    (first,) = target.post([rec], target.prepare(comp, limiter()))
    fresh, _ = target_for(server)  # a restart: same body, same Idempotency-Key
    (again,) = fresh.post([rec], fresh.prepare(comp, limiter()))
    assert again.ledger_id == first.ledger_id
    assert server.app.idempotent_replays == 1
    assert server.app.documents_count() == 1


def test_our_own_duplicate_is_linked_not_posted_twice(server):
    server.app.idempotency_ttl = 0  # the retry comes after Xero's idempotency window
    target, comp = target_for(server)
    rec = record(line("42"), contact=customer(95))
    (first,) = target.post([rec], target.prepare(comp, limiter()))
    fresh, _ = target_for(server)  # a restart
    (again,) = fresh.post([rec], fresh.prepare(comp, limiter()))
    assert again.status is Status.POSTED
    assert again.ledger_id == first.ledger_id
    assert "ALREADY_IN_LEDGER" in codes(again)
    assert server.app.idempotent_replays == 0
    assert sum(1 for i in server.app.invoices() if i["InvoiceNumber"] == rec.document_number) == 1


def test_find_existing_recognises_what_we_wrote_not_the_contact(server):
    """Ours = same type, number, date (and reference): a bill of another vendor with the
    same number is not ours; ours stays ours after its contact is renumbered and renamed
    in Xero (a merge), which a contact comparison took for someone else's document."""
    vendor_a = customer(31, name="Vendor A", account_number="VA")
    vendor_b = customer(32, name="Vendor B", account_number="VB")

    def bill(vendor, when):
        return record(
            line("10", account="300", item=None, tax="INPUT"),
            record_type=RecordType.PROCUREMENT,
            number="INV-555",
            contact=vendor,
            subtype="receipt",
            date=when,
        )

    mine, theirs = bill(vendor_a, date(2026, 1, 5)), bill(vendor_b, date(2026, 2, 9))
    target, comp = target_for(server, options=CompanyOptions())
    ctx = target.prepare(comp, limiter())
    (out,) = target.post([mine], ctx)
    found = target.find_existing([mine, theirs], ctx)
    assert set(found) == {mine.source_id}
    assert found[mine.source_id].ledger_id == out.ledger_id
    contact_id = ctx.contacts.find(vendor_a).contact_id
    ctx.client.api(
        "POST",
        "/Contacts",
        json={"Contacts": [{"ContactID": contact_id, "ContactNumber": "MERGED", "Name": "AB"}]},
    )
    fresh, _ = target_for(server, options=CompanyOptions())  # a restart
    found = fresh.find_existing([mine], fresh.prepare(comp, limiter()))
    assert found[mine.source_id].ledger_id == out.ledger_id
    credit = record(line("5"), record_type=RecordType.CREDIT_MEMO, number=num(), reference="R-7")
    (cn,) = target.post([credit], ctx)
    assert target.find_existing([credit], ctx)[credit.source_id].ledger_id == cn.ledger_id
    assert target.find_existing([replace(credit, reference="R-8")], ctx) == {}


def test_lost_response_is_replayed_by_idempotency_key(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    app.faults.arm(Fault(kind="lose_response", method="PUT", path="Invoices"))
    recs = [record(line()) for _ in range(3)]
    outcomes = target.post(recs, ctx)
    assert all(o.status is Status.POSTED for o in outcomes)
    assert app.idempotent_replays == 1
    assert app.calls("PUT", "Invoices") == 2
    assert app.documents_count() == 3


def test_server_errors_are_retried(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    app.faults.arm(Fault(kind="status", status=503, count=2, method="PUT", path="Invoices"))
    (out,) = target.post([record(line())], ctx)
    assert out.status is Status.POSTED
    assert app.documents_count() == 1


def test_rate_limit_429_pauses_the_limiter_and_retries(server):
    app = server.app
    target, comp = target_for(server)
    lim = limiter()
    ctx = target.prepare(comp, lim)
    app.faults.arm(Fault(kind="rate_limit", count=1, retry_after=0.2, method="PUT"))
    started = datetime.now(UTC)
    (out,) = target.post([record(line())], ctx)
    assert out.status is Status.POSTED
    assert (datetime.now(UTC) - started).total_seconds() >= 0.2
    assert ctx.client.rate_limited == 1


def test_daily_limit_raises_with_the_reset_time():
    srv = start_sandbox(seed=4, limits=Limits(per_day=7))
    try:
        target, comp = target_for(srv)
        ctx = target.prepare(comp, limiter())  # 6 calls
        with pytest.raises(DailyLimitReached) as info:
            target.post([record(line(), contact=customer(99))], ctx)  # contacts + PUT = 8th
        assert info.value.reset_at is not None and info.value.reset_at > datetime.now(UTC)
        assert srv.app.documents_count() == 0
    finally:
        srv.stop()


def test_limit_headers_are_read(server):
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    state = ctx.client.limit_state
    assert state.minute_remaining == 60 - 6
    assert state.day_remaining == 5000 - 6


def test_reference_data_is_cached_until_its_ttl(server):
    app = server.app
    target, comp = target_for(server)
    target.prepare(comp, limiter())
    target.prepare(comp, limiter())
    assert app.calls("GET", "Accounts") == 1
    app.create_account("4999", "New revenue")
    target, comp = target_for(server, reference_ttl="0s")
    target.prepare(comp, limiter())
    ctx = target.prepare(comp, limiter())
    assert app.calls("GET", "Accounts") == 3
    assert target.validate(record(line(account="4999")), ctx) == []


def test_spec_validates_unicode_and_long_values(server):
    target, comp = target_for(server)
    weird = customer(90, name='Café Zürich & "Ölwerk" O\'Neil' + "x" * 300, account_number="Z" * 80)
    (out,) = target.post(
        [record(line(description="Ünïcödé ✓ " * 600), contact=weird)],
        target.prepare(comp, limiter()),
    )
    assert out.status is Status.POSTED
    assert {m.code for m in out.messages} == {"DESCRIPTION_TRUNCATED"}


def test_bad_settings_are_a_config_error_naming_the_key(server):
    from wisesync.errors import ConfigError

    target, comp = target_for(server, grant="password")
    with pytest.raises(ConfigError) as info:
        target.prepare(comp, limiter())
    assert "companies.acme.xero.grant" in str(info.value)


def test_invalidate_reloads_reference_data_and_rereads_the_token(server):
    app = server.app
    target, comp = target_for(server)
    target.prepare(comp, limiter())
    auth = target.connections.auth(comp)
    app.create_account("4999", "Fixed in Xero")
    target.invalidate(comp)
    ctx = target.prepare(comp, limiter())
    assert app.calls("GET", "Accounts") == 2
    assert target.connections.auth(comp) is not auth
    assert target.validate(record(line(account="4999")), ctx) == []


def test_changed_customer_is_updated_once_and_keeps_what_connectwise_left_empty(server):
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    first = customer(74, tax_number="11 111 111 111")
    target.post([record(line(), contact=first)], ctx)
    # ConnectWise: new e-mail and street, the phone and tax number removed
    moved = replace(
        first,
        billing_contact=Person("Bill Payer", "ap@new.example"),
        address=Address("9 Kent St", None, None, None, None, None),
        phone=None,
        tax_number=None,
    )
    app.reset()  # clears the request log
    (out,) = target.post([record(line(), contact=moved), record(line(), contact=moved)], ctx)[:1]
    assert app.calls("POST", "Contacts") == 1
    [note] = [m for m in out.messages if m.code == "CONTACT_UPDATED"]
    assert "email, address changed" in note.text
    [doc] = [c for c in app.contacts() if c["ContactNumber"] == "C00074"]
    assert doc["EmailAddress"] == "ap@new.example"
    [address] = [a for a in doc["Addresses"] if a["AddressType"] == "POBOX"]
    assert (address["AddressLine1"], address["City"]) == ("9 Kent St", "Sydney")
    assert doc["Phones"][0]["PhoneNumber"] == "02 9999 0000"  # not cleared
    assert doc["TaxNumber"] == "11 111 111 111"
    app.reset()
    (again,) = target.post([record(line(), contact=moved)], ctx)
    assert app.calls("POST", "Contacts") == 0
    assert not [m for m in again.messages if m.code == "CONTACT_UPDATED"]
    # a restart reads Xero's contacts again: still nothing to update
    (later,) = target.post(
        [record(line(), contact=moved)], target_for(server)[0].prepare(comp, limiter())
    )
    assert app.calls("POST", "Contacts") == 0 and later.status is Status.POSTED


def test_a_contact_holding_none_of_the_details_is_left_alone(server):
    # the sandbox's seeded C00001: made outside wisesync, with a name and number only
    app = server.app
    target, comp = target_for(server)
    (out,) = target.post([record(line(), contact=customer(1))], target.prepare(comp, limiter()))
    assert out.status is Status.POSTED and app.calls("POST", "Contacts") == 0
    assert not [m for m in out.messages if m.code == "CONTACT_UPDATED"]
