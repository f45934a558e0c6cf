"""ConnectWise as the target of ledger payments: applied once, reversed, clear errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wisesync.errors import AuthError
from wisesync.events.models import RecordEvent, RecordType, Status
from wisesync.ratelimit import CallLimiter
from wisesync.testing.records import RecordBuilder, Vocabulary
from wisesync.testing.sandbox import Fault
from wisesync_connectwise.client import LIMITS
from wisesync_connectwise.payments import ConnectWisePayments
from wisesync_connectwise.testing import company_for, runtime_for

_records = RecordBuilder(Vocabulary(target="connectwise", source="xero"), company="demo")


def payment(number: str, amount: str, pid: str = "XP-1", *, reversed: bool = False) -> RecordEvent:
    return _records.payment(number, amount, pid=pid, reversed=reversed)


@pytest.fixture
def target(server):
    return ConnectWisePayments(runtime_for(server))


@pytest.fixture
def ctx(server, target):
    return target.prepare(company_for(server), CallLimiter(LIMITS))


def test_limits_and_record_types():
    assert ConnectWisePayments.name == "connectwise"
    assert ConnectWisePayments.record_types == {RecordType.PAYMENT}
    assert ConnectWisePayments.limits.calls_per_second and ConnectWisePayments.limits.batch_size


def test_a_payment_is_applied_once(server, target, ctx):
    number = server.app.case("standard")
    record = payment(number, "100.00")
    (outcome,) = target.post([record], ctx)
    assert outcome.status is Status.POSTED and outcome.messages == []
    assert outcome.ledger_number == number and outcome.ledger_total == Decimal(100)
    (applied,) = server.app.payments(number)
    assert applied["transactionId"] == "XP-1" and applied["amount"] == 100
    assert str(applied["id"]) == outcome.ledger_id
    total = server.app.invoice_by_number(number)["total"]
    assert server.app.invoice_by_number(number)["balance"] == total - 100
    # The same payment event again (redelivery): recognised, not applied twice.
    (again,) = target.post([record], ctx)
    assert again.status is Status.POSTED and again.ledger_id == outcome.ledger_id
    assert [m.code for m in again.messages] == ["ALREADY_IN_LEDGER"]
    assert len(server.app.payments(number)) == 1
    assert target.find_existing([record], ctx)[record.source_id].ledger_id == outcome.ledger_id


def test_a_lost_response_does_not_apply_the_payment_twice(server, target, ctx):
    number = server.app.case("agreement")
    server.app.faults.arm(Fault("lose_response", count=1, method="POST", path="/payments$"))
    (outcome,) = target.post([payment(number, "50.00", "XP-LOST")], ctx)
    assert outcome.status is Status.POSTED and outcome.ledger_id
    assert len(server.app.payments(number)) == 1
    assert server.app.calls("POST", "/payments$") == 1


def test_two_partial_payments_on_one_invoice(server, target, ctx):
    number = server.app.case("large_amounts")
    outcomes = target.post([payment(number, "1000", "XP-A"), payment(number, "2000", "XP-B")], ctx)
    assert [o.status for o in outcomes] == [Status.POSTED, Status.POSTED]
    assert sorted(p["transactionId"] for p in server.app.payments(number)) == ["XP-A", "XP-B"]


def test_unknown_invoice_number(server, target, ctx):
    (outcome,) = target.post([payment("NOPE-1", "10.00")], ctx)
    assert outcome.status is Status.FAILED
    assert [m.code for m in outcome.messages] == ["INVOICE_NOT_FOUND"]
    assert "NOPE-1" in outcome.messages[0].text


def test_payment_above_the_balance(server, target, ctx):
    number = server.app.case("standard")
    balance = server.app.invoice_by_number(number)["balance"]
    (outcome,) = target.post([payment(number, str(balance + 1))], ctx)
    assert [m.code for m in outcome.messages] == ["PAYMENT_EXCEEDS_BALANCE"]
    assert server.app.payments(number) == []
    # Two payments that together exceed the balance: the second is refused.
    first, second = target.post(
        [payment(number, str(balance - 10), "XP-1"), payment(number, "20", "XP-2")], ctx
    )
    assert first.status is Status.POSTED
    assert [m.code for m in second.messages] == ["PAYMENT_EXCEEDS_BALANCE"]


def test_a_payment_to_a_credit_memo_is_a_clear_error(server, target, ctx):
    (outcome,) = target.post([payment(server.app.case("credit_memo"), "10")], ctx)
    assert outcome.status is Status.FAILED
    assert outcome.messages[0].code in ("PAYMENT_EXCEEDS_BALANCE", "LEDGER_VALIDATION")


def test_a_reversal_removes_the_applied_payment_once(server, target, ctx):
    number = server.app.case("standard")
    target.post([payment(number, "100.00", "XP-9")], ctx)
    reversal = payment(number, "100.00", "XP-9", reversed=True)
    (outcome,) = target.post([reversal], ctx)
    assert outcome.status is Status.POSTED
    assert server.app.payments(number) == []
    assert (
        server.app.invoice_by_number(number)["balance"]
        == server.app.invoice_by_number(number)["total"]
    )
    (again,) = target.post([reversal], ctx)
    assert again.status is Status.POSTED and server.app.calls("DELETE", "/payments/") == 1
    assert reversal.source_id in target.find_existing([reversal], ctx)


def test_validate_refuses_incomplete_events(target, ctx):
    assert target.validate(payment("1", "10"), ctx) == []
    bad = payment("", "0")
    assert [m.code for m in target.validate(bad, ctx)] == ["RECORD_INVALID", "RECORD_INVALID"]
    none = RecordEvent(
        company="demo",
        source="xero",
        target="connectwise",
        record_type=RecordType.PAYMENT,
        source_id="x",
    )
    assert [m.code for m in target.validate(none, ctx)] == ["RECORD_INVALID"]


def test_prepare_with_bad_credentials_raises_an_auth_error(server):
    target = ConnectWisePayments(runtime_for(server, CW_PUB="not-the-key"))
    with pytest.raises(AuthError) as info:
        target.prepare(company_for(server), CallLimiter(LIMITS))
    assert "not-the-key" not in str(info.value)


def test_invoices_are_looked_up_in_one_call(server, target, ctx):
    numbers = [server.app.case(c) for c in ("standard", "agreement", "rounding", "many_lines")]
    before = server.app.calls("GET", "/finance/invoices$")
    target.post([payment(n, "1", f"XP-{n}") for n in numbers], ctx)
    assert server.app.calls("GET", "/finance/invoices$") - before == 1
    # Invoices with no payments yet are not asked for their payments.
    assert server.app.calls("GET", "/payments$") == 0
