"""The core conformance suites run against the ConnectWise sandbox: the source of documents,
and the target of ledger payments."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

from wisesync.events.models import Payment, RecordEvent, RecordType
from wisesync.protocols import Target, TargetContext
from wisesync.ratelimit import CallLimiter
from wisesync.testing.conformance import TargetHarness, get_target_test_class
from wisesync.testing.sandbox import Fault
from wisesync.testing.source_conformance import SourceHarness, get_source_test_class
from wisesync_connectwise.client import LIMITS
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.payments import ConnectWisePayments
from wisesync_connectwise.sandbox import start_sandbox
from wisesync_connectwise.testing import company_for, runtime_for

API = r"^/v4_6_release/apis/3\.0/"
UNPACED = replace(LIMITS, calls_per_second=None)


class ConnectWisePaymentsHarness(TargetHarness):
    """ConnectWise as the target of payments, against a fresh demo sandbox.

    Each valid payment is 1.00 on an open invoice (invoices are reused round-robin, each
    payment with its own ledger payment id), so a full batch fits the seeded invoices.
    """

    def __init__(self) -> None:
        self.server = start_sandbox(seed=0)
        self.app = self.server.app
        self.company = company_for(self.server)
        self.target = ConnectWisePayments(runtime_for(self.server))
        state = self.app.state
        open_numbers = [
            inv.number
            for inv in state.invoices.values()
            if inv.type != "CreditMemo" and state.invoice_balance(inv) >= 100
        ]
        assert open_numbers, "the demo seed has no open invoices"
        self._invoices = itertools.cycle(sorted(open_numbers))
        self._run = uuid.uuid4().hex[:6]
        self._n = itertools.count(1)

    def payment(self, amount: str = "1.00", number: str | None = None) -> RecordEvent:
        """A ledger payment of ``amount`` on the next open invoice."""
        pid = f"XP-{self._run}-{next(self._n)}"
        return RecordEvent(
            company=self.company.key,
            source="ledger",
            target="connectwise",
            record_type=RecordType.PAYMENT,
            source_id=pid,
            payment=Payment(
                ledger_payment_id=pid,
                invoice_number=number or next(self._invoices),
                amount=Decimal(amount),
                date=date(2026, 1, 5),
            ),
        ).seal()

    def context(self, target: Target | None = None) -> TargetContext:
        # the sandbox is not rate limited: the declared 10 calls/second would only slow the suite
        return (target or self.target).prepare(self.company, CallLimiter(UNPACED))

    def valid_records(self, count: int) -> list[RecordEvent]:
        return [self.payment() for _ in range(count)]

    def error_cases(self) -> dict[str, RecordEvent]:
        return {"RECORD_INVALID": self.payment("0.00")}

    def warning_cases(self) -> dict[str, RecordEvent]:
        return {}

    def documents_for(self, record: RecordEvent) -> int:
        assert record.payment is not None
        payments = self.app.payments(record.payment.invoice_number)
        return sum(
            1 for p in payments if p.get("transactionId") == record.payment.ledger_payment_id
        )

    def ledger_calls(self) -> int:
        return self.app.calls(path=API)

    def inject_rate_limit(self, count: int, retry_after: float) -> None:
        self.app.faults.arm(
            Fault(kind="rate_limit", count=count, retry_after=retry_after, path=API)
        )

    def inject_lost_response(self) -> None:
        self.app.faults.arm(Fault(kind="lose_response", method="POST", path="/payments$"))

    def close(self) -> None:
        self.server.stop()


class ConnectWiseHarness(SourceHarness):
    """The ConnectWise source against a fresh demo sandbox."""

    def __init__(self) -> None:
        self.server = start_sandbox(seed=0)
        self.company = company_for(self.server)
        self.source = ConnectWiseSource(runtime_for(self.server))

    def record_types(self) -> list[RecordType]:
        return [
            RecordType.INVOICE,
            RecordType.CREDIT_MEMO,
            RecordType.EXPENSE,
            RecordType.PROCUREMENT,
        ]

    def close(self) -> None:
        self.server.stop()


TestConnectWisePaymentsTarget = get_target_test_class(ConnectWisePaymentsHarness)
TestConnectWiseSource = get_source_test_class(ConnectWiseHarness)
