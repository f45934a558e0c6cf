"""The review over tables the reporter wrote (real Postgres): counts, errors with codes and
hints, filters, a run's view against the latest state, wait_for_run, and ``wisesync results``
with --json and --csv."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from wisesync.events.codec import Codec
from wisesync.events.models import (
    DeadLetter,
    PostingResult,
    RecordEvent,
    RecordType,
    Status,
    SyncRun,
    Trigger,
    new_id,
    utcnow,
)
from wisesync.messages import CATALOG, message
from wisesync.pipeline.reporter import Reporter
from wisesync.plugins import registry
from wisesync.review import (
    ReviewFilter,
    latest_run_id,
    load_review,
    run_progress,
    wait_for_run,
)
from wisesync.store.db import Database
from wisesync.transport.base import Message as BusMessage

CODEC = Codec()
RUN = "run-seed"


class _Registry:
    sources = {"connectwise": object}
    manager = None


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


class Feed:
    """Hands results, runs and dead letters to a real Reporter, as consecutive messages."""

    def __init__(self, db: Database):
        self.reporter = Reporter(db, None, CODEC, registry=_Registry())
        self.offset = 0

    def __call__(self, *objs: Any) -> None:
        topic = {
            PostingResult: "wisesync.results.v1",
            SyncRun: "wisesync.runs.v1",
            DeadLetter: "wisesync.dlq.v1",
        }
        msgs = []
        for obj in objs:
            key = obj.company.encode() if obj.company else None
            msgs.append(BusMessage(topic[type(obj)], 0, self.offset, key, CODEC.encode(obj), [], 0))
            self.offset += 1
        self.reporter.store(msgs)


def res(
    sid: str,
    status: Status = Status.POSTED,
    *codes: str,
    rtype: RecordType = RecordType.INVOICE,
    company: str = "acme",
    run_id: str = RUN,
    finished_at=None,
) -> PostingResult:
    return PostingResult(
        record_event_id=new_id(),
        run_id=run_id,
        company=company,
        record_type=rtype,
        source="connectwise",
        source_id=sid,
        target="xero",
        status=status,
        trigger=Trigger.SYNC_ALL,
        document_number=f"{rtype.value[:3].upper()}-{sid}",
        ledger_id=f"x{sid}" if status is Status.POSTED else None,
        messages=[message(c, f"{c.lower()} on record {sid}") for c in codes],
        finished_at=finished_at or utcnow(),
    )


def seed(feed: Feed) -> None:
    """One Sync All with every Wise-Sync error and warning case, plus a held invoice."""
    feed(
        res("1"),
        res("2", Status.POSTED, "ROUNDING_APPLIED"),
        res("3", Status.POSTED, "ADJUSTMENT_APPLIED", "TERMS_XREF"),
        res("4", Status.POSTED, "NO_BILLING_CONTACT"),
        res("5", Status.FAILED, "GL_MAPPING_MISSING"),
        res("6", Status.FAILED, "LEDGER_ACCOUNT_MISSING"),
        res("7", Status.FAILED, "AUTH_TOKEN_INVALID"),
        res("8", Status.HELD, "BILLING_STATUS_HOLD"),
        res("20", Status.POSTED, rtype=RecordType.EXPENSE),
        res("21", Status.FAILED, "TAX_CODE_INVALID", rtype=RecordType.EXPENSE),
        res("30", Status.SKIPPED_ALREADY_POSTED, rtype=RecordType.CREDIT_MEMO),
        SyncRun(
            RUN,
            "acme",
            Trigger.SYNC_ALL,
            "ann",
            ["invoice", "credit_memo", "expense"],
            {"invoice": 7, "credit_memo": 1, "expense": 2},
            {"invoice": 1},
            finished_at=utcnow(),
        ),
    )


@pytest.mark.postgres
def test_review_counts_errors_warnings_and_hints_of_a_run(db: Database) -> None:
    seed(Feed(db))
    review = load_review(db, ReviewFilter(run_id=RUN))
    assert review.counts() == {
        "invoice": {"posted": 4, "failed": 3, "held": 1},
        "credit_memo": {"skipped_already_posted": 1},
        "expense": {"posted": 1, "failed": 1},
    }
    assert [(r.source_id, m.code) for r, m in review.errors()] == [
        ("7", "AUTH_TOKEN_INVALID"),
        ("5", "GL_MAPPING_MISSING"),
        ("6", "LEDGER_ACCOUNT_MISSING"),
        ("21", "TAX_CODE_INVALID"),
    ]
    for _, m in review.errors() + review.warnings():
        assert m.hint == CATALOG[m.code].hint and m.text.startswith(m.code.lower())
    assert sorted(m.code for _, m in review.warnings()) == [
        "ADJUSTMENT_APPLIED",
        "NO_BILLING_CONTACT",
        "ROUNDING_APPLIED",
        "TERMS_XREF",
    ]
    assert review.run is not None and review.run.expected == 11 and review.missing == 0
    assert review.exit_code() == 1
    # the posted ones owe acknowledgements not tried yet: counted, but no warning yet
    assert len(review.unacknowledged()) == 6


@pytest.mark.postgres
def test_filters_by_status_code_type_company_and_since(db: Database) -> None:
    feed = Feed(db)
    seed(feed)
    old = utcnow() - timedelta(days=3)
    feed(res("99", Status.FAILED, "GL_MAPPING_MISSING", company="globex", run_id="old", finished_at=old))  # fmt: skip

    def ids(**kw: Any) -> list[str]:
        return sorted(r.source_id for r in load_review(db, ReviewFilter(**kw)).rows)

    assert ids(statuses=("failed",)) == ["21", "5", "6", "7", "99"]
    assert ids(codes=("GL_MAPPING_MISSING",)) == ["5", "99"]
    assert ids(codes=("GL_MAPPING_MISSING",), company="acme") == ["5"]
    assert ids(record_types=("expense",)) == ["20", "21"]
    assert ids(statuses=("failed",), since=utcnow() - timedelta(days=1)) == ["21", "5", "6", "7"]
    assert ids(company="globex") == ["99"]
    assert ids(codes=("ACKNOWLEDGE_PENDING",)) == ["1", "2", "20", "3", "30", "4"]
    with db.connection() as conn:
        assert latest_run_id(conn) == RUN
        assert latest_run_id(conn, "nobody") is None


@pytest.mark.postgres
def test_a_runs_review_keeps_its_own_outcome_and_shows_the_current_status(db: Database) -> None:
    feed = Feed(db)
    seed(feed)
    # a replay later posts record 5 in another run
    feed(res("5", Status.POSTED, run_id="run-replay"))
    before = {r.source_id: r for r in load_review(db, ReviewFilter(run_id=RUN)).rows}
    assert (before["5"].status, before["5"].current_status) == ("failed", "posted")
    latest = {r.source_id: r for r in load_review(db, ReviewFilter(company="acme")).rows}
    assert (latest["5"].status, latest["5"].run_id) == ("posted", "run-replay")
    assert not latest["5"].errors()


@pytest.mark.postgres
def test_dead_letters_of_a_run_are_listed_and_count_as_not_posted(db: Database) -> None:
    feed = Feed(db)
    event = RecordEvent("acme", "connectwise", "xero", RecordType.INVOICE, "77", run_id="r2")
    feed(
        res("76", run_id="r2"),
        DeadLetter(
            "wisesync.records.v1", 0, 5, b"acme", CODEC.encode(event), "ConfigError",
            "company 'acme' is not configured", "wisesync-poster", company="acme",
            record_event_id=event.event_id,
        ),
        SyncRun("r2", "acme", Trigger.SCHEDULE, "scheduler", ["invoice"], {"invoice": 2},
                finished_at=utcnow()),
    )  # fmt: skip
    review = load_review(db, ReviewFilter(run_id="r2"))
    assert [d.source_id for d in review.unanswered_dead_letters()] == ["77"]
    assert review.exit_code() == 1
    with db.connection() as conn:
        progress = run_progress(conn, "r2")
    assert (progress.expected, progress.answered, progress.dead_lettered) == (2, 1, 1)
    assert progress.complete


@pytest.mark.postgres
def test_wait_for_run_returns_when_every_record_has_a_result(db: Database) -> None:
    feed = Feed(db)
    run = SyncRun(
        "r3", "acme", Trigger.SYNC_ALL, "ann", ["invoice"], {"invoice": 4}, {"invoice": 1}
    )
    run.finished_at = utcnow()
    results = [res(str(i), run_id="r3") for i in range(4)]
    results.append(res("h", Status.HELD, "BILLING_STATUS_HOLD", run_id="r3"))

    def trickle() -> None:  # results arrive one by one, the manifest after the first
        for i, r in enumerate(results):
            time.sleep(0.15)
            feed(r, run) if i == 0 else feed(r)

    seen: list[tuple] = []
    worker = threading.Thread(target=trickle)
    worker.start()
    progress = wait_for_run(db, "r3", 30, lambda p: seen.append((p.expected, p.done)), poll_s=0.05)
    worker.join()
    assert progress.complete and (progress.expected, progress.answered) == (5, 5)
    assert seen[0] == (None, 0) and seen[-1] == (5, 5)
    assert len(seen) >= 3  # progress was reported as results arrived


@pytest.mark.postgres
def test_wait_for_run_times_out_with_the_progress_so_far(db: Database) -> None:
    feed = Feed(db)
    feed(
        res("1", run_id="r4"),
        SyncRun("r4", "acme", Trigger.SYNC_ALL, "ann", ["invoice"], {"invoice": 2},
                finished_at=utcnow()),
    )  # fmt: skip
    started = time.monotonic()
    progress = wait_for_run(db, "r4", 0.5, poll_s=0.1)
    assert 0.4 < time.monotonic() - started < 5
    assert not progress.complete and (progress.expected, progress.done) == (2, 1)
    assert load_review(db, ReviewFilter(run_id="r4")).missing == 1


@pytest.mark.postgres
def test_wait_for_run_can_wait_for_the_first_acknowledgement_try(db: Database) -> None:
    feed = Feed(db)
    feed(
        res("1", run_id="r5"),
        SyncRun("r5", "acme", Trigger.SYNC_ALL, "ann", ["invoice"], {"invoice": 1},
                finished_at=utcnow()),
    )  # fmt: skip
    assert wait_for_run(db, "r5", 0.3, acknowledged=True, poll_s=0.1).acks_untried == 1
    with db.connection() as conn:
        conn.execute("UPDATE acknowledgements SET tries = 1, last_error = 'CW down'")
    assert wait_for_run(db, "r5", 5, acknowledged=True).complete


# --- wisesync results -------------------------------------------------------------------------


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Any:
    from wisesync.cli import cli
    from wisesync.cli.results import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
    monkeypatch.chdir(tmp_path)  # no wisesync.toml here
    monkeypatch.setenv("WISESYNC_DSN", db.dsn)
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "")
    seed(Feed(db))

    def run(*args: str):
        return CliRunner().invoke(cli, ["results", *args], catch_exceptions=False)

    registry.cache_clear()
    yield run
    # the process-wide registry was built with no plugins: later tests need the real one
    registry.cache_clear()


@pytest.mark.postgres
def test_results_json_prints_the_whole_review_and_exits_1_when_not_all_posted(cli_env) -> None:
    out = cli_env("--run", RUN, "--json")
    assert out.exit_code == 1
    data = json.loads(out.stdout)
    assert data["summary"]["by_status"] == {
        "posted": 5,
        "failed": 4,
        "held": 1,
        "skipped_already_posted": 1,
    }
    assert {e["code"] for e in data["errors"]} == {
        "GL_MAPPING_MISSING",
        "LEDGER_ACCOUNT_MISSING",
        "AUTH_TOKEN_INVALID",
        "TAX_CODE_INVALID",
    }
    assert all(e["hint"] == CATALOG[e["code"]].hint for e in data["errors"])
    assert data["run"]["requested_by"] == "ann"


@pytest.mark.postgres
def test_results_exit_0_when_everything_shown_posted(cli_env) -> None:
    out = cli_env("--status", "posted", "--status", "skipped_already_posted", "--json")
    assert out.exit_code == 0, out.stdout
    assert json.loads(out.stdout)["summary"]["records"] == 6


@pytest.mark.postgres
def test_results_csv_has_a_row_per_message_with_code_and_hint(cli_env) -> None:
    out = cli_env("--run", "last", "--code", "gl_mapping_missing,TAX_CODE_INVALID", "--csv")
    assert out.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert sorted((r["source_id"], r["code"]) for r in rows) == [
        ("21", "TAX_CODE_INVALID"),
        ("5", "GL_MAPPING_MISSING"),
    ]
    assert rows[0]["hint"] == CATALOG[rows[0]["code"]].hint


@pytest.mark.postgres
def test_results_for_people_and_usage_errors(cli_env, tmp_path, monkeypatch) -> None:
    # --company names a configured company (an unknown one is a usage error, exit 2)
    (tmp_path / "wisesync.toml").write_text(
        '[[companies]]\nkey = "acme"\nledger = "hello"\nsource = "hello"\n'
    )
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")  # the company's plugin
    registry.cache_clear()
    out = cli_env("--company", "acme", "--since", "1h")
    assert out.exit_code == 1, out.output
    assert "Records by type and status" in out.stdout and "GL_MAPPING_MISSING" in out.stdout
    assert cli_env("--code", "NOT_A_CODE").exit_code == 2
    assert cli_env("--since", "last tuesday").exit_code == 2
    assert cli_env("--run", "no-such-run").exit_code == 2
    assert cli_env("--json", "--csv").exit_code == 2
