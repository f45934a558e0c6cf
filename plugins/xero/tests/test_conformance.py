"""The core target conformance suite, run against the Xero sandbox."""

from __future__ import annotations

import itertools
import uuid

from xero_testkit import VOCABULARY, company, customer, inventory, line, record, runtime

from wisesync.events.models import RecordEvent, Tracking
from wisesync.testing.conformance import SandboxHarness, get_target_test_class
from wisesync.testing.records import RecordBuilder
from wisesync_xero.journals import journal_narration
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget


class XeroHarness(SandboxHarness):
    """The Xero target against a fresh sandbox with 20 seeded customers."""

    api_path = r"^/api\.xro/"
    lost_write = ("PUT", "Invoices")

    def __init__(self) -> None:
        self.server = start_sandbox(seed=7, contacts=20)
        self.app = self.server.app
        self.company = company(self.server)
        self.target = XeroTarget(runtime(self.server, (self.company,)))
        self.records = RecordBuilder(
            VOCABULARY, prefix=f"CF{uuid.uuid4().hex[:6]}-", rotate_contacts=20
        )

    def documents_for(self, record: RecordEvent) -> int:
        number = record.document_number
        docs = [*self.app.invoices(), *self.app.credit_notes()]
        return sum(
            1
            for d in docs
            if (d.get("InvoiceNumber") or d.get("CreditNoteNumber")) == number
            and d["Status"] != "DELETED"
        )

    def check(self) -> None:
        assert self.app.spec_violations == []


TestXeroConformance = get_target_test_class(XeroHarness, name="TestXeroConformance")


class XeroJournalHarness(XeroHarness):
    """The same target, with inventory adjustments and transfers (manual journals):
    no number and no contact, so posting once and finding again rest on the narration."""

    lost_write = ("PUT", "ManualJournals")

    def __init__(self) -> None:
        super().__init__()
        self._n = itertools.count(1)
        self._run = uuid.uuid4().hex[:6]

    def _number(self) -> str:
        return f"CJ{self._run}-{next(self._n):04d}"

    def _inventory(self, *amounts, **kw) -> RecordEvent:
        subtype = "transfer" if next(self._n) % 2 else "adjustment"
        return inventory(*amounts, subtype=subtype, number=self._number(), **kw)

    def valid_records(self, count: int) -> list[RecordEvent]:
        return [
            self._inventory(("310", f"{n + 1}.25"), ("630", f"-{n + 1}.25")) for n in range(count)
        ]

    def error_cases(self) -> dict[str, RecordEvent]:
        no_account = self._inventory(("310", "5.00"), ("630", "-5.00"))
        no_account.lines[0].gl_account = None
        return {
            "GL_MAPPING_MISSING": no_account,
            "LEDGER_ACCOUNT_MISSING": self._inventory(("4999", "5.00"), ("630", "-5.00")),
            "RECORD_INVALID": self._inventory(("310", "5.00"), ("630", "-4.00")),
            "CURRENCY_NOT_ENABLED": record(
                line(), number=self._number(), contact=customer(3), currency="EUR"
            ),
        }

    def warning_cases(self) -> dict[str, RecordEvent]:
        long = self._inventory(("310", "7.00"), ("630", "-7.00"))
        long.lines[0].description = "d" * 4100
        perth = self._inventory(("310", "8.00"), ("630", "-8.00"))
        perth.lines[1].tracking = Tracking(location="Perth")
        return {"DESCRIPTION_TRUNCATED": long, "TRACKING_MISSING": perth}

    def documents_for(self, record: RecordEvent) -> int:
        if record.contact is not None:
            return super().documents_for(record)
        narration = journal_narration(record)
        return sum(
            1
            for j in self.app.manual_journals()
            if j["Narration"] == narration and j["Status"] not in ("DELETED", "VOIDED")
        )


TestXeroJournalConformance = get_target_test_class(
    XeroJournalHarness, name="TestXeroJournalConformance"
)
