"""Every installed ledger's :class:`~wisesync.testing.ledger.LedgerSandbox`, through the
core's protocols only: connect, revoke and restore the connection, create and archive an
account, and list what a Sync All posted. Runs for each ledger that registers one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from wisesync.errors import AuthError
from wisesync.events.models import Line, RecordEvent, RecordType, Totals
from wisesync.plugins import build_registry
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import unlimited
from wisesync.testing.ledger import LedgerSandbox
from wisesync.testing.stack import CompanySpec, Stack

LEDGERS = sorted(build_registry().ledgers)
#: small clean books: every record posts
BOOKS = {"invoices": 3, "expenses": 0, "procurement": 0, "customers": 2, "cases": False}
CODE = "4998"


@pytest.fixture(params=LEDGERS)
def stack(request: pytest.FixtureRequest, pg_database: str) -> Iterator[Stack]:
    spec = CompanySpec("acme", ledger=request.param, sandbox_options={"connectwise": BOOKS}, seed=5)
    with Stack([spec], dsn=pg_database, partitions=1) as s:
        yield s


def invoice_on(account: str) -> RecordEvent:
    amount = Decimal("100.00")
    return RecordEvent(
        company="acme",
        source="connectwise",
        target="",
        record_type=RecordType.INVOICE,
        source_id="neutral-1",
        document_number="N-1",
        date=date(2026, 1, 5),
        lines=[Line("Consulting", Decimal("1"), amount, amount, gl_account=account)],
        totals=Totals(amount, Decimal("0"), amount),
    )


def account_missing(stack: Stack, target, company) -> bool:  # type: ignore[no-untyped-def]
    """Whether the target reports account CODE missing (a fresh look at the ledger)."""
    target.invalidate(company)
    ctx = target.prepare(company, unlimited())
    messages = target.validate(invoice_on(CODE), ctx)
    return any(m.code == "LEDGER_ACCOUNT_MISSING" and CODE in m.text for m in messages)


@pytest.mark.postgres
def test_ledger_sandbox_controls_work_through_the_core_protocols(stack: Stack) -> None:
    ledger = stack.ledger("acme")
    assert isinstance(ledger, LedgerSandbox)
    company = stack.config.company("acme")
    runtime = PluginRuntime(config=stack.config, db=stack.db)
    target = stack.registry.target(company.ledger)(runtime)

    ledger.connect(runtime, company)
    assert account_missing(stack, target, company)
    ledger.create_account(CODE, "Neutral Revenue", "revenue")
    assert not account_missing(stack, target, company)
    ledger.archive_account(CODE)
    assert account_missing(stack, target, company)

    ledger.revoke_connection()
    target.invalidate(company)
    with pytest.raises(AuthError):
        target.prepare(company, unlimited())
    ledger.restore_connection()
    ledger.connect(runtime, company)
    target.invalidate(company)
    assert target.prepare(company, unlimited()).company is company

    before = {d.number for d in ledger.posted_documents()}
    with stack.service():
        review = stack.wait(stack.sync("acme", [RecordType.INVOICE]))
    posted = {r.ledger_number for r in review.rows if r.status == "posted"}
    assert len(posted) == BOOKS["invoices"]
    docs = {d.number: d for d in ledger.posted_documents() if d.number not in before}
    assert set(docs) == posted
    totals = {r.ledger_number: r.ledger_total for r in review.rows}
    assert all(docs[n].total == totals[n] and docs[n].ledger_id for n in posted)
