"""The results review without services: counts, errors with hints, exit codes, and the
people / JSON / CSV renderings."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rich.console import Console

from wisesync.messages import CATALOG
from wisesync.review import (
    CSV_COLUMNS,
    AckState,
    DeadLetterRow,
    RecordRow,
    Review,
    ReviewFilter,
    ReviewMessage,
    RunInfo,
    RunProgress,
    parse_since,
    render_comparison,
    render_review,
    write_review_csv,
)

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def row(
    source_id: str,
    status: str = "posted",
    *,
    record_type: str = "invoice",
    messages: list[ReviewMessage] | None = None,
    ack: AckState | None = None,
    company: str = "acme",
) -> RecordRow:
    return RecordRow(
        company=company,
        source="connectwise",
        record_type=record_type,
        source_id=source_id,
        target="xero",
        status=status,
        document_number=f"INV-{source_id}",
        ledger_id="x" if status == "posted" else None,
        ledger_number=f"INV-{source_id}" if status == "posted" else None,
        ledger_total=Decimal("110.00") if status == "posted" else None,
        source_total=Decimal("110.00"),
        run_id="run-1",
        result_id=f"r{source_id}",
        record_event_id=f"e{source_id}",
        trigger="sync_all",
        attempt=1,
        api_calls=1,
        finished_at=T0,
        current_status=status,
        messages=messages or [],
        ack=ack,
    )


def err(code: str, text: str, line: int | None = None) -> ReviewMessage:
    return ReviewMessage("error", code, text, line)


def warn(code: str, text: str) -> ReviewMessage:
    return ReviewMessage("warning", code, text)


@pytest.fixture
def review() -> Review:
    rows = [
        row("1", messages=[warn("ROUNDING_APPLIED", "rounding line of 0.01 added")]),
        row("2", "failed", messages=[err("GL_MAPPING_MISSING", "line 1 has no GL account", 0)]),
        row("3", "failed", messages=[err("LEDGER_ACCOUNT_MISSING", "account 4999 is archived")]),
        row("4", "failed", messages=[err("GL_MAPPING_MISSING", "no Non-Product ID", 2)]),
        row("5", "held", messages=[ReviewMessage("info", "BILLING_STATUS_HOLD", "Finance Hold")]),
        row("6", "skipped_already_posted", record_type="credit_memo"),
        row(
            "7",
            record_type="expense",
            messages=[warn("ACKNOWLEDGE_PENDING", "posted, but not yet marked posted")],
            ack=AckState(1, 0, 2, "ConnectWise 503", T0, None),
        ),
    ]
    run = RunInfo(
        "run-1", "acme", "sync_all", "ann", ["invoice", "credit_memo", "expense"],
        {"invoice": 4, "credit_memo": 1, "expense": 1}, {"invoice": 1}, T0, T0, None,
    )  # fmt: skip
    return Review(ReviewFilter(run_id="run-1"), rows, run=run)


def test_counts_per_type_and_status_in_record_type_order(review: Review) -> None:
    assert review.counts() == {
        "invoice": {"posted": 1, "failed": 3, "held": 1},
        "credit_memo": {"skipped_already_posted": 1},
        "expense": {"posted": 1},
    }
    assert review.by_status() == {
        "posted": 2,
        "failed": 3,
        "held": 1,
        "skipped_already_posted": 1,
    }
    assert review.run is not None and review.run.expected == 7


def test_errors_are_grouped_by_code_and_carry_the_catalog_hint(review: Review) -> None:
    errors = review.errors()
    assert [(r.source_id, m.code) for r, m in errors] == [
        ("2", "GL_MAPPING_MISSING"),
        ("4", "GL_MAPPING_MISSING"),
        ("3", "LEDGER_ACCOUNT_MISSING"),
    ]
    assert errors[0][1].hint == CATALOG["GL_MAPPING_MISSING"].hint
    assert [m.code for _, m in review.warnings()] == ["ACKNOWLEDGE_PENDING", "ROUNDING_APPLIED"]
    assert [r.source_id for r in review.unacknowledged()] == ["7"]


def test_exit_code_is_one_when_anything_failed_and_zero_for_posted_and_held() -> None:
    ok = Review(ReviewFilter(), [row("1"), row("2", "held"), row("3", "skipped_already_posted")])
    assert (ok.all_posted, ok.exit_code()) == (True, 0)
    assert Review(ReviewFilter(), [row("1"), row("2", "failed")]).exit_code() == 1
    # held by billing status: fine; held because the source record is unreadable or
    # inconsistent: a failure the user must fix, shown as an error with its fix
    status_hold = ReviewMessage("info", "BILLING_STATUS_HOLD", "Finance Hold")
    assert Review(ReviewFilter(), [row("2", "held", messages=[status_hold])]).exit_code() == 0
    mismatch = ReviewMessage("error", "SOURCE_TOTALS_MISMATCH", "lines 1.00 + tax 0.10 = 1.10")
    bad = Review(ReviewFilter(), [row("1"), row("2", "held", messages=[mismatch])])
    assert (bad.all_posted, bad.exit_code()) == (False, 1)
    ((_, shown),) = bad.errors()
    assert shown.code == "SOURCE_TOTALS_MISMATCH"
    assert shown.hint == CATALOG["SOURCE_TOTALS_MISMATCH"].hint
    assert Review(ReviewFilter(run_id="r"), [row("1")], missing=1).exit_code() == 1
    letter = DeadLetterRow(
        "wisesync.dlq.v1", 0, 3, "wisesync.records.v1", 1, 9, "acme", "r", None, None, None,
        "CorruptEvent", "not Avro", T0, None, False,
    )  # fmt: skip
    assert Review(ReviewFilter(), [row("1")], dead_letters=[letter]).exit_code() == 1
    answered = DeadLetterRow(*[*vars_of(letter)[:-1], True])
    assert Review(ReviewFilter(), [row("1")], dead_letters=[answered]).exit_code() == 0


def vars_of(letter: DeadLetterRow) -> list:
    return [getattr(letter, f) for f in DeadLetterRow.__slots__]


def test_json_has_summary_records_errors_with_hints_and_warnings(review: Review) -> None:
    data = json.loads(json.dumps(review.to_json(), default=str))
    assert data["summary"]["by_type"]["invoice"] == {"posted": 1, "failed": 3, "held": 1}
    assert data["summary"]["all_posted"] is False
    assert data["summary"]["errors"] == 3 and data["summary"]["warnings"] == 2
    assert data["run"]["expected_results"] == 7
    first = data["errors"][0]
    assert first["code"] == "GL_MAPPING_MISSING"
    assert first["hint"] == CATALOG["GL_MAPPING_MISSING"].hint
    assert first["title"] == "GL mapping missing" and first["line"] == 0
    rec = {r["source_id"]: r for r in data["records"]}
    assert rec["1"]["ledger_total"] == "110.00"  # money stays a decimal string
    assert rec["7"]["acknowledged"] is False and rec["1"]["acknowledged"] is None


def test_csv_has_one_row_per_message_and_one_for_a_record_without_messages(
    review: Review,
) -> None:
    out = io.StringIO()
    write_review_csv(review, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 7  # every record has one message except #6, which gets one row
    by_id = {r["source_id"]: r for r in rows}
    assert by_id["2"]["code"] == "GL_MAPPING_MISSING"
    assert by_id["2"]["hint"] == CATALOG["GL_MAPPING_MISSING"].hint
    assert by_id["6"]["code"] == "" and by_id["6"]["status"] == "skipped_already_posted"
    assert by_id["7"]["acknowledged"] == "false"


def _render(review: Review, **kw) -> str:
    return _render_at(review, 200, **kw)


def _render_at(review: Review, width: int, **kw) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    render_review(review, console, **kw)
    return console.file.getvalue()


def test_people_output_shows_counts_then_errors_with_hints_then_warnings(review: Review) -> None:
    text = _render(review)
    counts_at = text.index("Records by type and status")
    errors_at = text.index("Errors (3)")
    warnings_at = text.index("Warnings (2)")
    assert counts_at < errors_at < warnings_at
    assert "already posted" in text and "not yet acknowledged" in text
    for code in ("GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "ROUNDING_APPLIED"):
        assert code in text
    assert CATALOG["GL_MAPPING_MISSING"].hint[:40] in text
    assert text.count(CATALOG["GL_MAPPING_MISSING"].hint[:40]) == 1  # once per code group
    assert "no Non-Product ID (line 3)" in text  # line indexes are shown 1-based
    assert "line 1 has no GL account" in text and "(line 1)" not in text  # never said twice
    assert "NOT all posted" in text
    assert "company acme · sync_all by ann" in text


def test_narrow_terminal_stacks_each_code_with_its_fix_then_one_record_a_line(
    review: Review,
) -> None:
    """At 80 columns there are no four squeezed columns: a code's title and fix once, then
    one indented line per record, every line within the width."""
    text = _render_at(review, 80)
    lines = [ln.rstrip() for ln in text.splitlines()]
    assert max(len(ln) for ln in lines) <= 80
    assert "│" not in text[text.index("Errors (3)") :]  # no table after the counts
    wordy = "the ledger refused the document because " * 4
    rows = [row("8", "failed", messages=[err("LEDGER_VALIDATION", wordy)])]
    wrapped = _render_at(Review(ReviewFilter(), rows), 80).splitlines()
    at = next(i for i, ln in enumerate(wrapped) if ln.startswith("  - invoice INV-8: the"))
    assert re.match(r"    \w", wrapped[at + 1])  # wraps under its own text, not the dash
    at = lines.index("GL_MAPPING_MISSING GL mapping missing")
    assert lines[at + 1].startswith("  fix: Map the GL account")
    assert "  - invoice INV-2: line 1 has no GL account" in lines
    assert "  - invoice INV-4: no Non-Product ID (line 3)" in lines
    assert text.count("fix: Map the GL account") == 1
    assert "Records by type and status" in text and "NOT all posted" in text


def test_show_lists_posted_and_held_records_on_request(review: Review) -> None:
    plain = _render(review)
    assert "Posted (" not in plain and "Held (" not in plain
    text = _render(review, show=("posted", "held"))
    assert text.index("Posted (3)") < text.index("Held (1)") < text.index("Errors (3)")
    assert "invoice INV-1: in the ledger as" in text
    assert "credit_memo INV-6: in the ledger (already posted)" in text
    assert "invoice INV-5: BILLING_STATUS_HOLD: Finance Hold" in text
    for bad in ("None", "{", "}"):  # no Python reprs of missing values or dicts
        assert bad not in text[text.index("Posted (3)") : text.index("Errors (3)")]


def test_a_run_whose_extraction_failed_is_not_all_posted(review: Review) -> None:
    clean = Review(ReviewFilter(run_id="run-1"), [row("1")], run=review.run)
    assert clean.exit_code() == 0
    assert review.run is not None
    review.run.error = "ConnectWise is unavailable"
    failed = Review(ReviewFilter(run_id="run-1"), [row("1")], run=review.run)
    assert failed.exit_code() == 1 and failed.summary()["extraction_failed"] is True
    assert "extraction failed · NOT all posted" in _render(failed)


def test_people_output_limits_long_lists_and_escapes_markup() -> None:
    rows = [row(str(i), "failed", messages=[err("LEDGER_VALIDATION", f"[bold]x{i}[/]")]) for i in range(30)]  # fmt: skip
    text = _render(Review(ReviewFilter(company="acme"), rows), limit=5)
    assert "Errors (30)" in text and "25 more not shown" in text
    assert "[bold]x0[/]" in text  # user text is printed literally, never as markup


def test_nothing_to_show_and_missing_results_are_said_plainly() -> None:
    text = _render(Review(ReviewFilter(run_id="r9"), [], missing=3))
    assert "3 record(s) of this run have no result yet" in text
    assert "manifest has not reached the reporter" in text
    assert "no records match" in text


def test_comparison_shows_before_and_after_per_status(review: Review) -> None:
    after = Review(ReviewFilter(), [row("2"), row("3"), row("4", "failed")])
    console = Console(file=io.StringIO(), width=120, color_system=None)
    render_comparison(review, after, console)
    lines = [ln for ln in console.file.getvalue().splitlines() if "failed" in ln]
    assert lines and [c.strip() for c in lines[0].strip("│ ").split("│")] == ["failed", "3", "1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", T0 - timedelta(hours=24)),
        ("90m", T0 - timedelta(minutes=90)),
        ("7d", T0 - timedelta(days=7)),
        ("2w", T0 - timedelta(days=14)),
        ("2025-02-01", datetime(2025, 2, 1, tzinfo=UTC)),
        ("2025-02-01T08:00:00Z", datetime(2025, 2, 1, 8, tzinfo=UTC)),
        ("2025-02-01T08:00:00", datetime(2025, 2, 1, 8, tzinfo=UTC)),
        ("2025-02-01T08:00:00+02:00", datetime(2025, 2, 1, 6, tzinfo=UTC)),
    ],
)
def test_since_accepts_durations_dates_and_times(text: str, expected: datetime) -> None:
    assert parse_since(text, now=T0) == expected


def test_since_rejects_nonsense_with_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="24h"):
        parse_since("yesterday-ish")


def test_run_progress_is_complete_only_for_a_finished_run_with_every_result() -> None:
    assert not RunProgress("r", None, 5, 0, False).complete
    assert not RunProgress("r", 6, 5, 0, True).complete
    assert RunProgress("r", 6, 5, 1, True).complete  # one dead-lettered without a result
    assert not RunProgress("r", 6, 6, 0, False).complete  # still extracting


def test_filter_describes_itself() -> None:
    flt = ReviewFilter(company="acme", statuses=("failed",), codes=("GL_MAPPING_MISSING",))
    assert flt.describe() == "company acme · status failed · code GL_MAPPING_MISSING"
    assert ReviewFilter().describe() == "all records"


def test_the_review_says_how_many_acknowledgements_are_still_to_go(review: Review) -> None:
    """Posted records still waiting to be marked posted at the source are counted per source,
    in the summary (the console's read model) and in the people output."""
    untried = AckState(1, 0, 0, None, T0, None)
    rows = [*review.rows, row("8", ack=untried), row("9", ack=AckState(0, 1, 1, None, T0, "b1"))]
    busy = Review(review.filter, rows, run=review.run)
    assert busy.acknowledging() == {"connectwise": 2}
    assert busy.summary()["acknowledging"] == {"connectwise": 2}
    assert busy.acknowledging_text() == "acknowledging in ConnectWise: 2 to go"
    assert "acknowledging in ConnectWise: 2 to go" in _render(busy)
    done = Review(review.filter, [row("10", ack=AckState(0, 1, 1, None, T0, "b2"))])
    assert done.acknowledging() == {} and done.acknowledging_text() == ""
    assert "acknowledging" not in _render(done)
