"""The ConnectWise sandbox over HTTP: auth, paging, conditions, batches, payments, faults."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from wisesync import money
from wisesync.testing.sandbox import Fault, SandboxServer
from wisesync_connectwise.sandbox import API_BASE, Credentials, start_sandbox

EXPORT_ALL = {"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}


class Client:
    """A tiny ConnectWise client over ``requests`` (Decimal JSON, the sandbox's credentials)."""

    def __init__(self, server: SandboxServer, credentials: Credentials | None = None) -> None:
        self.server = server
        self.base = server.url + API_BASE
        self.session = requests.Session()
        self.session.headers.update((credentials or server.app.credentials).headers())

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, **kw)

    def post(self, path: str, body: object, **kw) -> requests.Response:
        data = money.dumps(body)
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.session.post(self.base + path, data=data, headers=headers, **kw)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path)

    def json(self, response: requests.Response):
        return money.loads(response.content)

    def export(self, **flags) -> dict:
        response = self.post("/finance/accounting/export", flags or EXPORT_ALL)
        assert response.status_code == 200, response.text
        return self.json(response)

    def unposted_invoice_numbers(self) -> set[str]:
        rows = self.json(
            self.get("/finance/accounting/unpostedinvoices", params={"pageSize": 1000})
        )
        return {row["invoiceNumber"] for row in rows}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SandboxServer]:
    srv = start_sandbox(seed=0)
    yield srv
    srv.stop()  # the base server polls for shutdown every 0.5 s: start one per module


@pytest.fixture
def server(shared_server: SandboxServer) -> SandboxServer:
    """The module's sandbox, reset to its seed (state, faults and log) before each test."""
    shared_server.app.reset()
    return shared_server


@pytest.fixture
def cw(server: SandboxServer) -> Client:
    return Client(server)


def transaction(export: dict, number: str) -> dict:
    return next(t for t in export["transactions"] if t["documentNumber"] == number)


def gl_ids(tx: dict) -> list[int]:
    return [int(i) for i in tx["glEntryIds"].split(",")]


# --- auth -----------------------------------------------------------------------------


def test_missing_authorization_is_401_with_cw_body(server):
    r = requests.get(server.url + API_BASE + "/finance/accounting/unpostedinvoices")
    assert r.status_code == 401
    assert r.json() == {"code": "ConnectWiseApi", "message": "UserNotAuthenticated"}


def test_wrong_private_key_is_401(server):
    bad = Credentials(private_key="nope")
    r = Client(server, bad).get("/finance/accounting/unpostedinvoices")
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthorized"
    assert "public/private key" in r.json()["message"]


def test_wrong_company_id_is_401(server):
    r = Client(server, Credentials(company_id="someoneelse")).get("/system/info")
    assert r.status_code == 401


def test_missing_client_id_is_refused(server):
    headers = server.app.credentials.headers()
    del headers["clientId"]
    r = requests.get(server.url + API_BASE + "/system/info", headers=headers)
    assert r.status_code == 401
    assert "clientId" in r.json()["message"]


def test_good_credentials_answer_with_version_header(cw):
    r = cw.get("/system/info")
    assert r.status_code == 200
    assert r.headers["api-current-version"] == "2025.8"
    assert r.json()["licenseBits"][0]["name"] == "GLInterface"


def test_company_info_needs_no_auth(server):
    company = server.app.credentials.company_id
    r = requests.get(f"{server.url}/login/companyinfo/{company}")
    assert r.status_code == 200
    assert r.json()["Codebase"] == "v4_6_release/"


# --- paging, conditions, fields, orderBy -------------------------------------------------


@pytest.fixture(scope="module")
def paged() -> Iterator[Client]:
    srv = start_sandbox(
        seed=3, invoices=60, expenses=3, procurement=3, customers=8, cases=False, max_page_size=7
    )
    yield Client(srv)
    srv.stop()


def test_navigable_paging_walks_every_page_with_link_headers(paged):
    total = paged.json(paged.get("/finance/accounting/unpostedinvoices/count"))["count"]
    assert total > 21
    seen, url, params, pages = (
        [],
        paged.base + "/finance/accounting/unpostedinvoices",
        {
            "pageSize": 50  # capped at max_page_size=7
        },
        0,
    )
    while url:
        r = paged.session.get(url, params=params)
        params = None
        rows = paged.json(r)
        assert len(rows) <= 7
        seen += [row["id"] for row in rows]
        pages += 1
        if pages > 1:
            assert 'rel="prev"' in r.headers["Link"] and 'rel="first"' in r.headers["Link"]
        url = r.links.get("next", {}).get("url")
        if url:
            assert "last" in r.links
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 7)


def test_forward_only_paging_follows_next_until_absent(paged):
    url = paged.base + "/finance/accounting/unpostedinvoices"
    headers = {"pagination-type": "forward-only"}
    params, seen, pages = {"pageSize": 7}, [], 0
    while url:
        r = paged.session.get(url, params=params, headers=headers)
        params = None
        seen += [row["id"] for row in paged.json(r)]
        pages += 1
        link = r.headers.get("Link")
        url = r.links["next"]["url"] if link else None
        if url:
            assert "pageId=" in url and 'rel="last"' not in link
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    total = paged.json(paged.get("/finance/accounting/unpostedinvoices/count"))["count"]
    assert len(seen) == total and pages == -(-total // 7)


def test_forward_only_keeps_conditions_on_the_next_link(paged):
    r = paged.get(
        "/finance/accounting/unpostedinvoices",
        params={"pageSize": 2, "conditions": 'invoiceType="Standard"'},
        headers={"pagination-type": "forward-only"},
    )
    assert "conditions=" in r.links["next"]["url"]
    nxt = paged.session.get(r.links["next"]["url"], headers={"pagination-type": "forward-only"})
    assert {row["invoiceType"] for row in paged.json(nxt)} == {"Standard"}


def test_forward_only_refuses_order_by(paged):
    r = paged.get(
        "/finance/accounting/unpostedinvoices",
        params={"orderBy": "total desc"},
        headers={"pagination-type": "forward-only"},
    )
    assert r.status_code == 400


def test_conditions_with_escaped_quotes_find_the_company(cw):
    r = cw.get("/company/companies", params={"conditions": r'name = "The \"Byte\" Shop"'})
    assert r.status_code == 200
    assert [c["name"] for c in r.json()] == ['The "Byte" Shop']


def test_conditions_and_or_in_like_dates_and_numbers(cw):
    rows = cw.json(
        cw.get(
            "/finance/accounting/unpostedinvoices",
            params={
                "pageSize": 1000,
                "conditions": '(invoiceType = "Agreement" or invoiceType="CreditMemo") and total > 0',
            },
        )
    )
    assert rows and all(r["invoiceType"] == "Agreement" and r["total"] > 0 for r in rows)
    numbers = [cw.server.app.case("standard"), cw.server.app.case("gst99")]
    rows = cw.json(
        cw.get(
            "/finance/accounting/unpostedinvoices",
            params={"conditions": f'invoiceNumber in ("{numbers[0]}", "{numbers[1]}")'},
        )
    )
    assert sorted(r["invoiceNumber"] for r in rows) == sorted(numbers)
    rows = cw.json(cw.get("/company/companies", params={"conditions": "id in (117, 101, 99999)"}))
    assert [r["id"] for r in rows] == [101, 117]
    rows = cw.json(cw.get("/company/companies", params={"conditions": 'name like "caf%"'}))
    assert [r["name"] for r in rows] == ["Café Zürich"]
    rows = cw.json(
        cw.get(
            "/finance/accounting/unpostedinvoices",
            params={"pageSize": 1000, "conditions": "invoiceDate < [2025-01-01T00:00:00Z]"},
        )
    )
    assert rows == []
    rows = cw.json(
        cw.get(
            "/company/contacts", params={"conditions": "company/id=117 and defaultBillingFlag=true"}
        )
    )
    assert len(rows) == 1 and rows[0]["company"]["id"] == 117


def test_bad_conditions_and_unknown_fields_are_400(cw):
    r = cw.get("/finance/accounting/unpostedinvoices", params={"conditions": "total >"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidObject"
    r = cw.get("/finance/accounting/unpostedinvoices", params={"conditions": 'nosuch = "x"'})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "nosuch"


def test_fields_and_order_by(cw):
    rows = cw.json(
        cw.get(
            "/finance/accounting/unpostedinvoices",
            params={
                "fields": "id,invoiceNumber,company/name",
                "orderBy": "total desc",
                "pageSize": 5,
            },
        )
    )
    assert set(rows[0]) == {"id", "invoiceNumber", "company"}
    assert set(rows[0]["company"]) == {"name"}
    totals = [cw.server.app.unposted_invoice(r["invoiceNumber"])["total"] for r in rows]
    assert totals == sorted(totals, reverse=True)


# --- export and batches ---------------------------------------------------------------


def test_export_requires_a_flag(cw):
    r = cw.post("/finance/accounting/export", {})
    assert r.status_code == 400 and r.json()["code"] == "InvalidObject"


def test_export_is_a_read_only_preview(cw):
    before = cw.server.app.unposted_counts()
    export = cw.export()
    assert cw.export() == export
    assert cw.server.app.unposted_counts() == before
    assert len(export["transactions"]) == before["invoice"] + before["credit_memo"]
    billed = sum(len(b["detail"]) for b in export["expenseBills"])
    assert len(export["expenses"]) + billed == before["expense"] and billed >= 2
    assert (
        len(export["purchaseTransactions"])
        + len(export["adjustmentTransactions"])
        + len(export["inventoryTransfers"])
        == before["procurement"]
    )
    assert {c["company"]["id"] for c in export["customers"]} == {
        t["company"]["id"] for t in export["transactions"]
    }


def test_export_lines_and_header_add_up_except_the_seeded_mismatches(cw):
    app = cw.server.app
    export = cw.export(exportInvoicesFlag=True)
    mismatched = {app.case("totals_mismatch"): Decimal("3.5")}
    for tx in export["transactions"]:
        # a journal: the detail rows are the credit side, signed against the header
        lines = sum((Decimal(str(d["total"])) for d in tx["detail"]), Decimal(0))
        assert Decimal(str(tx["total"])) + lines == mismatched.get(tx["documentNumber"], 0)
        assert set(gl_ids(tx)) == {d["id"] for d in tx["detail"]} | {
            app.unposted_invoice(tx["documentNumber"])["id"]
        }


def test_batch_marks_records_posted_and_delete_returns_them(cw):
    app = cw.server.app
    number = app.case("standard")
    tx = transaction(cw.export(), number)
    r = cw.post(
        "/finance/accounting/batches",
        {
            "batchIdentifier": "WS-demo-INV-1",
            "exportInvoicesFlag": True,
            "processedRecordIds": gl_ids(tx),
        },
    )
    assert r.status_code == 201
    body = cw.json(r)
    assert [t["documentNumber"] for t in body["transactions"]] == [number]
    batch_id = body["exportSettings"]["batchId"]

    assert number not in cw.unposted_invoice_numbers()
    assert all(t["documentNumber"] != number for t in cw.export()["transactions"])
    invoice = app.invoice_by_number(number)
    assert invoice["glBatch"] == {"id": batch_id, "name": "WS-demo-INV-1"}
    found = cw.json(
        cw.get(
            "/finance/accounting/batches", params={"conditions": 'batchIdentifier="WS-demo-INV-1"'}
        )
    )
    assert [b["id"] for b in found] == [batch_id]
    for condition in (
        'batchIdentifier = "ws-DEMO-inv-1"',
        f"id = {batch_id}",
        'batchIdentifier in ("nope", "WS-demo-INV-1")',
    ):
        hits = cw.json(cw.get("/finance/accounting/batches", params={"conditions": condition}))
        assert [b["id"] for b in hits] == [batch_id], condition
    none = cw.get("/finance/accounting/batches", params={"conditions": 'batchIdentifier="x"'})
    assert none.json() == []
    entries = cw.json(cw.get(f"/finance/accounting/batches/{batch_id}/entries"))
    assert {e["id"] for e in entries} == set(gl_ids(tx))
    assert sum(Decimal(str(e["debit"])) - Decimal(str(e["credit"])) for e in entries) == 0

    assert cw.delete(f"/finance/accounting/batches/{batch_id}").status_code == 204
    assert number in cw.unposted_invoice_numbers()
    assert "glBatch" not in app.invoice_by_number(number)  # CW omits null fields
    assert cw.get(f"/finance/accounting/batches/{batch_id}").status_code == 404


def test_batching_expenses_and_procurement(cw):
    app = cw.server.app
    export = cw.export()
    expense = next(e for e in export["expenses"] if e.get("offset"))
    purchase = export["purchaseTransactions"][0]
    ids = [expense["id"], expense["offset"]["id"]]
    ids += [d["id"] for d in purchase["purchaseDetail"] + purchase["purchaseDetailTax"]]
    before = app.unposted_counts()
    r = cw.post(
        "/finance/accounting/batches",
        {
            "batchIdentifier": "mixed",
            "exportExpensesFlag": True,
            "exportProductsFlag": True,
            "processedRecordIds": ids,
        },
    )
    assert r.status_code == 201, r.text
    after = app.unposted_counts()
    assert after["expense"] == before["expense"] - 1
    assert after["procurement"] == before["procurement"] - 1


def test_batch_validation_errors(cw):
    tx = cw.export()["transactions"][0]
    ok = {"batchIdentifier": "B-1", "exportInvoicesFlag": True, "processedRecordIds": gl_ids(tx)}
    assert cw.post("/finance/accounting/batches", ok).status_code == 201

    dup = cw.post("/finance/accounting/batches", {**ok, "batchIdentifier": "b-1"})
    assert dup.status_code == 400
    assert dup.json()["code"] == "InvalidObject"
    assert dup.json()["errors"][0]["code"] == "ObjectExists"
    assert dup.json()["errors"][0]["field"] == "batchIdentifier"

    again = cw.post("/finance/accounting/batches", {**ok, "batchIdentifier": "B-2"})
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "AlreadyBatched"

    long = cw.post("/finance/accounting/batches", {**ok, "batchIdentifier": "x" * 51})
    assert long.status_code == 400 and long.json()["code"] == "MaxLengthField"

    other = cw.export()["transactions"][0]
    no_flag = cw.post(
        "/finance/accounting/batches",
        {"batchIdentifier": "B-3", "processedRecordIds": gl_ids(other)},
    )
    assert no_flag.status_code == 400
    wrong_flag = cw.post(
        "/finance/accounting/batches",
        {"batchIdentifier": "B-3", "exportExpensesFlag": True, "processedRecordIds": gl_ids(other)},
    )
    assert wrong_flag.status_code == 400
    unknown = cw.post(
        "/finance/accounting/batches",
        {"batchIdentifier": "B-3", "exportInvoicesFlag": True, "processedRecordIds": [999999]},
    )
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == "NotFound"
    missing = cw.post(
        "/finance/accounting/batches", {"batchIdentifier": "B-3", "exportInvoicesFlag": True}
    )
    assert missing.status_code == 400
    assert len(cw.server.app.batches()) == 1


def test_concurrent_batches_with_one_identifier_create_one(cw):
    txs = cw.export()["transactions"][:8]
    statuses: list[int] = []

    def post(tx):
        client = Client(cw.server)
        statuses.append(
            client.post(
                "/finance/accounting/batches",
                {
                    "batchIdentifier": "RACE",
                    "exportInvoicesFlag": True,
                    "processedRecordIds": gl_ids(tx),
                },
            ).status_code
        )

    threads = [threading.Thread(target=post, args=(tx,)) for tx in txs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [400] * 7
    assert len(cw.server.app.batches()) == 1


def test_held_invoice_is_not_in_the_accounting_interface_until_released(cw):
    app = cw.server.app
    held = app.case("finance_hold")
    assert app.invoice_by_number(held)["status"] == {
        "id": 4,
        "name": "Finance Hold",
        "isClosed": False,
    }
    assert held not in cw.unposted_invoice_numbers()
    app.set_invoice_status(held, "Closed")
    assert held in cw.unposted_invoice_numbers()


def test_fix_mapping_changes_the_export(cw):
    app = cw.server.app
    number = app.case("mapping_empty")
    line = transaction(cw.export(), number)["detail"][0]
    assert line["accountNumber"] == ":"
    app.fix_mapping("unmapped", account="200")
    assert transaction(cw.export(), number)["detail"][0]["accountNumber"] == "200:"
    r = cw.session.patch(
        cw.base + f"/finance/glAccounts/{app.gl_mapping('unmapped').id}",
        json=[{"op": "replace", "path": "segment1", "value": "220"}],
    )
    assert r.status_code == 200 and r.json()["segment1"] == "220"
    assert transaction(cw.export(), number)["detail"][0]["accountNumber"] == "220:"


# --- payments -------------------------------------------------------------------------


def _invoice_id(cw, number):
    rows = cw.json(cw.get("/finance/invoices", params={"conditions": f'invoiceNumber="{number}"'}))
    return rows[0]["id"]


def test_payment_reduces_balance_and_refuses_overpayment(cw):
    app = cw.server.app
    number = app.case("standard")
    inv_id = _invoice_id(cw, number)
    total = app.invoice_by_number(number)["total"]
    pay = {
        "type": "Payment",
        "amount": Decimal("100.10"),
        "paymentDate": "2025-06-01T00:00:00Z",
        "transactionId": "xero-pay-1",
        "paymentAccount": "090",
    }
    r = cw.post(f"/finance/invoices/{inv_id}/payments", pay)
    assert r.status_code == 201
    assert cw.json(r)["amount"] == Decimal("100.1")
    inv = app.invoice_by_number(number)
    assert inv["payments"] == Decimal("100.1") and inv["balance"] == total - Decimal("100.1")

    over = cw.post(
        f"/finance/invoices/{inv_id}/payments",
        {**pay, "transactionId": "xero-pay-2", "amount": total},
    )
    assert over.status_code == 400
    assert over.json()["code"] == "InvalidObject"
    assert over.json()["errors"][0]["field"] == "amount"

    rest = cw.post(
        f"/finance/invoices/{inv_id}/payments",
        {**pay, "transactionId": "xero-pay-3", "amount": inv["balance"]},
    )
    assert rest.status_code == 201
    assert app.invoice_by_number(number)["balance"] == 0
    listed = cw.json(cw.get(f"/finance/invoices/{inv_id}/payments"))
    assert [p["transactionId"] for p in listed] == ["xero-pay-1", "xero-pay-3"]

    pid = listed[0]["id"]
    assert cw.delete(f"/finance/invoices/{inv_id}/payments/{pid}").status_code == 204
    assert app.invoice_by_number(number)["balance"] == Decimal("100.1")


def test_same_transaction_id_is_applied_once(cw):
    app = cw.server.app
    number = app.case("agreement")
    inv_id = _invoice_id(cw, number)
    pay = {
        "type": "Payment",
        "amount": 50,
        "paymentDate": "2025-06-01T00:00:00Z",
        "transactionId": "dup-1",
    }
    first = cw.post(f"/finance/invoices/{inv_id}/payments", pay)
    second = cw.post(f"/finance/invoices/{inv_id}/payments", pay)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(app.payments(number)) == 1


def test_payment_to_a_credit_memo_is_refused(cw):
    inv_id = _invoice_id(cw, cw.server.app.case("credit_memo"))
    r = cw.post(
        f"/finance/invoices/{inv_id}/payments", {"amount": 1, "paymentDate": "2025-06-01T00:00:00Z"}
    )
    assert r.status_code == 400


# --- faults and rate limiting ---------------------------------------------------------


def test_lost_batch_response_still_commits(cw):
    app = cw.server.app
    tx = cw.export()["transactions"][0]
    app.faults.arm(Fault(kind="lose_response", path="/finance/accounting/batches$", method="POST"))
    with pytest.raises(requests.ConnectionError):
        cw.post(
            "/finance/accounting/batches",
            {
                "batchIdentifier": "LOST-1",
                "exportInvoicesFlag": True,
                "processedRecordIds": gl_ids(tx),
            },
        )
    found = cw.json(
        cw.get("/finance/accounting/batches", params={"conditions": 'batchIdentifier="LOST-1"'})
    )
    assert len(found) == 1
    assert tx["documentNumber"] not in cw.unposted_invoice_numbers()
    retry = cw.post(
        "/finance/accounting/batches",
        {"batchIdentifier": "LOST-1", "exportInvoicesFlag": True, "processedRecordIds": gl_ids(tx)},
    )
    assert retry.status_code == 400 and retry.json()["errors"][0]["code"] == "ObjectExists"


def test_lost_payment_response_commits_and_retry_is_not_double_applied(cw):
    app = cw.server.app
    number = app.case("standard")
    inv_id = _invoice_id(cw, number)
    total = app.invoice_by_number(number)["total"]
    pay = {
        "type": "Payment",
        "amount": 10,
        "paymentDate": "2025-06-01T00:00:00Z",
        "transactionId": "lost-1",
    }
    app.faults.arm(Fault(kind="lose_response", path="/payments$", method="POST"))
    with pytest.raises(requests.ConnectionError):
        cw.post(f"/finance/invoices/{inv_id}/payments", pay)
    assert app.invoice_by_number(number)["balance"] == total - 10
    assert cw.post(f"/finance/invoices/{inv_id}/payments", pay).status_code == 200
    assert app.invoice_by_number(number)["balance"] == total - 10


def test_injected_429_has_retry_after_and_5xx_has_cw_body(cw):
    app = cw.server.app
    app.faults.arm(Fault(kind="rate_limit", retry_after=3, path="unpostedinvoices"))
    r = cw.get("/finance/accounting/unpostedinvoices")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.json()["code"] == "TooManyRequests"
    app.faults.arm(Fault(kind="status", status=503))
    r = cw.get("/system/info")
    assert r.status_code == 503 and set(r.json()) == {"code", "message"}
    assert cw.get("/system/info").status_code == 200


def test_rate_limit_answers_429_with_integer_retry_after():
    srv = start_sandbox(seed=0, rate_limit=3)
    try:
        client = Client(srv)
        statuses = [client.get("/system/info") for _ in range(6)]
        limited = [r for r in statuses if r.status_code == 429]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
    finally:
        srv.stop()


# --- server lifecycle -----------------------------------------------------------------


def test_start_sandbox_prints_nothing_and_reset_restores_the_seed(capsys):
    srv = start_sandbox(seed=0)
    try:
        assert capsys.readouterr().out == ""
        client = Client(srv)
        before = srv.app.unposted_counts()
        tx = client.export()["transactions"][0]
        client.post(
            "/finance/accounting/batches",
            {"exportInvoicesFlag": True, "processedRecordIds": gl_ids(tx)},
        )
        assert srv.app.unposted_counts() != before
        assert requests.post(srv.url + "/__sandbox/reset").status_code == 204
        assert srv.app.unposted_counts() == before and srv.app.batches() == []
        assert srv.app.calls(path="accounting") == 0
    finally:
        srv.stop()


def test_patch_invoice_status_releases_a_held_invoice(cw):
    held = cw.server.app.case("finance_hold")
    inv_id = _invoice_id(cw, held)
    r = cw.session.patch(
        cw.base + f"/finance/invoices/{inv_id}",
        json=[{"op": "replace", "path": "status/name", "value": "Closed"}],
    )
    assert r.status_code == 200 and r.json()["status"]["isClosed"] is True
    assert held in cw.unposted_invoice_numbers()
    bad = cw.session.patch(
        cw.base + f"/finance/invoices/{inv_id}",
        json=[{"op": "replace", "path": "total", "value": 1}],
    )
    assert bad.status_code == 400


def test_latency_option_survives_reset():
    srv = start_sandbox(seed=0, latency=0.05)
    try:
        srv.app.reset()
        assert srv.app.faults.latency == 0.05
    finally:
        srv.stop()


def test_python_dash_m_prints_url_and_credentials():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "wisesync_connectwise.sandbox", "--port", "0", "--seed", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("ConnectWise sandbox: http://127.0.0.1:")
        url = first.split(": ", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(4)]
        creds = dict(line.strip().split(":", 1) for line in lines)
        assert creds["company id"].strip() == Credentials().company_id
        headers = Credentials().headers()
        assert requests.get(url + "/system/info", headers=headers, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
