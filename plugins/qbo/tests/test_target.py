"""The QBO target against its sandbox: connection, calls per batch, the rules QBO enforces
and how their refusals reach the results (6140, 6240, 5010), US tax, journals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from qbo_testkit import VOCABULARY, company, limiter, runtime, target

from wisesync.errors import AuthError
from wisesync.events.models import Line, RecordEvent, RecordType, Status, Totals
from wisesync.store.tokens import MemoryTokenStore
from wisesync.testing.ledger import EditConflicts
from wisesync.testing.records import RecordBuilder
from wisesync_qbo.connect_cli import connect_company
from wisesync_qbo.connection import PROVIDER, Connections
from wisesync_qbo.sandbox import Limits, start_sandbox
from wisesync_qbo.sandbox.ledger import QboLedgerSandbox, _consent
from wisesync_qbo.target import QboTarget


@pytest.fixture()
def server():
    s = start_sandbox(seed=4, customers=5, limits=Limits(10**6, 10**6, 10**6))
    yield s
    s.stop()


@pytest.fixture()
def records():
    return RecordBuilder(VOCABULARY, prefix="TT-", rotate_contacts=5)


def codes(outcome) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.code for m in outcome.messages}


def test_thirty_invoices_cost_one_call_after_the_reference_data(server, records) -> None:
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    first = t.post(records.valid(30), ctx)  # customers listed and created on the way
    assert all(o.status is Status.POSTED for o in first)
    before = ctx.limiter.calls
    outcomes = t.post(records.valid(30), ctx)
    assert all(o.status is Status.POSTED for o in outcomes)
    assert ctx.limiter.calls - before == 1
    invoice = server.app.documents("Invoice")[-1]
    assert invoice["PrivateNote"].endswith(f"[wisesync:{outcomes[-1].source_id}]")
    line = invoice["Line"][0]
    assert line["SalesItemLineDetail"]["ItemRef"]["name"] == "LABOR"
    assert invoice["TotalAmt"] == outcomes[-1].ledger_total == D("198.00")  # 1.5 x 120 + 10%


def test_connect_stores_the_realm_and_rotating_refresh_is_saved(server) -> None:
    acme = company(server, realm_id="")
    store = MemoryTokenStore()
    rt = runtime(server, (acme,))
    realm = connect_company(rt, acme, store, port=0, open_url=_consent, echo=lambda _: None)
    assert realm == server.app.realm_id
    stored = store.current("acme", PROVIDER)
    assert stored.data["realm_id"] == realm and stored.refresh_token
    t = target(server, (acme,), store)
    server.app.expire_tokens()
    t.prepare(acme, limiter())  # 401 -> refresh -> the new refresh token is stored
    assert store.current("acme", PROVIDER).refresh_token != stored.refresh_token


def test_a_revoked_connection_is_an_auth_error_naming_the_reconnect_command(server) -> None:
    acme = company(server)
    t = target(server, (acme,))
    server.app.revoke()
    server.app.expire_tokens()
    with pytest.raises(AuthError) as err:
        t.prepare(acme, limiter())
    assert "wisesync qbo connect --company acme" in str(err.value)


def test_duplicate_doc_number_is_linked_when_ours_and_named_when_not(server, records) -> None:
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    ours = records.valid(1)
    posted = t.post(ours, ctx)[0]
    # the same record again in another batch (its first answer was lost; the batch's body,
    # so its requestid, differs): QBO says 6140 and the document is found to be ours
    fresh = t.post([*ours, *records.valid(1)], t.prepare(acme, limiter()))[0]
    assert fresh.status is Status.POSTED and fresh.ledger_id == posted.ledger_id
    assert "ALREADY_IN_LEDGER" in codes(fresh)
    theirs = records.record(records.line("50"), number=ours[0].document_number, source_id="other")
    refused = t.post([theirs], ctx)[0]
    assert refused.status is Status.FAILED and "DUPLICATE_DOCUMENT_NUMBER" in codes(refused)
    assert f"TxnId={posted.ledger_id}" in refused.messages[0].text
    assert len(server.app.documents("Invoice")) == 2


def test_a_name_used_by_a_vendor_fails_contact_invalid(server, records) -> None:
    acme = company(server)
    t = target(server, (acme,))
    clash = records.customer(9, name="Dicker Data Limited")
    outcome = t.post([records.record(records.line(), contact=clash)], t.prepare(acme, limiter()))[0]
    assert outcome.status is Status.FAILED and "CONTACT_INVALID" in codes(outcome)
    assert "6240" in outcome.messages[0].text


def test_the_sync_token_issue(server, records) -> None:
    """A customer changed in ConnectWise is updated with its SyncToken; a 5010 is read
    again and retried once; a second 5010 fails the record SYNC_TOKEN_CONFLICT."""
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    assert (
        t.post([records.record(records.line(), contact=records.customer(2))], ctx)[0].status
        is Status.POSTED
    )
    moved = records.customer(2, phone="02 8888 1111")
    server.app.fail_next("5010", "Customer")  # someone saved it once meanwhile
    ok = t.post([records.record(records.line(), contact=moved)], ctx)[0]
    assert ok.status is Status.POSTED
    [note] = [m for m in ok.messages if m.code == "CONTACT_UPDATED"]
    assert note.text.endswith("phone changed.")
    customer = next(
        c for c in server.app.documents("Customer") if c["DisplayName"] == "Customer 00002"
    )
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "02 8888 1111"
    token = customer["SyncToken"]
    same = t.post([records.record(records.line(), contact=moved)], ctx)[0]  # once
    assert same.status is Status.POSTED and "CONTACT_UPDATED" not in codes(same)
    assert server.app.company().get("Customer", customer["Id"])["SyncToken"] == token
    server.app.fail_next("5010", "Customer", count=2)
    again = records.customer(2, phone="02 7777 2222")
    failed = t.post([records.record(records.line(), contact=again)], ctx)[0]
    assert failed.status is Status.FAILED and "SYNC_TOKEN_CONFLICT" in codes(failed)
    assert failed.messages[0].hint.startswith("Someone is editing")
    replayed = t.post([records.record(records.line(), contact=again)], ctx)[0]  # a replay
    assert replayed.status is Status.POSTED and "CONTACT_UPDATED" in codes(replayed)


def test_a_customer_someone_keeps_editing_fails_until_they_stop(server, records) -> None:
    """The demo's Sync Token Issue: the ledger adapter's keep_editing makes every update of
    the customer stale (read again or not); stop_editing, and the replay posts the record."""
    acme = company(server)
    t = target(server, (acme,))
    customer = records.customer(7, name="O'Brien & Sons Plumbing", phone="02 9999 0000")
    record = records.record(records.line(), contact=customer)
    books = QboLedgerSandbox(server)
    assert isinstance(books, EditConflicts)
    books.keep_editing("O'Brien & Sons Plumbing")
    failed = t.post([record], t.prepare(acme, limiter()))[0]
    assert failed.status is Status.FAILED and codes(failed) == {"SYNC_TOKEN_CONFLICT"}
    assert "O'Brien & Sons Plumbing" in failed.messages[0].text
    assert server.app.documents("Invoice") == []
    books.stop_editing()
    t.invalidate(acme)  # a replay reads the customers again
    posted = t.post([record], t.prepare(acme, limiter()))[0]
    assert posted.status is Status.POSTED
    (stored,) = [
        c for c in server.app.documents("Customer") if c["DisplayName"].startswith("O'Brien")
    ]
    assert stored["PrimaryPhone"]["FreeFormNumber"] == "02 9999 0000"


def test_a_us_company_sends_tax_as_an_override_and_totals_match() -> None:
    s = start_sandbox(seed=4, country="US", limits=Limits(10**6, 10**6, 10**6))
    try:
        acme = company(s)
        t = target(s, (acme,))
        records = RecordBuilder(VOCABULARY, prefix="US-")
        outcome = t.post([records.record(records.line("99.99", "3"))], t.prepare(acme, limiter()))[
            0
        ]
        assert outcome.status is Status.POSTED, outcome.messages
        invoice = s.app.documents("Invoice")[0]
        assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
        assert invoice["TxnTaxDetail"]["TotalTax"] == D("30.00")
        assert outcome.ledger_total == D("329.97")
    finally:
        s.stop()


def test_inventory_adjustment_posts_a_balanced_journal(server) -> None:
    acme = company(server)
    t = target(server, (acme,))
    amount = D("125.50")
    record = RecordEvent(
        company="acme",
        source="connectwise",
        target="qbo",
        record_type=RecordType.PROCUREMENT,
        subtype="adjustment",
        source_id="adj-1",
        document_number="ADJ-1",
        date=date(2026, 1, 5),
        lines=[
            Line("Stock count", D("2"), D("62.75"), amount, gl_account="630"),
            Line("Offset", D("-2"), D("62.75"), -amount, gl_account="310"),
        ],
        totals=Totals(amount, D("0"), amount),
        attributes={"reason": "annual count"},
    ).seal()
    outcome = t.post([record], t.prepare(acme, limiter()))[0]
    assert outcome.status is Status.POSTED, outcome.messages
    journal = server.app.documents("JournalEntry")[0]
    sides = [ln["JournalEntryLineDetail"]["PostingType"] for ln in journal["Line"]]
    assert sides == ["Debit", "Credit"] and journal["TotalAmt"] == amount


def test_long_doc_numbers_are_refused_not_cut(server, records) -> None:
    acme = company(server)
    t = target(server, (acme,))
    long = records.record(records.line(), number="INV-" + "9" * 20)
    messages = t.validate(long, t.prepare(acme, limiter()))
    assert [m.code for m in messages] == ["RECORD_INVALID"]
    assert "21" in messages[0].text


def test_a_playground_refresh_token_creates_the_stored_connection_once(server) -> None:
    """refresh_token_env: a company never connected starts from a refresh token copied from
    Intuit's OAuth Playground; it is spent once, then the stored token set rotates."""
    section, env = server.connection_settings("acme")
    acme = company(server, refresh_token_env=section["refresh_token_env"])
    rt = runtime(server, (acme,))
    rt.environ.update(env)
    store = MemoryTokenStore()
    t = QboTarget(rt)
    t.connections = Connections(rt, store)
    t.prepare(acme, limiter())
    first = store.current("acme", PROVIDER)
    assert first.data["realm_id"] == server.app.realm_id
    assert first.refresh_token != env[section["refresh_token_env"]]  # rotated on first use
    again = QboTarget(rt)  # a restart: the store is used, the spent bootstrap token is not
    again.connections = Connections(rt, store)
    again.prepare(acme, limiter())
    assert store.current("acme", PROVIDER).refresh_token == first.refresh_token


def test_a_customer_made_inactive_in_qbo_is_the_contacts_problem(server, records) -> None:
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    assert t.post([records.record(records.line(), contact=records.customer(3))], ctx)[0].ledger_id
    server.app.set_active("Customer", "Customer 00003", False)  # wisesync's list is cached
    refused = t.post([records.record(records.line(), contact=records.customer(3))], ctx)[0]
    assert refused.status is Status.FAILED and "CONTACT_INVALID" in codes(refused)
    assert "610" in refused.messages[0].text
    t.invalidate(acme)  # a replay re-reads the customers: the reason is said before posting
    again = t.post(
        [records.record(records.line(), contact=records.customer(3))], t.prepare(acme, limiter())
    )[0]
    assert "inactive" in again.messages[0].text and codes(again) == {"CONTACT_INVALID"}


def test_currency_goes_with_the_document_when_multicurrency_is_on(records) -> None:
    s = start_sandbox(seed=4, multicurrency=True, limits=Limits(10**6, 10**6, 10**6))
    try:
        acme = company(s)
        t = target(s, (acme,))
        usd = records.record(records.line(), currency="USD", attributes={"exchange_rate": "1.5123"})
        outcome = t.post([usd], t.prepare(acme, limiter()))[0]
        assert outcome.status is Status.POSTED, outcome.messages
        invoice = s.app.documents("Invoice")[0]
        assert invoice["CurrencyRef"] == {"value": "USD"}
        assert invoice["ExchangeRate"] == D("1.5123")
    finally:
        s.stop()


def test_a_foreign_currency_without_multicurrency_is_refused_before_posting(
    server, records
) -> None:
    acme = company(server)
    t = target(server, (acme,))
    usd = records.record(records.line(), currency="USD")
    messages = t.validate(usd, t.prepare(acme, limiter()))
    assert [m.code for m in messages] == ["RECORD_INVALID"]
    assert "multicurrency" in messages[0].text and "AUD" in messages[0].text


def test_two_connectwise_companies_of_one_name_do_not_flip_the_customer(server, records) -> None:
    """QBO knows a customer by DisplayName only: a second ConnectWise company of the same
    name posts to it without rewriting it with its own details, post after post."""
    acme = company(server)
    t = target(server, (acme,))
    ctx = t.prepare(acme, limiter())
    first = records.customer(3)
    twin = records.customer(3, source_id="9003", phone="03 5555 0000")
    for contact in (first, twin, first, twin):
        outcome = t.post([records.record(records.line(), contact=contact)], ctx)[0]
        assert outcome.status is Status.POSTED and "CONTACT_UPDATED" not in codes(outcome)
    [customer] = [
        c for c in server.app.documents("Customer") if c["DisplayName"] == "Customer 00003"
    ]
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "02 9999 0000"


def test_connect_renews_a_lapsed_access_token_without_an_api_call(server) -> None:
    """What an interactive Sync All asks for as it starts: a usable access token in the
    store, from Intuit's token endpoint only (no API limit counts it)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    acme = company(server)
    store = MemoryTokenStore()
    t = target(server, (acme,), store)
    lapsed = store.current("acme", PROVIDER)
    store.save("acme", PROVIDER, replace(lapsed, expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    before = server.app.calls(path=r"/v3/company/")
    t.connect(acme)
    renewed = store.current("acme", PROVIDER)
    assert renewed.access_token != lapsed.access_token
    assert not renewed.expires_within(60)
    assert server.app.calls(path=r"/v3/company/") == before
