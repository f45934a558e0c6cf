"""The QBO sandbox over HTTP: query language, envelopes, business rules, SyncToken,
batch, requestid replay, auth and throttling, as the fact sheet (qbo.md) describes QBO."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from wisesync_qbo.sandbox import Limits, ManualClock, start_sandbox
from wisesync_qbo.sandbox.ledger import QboLedgerSandbox
from wisesync_qbo.sandbox.query import QueryError, parse
from wisesync_qbo.sandbox.seed import ACCOUNTS


class Api:
    """A raw client: bearer token, minorversion, JSON."""

    def __init__(self, server: Any):
        self.server = server
        self.app = server.app
        self.token = self.app.issue_tokens()["access_token"]
        self.base = f"{server.url}/v3/company/{self.app.realm_id}"

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        return requests.request(
            method,
            self.base + path,
            json=body,
            params={"minorversion": "75", **params},
            headers=headers,
            timeout=10,
        )

    def query(self, text: str) -> dict[str, Any]:
        response = self.call("GET", "/query", query=text)
        assert response.status_code == 200, response.text
        return response.json()["QueryResponse"]

    def one(self, entity: str, where: str) -> dict[str, Any]:
        return self.query(f"select * from {entity} where {where}")[entity][0]

    def create(self, entity: str, body: dict[str, Any], **params: str) -> requests.Response:
        return self.call("POST", f"/{entity.lower()}", body, **params)


@pytest.fixture()
def api() -> Any:
    server = start_sandbox(
        seed=2, clock=ManualClock(), limits=Limits(10**6, 10**6, 10**6), country="US"
    )
    yield Api(server)
    server.stop()


def codes(response: requests.Response) -> list[str]:
    return [e["code"] for e in response.json()["Fault"]["Error"]]


def invoice(
    api: Api, number: str = "1001", qty: str = "2", price: str = "150", amount: str = "300.00"
) -> dict[str, Any]:
    name = f"Cust {number}"
    found = api.query(f"select * from Customer where DisplayName = '{name}'")
    customer = (found.get("Customer") or [None])[0]
    if customer is None:
        customer = api.create("Customer", {"DisplayName": name}).json()["Customer"]
    item = api.one("Item", "Name = 'LABOR'")
    return {
        "CustomerRef": {"value": customer["Id"]},
        "DocNumber": number,
        "Line": [
            {
                "Amount": amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item["Id"]},
                    "Qty": qty,
                    "UnitPrice": price,
                    "TaxCodeRef": {"value": "TAX"},
                },
            }
        ],
    }


def test_query_language() -> None:
    q = parse(
        "SELECT * FROM Invoice WHERE DocNumber IN ('1', 'O\\'B') AND TotalAmt >= 10 "
        "ORDERBY TxnDate DESC, DocNumber STARTPOSITION 11 MAXRESULTS 5"
    )
    assert (q.entity, q.start, q.max_results) == ("Invoice", 11, 5)
    assert q.where[0].value == ["1", "O'B"]
    assert q.order == [("TxnDate", True), ("DocNumber", False)]
    for bad in ("select * from Invoice where A = 1 or B = 2", "select from Invoice", "update x"):
        with pytest.raises(QueryError) as err:
            parse(bad)
        assert err.value.code == "4000"
    with pytest.raises(QueryError) as err:
        parse("select * from Item maxresults 1001")
    assert err.value.code == "4001"


def test_query_pages_counts_and_refuses_unknown_entities(api: Api) -> None:
    total = api.query("select count(*) from Account")["totalCount"]
    assert total == len(ACCOUNTS)  # the seed's chart, inactive 477 included
    first = api.query("select * from Account orderby AcctNum startposition 1 maxresults 10")
    rest = api.query("select * from Account orderby AcctNum startposition 11 maxresults 10")
    assert (first["startPosition"], first["maxResults"], rest["maxResults"]) == (1, 10, total - 10)
    numbers = [a["AcctNum"] for a in first["Account"] + rest["Account"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == total
    assert api.query("select * from Account where AcctNum = '4999'") == {}
    inactive = api.query("select * from Item where Active = false")["Item"]
    assert [i["Name"] for i in inactive] == ["OLD-SUPPORT"]
    response = api.call("GET", "/query", query="select * from Widget")
    assert response.status_code == 400 and codes(response) == ["4001"]
    prefs = api.query("select * from Preferences")["Preferences"][0]
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is False


def test_create_computes_totals_and_full_update_clears_omitted_fields(api: Api) -> None:
    api.app.company().sales_tax_rate = Decimal("8.25")
    body = invoice(api)
    body["PrivateNote"] = "first"
    created = api.create("Invoice", body).json()["Invoice"]
    assert (created["SyncToken"], created["TotalAmt"]) == ("0", 324.75)
    assert created["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    full = {k: v for k, v in created.items() if k != "PrivateNote"}
    updated = api.create("Invoice", full).json()["Invoice"]
    assert updated["SyncToken"] == "1" and "PrivateNote" not in updated
    sparse = {"Id": created["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "again"}
    again = api.create("Invoice", sparse).json()["Invoice"]
    assert (again["SyncToken"], again["PrivateNote"], again["TotalAmt"]) == ("2", "again", 324.75)


def test_stale_sync_token_is_5010_on_update_and_delete(api: Api) -> None:
    created = api.create("Invoice", invoice(api)).json()["Invoice"]
    api.app.touch("Invoice", created["Id"])
    stale = {"Id": created["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}
    response = api.create("Invoice", stale)
    assert response.status_code == 400 and codes(response) == ["5010"]
    assert "Stale Object Error" in response.json()["Fault"]["Error"][0]["Detail"]
    deleted = api.create("Invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    assert codes(deleted) == ["5010"]
    ok = api.create("Invoice", {"Id": created["Id"], "SyncToken": "1"}, operation="delete")
    assert ok.json()["Invoice"]["status"] == "Deleted"


def test_business_rules(api: Api) -> None:
    assert codes(api.create("Invoice", invoice(api, "A1", "3", "3.333", "10.01"))) == ["6070"]
    assert api.create("Invoice", invoice(api, "A2", "3", "3.333", "10.00")).status_code == 200
    assert api.create("Invoice", invoice(api, "A3", "0", "0", "10.00")).status_code == 200
    assert codes(api.create("Invoice", invoice(api, "A2"))) == ["6140"]
    # sales forms share one number space
    memo = invoice(api, "A2")
    duplicate = api.create("CreditMemo", memo)
    assert codes(duplicate) == ["6140"]
    assert "TxnType=Invoice" in duplicate.json()["Fault"]["Error"][0]["Detail"]
    assert api.create("CreditMemo", memo, include="allowduplicatedocnum").status_code == 200
    assert codes(api.create("Invoice", invoice(api, "X" * 22))) == ["2050"]
    body = invoice(api, "A4")
    body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "OUTPUT"}
    assert codes(api.create("Invoice", body)) == ["6100"]
    old = api.one("Item", "Name = 'OLD-SUPPORT'")
    body["Line"][0]["SalesItemLineDetail"] = {"ItemRef": {"value": old["Id"]}}
    assert codes(api.create("Invoice", body)) == ["610"]
    body["Line"][0]["SalesItemLineDetail"] = {"ItemRef": {"value": "99999"}}
    assert codes(api.create("Invoice", body)) == ["2500"]
    missing = api.create("Invoice", {"DocNumber": "A5"}).json()["Fault"]["Error"]
    assert [(e["code"], e["element"]) for e in missing] == [
        ("2020", "CustomerRef"),
        ("2020", "Line"),
    ]
    assert codes(api.create("Customer", {"DisplayName": "dicker data limited"})) == ["6240"]
    account = api.one("Account", "AcctNum = '429'")
    journal = {
        "DocNumber": "J1",
        "Line": [
            {
                "Amount": "10.00",
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {
                    "PostingType": side,
                    "AccountRef": {"value": account["Id"]},
                },
            }
            for side in ("Debit", "Credit", "Credit")
        ],
    }
    assert codes(api.create("JournalEntry", journal)) == ["6000"]
    journal["Line"].pop()
    assert api.create("JournalEntry", journal).json()["JournalEntry"]["TotalAmt"] == 10


def test_batch_items_answer_by_bid_and_more_than_30_are_refused(api: Api) -> None:
    items = [
        {"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"Batch {n}"}}
        for n in range(3)
    ]
    items.append({"bId": "dup", "operation": "create", "Customer": {"DisplayName": "Batch 0"}})
    items.append({"bId": "q", "Query": "select count(*) from Customer"})
    response = api.call("POST", "/batch", {"BatchItemRequest": items})
    answers = {a["bId"]: a for a in response.json()["BatchItemResponse"]}
    assert response.status_code == 200
    assert answers["b1"]["Customer"]["DisplayName"] == "Batch 1"
    assert answers["dup"]["Fault"]["Error"][0]["code"] == "6240"
    assert "QueryResponse" in answers["q"]
    big = [
        {"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"Big {n}"}}
        for n in range(31)
    ]
    refused = api.call("POST", "/batch", {"BatchItemRequest": big})
    assert refused.status_code == 400 and codes(refused) == ["1040"]
    assert (
        api.query("select count(*) from Customer where DisplayName like 'Big%'")["totalCount"] == 0
    )


def _customer_and_invoice(api: Api, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """One batch: create customer ``name`` and the invoice ``body``; the two answers."""
    items = [
        {"bId": "p", "operation": "create", "Customer": {"DisplayName": name}},
        {"bId": "i", "operation": "create", "Invoice": body},
    ]
    response = api.call("POST", "/batch", {"BatchItemRequest": items})
    return response.json()["BatchItemResponse"]


def test_a_batch_item_cannot_use_an_entity_created_in_the_same_batch(api: Api) -> None:
    """QBO's batch items are independent: an invoice may not refer to the customer another
    item of its batch creates (it can in the next batch); customer creates and invoices of
    existing customers mix freely."""
    first = _customer_and_invoice(api, "Fresh", invoice(api, "SB1"))
    fresh = first[0]["Customer"]["Id"]
    assert first[1]["Invoice"]["DocNumber"] == "SB1"  # an existing customer's invoice: fine
    same = {**invoice(api, "SB2"), "CustomerRef": {"value": fresh}}
    second = _customer_and_invoice(api, "Fresher", same)
    assert second[1]["Invoice"]["CustomerRef"]["value"] == fresh  # created a batch earlier
    later = invoice(api, "SB3")
    upcoming = str(max(int(i) for t in api.app.company().entities.values() for i in t) + 1)
    refused = _customer_and_invoice(api, "Newest", {**later, "CustomerRef": {"value": upcoming}})
    assert refused[0]["Customer"]["Id"] == upcoming
    assert refused[1]["Fault"]["Error"][0]["code"] == "2500"
    assert [d["DocNumber"] for d in api.app.documents("Invoice")] == ["SB1", "SB2"]


def test_requestid_replays_the_first_answer(api: Api) -> None:
    body = invoice(api, "R1")
    first = api.create("Invoice", body, requestid="wisesync-r1")
    second = api.create("Invoice", body, requestid="wisesync-r1")
    assert first.json()["Invoice"]["Id"] == second.json()["Invoice"]["Id"]
    assert api.app.requestid_replays == 1
    assert len(api.app.documents("Invoice")) == 1
    batch = {
        "BatchItemRequest": [{"bId": "1", "operation": "create", "Invoice": invoice(api, "R2")}]
    }
    api.call("POST", "/batch", batch, requestid="wisesync-b1")
    api.call("POST", "/batch", batch, requestid="wisesync-b1")
    assert [d["DocNumber"] for d in api.app.documents("Invoice")] == ["R1", "R2"]
    too_long = api.create("Invoice", invoice(api, "R3"), requestid="x" * 51)
    assert codes(too_long) == ["2050"]
    long_bid = {
        "BatchItemRequest": [
            {"bId": "b" * 11, "operation": "create", "Invoice": invoice(api, "R4")}
        ]
    }
    assert codes(api.call("POST", "/batch", long_bid, requestid="wisesync-b2")) == ["2050"]
    assert codes(api.call("POST", "/batch", batch, requestid="y" * 37)) == ["2050"]


def test_auth_throttle_and_fault_injection() -> None:
    clock = ManualClock()
    server = start_sandbox(clock=clock, limits=Limits(per_minute=500, per_second=10), country="US")
    try:
        api = Api(server)
        statuses = [
            api.call("GET", "/query", query="select count(*) from Item").status_code
            for _ in range(11)
        ]
        assert statuses == [200] * 10 + [429]
        throttled = api.call("GET", "/query", query="select count(*) from Item")
        assert "errorCode=003001; statusCode=429" in throttled.text
        assert throttled.headers["Content-Type"].startswith("application/xml")
        clock.advance(1)
        assert api.call("GET", "/preferences").status_code == 200
        clock.advance(3601)
        expired = api.call("GET", "/preferences")
        assert expired.status_code == 401
        assert expired.json()["fault"]["error"][0]["code"] == "3200"
        api.token = server.app.issue_tokens()["access_token"]
        server.app.fail_next("5010", "Invoice")
        assert codes(api.create("Invoice", invoice(api, "F1"))) == ["5010"]
        assert api.create("Invoice", invoice(api, "F1")).status_code == 200
        other = f"{server.url}/v3/company/123/query"
        refused = requests.get(
            other,
            params={"query": "select * from Item"},
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=10,
        )
        assert refused.status_code == 403
    finally:
        server.stop()


def test_cdc_lists_changes_since(api: Api) -> None:
    clock = api.app.clock
    created = api.create("Invoice", invoice(api, "C1")).json()["Invoice"]
    clock.advance(60)
    since = created["MetaData"]["LastUpdatedTime"]
    clock.advance(60)
    customer = api.one("Customer", "DisplayName = 'Cust C1'")
    payment = {
        "CustomerRef": {"value": customer["Id"]},
        "TotalAmt": "100.00",
        "Line": [
            {"Amount": "100.00", "LinkedTxn": [{"TxnId": created["Id"], "TxnType": "Invoice"}]}
        ],
    }
    api.create("Payment", payment)
    later = api.app.wall.stamp()
    response = api.call("GET", "/cdc", entities="Payment,Invoice", changedSince=later).json()
    found = response["CDCResponse"][0]["QueryResponse"]
    assert [list(r) for r in found] == [["Payment"], []]
    assert api.one("Invoice", "DocNumber = 'C1'")["Balance"] == 200
    before = api.call("GET", "/cdc", entities="Invoice", changedSince=since).json()
    assert before["CDCResponse"][0]["QueryResponse"][0]["Invoice"][0]["DocNumber"] == "C1"


def test_ledger_sandbox_adapter(api: Api) -> None:
    ledger = QboLedgerSandbox(api.server)
    ledger.create_account("4998", "Neutral Revenue", "revenue")
    assert api.one("Account", "AcctNum = '4998'")["AccountType"] == "Income"
    ledger.archive_account("4998")
    assert api.one("Account", "AcctNum = '4998'")["Active"] is False
    api.create("Invoice", invoice(api, "L1"))
    docs = ledger.posted_documents()
    assert [(d.kind, d.number, d.total) for d in docs] == [("Invoice", "L1", Decimal("300.00"))]
    ledger.revoke_connection()
    assert api.call("GET", "/preferences").status_code == 401
    ledger.restore_connection()
    assert api.call("GET", "/preferences").status_code == 200


def test_multicurrency_documents_are_in_their_partys_currency_and_an_added_one() -> None:
    server = start_sandbox(
        seed=2,
        clock=ManualClock(),
        limits=Limits(10**6, 10**6, 10**6),
        country="US",
        multicurrency=True,
    )
    try:
        api = Api(server)
        home = invoice(api, "M1")  # its customer was created in the home currency (USD)
        nzd = {**home, "DocNumber": "M2", "CurrencyRef": {"value": "NZD"}}
        refused = api.create("Invoice", nzd).json()["Fault"]["Error"]
        assert [e["code"] for e in refused] == ["6000"] and "in USD" in refused[0]["Detail"]
        kiwi = {"DisplayName": "Kiwi Ltd", "CurrencyRef": {"value": "NZD"}}
        customer = api.create("Customer", kiwi).json()["Customer"]
        nzd["CustomerRef"] = {"value": customer["Id"]}
        assert api.create("Invoice", nzd).status_code == 200
        eur = {**nzd, "DocNumber": "M3", "CurrencyRef": {"value": "EUR"}}
        refused = api.create("Invoice", eur).json()["Fault"]["Error"]
        assert "currency list" in refused[0]["Detail"]
        assert api.create("Invoice", home).status_code == 200
    finally:
        server.stop()


def test_a_term_is_checked_as_qbo_describes_it(api: Api) -> None:
    # Name at most 31; DueDays (0-999) or DayOfMonthDue (1-31), not both; Type is QBO's
    made = api.create("Term", {"Name": "20th of following month", "DayOfMonthDue": 20,
                               "DueNextMonthDays": 20})  # fmt: skip
    assert made.status_code == 200, made.text
    assert made.json()["Term"]["Type"] == "DATE_DRIVEN"
    assert api.create("Term", {"Name": "Net 45", "DueDays": 45}).json()["Term"]["Type"] == (
        "STANDARD"
    )
    both = api.create("Term", {"Name": "Both", "DueDays": 10, "DayOfMonthDue": 10})
    neither = api.create("Term", {"Name": "Neither"})
    long = api.create("Term", {"Name": "x" * 32, "DueDays": 10})
    day = api.create("Term", {"Name": "Day 32", "DayOfMonthDue": 32})
    assert [r.status_code for r in (both, neither, long, day)] == [400] * 4
    assert codes(long) == ["2050"] and codes(day) == ["2010"]


def _bill(api: Api, number: str, vendor_name: str) -> dict[str, Any]:
    vendor = api.create("Vendor", {"DisplayName": vendor_name}).json()["Vendor"]
    account = api.one("Account", "AccountType = 'Expense'")
    body = {
        "VendorRef": {"value": vendor["Id"]},
        "DocNumber": number,
        "Line": [
            {
                "Amount": "80.00",
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account["Id"]}},
            }
        ],
    }
    return api.create("Bill", body).json()["Bill"]


def test_bill_payments_follow_qbo_rules_and_show_in_cdc_and_query(api: Api) -> None:
    """A BillPayment pays bills of its vendor from a bank (Check) or card account; it moves
    the bill's Balance and is read back by query and by change data capture, deleted too."""
    bill = _bill(api, "B-1", "Paper Co")
    other = _bill(api, "B-2", "Ink Co")
    bank = api.one("Account", "AccountType = 'Bank'")
    body = {
        "VendorRef": bill["VendorRef"],
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": bank["Id"]}},
        "TotalAmt": "30.00",
        "Line": [{"Amount": "30.00", "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
    }
    assert codes(api.create("BillPayment", {**body, "PayType": "Cash"})) == ["2170"]
    assert codes(api.create("BillPayment", {**body, "CheckPayment": {}})) == ["2020"]
    other_link = [{"TxnId": other["Id"], "TxnType": "Bill"}]
    other_vendor = {**body, "Line": [{"Amount": "30.00", "LinkedTxn": other_link}]}
    assert codes(api.create("BillPayment", other_vendor)) == ["2500"]
    since = api.app.wall.stamp()
    paid = api.create("BillPayment", body).json()["BillPayment"]
    assert api.one("Bill", "DocNumber = 'B-1'")["Balance"] == 50
    queried = api.query(f"select * from BillPayment where Id = '{paid['Id']}'")["BillPayment"]
    assert [(p["PayType"], p["TotalAmt"]) for p in queried] == [("Check", 30)]
    cdc = api.call("GET", "/cdc", entities="Payment,BillPayment", changedSince=since).json()
    found = cdc["CDCResponse"][0]["QueryResponse"]
    assert [[p["Id"] for p in r.get("BillPayment", [])] for r in found] == [[], [paid["Id"]]]
    api.app.delete_payment(paid["Id"], entity="BillPayment")
    assert api.one("Bill", "DocNumber = 'B-1'")["Balance"] == 80
    cdc = api.call("GET", "/cdc", entities="BillPayment", changedSince=since).json()
    (tomb,) = cdc["CDCResponse"][0]["QueryResponse"][0]["BillPayment"]
    assert (tomb["Id"], tomb["status"]) == (paid["Id"], "Deleted")
    assert api.app.pay_bill("B-2", Decimal("80.00"))["PayType"] == "Check"
    assert api.one("Bill", "DocNumber = 'B-2'")["Balance"] == 0
