"""An interactive Sync All prepares its company's ledger connection while it extracts: the
token and reference data are read before the first record reaches the poster, and the first
post reads them no more."""

from __future__ import annotations

import pytest

from wisesync.testing.stack import CompanySpec, Stack

REFERENCE = r"/(Accounts|TaxRates|Items|TrackingCategories|Currencies|Organisation)$"


@pytest.mark.postgres
def test_warming_prepares_the_ledger_before_any_record_and_the_post_reuses_it(
    pg_database: str,
) -> None:
    spec = CompanySpec.invoices_only("warm", ledger="xero", invoices=5, customers=2)
    with Stack([spec], dsn=pg_database, transport="embedded") as stack:
        xero = stack.sandbox("xero", "warm").app
        with stack.service() as service:
            service.role("poster").warm(["warm", "not-configured"]).join(30)
            warmed = xero.calls("GET", REFERENCE)
            assert warmed >= 2, "the reference data was read ahead"
            assert xero.calls(path="Invoices") == 0
            review = stack.wait(stack.sync("warm"), acknowledged=False)
            assert review.by_status() == {"posted": 5}
            assert xero.calls("GET", REFERENCE) == warmed, "the post prepared again"
