"""The ledger-neutral record and line rules of :mod:`wisesync.documents` that every ledger
target applies: texts, codes and the order of the messages they append."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

from wisesync import documents as rules
from wisesync.company import CompanyOptions
from wisesync.messages import Severity, message
from wisesync.testing.records import RecordBuilder, seed_vocabulary

B = RecordBuilder(seed_vocabulary("mybooks"), prefix="U-")


def test_header_problems_name_what_no_ledger_document_can_do_without() -> None:
    bare = B.record(B.line(), contact=None)
    bare.lines.clear()
    bare.document_number = " "
    texts = [m.text for m in rules.header_problems(bare, "MyBooks")]
    assert texts == [
        "The record has no lines.",
        "The record has no customer or vendor name.",
        "The record has no document number, so it could not be found again in MyBooks.",
    ]
    assert len(rules.header_problems(bare, "MyBooks", contact=False)) == 2
    assert rules.header_problems(B.record(B.line()), "MyBooks") == []


def test_check_gl_account_reports_in_order_and_gives_the_accepted_code() -> None:
    messages: list = []
    no_gl = B.line(account=None, item=None)
    assert rules.check_gl_account(0, no_gl, messages, lambda c: None, item_required=True) is None
    assert [m.code for m in messages] == ["GL_MAPPING_MISSING", "GL_MAPPING_MISSING"]
    assert "has no Non-Product ID / item code, which this company requires." in messages[1].text
    refused: list = []
    gone = message("LEDGER_ACCOUNT_MISSING", "gone")
    assert rules.check_gl_account(2, B.line(), refused, lambda c: gone) is None
    assert refused == [gone]
    assert rules.check_gl_account(0, B.line(), [], lambda c: None) == "200"


@dataclass
class _Account:
    active: bool


def test_account_problem_and_correction_account() -> None:
    def problem(account: _Account | None):
        return rules.account_problem(
            account, unknown="no such", inactive=lambda a: "inactive", line=3
        )

    assert problem(None).text == "no such" and problem(None).line == 3
    assert problem(_Account(False)).text == "inactive"
    assert problem(_Account(True)) is None
    messages: list = []
    ok = rules.correction_account(
        None, "900", messages, lambda c: None, what="rounding", no_default="none"
    )
    assert ok == "900" and messages == []
    refusal = message("LEDGER_ACCOUNT_MISSING", "archived")
    assert (
        rules.correction_account(
            "901", "900", messages, lambda c: refusal, what="adjustment", no_default="none"
        )
        is None
    )
    assert (
        rules.correction_account(
            None, None, messages, lambda c: None, what="rounding", no_default="none"
        )
        is None
    )
    assert [m.text for m in messages] == ["Adjustment line: archived", "none"]


def test_tracking_missing_warns_unless_the_company_halts() -> None:
    line = B.line(location="Perth")
    assert list(rules.tracking_values(line, {"location": "Region", "department": "Dept"})) == [
        ("location", "Region", "Perth")
    ]
    warn = rules.tracking_missing(CompanyOptions(), 0, "No Perth.")
    assert warn.severity is Severity.WARNING
    assert warn.text == "No Perth. The line was posted without it."
    halt = rules.tracking_missing(CompanyOptions(tracking_missing="halt"), 0, "No Perth.")
    assert halt.severity is Severity.ERROR and halt.text == "No Perth."


@dataclass
class _Resolved:
    index: int
    rate: D = D("0")
    text_only: bool = False


def test_priced_lines_sign_the_amounts_and_leave_text_lines_out() -> None:
    record = B.record(B.line("10.50", "2"), B.line("0", "0", account=None, item=None))
    lines = rules.priced_lines(record, [_Resolved(0, D("0.1")), _Resolved(1, text_only=True)], -1)
    assert [(x.quantity, x.unit_amount, x.line_amount, x.tax_rate) for x in lines] == [
        (D("2"), D("-10.50"), D("-21.00"), D("0.1"))
    ]


def test_a_plan_is_ok_only_with_a_body_and_no_error() -> None:
    record = B.record(B.line(), number=" INV-1 ")
    plan = rules.DocumentPlan(record, "invoice", {"a": 1})
    assert plan.ok and plan.number == "INV-1"
    plan.messages.append(message("RECORD_INVALID", "x"))
    assert not plan.ok
    assert not rules.DocumentPlan(record, "invoice", None).ok
