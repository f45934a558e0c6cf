"""pyconnectwise, a client generated from ConnectWise's OpenAPI document, reads the sandbox
unmodified: over HTTPS (a throwaway certificate trusted through ``REQUESTS_CA_BUNDLE``),
finding the codebase with ``/login/companyinfo/{company}`` as it does against ConnectWise,
and parsing every accounting body the plugin uses into its own pydantic models."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pyconnectwise import ConnectWiseManageAPIClient

from wisesync.testing.sandbox import SandboxServer
from wisesync.testing.tls import server_context, throwaway_certificate
from wisesync_connectwise.sandbox import start_sandbox


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return throwaway_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_server(certificate: tuple[Path, Path]) -> Iterator[SandboxServer]:
    server = start_sandbox(seed=0, tls=server_context(*certificate))
    yield server
    server.stop()


@pytest.fixture
def client(
    https_server: SandboxServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> ConnectWiseManageAPIClient:
    https_server.app.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    creds = https_server.app.credentials
    return ConnectWiseManageAPIClient(
        creds.company_id,
        f"127.0.0.1:{https_server.port}",
        creds.client_id,
        creds.public_key,
        creds.private_key,
    )


def test_codebase_comes_from_companyinfo_over_https(https_server, client):
    assert https_server.url.startswith("https://")
    assert client.codebase == "v4_6_release/"
    assert https_server.app.calls("GET", r"^/login/companyinfo/wisesync_demo$") == 1


def test_unposted_lists_parse_into_the_sdks_models(https_server, client):
    accounting = client.finance.accounting
    counts = https_server.app.unposted_counts()
    invoices = accounting.unpostedinvoices.get(params={"pageSize": 1000})
    assert len(invoices) == counts["invoice"] + counts["credit_memo"]
    memo = https_server.app.case("credit_memo")
    row = next(i for i in invoices if i.invoice_number == memo)
    assert row.invoice_type == "CreditMemo" and row.total < 0
    page = accounting.unpostedinvoices.paginated(1, 10)
    assert len(page.data) == 10 and page.has_next_page
    expenses = accounting.unpostedexpenses.get(params={"pageSize": 1000})
    assert len(expenses) == counts["expense"]
    procurement = accounting.unpostedprocurement.get(params={"pageSize": 1000})
    assert {p.procurement_type for p in procurement} == {"Purchase", "Adjustment", "Transfer"}
    assert https_server.app.schema_violations == []


def test_export_batches_and_gl_mapping_parse_into_the_sdks_models(https_server, client):
    accounting = client.finance.accounting
    export = accounting.export.post(
        data={"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}
    )
    standard = next(
        t for t in export.transactions if t.document_number == https_server.app.case("standard")
    )
    lines = sum(Decimal(str(d.total)) for d in standard.detail)
    assert Decimal(str(standard.total)) == -lines > 0  # the detail rows are the credit side
    assert export.expense_bills and export.inventory_transfers and export.adjustment_transactions
    assert export.purchase_transactions[0].purchase_detail[0].item_cost > 0

    ids = [int(i) for i in standard.gl_entry_ids.split(",")]
    created = accounting.batches.post(
        data={"batchIdentifier": "sdk-1", "exportInvoicesFlag": True, "processedRecordIds": ids}
    )
    assert created.transactions[0].document_number == standard.document_number
    (batch,) = accounting.batches.get(params={"conditions": 'batchIdentifier="sdk-1"'})
    entries = accounting.batches.id(batch.id).entries.get()
    assert {e.id for e in entries} == set(ids)
    assert accounting.batches.id(batch.id).export.post().transactions

    accounts = client.finance.gl_accounts.get(params={"pageSize": 1000})
    assert {a.gl_type for a in accounts} >= {"AR", "AP", "ST", "R", "RP", "IA", "IT"}
    (caption,) = client.finance.gl_captions.get()
    assert caption.segment5 == "Sub Account" and caption.segment5type == "Account"
    assert https_server.app.schema_violations == []
