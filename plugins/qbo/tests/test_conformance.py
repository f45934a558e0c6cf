"""The core target conformance suite, run against the QBO sandbox."""

from __future__ import annotations

import uuid

from qbo_testkit import VOCABULARY, company, target

from wisesync.events.models import RecordEvent
from wisesync.protocols import Target
from wisesync.testing.conformance import SandboxHarness, get_target_test_class
from wisesync.testing.records import RecordBuilder
from wisesync_qbo.connection import Connections
from wisesync_qbo.mapping import marker
from wisesync_qbo.sandbox import Limits, start_sandbox
from wisesync_qbo.sandbox.ledger import DOCUMENTS
from wisesync_qbo.target import QboTarget


class QboHarness(SandboxHarness):
    """The QBO target against a fresh sandbox (QBO's throttles raised: the suite posts
    full batches back to back on the real clock)."""

    api_path = r"^/v3/company/"
    throttled_path = r"^/v3/"
    lost_write = ("POST", "/batch/write/")  # how the sandbox's faults see a write batch

    def __init__(self) -> None:
        self.server = start_sandbox(seed=7, customers=20, limits=Limits(10**6, 10**6, 10**6))
        self.app = self.server.app
        self.company = company(self.server)
        self.target = target(self.server, (self.company,))
        self.records = RecordBuilder(
            VOCABULARY, prefix=f"Q{uuid.uuid4().hex[:6]}-", rotate_contacts=20
        )

    def new_target(self) -> Target:
        fresh = QboTarget(self.target.runtime)
        fresh.connections = Connections(fresh.runtime, self.target.connections.store)
        return fresh

    def post_error_cases(self) -> dict[str, RecordEvent]:
        """What only QBO can refuse: a customer name a vendor holds (6240), a DocNumber
        another document has (6140, not ours)."""
        taken = self.records.record(self.records.line())
        self.app.add("Invoice", {"DocNumber": taken.document_number, "TotalAmt": 1, "Line": []})
        return {
            "CONTACT_INVALID": self.records.record(
                self.records.line(), contact=self.records.customer(31, name="Dicker Data Limited")
            ),
            "DUPLICATE_DOCUMENT_NUMBER": taken,
        }

    def documents_for(self, record: RecordEvent) -> int:
        """Documents QBO holds for ``record``: its DocNumber, written for it (the marker)."""
        return sum(
            1
            for entity in DOCUMENTS
            for doc in self.app.documents(entity)
            if doc.get("DocNumber") == record.document_number
            and marker(record) in str(doc.get("PrivateNote") or "")
        )


TestQboConformance = get_target_test_class(QboHarness, name="TestQboConformance")
