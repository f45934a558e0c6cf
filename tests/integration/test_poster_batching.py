"""The poster's batches against the Xero sandbox: one record type per write, a company's
batches written up to Xero's 5 at once, reference data and contacts loaded once, and a new
customer created once although several of its batches are written at the same time."""

from __future__ import annotations

import math
import threading
from collections import Counter

import pytest

from wisesync.testing.stack import CompanySpec, Stack

COMPANY = "acme"


def _company(invoices: int, customers: int, *, contacts: bool) -> CompanySpec:
    return CompanySpec(
        COMPANY,
        record_types=["invoice", "credit_memo"],
        options={"require_item_code": True},
        sandbox_options={
            "connectwise": {
                "invoices": invoices, "expenses": 0, "procurement": 0,
                "customers": customers, "cases": False,
            },
            "xero": {"contacts": customers if contacts else None},
        },
    )  # fmt: skip


class InFlight:
    """Wraps a sandbox's dispatch to see how many document writes overlap."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.now = self.most = 0
        self.lock = threading.Lock()
        original = app.dispatch

        def dispatch(request):  # type: ignore[no-untyped-def]
            write = request.method == "PUT" and request.path.endswith(("/Invoices", "/CreditNotes"))
            if not write:
                return original(request)
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                return original(request)
            finally:
                with self.lock:
                    self.now -= 1

        app.dispatch = dispatch


def _calls(app) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(
        f"{m} {p.rsplit('/', 1)[-1]}" for m, p, s in app.log if p.startswith("/api.xro/")
    )


@pytest.mark.parametrize("contacts", [True, False], ids=["customers_exist", "customers_new"])
def test_a_backlog_is_written_in_full_single_type_batches_several_at_once(
    pg_database: str, contacts: bool
) -> None:
    with Stack([_company(400, 30, contacts=contacts)], dsn=pg_database) as stack:
        cw, xero = stack.sandbox("connectwise", COMPANY).app, stack.sandbox("xero", COMPANY).app
        counts = cw.unposted_counts()
        run = stack.sync(COMPANY)  # every record waits on the topic: one poll takes them all
        xero.faults.latency = 0.2  # a write takes long enough to overlap with the next
        flight = InFlight(xero)
        with stack.service(poster={"max_records": 1000, "linger_s": 0.5}):
            review = stack.wait(run, timeout=120, acknowledged=False)

        assert review.by_status() == {"posted": counts["invoice"] + counts["credit_memo"]}
        calls = _calls(xero)
        # one write per 50 records of a type: no batch mixes invoices and credit notes
        assert calls["PUT Invoices"] == math.ceil(counts["invoice"] / 50) >= 7
        assert calls["PUT CreditNotes"] == math.ceil(counts["credit_memo"] / 50)
        # batches written at once share one preparation and one contact listing
        assert calls["GET Accounts"] == calls["GET TaxRates"] == calls["GET Contacts"] == 1
        # overlapping, within Xero's concurrency limit (writes that create customers wait
        # for each other, so with all customers new the first ones may not overlap)
        assert (2 if contacts else 1) <= flight.most <= 5
        assert xero.rate_limited == 0
        numbers = Counter(d["InvoiceNumber"] for d in xero.invoices())
        assert len(numbers) == counts["invoice"] and set(numbers.values()) == {1}
        # each customer is in Xero once, also when its first invoices were in several of
        # the batches written at the same time
        names = Counter(c["Name"].casefold() for c in xero.contacts())
        if contacts:  # matched by account number: nobody created
            assert len(names) == 30
        else:
            invoiced = {cw.state.companies[i.company_id].name for i in cw.state.invoices.values()}
            assert {n.casefold() for n in invoiced} <= set(names)
        assert set(names.values()) == {1}
