"""``wisesync results`` as a real subprocess over a real Sync All (Kafka, Postgres, sandboxes):
the review of a run as CSV, JSON and text, its filters, and its exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wisesync.review import CSV_COLUMNS, Review
from wisesync.testing.stack import CompanySpec, Stack
from wisesync_xero.journals import narration_number

WISESYNC = Path(sys.executable).with_name("wisesync")
COMPANY = "acme"


@pytest.fixture
def synced(pg_database: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo company after one Sync All; the config file and env for subprocesses."""
    spec = CompanySpec(
        COMPANY, hold_billing_statuses=["Finance Hold"], options={"require_item_code": True}
    )
    with Stack(
        [spec], dsn=pg_database, transport="kafka", kafka_bootstrap=kafka_bootstrap
    ) as stack:
        with stack.service():
            run = stack.sync(COMPANY)
            review = stack.wait(run)
        config = tmp_path / "wisesync.toml"
        env = stack.write_config(config)
        base = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
        env = {**base, **env, "COLUMNS": "200"}  # wide enough for rich's tables on one line
        yield {"stack": stack, "review": review, "config": config, "env": env}


def results(synced: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WISESYNC), "--config", str(synced["config"]), "results", *args],
        cwd=synced["config"].parent,
        env=synced["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_results_of_a_run_as_csv(synced: dict[str, Any]) -> None:
    review: Review = synced["review"]
    out = results(synced, "--run", review.run.run_id, "--csv")
    assert out.returncode == 1, out.stderr  # the run has failed records
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    # one row per message, one row for a record without messages: every record is there
    assert {r["source_id"] for r in rows} == {r.source_id for r in review.rows}
    assert {(r["source_id"], r["status"]) for r in rows} == {
        (r.source_id, r.status) for r in review.rows
    }
    expected_messages = sum(max(1, len(r.messages)) for r in review.rows)
    assert len(rows) == expected_messages
    by_code = Counter(r["code"] for r in rows if r["code"])
    assert by_code == Counter(m.code for r in review.rows for m in r.messages)
    # inventory adjustments and transfers are manual journals: no number in Xero
    xero = synced["stack"].sandbox("xero", COMPANY).app
    journals = {narration_number(j["Narration"]) for j in xero.manual_journals()}
    assert len(journals) >= 2  # the seed's inventory adjustment and transfer at least
    for row in rows:
        assert row["run_id"] == review.run.run_id and row["company"] == COMPANY
        if row["code"]:
            assert row["hint"] and row["severity"] in ("error", "warning", "info")
        if row["status"] == "posted":  # a manual journal is numbered by its narration
            number = narration_number(row["ledger_number"]) or row["ledger_number"]
            assert number == row["document_number"]
            assert row["acknowledged"] == "true"
    # held: the billing-status hold, and what the source would not publish (the seed's
    # unbalanced and zero-line invoices, the expense its expense bill combined)
    held = [r for r in rows if r["status"] == "held"]
    assert sorted(r["code"] for r in held) == [
        "BILLING_STATUS_HOLD",
        "SOURCE_FIELD_INVALID",
        "SOURCE_RECORD_COMBINED",
        "SOURCE_TOTALS_MISMATCH",
    ]
    assert all(
        r["severity"] == "error"
        for r in held
        if r["code"].startswith("SOURCE_") and r["code"] != "SOURCE_RECORD_COMBINED"
    )


def test_results_of_a_run_as_json_match_the_review(synced: dict[str, Any]) -> None:
    review: Review = synced["review"]
    out = results(synced, "--run", review.run.run_id, "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["summary"]["by_status"] == review.summary()["by_status"]
    assert doc["summary"]["records"] == len(review.rows)
    assert doc["run"]["run_id"] == review.run.run_id
    assert len(doc["errors"]) == len(review.errors())
    assert len(doc["warnings"]) == len(review.warnings())
    # `--run last` is the same run
    last = json.loads(results(synced, "--run", "last", "--json").stdout)
    assert last["summary"] == doc["summary"]


def test_results_filters_and_exit_codes(synced: dict[str, Any]) -> None:
    review: Review = synced["review"]
    failed = [r for r in review.rows if r.status == "failed"]
    posted = [r for r in review.rows if r.status == "posted"]

    only_failed = json.loads(results(synced, "--status", "failed", "--json").stdout)
    assert {r["source_id"] for r in only_failed["records"]} == {r.source_id for r in failed}

    mapping = results(synced, "--code", "GL_MAPPING_MISSING", "--json")
    assert mapping.returncode == 1
    ids = {r["source_id"] for r in json.loads(mapping.stdout)["records"]}
    assert ids == {
        r.source_id for r in failed if "GL_MAPPING_MISSING" in {m.code for m in r.errors()}
    }
    assert len(ids) >= 3

    ok = results(synced, "--status", "posted", "--company", COMPANY, "--json")
    assert ok.returncode == 0, ok.stderr  # everything shown is posted
    assert json.loads(ok.stdout)["summary"]["by_status"] == {"posted": len(posted)}

    text = results(synced, "--run", review.run.run_id)
    assert text.returncode == 1
    assert "Records by type and status" in text.stdout
    assert "LEDGER_ACCOUNT_MISSING" in text.stdout and "NOT all posted" in text.stdout

    unknown_run = results(synced, "--run", "no-such-run")
    assert unknown_run.returncode == 2 and "no run 'no-such-run'" in unknown_run.stderr
    bad_code = results(synced, "--code", "NOT_A_CODE")
    assert bad_code.returncode == 2 and "not a message code" in bad_code.stderr
    both = results(synced, "--json", "--csv")
    assert both.returncode == 2
