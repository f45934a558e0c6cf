"""The Xero sandbox behaves like Xero: auth, spec validation, rules, limits, idempotency."""

from __future__ import annotations

import functools
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wisesync import money
from wisesync.testing.sandbox import Fault
from wisesync_xero.sandbox import Limits, ManualClock, start_sandbox

D = Decimal


class Xero:
    """A tiny client: Bearer token + tenant header, Decimal JSON both ways."""

    def __init__(self, server, token: str, tenant: str | None):
        self.base = server.url + "/api.xro/2.0"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        if tenant:
            self.session.headers["xero-tenant-id"] = tenant
        self.session.headers["Accept"] = "application/json"

    def call(self, method: str, path: str, body=None, headers=None, **params):
        data = money.dumps(body) if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        response = self.session.request(
            method, self.base + path, data=data, params=params, headers=hdrs, timeout=10
        )
        response.body = money.loads(response.content) if response.content else None
        return response


def client_credentials(server) -> dict:
    creds = server.app.credentials()
    response = requests.post(
        server.url + "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, creds.client_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def clock(manual_clock):
    return manual_clock


@pytest.fixture
def make_server(sandbox_factory):
    """Start Xero sandboxes with options; stopped after the test."""
    return functools.partial(sandbox_factory, start_sandbox)


@pytest.fixture
def server(clock, make_server):
    return make_server(
        seed=7,
        clock=clock,
        contacts=[
            {"Name": 'O"Brien & Sons', "ContactNumber": "C00042"},
            {"Name": "Café Zürich", "ContactNumber": "C00043"},
        ],
    )


@pytest.fixture
def xero(server):
    return Xero(server, client_credentials(server)["access_token"], server.app.tenant_id)


def invoice(number: str = "CW-1", *, account: str = "200", tax: str = "OUTPUT", **over) -> dict:
    inv = {
        "Type": "ACCREC",
        "Contact": {"ContactNumber": "C00042"},
        "InvoiceNumber": number,
        "Date": "2024-05-01",
        "DueDate": "2024-05-31",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "Description": "Managed services",
                "Quantity": D("2"),
                "UnitAmount": D("50.00"),
                "AccountCode": account,
                "TaxType": tax,
                "Tracking": [{"Name": "Location", "Option": "Sydney"}],
            }
        ],
    }
    inv.update(over)
    return inv


def errors_of(element: dict) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


# -- OAuth ---------------------------------------------------------------------------------------


def test_client_credentials_token_reaches_the_api_and_401_403_use_xero_bodies(server):
    token = client_credentials(server)
    assert token["expires_in"] == 1800 and "refresh_token" not in token
    ok = Xero(server, token["access_token"], server.app.tenant_id).call("GET", "/Organisation")
    assert ok.status_code == 200
    assert ok.body["Organisations"][0]["OrganisationID"] == server.app.tenant_id
    # a custom connection needs no tenant header
    assert Xero(server, token["access_token"], None).call("GET", "/Accounts").status_code == 200
    anonymous = requests.get(server.url + "/api.xro/2.0/Invoices", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["Title"] == "Unauthorized"
    wrong = Xero(server, token["access_token"], "6e7e3a3c-7a4f-4b3e-9d5c-1f2a3b4c5d6e")
    forbidden = wrong.call("GET", "/Invoices")
    assert forbidden.status_code == 403
    assert forbidden.body["Detail"] == "AuthenticationUnsuccessful"
    bad_secret = requests.post(
        server.url + "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(server.app.credentials().client_id, "nope"),
        timeout=5,
    )
    assert bad_secret.status_code == 400 and bad_secret.json() == {"error": "invalid_client"}


def _auth_code_tokens(server) -> dict:
    authorize = requests.get(
        server.url + "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": server.app.client_id,
            "redirect_uri": "http://localhost:9999/callback",
            "scope": "openid offline_access accounting.transactions accounting.settings",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert authorize.status_code == 302
    location = urlsplit(authorize.headers["Location"])
    assert location.path == "/callback"
    params = parse_qs(location.query)
    assert params["state"] == ["xyz"]
    response = requests.post(
        server.url + "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": "http://localhost:9999/callback",
        },
        auth=(server.app.client_id, server.app.client_secret),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(server, refresh_token: str) -> requests.Response:
    return requests.post(
        server.url + "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(server.app.client_id, server.app.client_secret),
        timeout=5,
    )


def test_authorization_code_refresh_rotation_and_expiry(server, clock):
    tokens = _auth_code_tokens(server)
    api = Xero(server, tokens["access_token"], server.app.tenant_id)
    connections = requests.get(
        server.url + "/connections",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    ).json()
    assert [c["tenantId"] for c in connections] == [server.app.tenant_id]
    assert api.call("GET", "/Invoices").status_code == 200
    # the tenant header is mandatory for a web-app token
    assert Xero(server, tokens["access_token"], None).call("GET", "/Invoices").status_code == 403

    clock.advance(1801)
    expired = api.call("GET", "/Invoices")
    assert expired.status_code == 401
    assert expired.body["Detail"].startswith("TokenExpired: token expired at ")

    first = _refresh(server, tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert (
        Xero(server, rotated["access_token"], server.app.tenant_id)
        .call("GET", "/Invoices")
        .status_code
        == 200
    )
    # the old refresh token is spent
    reuse = _refresh(server, tokens["refresh_token"])
    assert reuse.status_code == 400 and reuse.json() == {"error": "invalid_grant"}
    # the new one works exactly once too
    assert _refresh(server, rotated["refresh_token"]).status_code == 200
    assert _refresh(server, rotated["refresh_token"]).json() == {"error": "invalid_grant"}


def test_refresh_grace_replays_the_same_token_set_after_a_lost_response(clock, make_server):
    srv = make_server(clock=clock, refresh_grace=1800)
    tokens = _auth_code_tokens(srv)
    first = _refresh(srv, tokens["refresh_token"]).json()
    again = _refresh(srv, tokens["refresh_token"]).json()
    assert again["refresh_token"] == first["refresh_token"]
    assert _refresh(srv, first["refresh_token"]).status_code == 200
    # once the successor was used, the old token is dead even within the grace period
    assert _refresh(srv, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_revoke_makes_calls_401_and_refresh_invalid_grant(server):
    tokens = _auth_code_tokens(server)
    api = Xero(server, tokens["access_token"], server.app.tenant_id)
    server.app.revoke()
    response = api.call("GET", "/Invoices")
    assert response.status_code == 401
    assert response.body["Detail"] == "AuthorizationUnsuccessful"
    assert _refresh(server, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_expire_tokens_helper(server, xero):
    assert server.app.expire_tokens() >= 1
    assert xero.call("GET", "/Accounts").status_code == 401


# -- spec validation --------------------------------------------------------------------------


def test_spec_rejects_bad_bodies_and_records_them(server, xero):
    bad = invoice()
    bad["LineItems"][0]["Quantity"] = "2"  # a string where the spec says number
    response = xero.call("PUT", "/Invoices", {"Invoices": [bad]})
    assert response.status_code == 400
    assert response.body["Type"] == "PostDataInvalidException"
    assert "Quantity" in response.body["Message"]
    misspelt = invoice("CW-2")
    misspelt["Lineitems"] = misspelt.pop("LineItems")
    response = xero.call("PUT", "/Invoices", {"Invoices": [misspelt]})
    assert response.status_code == 400
    assert "The element 'Lineitems' was not recognised" in response.body["Message"]
    assert [v.schema for v in server.app.spec_violations] == ["Invoices", "Invoices"]
    assert server.app.documents_count() == 0


def test_valid_bodies_leave_no_spec_violations(server, xero):
    ms_date = invoice("CW-9", Date="/Date(1714521600000+0000)/")
    assert xero.call("PUT", "/Invoices", {"Invoices": [ms_date]}).status_code == 200
    assert server.app.spec_violations == []


# -- business rules ---------------------------------------------------------------------------


def test_account_tax_item_tracking_rules_with_xero_messages(xero):
    batch = [
        invoice("E-1", account="4999"),
        invoice("E-2", account="477"),
        invoice("E-3", tax="GST99"),
        invoice("E-4", tax="INPUT"),  # a purchases tax type on a sales invoice
        invoice("E-5"),
    ]
    batch[4]["LineItems"][0]["Tracking"] = [{"Name": "Location", "Option": "Perth"}]
    response = xero.call("PUT", "/Invoices", {"Invoices": batch}, summarizeErrors="false")
    assert response.status_code == 200
    got = [errors_of(e) for e in response.body["Invoices"]]
    assert got[0] == ["Account code '4999' is not a valid code for this document."]
    assert got[1] == [
        "Account code '477' has been archived, or has been deleted. "
        "Each line item must reference a valid account"
    ]
    assert got[2] == [
        "The TaxType code 'GST99' does not exist or cannot be used for this type of transaction."
    ]
    assert got[3] == [
        "The TaxType code 'INPUT' does not exist or cannot be used for this type of transaction."
    ]
    assert "Perth" in got[4][0]
    assert all(e["StatusAttributeString"] == "ERROR" for e in response.body["Invoices"])


def test_accrec_numbers_are_unique_and_accpay_numbers_are_not(server, xero):
    assert xero.call("PUT", "/Invoices", {"Invoices": [invoice("CW-7")]}).status_code == 200
    again = xero.call("PUT", "/Invoices", {"Invoices": [invoice("cw-7")]})
    assert again.status_code == 400
    assert again.body["Type"] == "ValidationException"
    assert errors_of(again.body["Elements"][0]) == ["Invoice # must be unique."]
    bill = invoice("B-1", account="429", tax="INPUT", Type="ACCPAY")
    assert xero.call("PUT", "/Invoices", {"Invoices": [bill, bill]}).status_code == 200
    assert server.app.documents_count() == 3


def test_summarize_errors_false_creates_the_valid_ones_and_reports_each(server, xero):
    batch = [invoice("S-1"), invoice("S-2", account="4999"), invoice("S-3")]
    response = xero.call("PUT", "/Invoices", {"Invoices": batch}, summarizeErrors="false")
    assert response.status_code == 200
    statuses = [e["StatusAttributeString"] for e in response.body["Invoices"]]
    assert statuses == ["OK", "ERROR", "OK"]
    assert [e["HasErrors"] for e in response.body["Invoices"]] == [False, True, False]
    assert server.app.invoice_by_number("S-1")["Status"] == "AUTHORISED"
    assert server.app.invoice_by_number("S-2") is None
    # summarized (the default): a 400 that lists only the failures; the rest are created
    response = xero.call(
        "PUT", "/Invoices", {"Invoices": [invoice("S-4"), invoice("S-5", account="4999")]}
    )
    assert response.status_code == 400
    assert [e["InvoiceNumber"] for e in response.body["Elements"]] == ["S-5"]
    assert server.app.invoice_by_number("S-4") is not None


def test_draft_drops_an_unknown_account_with_a_warning(xero):
    response = xero.call(
        "PUT",
        "/Invoices",
        {"Invoices": [invoice("D-1", account="476", Status="DRAFT")]},
        summarizeErrors="false",
    )
    element = response.body["Invoices"][0]
    assert element["StatusAttributeString"] == "WARNING"
    assert element["Warnings"][0]["Message"] == (
        "Account code ''476'' has been removed as it does not match a recognised account."
    )
    assert "AccountCode" not in element["LineItems"][0]


def test_create_account_fixes_a_missing_account(server, xero):
    assert (
        xero.call("PUT", "/Invoices", {"Invoices": [invoice("F-1", account="4999")]}).status_code
        == 400
    )
    server.app.create_account("4999", "Misc Revenue", "REVENUE")
    assert (
        xero.call("PUT", "/Invoices", {"Invoices": [invoice("F-1", account="4999")]}).status_code
        == 200
    )


def test_contacts_are_matched_by_number_or_name_or_created_inline(server, xero):
    by_name = invoice("C-1", Contact={"Name": "café zürich"})
    new = invoice("C-2", Contact={"Name": "Brand New Pty", "ContactNumber": "C00999"})
    nothing = invoice("C-3", Contact={"EmailAddress": "a@b.c"})
    response = xero.call(
        "PUT", "/Invoices", {"Invoices": [by_name, new, nothing]}, summarizeErrors="false"
    )
    first, second, third = response.body["Invoices"]
    assert first["Contact"]["ContactNumber"] == "C00043"
    assert second["Contact"]["Name"] == "Brand New Pty"
    assert errors_of(third) == [
        "The Contact must contain at least 1 of the following elements to identify the "
        "contact: Name, ContactID, ContactNumber"
    ]
    assert len(server.app.contacts()) == 3


# -- totals -----------------------------------------------------------------------------------


def test_totals_round_per_line_like_xero(xero):
    lines = [
        {"Description": f"l{n}", "Quantity": D("1"), "UnitAmount": D("0.05"), "AccountCode": "200"}
        for n in range(3)
    ]
    response = xero.call("PUT", "/Invoices", {"Invoices": [invoice("T-1", LineItems=lines)]})
    doc = response.body["Invoices"][0]
    # 0.005 tax per line rounds half up to 0.01 each; on the subtotal it would be 0.02
    assert [li["TaxAmount"] for li in doc["LineItems"]] == [D("0.01")] * 3
    assert (doc["SubTotal"], doc["TotalTax"], doc["Total"]) == (D("0.15"), D("0.03"), D("0.18"))


def test_unit_amounts_round_to_two_places_unless_unitdp_4(xero):
    line = {
        "Description": "x",
        "Quantity": D("3"),
        "UnitAmount": D("10.3333"),
        "AccountCode": "200",
    }
    two = xero.call("PUT", "/Invoices", {"Invoices": [invoice("U-1", LineItems=[line])]})
    assert two.body["Invoices"][0]["LineItems"][0]["LineAmount"] == D("30.99")
    four = xero.call(
        "PUT", "/Invoices", {"Invoices": [invoice("U-2", LineItems=[line])]}, unitdp="4"
    )
    line4 = four.body["Invoices"][0]["LineItems"][0]
    assert (line4["UnitAmount"], line4["LineAmount"]) == (D("10.3333"), D("31.00"))
    assert four.body["Invoices"][0]["Total"] == D("34.10")


def test_inclusive_and_line_total_mismatch(xero):
    inclusive = invoice(
        "I-1",
        LineAmountTypes="Inclusive",
        LineItems=[
            {"Description": "x", "Quantity": D("1"), "UnitAmount": D("11.00"), "AccountCode": "200"}
        ],
    )
    doc = xero.call("PUT", "/Invoices", {"Invoices": [inclusive]}).body["Invoices"][0]
    assert (doc["SubTotal"], doc["TotalTax"], doc["Total"]) == (D("10.00"), D("1.00"), D("11.00"))
    mismatch = invoice("I-2")
    mismatch["LineItems"][0]["LineAmount"] = D("100.01")
    response = xero.call("PUT", "/Invoices", {"Invoices": [mismatch]})
    assert errors_of(response.body["Elements"][0]) == [
        "The line total 100.01 does not match the expected line total 100.00"
    ]


def test_zero_total_authorised_invoice_is_paid(xero):
    zero = invoice("Z-1")
    zero["LineItems"][0]["UnitAmount"] = D("0")
    doc = xero.call("PUT", "/Invoices", {"Invoices": [zero]}).body["Invoices"][0]
    assert (doc["Status"], doc["Total"], doc["AmountDue"]) == ("PAID", D("0.00"), D("0.00"))


def test_credit_notes_have_their_own_unique_numbers(server, xero):
    note = invoice("CN-77", Type="ACCRECCREDIT")
    note["CreditNoteNumber"] = note.pop("InvoiceNumber")
    response = xero.call("PUT", "/CreditNotes", {"CreditNotes": [note]})
    assert response.status_code == 200, response.body
    doc = response.body["CreditNotes"][0]
    assert (doc["Total"], doc["RemainingCredit"]) == (D("110.00"), D("110.00"))
    assert xero.call("PUT", "/CreditNotes", {"CreditNotes": [note]}).status_code == 400
    assert server.app.documents_count() == 1


# -- idempotency and faults --------------------------------------------------------------------


def test_idempotency_key_replays_and_rejects_a_different_body(server, xero):
    headers = {"Idempotency-Key": "batch-1"}
    body = {"Invoices": [invoice("K-1")]}
    first = xero.call("PUT", "/Invoices", body, headers=headers, summarizeErrors="false")
    again = xero.call("PUT", "/Invoices", body, headers=headers, summarizeErrors="false")
    assert first.body["Invoices"][0]["InvoiceID"] == again.body["Invoices"][0]["InvoiceID"]
    assert server.app.documents_count() == 1
    assert server.app.idempotent_replays == 1
    other = xero.call("PUT", "/Invoices", {"Invoices": [invoice("K-2")]}, headers=headers)
    assert other.status_code == 400
    assert server.app.documents_count() == 1


def test_lost_response_then_retry_with_the_same_key_posts_once(server, xero):
    server.app.faults.arm(Fault("lose_response", path="Invoices", method="PUT"))
    headers = {"Idempotency-Key": "batch-lost"}
    body = {"Invoices": [invoice("L-1")]}
    with pytest.raises(requests.ConnectionError):
        xero.call("PUT", "/Invoices", body, headers=headers)
    retry = xero.call("PUT", "/Invoices", body, headers=headers)
    assert retry.status_code == 200
    assert server.app.documents_count() == 1


def test_injected_faults_use_xero_shapes(server, xero):
    server.app.faults.arm(Fault("status", path="Invoices", status=503))
    server.app.faults.arm(Fault("rate_limit", path="Invoices", retry_after=7))
    assert xero.call("PUT", "/Invoices", {"Invoices": [invoice()]}).status_code == 503
    limited = xero.call("PUT", "/Invoices", {"Invoices": [invoice()]})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert server.app.rate_limited == 1
    assert server.app.documents_count() == 0


# -- rate limits ------------------------------------------------------------------------------


def test_minute_limit_429_headers_and_recovery(clock, make_server):
    srv = make_server(clock=clock, limits=Limits(per_minute=5, per_day=100))
    api = Xero(srv, client_credentials(srv)["access_token"], srv.app.tenant_id)
    seen = [api.call("GET", "/TaxRates") for _ in range(6)]
    assert [r.status_code for r in seen] == [200] * 5 + [429]
    assert [r.headers["X-MinLimit-Remaining"] for r in seen[:5]] == ["4", "3", "2", "1", "0"]
    assert seen[0].headers["X-DayLimit-Remaining"] == "99"
    assert "X-AppMinLimit-Remaining" in seen[0].headers
    assert seen[5].headers["X-Rate-Limit-Problem"] == "minute"
    assert seen[5].headers["Retry-After"] == "60"
    assert srv.app.rate_limited == 1
    clock.advance(60)
    assert api.call("GET", "/TaxRates").status_code == 200


def test_day_limit_says_day(clock, make_server):
    srv = make_server(clock=clock, limits=Limits(per_minute=100, per_day=3))
    api = Xero(srv, client_credentials(srv)["access_token"], srv.app.tenant_id)
    codes = [api.call("GET", "/Items").status_code for _ in range(3)]
    last = api.call("GET", "/Items")
    assert codes == [200, 200, 200] and last.status_code == 429
    assert last.headers["X-Rate-Limit-Problem"] == "day"
    assert int(last.headers["Retry-After"]) == 86400


def test_concurrent_limit(make_server):
    srv = make_server(clock=ManualClock(), limits=Limits(concurrent=2))
    token = client_credentials(srv)["access_token"]
    srv.app.faults.arm(Fault("latency", count=2, path="Accounts", seconds=0.4))
    results: list[int] = []
    inside = threading.Barrier(3)

    def call():
        inside.wait()
        results.append(Xero(srv, token, srv.app.tenant_id).call("GET", "/Accounts").status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    time.sleep(0.15)  # both slow calls are in flight
    third = Xero(srv, token, srv.app.tenant_id).call("GET", "/Accounts")
    for t in threads:
        t.join()
    assert third.status_code == 429
    assert third.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" not in third.headers
    assert results == [200, 200]


# -- payments ---------------------------------------------------------------------------------


def test_payments_apply_refuse_overpayment_and_reverse(server, xero, clock):
    xero.call("PUT", "/Invoices", {"Invoices": [invoice("P-1"), invoice("P-2", Status="DRAFT")]})
    pay = {"Invoice": {"InvoiceNumber": "P-1"}, "Account": {"Code": "090"}, "Date": "2024-06-01"}
    too_much = xero.call("PUT", "/Payments", {"Payments": [{**pay, "Amount": D("110.01")}]})
    assert errors_of(too_much.body["Elements"][0]) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    on_draft = xero.call(
        "PUT",
        "/Payments",
        {"Payments": [{**pay, "Invoice": {"InvoiceNumber": "P-2"}, "Amount": D("1")}]},
    )
    assert on_draft.status_code == 400
    part = xero.call("PUT", "/Payments", {"Payments": [{**pay, "Amount": D("10.00")}]})
    assert part.status_code == 200
    rest = xero.call("POST", "/Payments", {**pay, "Amount": D("100.00")})
    assert rest.status_code == 200
    paid = server.app.invoice_by_number("P-1")
    assert (paid["Status"], paid["AmountDue"], paid["AmountPaid"]) == (
        "PAID",
        D("0.00"),
        D("110.00"),
    )

    clock.advance(5)
    cutoff = server.app.wall.utcnow()
    clock.advance(5)
    payment_id = rest.body["Payments"][0]["PaymentID"]
    deleted = xero.call("POST", f"/Payments/{payment_id}", {"Status": "DELETED"})
    assert deleted.status_code == 200 and deleted.body["Payments"][0]["Status"] == "DELETED"
    back = server.app.invoice_by_number("P-1")
    assert (back["Status"], back["AmountDue"]) == ("AUTHORISED", D("100.00"))
    where = f"UpdatedDateUTC>=DateTime({cutoff.year}, {cutoff.month:02d}, {cutoff.day:02d}, {cutoff.hour}, {cutoff.minute}, {cutoff.second})"
    recent = xero.call("GET", "/Payments", where=where)
    assert [p["PaymentID"] for p in recent.body["Payments"]] == [payment_id]
    assert server.app.spec_violations == []


def test_apply_payment_helper_feeds_get_payments(server, xero):
    xero.call("PUT", "/Invoices", {"Invoices": [invoice("H-1")]})
    server.app.apply_payment("H-1", "25.50", "2024-06-02")
    listed = xero.call("GET", "/Payments").body["Payments"]
    assert [(p["Amount"], p["Invoice"]["InvoiceNumber"]) for p in listed] == [(D("25.50"), "H-1")]
    with pytest.raises(ValueError, match="exceeds the amount outstanding"):
        server.app.apply_payment("H-1", "1000", "2024-06-02")


# -- queries ----------------------------------------------------------------------------------


def test_where_filter_with_escaped_quotes_and_contact_number_lookup(xero):
    found = xero.call("GET", "/Contacts", where='Name=="O\\"Brien & Sons"')
    assert [c["ContactNumber"] for c in found.body["Contacts"]] == ["C00042"]
    both = xero.call("GET", "/Contacts", where='ContactNumber=="C00042" OR Name.StartsWith("café")')
    assert len(both.body["Contacts"]) == 2
    assert xero.call("GET", "/Contacts/C00043").body["Contacts"][0]["Name"] == "Café Zürich"
    bad = xero.call("GET", "/Contacts", where='Name=="unterminated')
    assert bad.status_code == 400 and bad.body["Type"] == "QueryParseException"


def test_invoice_lookups_and_paging(server, xero):
    xero.call("PUT", "/Invoices", {"Invoices": [invoice(f"G-{n}") for n in range(1, 4)]})
    by_number = xero.call("GET", "/Invoices", InvoiceNumbers="G-1,G-3", page="1")
    assert sorted(i["InvoiceNumber"] for i in by_number.body["Invoices"]) == ["G-1", "G-3"]
    assert by_number.body["pagination"]["itemCount"] == 2
    assert "LineItems" in by_number.body["Invoices"][0]
    unpaged = xero.call("GET", "/Invoices", where='InvoiceNumber=="G-2"')
    assert len(unpaged.body["Invoices"]) == 1 and "LineItems" not in unpaged.body["Invoices"][0]
    one = xero.call("GET", "/Invoices/G-2").body["Invoices"][0]
    assert one["LineItems"][0]["Tracking"][0]["Option"] == "Sydney"
    accounts = xero.call("GET", "/Accounts").body["Accounts"]
    assert {a["Code"]: a["Status"] for a in accounts}["477"] == "ARCHIVED"
    rounding = [a for a in accounts if a.get("SystemAccount") == "ROUNDING"]
    assert [a["Code"] for a in rounding] == ["860"]


def test_look_ups_by_code_follow_renames_deletions_and_new_documents() -> None:
    """The sandbox remembers where it found a code; the memory never outlives the data."""
    import random

    from wisesync_xero.sandbox.state import Org, WallClock

    org = Org(tenant_id="t", name="Org", rng=random.Random(1), wall=WallClock(ManualClock()))
    org.items["i1"] = {"ItemID": "i1", "Code": "Widget"}
    assert org.item_by_code(" widget ") is org.items["i1"]
    org.items["i1"]["Code"] = "Gadget"  # renamed in place
    assert org.item_by_code("WIDGET") is None
    assert org.item_by_code("gadget") is org.items["i1"]
    org.items["i2"] = {"ItemID": "i2", "Code": "WIDGET"}  # the old code, on a new item
    assert org.item_by_code("widget") is org.items["i2"]
    del org.items["i2"]
    assert org.item_by_code("widget") is None
    org.tracking["c1"] = {"Name": "Région"}
    assert org.tracking_by_name("RÉGION") is org.tracking["c1"]
    org.accounts["a1"] = {"Code": "200"}
    assert org.account_by_code("200") is org.accounts["a1"]
