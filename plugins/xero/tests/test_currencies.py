"""Currencies: the target reads the organisation's (GET /Currencies, cached with the
reference data), fails a record in a currency it has not added with
CURRENCY_NOT_ENABLED before posting, and sends CurrencyCode / CurrencyRate; the
sandbox enforces the spec's currency list and each organisation's currencies."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
import requests
from test_sandbox import client_credentials
from xero_testkit import customer, limiter, line, record, reference, target_for

from wisesync.config import CompanyOptions
from wisesync.events.models import Status
from wisesync_xero.mapping import plan
from wisesync_xero.sandbox import start_sandbox

TRACKING = {"location": "Location", "department": "Department"}


@pytest.fixture
def server():
    srv = start_sandbox(seed=11, contacts=10)
    yield srv
    srv.stop()


def foreign(currency: str, **kw):
    number = f"FX{uuid.uuid4().hex[:8]}"
    return record(line("100"), number=number, currency=currency, **kw)


def build(rec):
    return plan(rec, reference(), CompanyOptions(require_item_code=True), TRACKING)


def test_a_currency_the_organisation_has_not_added_fails_before_posting():
    p = build(foreign("EUR"))
    assert not p.ok and [m.code for m in p.messages] == ["CURRENCY_NOT_ENABLED"]
    text = p.messages[0].text
    assert "EUR" in text and "AUD, NZD, USD" in text and "Settings > Currencies" in text


def test_currency_and_exchange_rate_go_into_the_document():
    p = build(foreign("usd", attributes={"exchange_rate": "0.6523417"}))
    assert p.ok
    assert p.body["CurrencyCode"] == "USD" and p.body["CurrencyRate"] == D("0.652342")
    home = build(foreign("AUD", attributes={"exchange_rate": "1"}))
    assert home.body["CurrencyCode"] == "AUD" and "CurrencyRate" not in home.body
    bad = build(foreign("USD", attributes={"exchange_rate": "1,234"}))
    assert [m.code for m in bad.messages] == ["RECORD_INVALID"]


def test_one_record_in_a_foreign_currency_no_longer_sinks_its_batch(server):
    """Before: SSP (ISO 4217, not in Xero's CurrencyCode list) made Xero refuse the whole
    request and five valid records failed beside it; EUR (not added) was refused by Xero
    after a write. Now both fail alone, before any write carries them."""
    app = server.app
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    valid = [record(line("80"), contact=customer(i)) for i in range(1, 6)]
    batch = [*valid[:2], foreign("SSP"), *valid[2:], foreign("EUR")]
    outcomes = target.post(batch, ctx)
    assert [o.status for o in outcomes] == [Status.POSTED] * 2 + [Status.FAILED] + [
        Status.POSTED
    ] * 3 + [Status.FAILED]
    assert {m.code for m in outcomes[2].messages} == {"CURRENCY_NOT_ENABLED"}
    assert {m.code for m in outcomes[6].messages} == {"CURRENCY_NOT_ENABLED"}
    assert app.documents_count() == 5
    assert app.calls("PUT", "Invoices") == 1 and app.spec_violations == []


def test_a_foreign_invoice_posts_with_its_rate_and_a_new_currency_after_a_refresh(server):
    app = server.app
    target, comp = target_for(server)
    rec = foreign("USD", attributes={"exchange_rate": "0.65"})
    (outcome,) = target.post([rec], target.prepare(comp, limiter()))
    assert outcome.status is Status.POSTED
    stored = app.invoice_by_number(rec.document_number)
    assert stored["CurrencyCode"] == "USD" and stored["CurrencyRate"] == D("0.650000")
    payment = app.apply_payment(rec.document_number, stored["Total"])
    assert payment["CurrencyRate"] == D("0.650000")  # the bank account is in AUD
    assert payment["BankAmount"] == (stored["Total"] / D("0.65")).quantize(D("0.01"))
    gbp = foreign("GBP")
    assert [m.code for m in target.validate(gbp, target.prepare(comp, limiter()))] == [
        "CURRENCY_NOT_ENABLED"
    ]
    app.enable_currency("GBP")  # the user adds it in Xero, then replays
    target.invalidate(comp)
    (outcome,) = target.post([gbp], target.prepare(comp, limiter()))
    assert outcome.status is Status.POSTED
    assert app.invoice_by_number(gbp.document_number)["CurrencyRate"] == D("0.510000")


def test_the_sandbox_refuses_currencies_as_xero_does(server):
    app = server.app
    creds = app.credentials()
    token = client_credentials(server)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": creds.tenant_id}
    api = f"{server.url}/api.xro/2.0"

    def put(currency: str, rate: float | None = None) -> requests.Response:
        invoice = {
            "Type": "ACCREC",
            "Contact": {"Name": "Customer 00001"},
            "CurrencyCode": currency,
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10,
                           "AccountCode": "200"}],
        }  # fmt: skip
        if rate is not None:
            invoice["CurrencyRate"] = rate
        return requests.put(
            f"{api}/Invoices?summarizeErrors=false",
            json={"Invoices": [invoice]},
            headers=headers,
            timeout=10,
        )

    not_listed = put("SSP")
    assert not_listed.status_code == 400
    assert not_listed.json()["Type"] == "PostDataInvalidException"
    eur = put("EUR")
    assert eur.status_code == 200, eur.text[:300]
    element = eur.json()["Invoices"][0]
    assert element["ValidationErrors"] == [
        {"Message": "Organisation is not subscribed to currency EUR"}
    ]
    too_precise = put("USD", 0.1234567).json()["Invoices"][0]
    assert "at most 6 decimal places" in too_precise["ValidationErrors"][0]["Message"]
    listed = requests.get(f"{api}/Currencies", headers=headers, timeout=10).json()
    assert [c["Code"] for c in listed["Currencies"]] == ["AUD", "NZD", "USD"]
    control = requests.post(
        f"{server.url}/__sandbox/xero/currencies", json={"code": "EUR"}, timeout=10
    )
    assert control.status_code == 204
    assert put("EUR").json()["Invoices"][0]["StatusAttributeString"] == "OK"
    added = requests.put(f"{api}/Currencies", json={"Code": "GBP"}, headers=headers, timeout=10)
    assert added.json()["Currencies"] == [{"Code": "GBP", "Description": "British Pound"}]
    assert (
        requests.put(
            f"{api}/Currencies", json={"Code": "XYZ"}, headers=headers, timeout=10
        ).status_code
        == 400
    )
    app.spec_violations.clear()  # SSP and XYZ were refused on purpose


def test_currencies_are_enabled_per_organisation():
    from wisesync_xero.sandbox import XeroSandbox

    app = XeroSandbox(seed=2, tenants=2, currencies=())
    first, second = app.orgs
    app.enable_currency("eur", tenant=second)
    assert set(app.org(first).currencies) == {"AUD"}
    assert set(app.org(second).currencies) == {"AUD", "EUR"}
    assert app.describe()["tenants"][1]["currencies"] == ["AUD", "EUR"]
