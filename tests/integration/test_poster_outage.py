"""A ledger outage longer than the retries: the company's records wait, held with
LEDGER_OUTAGE_WAITING, and post by themselves once the ledger answers again (each once);
an outage longer than ``outage_wait_s`` fails them with LEDGER_UNAVAILABLE, as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from wisesync.review import ReviewFilter, load_review
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import CompanySpec, Stack

WRITES = r"^/api\.xro/2\.0/(Invoices|CreditNotes)$"


def _codes(stack: Stack, run_id: str) -> dict[str, set[str]]:
    """status -> the message codes of the run's records with that status."""
    out: dict[str, set[str]] = {}
    for row in load_review(stack.db, ReviewFilter(run_id=run_id)).rows:
        out.setdefault(row.status, set()).update(m.code for m in row.messages)
    return out


def _wait(what: str, check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


@contextmanager
def _ledger_down(pg_database: str, **poster: Any) -> Iterator[tuple[Stack, Any, str]]:
    """A company of 6 invoices whose Xero answers every document write with 503, its roles
    running with the ``poster`` options, and a Sync All started: (stack, Xero app, run id)."""
    spec = CompanySpec.invoices_only("down", ledger="xero", invoices=6, customers=2)
    with Stack([spec], dsn=pg_database, transport="embedded") as stack:
        xero = stack.sandbox("xero", "down").app
        xero.faults.arm(Fault("status", count=10**6, method="PUT", path=WRITES, status=503))
        with stack.service(poster={"retry_delays": [0.1], **poster}):
            yield stack, xero, stack.sync("down").run_id


@pytest.mark.postgres
def test_records_wait_out_an_outage_and_post_once_when_the_ledger_is_back(
    pg_database: str,
) -> None:
    with _ledger_down(pg_database, outage_retry_s=1.0, outage_wait_s=600) as (stack, xero, run):
        _wait("held", lambda: "held" in _codes(stack, run))
        codes = _codes(stack, run)
        assert set(codes) == {"held"}, codes
        assert "LEDGER_OUTAGE_WAITING" in codes["held"]
        writes = xero.calls("PUT", WRITES)
        time.sleep(2.5)  # paused: no write every poll, one try per outage_retry_s
        assert xero.calls("PUT", WRITES) - writes <= 6, "the company is paused"
        xero.faults.clear()
        _wait("posted", lambda: set(_codes(stack, run)) == {"posted"})
    numbers = [d["InvoiceNumber"] for d in xero.invoices()]
    assert len(numbers) == 6 and len(set(numbers)) == 6


@pytest.mark.postgres
def test_an_outage_longer_than_the_wait_fails_the_records_with_ledger_unavailable(
    pg_database: str,
) -> None:
    with _ledger_down(pg_database, outage_retry_s=0.5, outage_wait_s=2.0) as (stack, xero, run):
        _wait("failed", lambda: set(_codes(stack, run)) == {"failed"}, 90)
        assert "LEDGER_UNAVAILABLE" in _codes(stack, run)["failed"]
    assert xero.invoices() == []


@pytest.mark.postgres
def test_once_the_company_is_paused_its_other_chunks_park_without_trying(
    pg_database: str,
) -> None:
    """About 110 invoices published before the poster starts: one poll, three chunks of 50 posted
    one after the other. The first meets the outage through its retries and pauses the
    company; the other two park at once instead of each running the same retries."""
    spec = CompanySpec.invoices_only("down", ledger="xero", invoices=120, customers=4)
    with Stack([spec], dsn=pg_database, transport="embedded") as stack:
        xero = stack.sandbox("xero", "down").app
        xero.faults.arm(Fault("status", count=10**6, method="PUT", path=WRITES, status=503))
        sync = stack.sync("down")
        run, records = sync.run_id, sum(sync.extracted.values())
        assert records > 100  # three chunks (a few of those generated are credit memos)
        poster = {"retry_delays": [0.1], "chunk_workers": 1, "outage_retry_s": 600}
        with stack.service(poster=poster):
            _wait("held", lambda: len(_held(stack, run)) == records, 90)
        one_chunk = xero.calls("PUT", WRITES)
        assert 2 <= one_chunk <= 10, one_chunk  # 2 tries of the first chunk, 5 requests each
        assert xero.invoices() == []


def _held(stack: Stack, run_id: str) -> list[str]:
    return [
        row.source_id
        for row in load_review(stack.db, ReviewFilter(run_id=run_id)).rows
        if row.status == "held"
    ]
