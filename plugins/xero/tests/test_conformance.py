"""The core target conformance suite, run against the Xero sandbox."""

from __future__ import annotations

import uuid

from xero_testkit import VOCABULARY, company, limiter, runtime

from wisesync.events.models import RecordEvent
from wisesync.protocols import Target, TargetContext
from wisesync.testing.conformance import TargetHarness, get_target_test_class
from wisesync.testing.records import RecordBuilder
from wisesync.testing.sandbox import Fault
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget


class XeroHarness(TargetHarness):
    """The Xero target against a fresh sandbox with 20 seeded customers."""

    def __init__(self) -> None:
        self.server = start_sandbox(seed=7, contacts=20)
        self.app = self.server.app
        self.company = company(self.server)
        self.target = XeroTarget(runtime(self.server, (self.company,)))
        self.records = RecordBuilder(
            VOCABULARY, prefix=f"CF{uuid.uuid4().hex[:6]}-", rotate_contacts=20
        )

    def context(self, target: Target | None = None) -> TargetContext:
        return (target or self.target).prepare(self.company, limiter())

    def valid_records(self, count: int) -> list[RecordEvent]:
        return self.records.valid(count)

    def error_cases(self) -> dict[str, RecordEvent]:
        return self.records.error_cases()

    def warning_cases(self) -> dict[str, RecordEvent]:
        return self.records.warning_cases()

    def documents_for(self, record: RecordEvent) -> int:
        number = record.document_number
        docs = [*self.app.invoices(), *self.app.credit_notes()]
        return sum(
            1
            for d in docs
            if (d.get("InvoiceNumber") or d.get("CreditNoteNumber")) == number
            and d["Status"] != "DELETED"
        )

    def ledger_calls(self) -> int:
        return self.app.calls(path=r"^/api\.xro/")

    def inject_rate_limit(self, count: int, retry_after: float) -> None:
        self.app.faults.arm(
            Fault(kind="rate_limit", count=count, retry_after=retry_after, path=r"^/api\.xro/")
        )

    def inject_lost_response(self) -> None:
        self.app.faults.arm(Fault(kind="lose_response", method="PUT", path="Invoices"))

    def check(self) -> None:
        assert self.app.spec_violations == []

    def close(self) -> None:
        self.server.stop()


TestXeroConformance = get_target_test_class(XeroHarness, name="TestXeroConformance")
