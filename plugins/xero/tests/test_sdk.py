"""The official SDK (xero-python, the ``test`` extra) against the sandbox, unmodified:
invoices, currencies and manual journals, every request within Xero's spec."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from xero_python.accounting import (
    AccountingApi,
    Contact,
    Currency,
    CurrencyCode,
    Invoice,
    Invoices,
    LineAmountTypes,
    LineItem,
    ManualJournal,
    ManualJournalLine,
    ManualJournals,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi

from wisesync_xero.sandbox import start_sandbox


@pytest.fixture(scope="module")
def sdk(request):
    server = start_sandbox(seed=31, contacts=5)
    creds = server.app.credentials()
    token: dict = {}
    client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(creds.client_id, creds.client_secret)),
        oauth2_token_getter=lambda: token,
        oauth2_token_saver=token.update,
    )
    patch = pytest.MonkeyPatch()
    patch.setattr(TokenApi, "client_credentials_token_url", f"{server.url}/connect/token")
    client.get_client_credentials_token()
    api = AccountingApi(client, base_url=f"{server.url}/api.xro/2.0")
    yield api, server.app, creds.tenant_id
    patch.undo()
    assert server.app.spec_violations == []
    server.stop()


def test_currencies_are_listed_and_added(sdk):
    api, app, tenant = sdk
    listed = {c.code.value for c in api.get_currencies(tenant).currencies}
    assert listed == {"AUD", "USD", "NZD"}
    api.create_currency(tenant, Currency(code=CurrencyCode.GBP, description="British Pound"))
    assert "GBP" in app.org().currencies
    assert {c.code.value for c in api.get_currencies(tenant).currencies} == listed | {"GBP"}


def test_a_foreign_invoice_carries_the_currency_and_rate_sent(sdk):
    api, _app, tenant = sdk
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(name="Customer 00001"),
        invoice_number="SDK-USD-1",
        currency_code=CurrencyCode.USD,
        currency_rate=D("0.612345"),
        date=date(2026, 1, 5),
        line_items=[
            LineItem(description="Support", quantity=D(2), unit_amount=D("50.00"),
                     account_code="200", tax_type="OUTPUT")
        ],
        status="AUTHORISED",
    )  # fmt: skip
    made = api.create_invoices(tenant, Invoices(invoices=[invoice]), summarize_errors=False)
    (element,) = made.invoices
    assert element.currency_code.value == "USD" and element.currency_rate == D("0.612345")
    assert element.total == D("110.00")


def test_manual_journals_are_created_listed_and_read_back(sdk):
    api, _app, tenant = sdk
    journal = ManualJournal(
        narration="ConnectWise inventory adjustment SDK-1",
        date=date(2026, 1, 6),
        status="POSTED",
        line_amount_types=LineAmountTypes.NOTAX,
        journal_lines=[
            ManualJournalLine(line_amount=D("25.50"), account_code="310", description="Shrink"),
            ManualJournalLine(line_amount=D("-25.50"), account_code="630", description="Stock"),
        ],
    )
    made = api.create_manual_journals(tenant, ManualJournals(manual_journals=[journal]))
    (element,) = made.manual_journals
    assert element.status == "POSTED" and element.manual_journal_id
    assert [ln.line_amount for ln in element.journal_lines] == [D("25.50"), D("-25.50")]
    found = api.get_manual_journals(
        tenant, where='Narration=="connectwise inventory adjustment sdk-1"', page=1
    ).manual_journals
    assert [j.manual_journal_id for j in found] == [element.manual_journal_id]
    one = api.get_manual_journal(tenant, element.manual_journal_id).manual_journals[0]
    assert {ln.account_code for ln in one.journal_lines} == {"310", "630"}


def test_an_unbalanced_journal_is_refused_with_xeros_message(sdk):
    api, app, tenant = sdk
    journal = ManualJournal(
        narration="unbalanced",
        journal_lines=[
            ManualJournalLine(line_amount=D("100"), account_code="310"),
            ManualJournalLine(line_amount=D("-10"), account_code="630"),
        ],
    )
    made = api.create_manual_journals(
        tenant, ManualJournals(manual_journals=[journal]), summarize_errors=False
    )
    (element,) = made.manual_journals
    messages = [e.message for e in element.validation_errors]
    assert messages == ["The total debits (100.00) must equal total credits (-10.00)"]
    assert len(app.manual_journals()) == 1  # only the balanced one of the test before
