"""The Xero sandbox: PKCE, scopes, tenants, updates, credit-note allocation, control API."""

from __future__ import annotations

import base64
import functools
import hashlib
import subprocess
import sys
from datetime import UTC, timedelta
from decimal import Decimal
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wisesync import money
from wisesync_xero.sandbox import ManualClock, start_sandbox

D = Decimal


@pytest.fixture
def make_server(sandbox_factory):
    """Start Xero sandboxes with options; stopped after the test."""
    return functools.partial(sandbox_factory, start_sandbox)


def token_for(server, tenant: str | None = None, scope: str | None = None) -> str:
    creds = server.app.credentials(tenant)
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    response = requests.post(
        server.url + "/connect/token",
        data=form,
        auth=(creds.client_id, creds.client_secret),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def call(server, token, method, path, body=None, tenant=None, headers=None, **params):
    hdrs = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        **(headers or {}),
    }
    if tenant is not False:
        hdrs["xero-tenant-id"] = tenant or server.app.tenant_id
    response = requests.request(
        method,
        server.url + "/api.xro/2.0" + path,
        data=money.dumps(body) if body is not None else None,
        params=params,
        headers=hdrs,
        timeout=10,
    )
    response.body = money.loads(response.content) if response.content else None
    return response


def invoice(number, **over):
    inv = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme"},
        "InvoiceNumber": number,
        "Date": "2024-05-01",
        "DueDate": "2024-05-31",
        "Status": "AUTHORISED",
        "LineItems": [
            {
                "Description": "x",
                "Quantity": D("1"),
                "UnitAmount": D("100.00"),
                "AccountCode": "200",
            }
        ],
    }
    inv.update(over)
    return inv


def test_pkce_is_verified(make_server):
    server = make_server()
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )

    def code():
        response = requests.get(
            server.url + "/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": server.app.client_id,
                "redirect_uri": "http://localhost/cb",
                "scope": "openid offline_access accounting.transactions",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=5,
        )
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]

    def exchange(value, code_verifier):
        return requests.post(
            server.url + "/connect/token",
            data={
                "grant_type": "authorization_code",
                "code": value,
                "redirect_uri": "http://localhost/cb",
                "code_verifier": code_verifier,
            },
            auth=(server.app.client_id, server.app.client_secret),
            timeout=5,
        )

    assert exchange(code(), "wrong").json()["error"] == "invalid_grant"
    first = code()
    assert exchange(first, verifier).status_code == 200
    # a code is single use
    assert exchange(first, verifier).json()["error"] == "invalid_grant"


def test_consent_page_when_auto_consent_is_off(make_server):
    server = make_server(auto_consent=False)
    params = {
        "response_type": "code",
        "client_id": server.app.client_id,
        "redirect_uri": "http://localhost/cb",
        "scope": "offline_access accounting.transactions",
        "state": "s1",
    }
    page = requests.get(server.url + "/identity/connect/authorize", params=params, timeout=5)
    assert page.status_code == 200 and 'id="allow"' in page.text
    allowed = requests.get(
        server.url + "/identity/connect/authorize",
        params={**params, "consent": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert allowed.status_code == 302 and "code=" in allowed.headers["Location"]


def test_scopes_are_enforced(make_server):
    server = make_server()
    read_only = token_for(server, scope="accounting.transactions.read accounting.settings")
    assert call(server, read_only, "GET", "/Invoices").status_code == 200
    refused = call(server, read_only, "PUT", "/Invoices", {"Invoices": [invoice("S-1")]})
    assert refused.status_code == 401 and refused.body["Detail"] == "AuthorizationUnsuccessful"
    assert call(server, read_only, "GET", "/Contacts").status_code == 401
    granular = token_for(
        server, scope="accounting.invoices accounting.payments accounting.contacts"
    )
    assert (
        call(server, granular, "PUT", "/Invoices", {"Invoices": [invoice("S-2")]}).status_code
        == 200
    )
    bad = requests.post(
        server.url + "/connect/token",
        data={"grant_type": "client_credentials", "scope": "payroll.everything"},
        auth=(server.app.credentials().client_id, server.app.credentials().client_secret),
        timeout=5,
    )
    assert bad.json() == {"error": "invalid_scope"}


def test_tenants_are_isolated_and_limited_separately(make_server):
    server = make_server(tenants=2)
    first, second = list(server.app.orgs)
    t1, t2 = token_for(server, first), token_for(server, second)
    assert (
        call(
            server, t1, "PUT", "/Invoices", {"Invoices": [invoice("M-1")]}, tenant=first
        ).status_code
        == 200
    )
    # the same number is free in the other organisation
    assert (
        call(
            server, t2, "PUT", "/Invoices", {"Invoices": [invoice("M-1")]}, tenant=second
        ).status_code
        == 200
    )
    # a custom connection cannot address another organisation
    assert call(server, t1, "GET", "/Invoices", tenant=second).status_code == 403
    assert server.app.documents_count(tenant=first) == 1
    assert server.app.documents_count(tenant=second) == 1
    r1 = call(server, t1, "GET", "/Organisation", tenant=first)
    r2 = call(server, t2, "GET", "/Organisation", tenant=second)
    assert r1.headers["X-MinLimit-Remaining"] == r2.headers["X-MinLimit-Remaining"] == "58"


def test_post_updates_voids_and_guards_paid_invoices(make_server):
    server = make_server()
    token = token_for(server)
    created = call(
        server, token, "PUT", "/Invoices", {"Invoices": [invoice("U-1", Status="DRAFT")]}
    )
    invoice_id = created.body["Invoices"][0]["InvoiceID"]
    approved = call(
        server, token, "POST", f"/Invoices/{invoice_id}", {"Invoices": [{"Status": "AUTHORISED"}]}
    )
    assert approved.status_code == 200
    assert approved.body["Invoices"][0]["Status"] == "AUTHORISED"
    # POST /Invoices with a known ACCREC number updates that invoice
    renamed = call(
        server,
        token,
        "POST",
        "/Invoices",
        {"Invoices": [{"InvoiceNumber": "U-1", "Reference": "PO 7"}]},
    )
    assert renamed.body["Invoices"][0]["InvoiceID"] == invoice_id
    assert server.app.documents_count() == 1
    back_to_draft = call(
        server, token, "POST", f"/Invoices/{invoice_id}", {"Invoices": [{"Status": "DRAFT"}]}
    )
    assert back_to_draft.status_code == 400
    assert back_to_draft.body["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "Invoice not of valid status for modification"
    )
    server.app.apply_payment("U-1", "10.00", "2024-06-01")
    edit = call(
        server,
        token,
        "POST",
        f"/Invoices/{invoice_id}",
        {
            "Invoices": [
                {
                    "LineItems": [
                        {
                            "Description": "y",
                            "Quantity": D("1"),
                            "UnitAmount": D("5"),
                            "AccountCode": "200",
                        }
                    ]
                }
            ]
        },
    )
    assert edit.body["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "This document cannot be edited as it has a payment or credit note allocated to it."
    )
    other = call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("U-2")]}).body[
        "Invoices"
    ][0]
    voided = call(
        server,
        token,
        "POST",
        f"/Invoices/{other['InvoiceID']}",
        {"Invoices": [{"Status": "VOIDED"}]},
    )
    assert voided.body["Invoices"][0]["Status"] == "VOIDED"
    assert server.app.spec_violations == []


def test_credit_note_allocation_reduces_the_invoice(make_server):
    server = make_server()
    token = token_for(server)
    inv = call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("A-1")]}).body["Invoices"][
        0
    ]
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"Name": "Acme"},
        "CreditNoteNumber": "CN-A1",
        "Status": "AUTHORISED",
        "LineItems": [
            {
                "Description": "refund",
                "Quantity": D("1"),
                "UnitAmount": D("20.00"),
                "AccountCode": "200",
            }
        ],
    }
    cn = call(server, token, "PUT", "/CreditNotes", {"CreditNotes": [note]}).body["CreditNotes"][0]
    allocation = {
        "Allocations": [
            {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": D("22.00"), "Date": "2024-05-02"}
        ]
    }
    response = call(
        server, token, "PUT", f"/CreditNotes/{cn['CreditNoteID']}/Allocations", allocation
    )
    assert response.status_code == 200, response.body
    after = server.app.invoice_by_number("A-1")
    assert (after["AmountCredited"], after["AmountDue"]) == (D("22.00"), D("88.00"))
    assert server.app.credit_note_by_number("CN-A1")["Status"] == "PAID"


def test_contacts_put_refuses_duplicates_and_post_updates(make_server):
    server = make_server(contacts=2)
    token = token_for(server)
    dup = call(
        server,
        token,
        "PUT",
        "/Contacts",
        {"Contacts": [{"Name": "customer 00001"}]},
        summarizeErrors="false",
    )
    assert dup.status_code == 200
    assert dup.body["Contacts"][0]["ValidationErrors"][0]["Message"] == (
        "The contact name customer 00001 is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    )
    number = call(
        server, token, "PUT", "/Contacts", {"Contacts": [{"Name": "X", "ContactNumber": "C00002"}]}
    )
    assert number.status_code == 400
    updated = call(
        server,
        token,
        "POST",
        "/Contacts",
        {"Contacts": [{"ContactNumber": "C00001", "EmailAddress": "ap@x.com"}]},
    )
    assert updated.body["Contacts"][0]["EmailAddress"] == "ap@x.com"
    assert len(server.app.contacts()) == 2


def test_if_modified_since_and_ids(make_server):
    clock = ManualClock()
    server = make_server(clock=clock)
    token = token_for(server)
    call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("O-1")]})
    clock.advance(120)
    since = server.app.wall.utcnow()
    clock.advance(1)
    newer = call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("O-2")]}).body[
        "Invoices"
    ][0]
    stamp = format_datetime(since.replace(tzinfo=UTC) - timedelta(seconds=0), usegmt=True)
    found = call(server, token, "GET", "/Invoices", headers={"If-Modified-Since": stamp})
    assert [i["InvoiceNumber"] for i in found.body["Invoices"]] == ["O-2"]
    iso = call(server, token, "GET", "/Invoices", headers={"If-Modified-Since": since.isoformat()})
    assert [i["InvoiceNumber"] for i in iso.body["Invoices"]] == ["O-2"]
    by_id = call(server, token, "GET", "/Invoices", IDs=newer["InvoiceID"].upper())
    assert [i["InvoiceNumber"] for i in by_id.body["Invoices"]] == ["O-2"]


def test_control_api_drives_an_out_of_process_sandbox(make_server):
    server = make_server()
    state = requests.get(server.url + "/__sandbox/xero/state", timeout=5).json()
    assert state["tenants"][0]["tenant_id"] == server.app.tenant_id
    token = token_for(server)
    assert (
        call(
            server,
            token,
            "PUT",
            "/Invoices",
            {
                "Invoices": [
                    invoice(
                        "X-1",
                        LineItems=[
                            {
                                "Description": "x",
                                "Quantity": D("1"),
                                "UnitAmount": D("1"),
                                "AccountCode": "4999",
                            }
                        ],
                    )
                ]
            },
        ).status_code
        == 400
    )
    made = requests.post(
        server.url + "/__sandbox/xero/accounts",
        json={"code": "4999", "name": "Misc", "type": "REVENUE"},
        timeout=5,
    )
    assert made.status_code == 200 and made.json()["Code"] == "4999"
    paid = call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("X-2")]})
    assert paid.status_code == 200
    payment = requests.post(
        server.url + "/__sandbox/xero/payments",
        json={"invoice_number": "X-2", "amount": "5.00", "date": "2024-06-01"},
        timeout=5,
    )
    assert payment.status_code == 200
    assert (
        requests.post(server.url + "/__sandbox/xero/expire-tokens", timeout=5).json()["expired"]
        >= 1
    )
    assert call(server, token, "GET", "/Invoices").status_code == 401
    assert (
        requests.get(server.url + "/__sandbox/xero/state", timeout=5).json()["tenants"][0][
            "documents"
        ]
        == 1
    )


def test_module_runs_in_the_foreground_and_prints_credentials():
    proc = subprocess.Popen(
        [sys.executable, "-m", "wisesync_xero.sandbox", "--port", "0", "--contacts", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(8)]
        text = "".join(lines)
        assert text.startswith("Xero sandbox at http://127.0.0.1:")
        assert "tenant_id=" in text and "client_secret=" in text
        url = lines[0].split()[-1]
        assert (
            requests.get(url + "/__sandbox/xero/state", timeout=5).json()["tenants"][0]["contacts"]
            == 3
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_user_created_invoices_are_not_created_by_my_app_and_paid_ones_take_a_reference(
    make_server,
):
    server = make_server()
    token = token_for(server)
    mine = call(server, token, "PUT", "/Invoices", {"Invoices": [invoice("APP-1")]}).body
    user = server.app.create_invoice(invoice("USER-1"))
    assert user["Total"] == D("110.00")
    everything = call(server, token, "GET", "/Invoices").body["Invoices"]
    assert {i["InvoiceNumber"] for i in everything} == {"APP-1", "USER-1"}
    by_app = call(server, token, "GET", "/Invoices", createdByMyApp="true").body["Invoices"]
    assert [i["InvoiceNumber"] for i in by_app] == ["APP-1"]
    with pytest.raises(ValueError, match=r"Invoice # must be unique\."):
        server.app.create_invoice(invoice("USER-1"))
    server.app.apply_payment("APP-1", "110.00", "2024-06-01")
    invoice_id = mine["Invoices"][0]["InvoiceID"]
    ref = call(server, token, "POST", f"/Invoices/{invoice_id}", {"Invoices": [{"Reference": "R"}]})
    assert ref.status_code == 200, ref.body
    assert (ref.body["Invoices"][0]["Status"], ref.body["Invoices"][0]["Reference"]) == (
        "PAID",
        "R",
    )


def test_items_and_tracking_options_can_be_added(make_server):
    server = make_server()
    token = token_for(server)
    item = {
        "Code": "NEW-1",
        "Name": "New",
        "SalesDetails": {"UnitPrice": D("12.50"), "AccountCode": "200"},
    }
    assert call(server, token, "PUT", "/Items", {"Items": [item]}).status_code == 200
    again = call(server, token, "PUT", "/Items", {"Items": [item]})
    assert again.status_code == 400
    bad_account = {"Code": "NEW-2", "SalesDetails": {"AccountCode": "4999"}}
    refused = call(server, token, "PUT", "/Items", {"Items": [bad_account]})
    assert refused.body["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "Account code '4999' is not a valid code for this document."
    )
    line = {"Description": "x", "Quantity": D("2"), "ItemCode": "NEW-1"}
    created = call(
        server, token, "PUT", "/Invoices", {"Invoices": [invoice("IT-1", LineItems=[line])]}
    )
    doc = created.body["Invoices"][0]
    assert (doc["LineItems"][0]["AccountCode"], doc["SubTotal"]) == ("200", D("25.00"))

    perth = invoice("TR-1")
    perth["LineItems"][0]["Tracking"] = [{"Name": "Location", "Option": "Perth"}]
    assert call(server, token, "PUT", "/Invoices", {"Invoices": [perth]}).status_code == 400
    location = server.app.org().tracking_by_name("Location")["TrackingCategoryID"]
    added = call(server, token, "PUT", f"/TrackingCategories/{location}/Options", {"Name": "Perth"})
    assert added.status_code == 200
    assert call(server, token, "PUT", "/Invoices", {"Invoices": [perth]}).status_code == 200
    server.app.create_tracking_option("Department", "Security")
    names = [o["Name"] for o in server.app.org().tracking_by_name("Department")["Options"]]
    assert names[-1] == "Security"
    assert server.app.spec_violations == []
