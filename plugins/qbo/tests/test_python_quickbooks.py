"""python-quickbooks (the community client, unmodified) against the QBO sandbox.

The client is pointed at the sandbox the only ways it allows: intuit-oauth's
``AuthClient`` reads the sandbox's discovery document (an ``environment`` that is not a
known name is used as the discovery URL) and the ``api_url_v3`` attribute is set on
the instance. ``OAUTHLIB_INSECURE_TRANSPORT`` lets requests-oauthlib talk plain http.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.bill import Bill
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import (
    AccountBasedExpenseLine,
    AccountBasedExpenseLineDetail,
    SalesItemLine,
    SalesItemLineDetail,
)
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.vendor import Vendor

from wisesync_qbo.sandbox import Limits, ManualClock, start_sandbox


@pytest.fixture()
def sandbox(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    # QBO's throttles (10/s) would trip a fast test; the throttle test below sets them low
    server = start_sandbox(seed=3, limits=Limits(per_second=10_000, per_minute=10_000))
    yield server
    server.stop()


def client(server, *, access_token: str | None = None) -> tuple[QuickBooks, AuthClient]:
    app = server.app
    tokens = app.issue_tokens()
    auth = AuthClient(
        app.app.client_id,
        app.app.client_secret,
        "http://127.0.0.1/callback",
        server.url + "/.well-known/openid_configuration",
        access_token=access_token or tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        realm_id=app.realm_id,
    )
    qb = QuickBooks(
        auth_client=auth,
        refresh_token=tokens["refresh_token"],
        company_id=app.realm_id,
        minorversion=75,
    )
    qb.api_url_v3 = server.url + "/v3"
    return qb, auth


def ref(obj):
    return obj.to_ref()


def test_query_filters_and_counts(sandbox):
    qb, _ = client(sandbox)
    accounts = {a.AcctNum: a for a in Account.all(qb=qb)}
    assert accounts["477"].Active is False
    assert accounts["200"].Name == "Sales"
    items = Item.filter(Active=True, qb=qb)
    assert "OLD-SUPPORT" not in {i.Name for i in items}
    assert Item.count("Name LIKE 'HW%'", qb=qb) == 2
    # python-quickbooks escapes the apostrophe as \' and the sandbox reads it back
    sandbox.app.add("Customer", {"DisplayName": "O'Brien & Sons", "Active": True})
    found = Customer.filter(DisplayName="O'Brien & Sons", qb=qb)
    assert [c.DisplayName for c in found] == ["O'Brien & Sons"]
    page = Item.filter(max_results=3, start_position=4, order_by="Name", qb=qb)
    assert [i.Name for i in page] == sorted(i.Name for i in Item.all(qb=qb))[3:6]
    assert sandbox.app.minor_versions == {75}  # the client pins QBO's minimum, 75


def test_create_and_update_customer_item_invoice_bill(sandbox):
    qb, _ = client(sandbox)
    customer = Customer()
    customer.DisplayName = "Café Zürich"
    customer.CompanyName = "Café Zürich"
    customer = customer.save(qb=qb)
    assert customer.Id and customer.SyncToken == "0"
    customer.CompanyName = "Café Zürich AG"
    customer = customer.save(qb=qb)  # the saved version carries the new SyncToken
    assert Customer.get(customer.Id, qb=qb).CompanyName == "Café Zürich AG"
    assert customer.SyncToken == "1"

    income = next(a for a in Item.all(qb=qb) if a.Name == "LABOR").IncomeAccountRef
    item = Item()
    item.Name = "ONSITE"
    item.Type = "Service"
    item.IncomeAccountRef = income
    item = item.save(qb=qb)
    item.UnitPrice = 120
    item = item.save(qb=qb)
    assert Item.get(item.Id, qb=qb).UnitPrice == 120

    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.DocNumber = "INV-1001"
    line = SalesItemLine()
    line.Amount = Decimal("240.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = 2
    line.SalesItemLineDetail.UnitPrice = 120
    invoice.Line = [line]
    invoice = invoice.save(qb=qb)
    assert invoice.TotalAmt == 240 and invoice.Balance == 240
    fetched = Invoice.get(invoice.Id, qb=qb)
    fetched.PrivateNote = "updated"
    fetched.save(qb=qb)
    assert Invoice.get(invoice.Id, qb=qb).PrivateNote == "updated"
    assert Invoice.filter(DocNumber="INV-1001", qb=qb)[0].SyncToken == "1"

    vendor = Vendor.filter(DisplayName="Dicker Data Limited", qb=qb)[0]
    expense = next(a for a in Account.all(qb=qb) if a.AcctNum == "429")
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.DocNumber = "PO-77"
    bill_line = AccountBasedExpenseLine()
    bill_line.Amount = Decimal("55.10")
    bill_line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    bill_line.AccountBasedExpenseLineDetail.AccountRef = expense.to_ref()
    bill.Line = [bill_line]
    bill = bill.save(qb=qb)
    bill.PrivateNote = "checked"
    bill.save(qb=qb)
    stored = sandbox.app.documents("Bill")
    assert [(b["DocNumber"], b["TotalAmt"], b["SyncToken"]) for b in stored] == [
        ("PO-77", Decimal("55.10"), "1")
    ]


def test_batch_create(sandbox):
    qb, _ = client(sandbox)
    customers = []
    for n in range(3):
        c = Customer()
        c.DisplayName = f"Batch Customer {n}"
        customers.append(c)
    duplicate = Customer()
    duplicate.DisplayName = "Ingram Micro Australia"  # a vendor's name: 6240
    result = batch_create([*customers, duplicate], qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == [
        f"Batch Customer {n}" for n in range(3)
    ]
    assert [f.Error[0].code for f in result.faults] == ["6240"]
    assert result.faults[0].original_object is duplicate


def test_stale_sync_token_and_business_rules_reach_the_exception_classes(sandbox):
    qb, _ = client(sandbox)
    customer = Customer.filter(DisplayName="Ingram Micro Australia", qb=qb)
    assert customer == []  # a vendor, not a customer
    c = Customer()
    c.DisplayName = "Stale Ltd"
    c = c.save(qb=qb)
    sandbox.app.touch("Customer", c.Id)  # another user saves it first
    c.CompanyName = "Stale Limited"
    with pytest.raises(QuickbooksException) as stale:
        c.save(qb=qb)
    assert stale.value.error_code == 5010
    assert "Stale Object Error" in stale.value.message

    item = Item.filter(Name="LABOR", qb=qb)[0]
    invoice = Invoice()
    invoice.CustomerRef = c.to_ref()
    line = SalesItemLine()
    line.Amount = Decimal("10.01")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = Decimal("3")
    line.SalesItemLineDetail.UnitPrice = Decimal("3.333")
    invoice.Line = [line]
    with pytest.raises(QuickbooksException) as amount:
        invoice.save(qb=qb)
    assert amount.value.error_code == 6070


def test_expired_token_is_an_authorization_exception_and_refresh_rotates(sandbox):
    qb, auth = client(sandbox)
    sandbox.app.expire_tokens()
    with pytest.raises(AuthorizationException):
        Item.all(qb=qb)
    old = auth.refresh_token
    auth.refresh()
    assert auth.refresh_token != old
    qb.session.token = {"access_token": auth.access_token}
    qb.session.access_token = auth.access_token
    assert Item.count(qb=qb) >= 10
    with pytest.raises(AuthClientError) as reused:
        auth.refresh(refresh_token=old)  # the rotated-out token is single use
    assert reused.value.status_code == 400
    assert reused.value.response.json() == {"error": "invalid_grant"}


def test_throttling_answers_with_qbos_xml_body(monkeypatch):
    """QBO's 429 body is XML even when JSON was asked for: python-quickbooks turns it into
    its generic 10000 "Error reading json response", as it does against QBO."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    clock = ManualClock()
    server = start_sandbox(seed=3, clock=clock, limits=Limits(per_second=2, per_minute=500))
    try:
        qb, _ = client(server)
        Item.count(qb=qb)
        Item.count(qb=qb)
        with pytest.raises(QuickbooksException) as throttled:
            Item.count(qb=qb)
        assert throttled.value.error_code == 10000
        assert "ThrottleExceeded" in throttled.value.message
        clock.advance(1.0)
        assert Item.count(qb=qb) == 11
        assert server.app.rate_limited == 1
    finally:
        server.stop()
