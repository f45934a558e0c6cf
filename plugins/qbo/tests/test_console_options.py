"""The QBO plugin's console hooks: its options reach the Options page (and `wisesync
options`) through the hook, a stored value takes effect in the plugin's settings, and
posted invoices link into QuickBooks Online."""

from __future__ import annotations

from wisesync.config import CompanyConfig
from wisesync.console.settings import company_fields
from wisesync.plugins import registry
from wisesync.store.options import apply_stored
from wisesync_qbo import settings as qbo_settings

SECTION = {"client_id_env": "ACME_QBO_ID", "client_secret_env": "ACME_QBO_SECRET"}


def _company(**section: object) -> CompanyConfig:
    return CompanyConfig(
        key="acme", name="Acme", ledger="qbo", settings={"qbo": {**SECTION, **section}}
    )


def test_qbo_options_appear_through_the_hook_and_take_effect() -> None:
    company = _company()
    fields = {f.name: f for f in company_fields(company, registry())}
    assert {"qbo.duplicate_bill_numbers", "options.tracking_missing", "sync_all"} <= set(fields)
    assert not any(name.startswith("xero.") for name in fields)  # not this company's ledger
    field = fields["qbo.duplicate_bill_numbers"]
    assert field.current(company) == "off"
    stored = apply_stored(company, {field.name: field.normalise("yes")})
    assert qbo_settings.load(stored).duplicate_bill_numbers is True
    assert qbo_settings.load(company).duplicate_bill_numbers is False


def test_posted_invoices_link_into_quickbooks_online() -> None:
    hook = registry().manager.hook.console_document_url
    live = hook(company=_company(), target="qbo", record_type="invoice", ledger_id="145")
    assert "https://app.qbo.intuit.com/app/invoice?txnId=145" in live
    sandbox = _company(base_url="https://sandbox-quickbooks.api.intuit.com")
    links = hook(company=sandbox, target="qbo", record_type="credit_memo", ledger_id="9")
    assert "https://app.sandbox.qbo.intuit.com/app/creditmemo?txnId=9" in links
    assert not any(hook(company=sandbox, target="qbo", record_type="procurement", ledger_id="9"))
