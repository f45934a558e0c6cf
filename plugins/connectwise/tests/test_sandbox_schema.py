"""The sandbox serves and accepts only ConnectWise's published Accounting Interface shapes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from wisesync.testing.sandbox import SandboxServer
from wisesync_connectwise.sandbox import schema, start_sandbox

EXPORT_ALL = {"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}
LISTS = [
    "/finance/accounting/unpostedinvoices",
    "/finance/accounting/unpostedexpenses",
    "/finance/accounting/unpostedprocurement",
    "/finance/accounting/unpostedpayments",
    "/finance/accounting/batches",
    "/finance/glAccounts",
    "/finance/glCaptions",
]


def session(server: SandboxServer) -> requests.Session:
    s = requests.Session()
    s.headers.update(server.app.credentials.headers())
    return s


def read_everything(server: SandboxServer) -> dict:
    """Every list the schema covers (all pages), one full export, one batch and its
    entries and re-export: the bodies the sandbox validates on the way out."""
    s, base = session(server), server.api_url
    for path in LISTS:
        page = 1
        while True:
            r = s.get(base + path, params={"pageSize": 1000, "page": page})
            assert r.status_code == 200, r.text
            if len(r.json()) < 1000:
                break
            page += 1
    r = s.post(base + "/finance/accounting/export", json=EXPORT_ALL)
    assert r.status_code == 200, r.text
    export = r.json()
    tx = export["transactions"][0]
    ids = [int(i) for i in tx["glEntryIds"].split(",")]
    r = s.post(
        base + "/finance/accounting/batches",
        json={
            "batchIdentifier": "schema-check",
            "exportInvoicesFlag": True,
            "processedRecordIds": ids,
        },
    )
    assert r.status_code == 201, r.text
    batch = s.get(base + "/finance/accounting/batches", params={"pageSize": 1}).json()[0]
    assert s.get(base + f"/finance/accounting/batches/{batch['id']}").status_code == 200
    assert s.get(base + f"/finance/accounting/batches/{batch['id']}/entries").status_code == 200
    assert s.post(base + f"/finance/accounting/batches/{batch['id']}/export").status_code == 200
    return export


@pytest.fixture(scope="module")
def demo() -> Iterator[SandboxServer]:
    server = start_sandbox(seed=0)
    yield server
    server.stop()


def test_the_packaged_schema_is_the_reviewed_one():
    doc = schema.document()  # checks the sha256
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema.covered("POST", "/finance/accounting/export")
    assert schema.covered("GET", "/finance/accounting/unpostedinvoices/123")
    assert not schema.covered("GET", "/company/companies")


def test_demo_tenant_serves_only_published_shapes(demo):
    demo.app.reset()
    export = read_everything(demo)
    assert demo.app.schema_violations == []
    # every record type of the Accounting Interface is in the demo export
    for key in (
        "transactions",
        "expenses",
        "expenseBills",
        "purchaseTransactions",
        "adjustmentTransactions",
        "inventoryTransfers",
        "customers",
        "vendors",
    ):
        assert export[key], key


def test_a_request_outside_the_model_is_refused_and_recorded(demo):
    demo.app.reset()
    s = session(demo)
    r = s.post(
        demo.api_url + "/finance/accounting/export",
        json={**EXPORT_ALL, "includedInvoiceIds": ["10001"], "exportEverything": True},
    )
    assert r.status_code == 400 and r.json()["code"] == "InvalidObject"
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"(body)", "includedInvoiceIds/0"}
    (violation,) = demo.app.schema_violations
    assert violation.direction == "request"
    assert any("exportEverything" in m for m in violation.messages)
    listed = requests.get(demo.url + "/__sandbox/schema-violations").json()
    assert [(v["direction"], v["method"]) for v in listed] == [("request", "POST")]
    demo.app.reset()
    assert demo.app.schema_violations == []


def test_a_response_outside_the_model_is_recorded(demo, monkeypatch):
    demo.app.reset()
    views = demo.app.views
    original = views.unposted_expense

    def with_extra(e):
        return {**original(e), "exchangeRate": 1.5}

    monkeypatch.setattr(views, "unposted_expense", with_extra)
    r = session(demo).get(
        demo.api_url + "/finance/accounting/unpostedexpenses/" + demo.app.case("reimbursable")
    )
    assert r.status_code == 200  # served: the bug is the sandbox's, recorded for the test
    (violation,) = demo.app.schema_violations
    assert violation.direction == "response"
    assert "'exchangeRate' was unexpected" in violation.messages[0]
    demo.app.reset()


def test_a_2000_record_tenant_exports_without_a_violation():
    started = time.perf_counter()
    server = start_sandbox(seed=3, records=2000)
    try:
        counts = server.app.unposted_counts()
        assert sum(counts.values()) >= 1900  # a few seeded invoices are on hold
        export = read_everything(server)
        violations = server.app.schema_violations
        assert violations == [], "\n".join(str(v) for v in violations[:5])
        records = sum(
            len(export[k])
            for k in (
                "transactions",
                "expenses",
                "purchaseTransactions",
                "adjustmentTransactions",
                "inventoryTransfers",
            )
        )
        records += sum(len(b["detail"]) for b in export["expenseBills"])
        assert records == sum(counts.values())
        # jsonschema itself (the authority; 4 s for the whole body) agrees on a slice
        # jsonschema itself (the authority, ~1 s per 40 records) agrees on a sample
        part = {k: v[:10] if isinstance(v, list) else v for k, v in export.items()}
        response = schema.endpoint("POST", "/finance/accounting/export")["response"]
        validator = schema.checker().validator(response)
        assert list(validator.iter_errors(part)) == []
        bad = {"transactions": [{**export["transactions"][0], "exchangeRate": 1}]}
        assert [e.validator for e in validator.iter_errors(bad)] == ["additionalProperties"]
    finally:
        server.stop()
    print(f"2,000-record export checked in {time.perf_counter() - started:.1f} s")
