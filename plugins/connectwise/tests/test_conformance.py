"""The core conformance suites run against the ConnectWise sandbox: the source of documents,
and the target of ledger payments."""

from __future__ import annotations

import itertools
from dataclasses import replace

from wisesync.events.models import RecordEvent, RecordType
from wisesync.protocols import Target, TargetContext
from wisesync.ratelimit import CallLimiter
from wisesync.testing.conformance import TargetHarness, get_target_test_class
from wisesync.testing.records import RecordBuilder, Vocabulary
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
        self.records = RecordBuilder(Vocabulary(target="connectwise", source="ledger"))
        self._errors, self._post_errors = self.records.payment_cases(open_numbers[0])

    def context(self, target: Target | None = None) -> TargetContext:
        # the sandbox is not rate limited: the declared 10 calls/second would only slow the suite
        return (target or self.target).prepare(self.company, CallLimiter(UNPACED))

    def valid_records(self, count: int) -> list[RecordEvent]:
        return [self.records.payment(next(self._invoices)) for _ in range(count)]

    def error_cases(self) -> dict[str, RecordEvent]:
        return self._errors

    def post_error_cases(self) -> dict[str, RecordEvent]:
        return self._post_errors

    def warning_cases(self) -> dict[str, RecordEvent]:
        return {}

    def documents_for(self, record: RecordEvent) -> int:
        assert record.payment is not None
        if self.app.invoice_by_number(record.payment.invoice_number) is None:
            return 0
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
