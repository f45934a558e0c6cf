"""The reference data of a tenant is loaded with its six GETs, five in flight together."""

from __future__ import annotations

import threading
import time
from typing import Any

from wisesync_xero.reference import load_reference


def test_the_reference_gets_overlap_within_xeros_limit_and_each_lands_in_its_place() -> None:
    in_flight, most, lock = 0, 0, threading.Lock()
    bodies: dict[str, Any] = {
        "/Accounts": {"Accounts": [{"AccountID": "a1", "Code": "200", "Name": "Sales",
                                    "Type": "REVENUE", "Status": "ACTIVE"}]},
        "/TaxRates": {"TaxRates": []},
        "/TrackingCategories": {"TrackingCategories": []},
        "/Items": {"Items": [{"ItemID": "i1", "Code": "MS-001"}]},
        "/Currencies": {"Currencies": [{"Code": "AUD"}, {"Code": "usd"}]},
        "/Organisation": {"Organisations": [{"BaseCurrency": "AUD"}]},
    }  # fmt: skip

    def get(path: str, params: Any) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return bodies[path]

    started = time.monotonic()
    reference = load_reference(get, now=42.0)
    assert most == 5 and time.monotonic() - started < 0.45
    assert reference.loaded_at == 42.0
    assert "200" in reference.accounts and "MS-001" in reference.items
    assert reference.currencies == {"AUD", "USD"} and reference.base_currency == "AUD"
    assert reference.currency_enabled("usd") and not reference.currency_enabled("EUR")
