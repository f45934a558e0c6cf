"""``wisesync sync-all`` as a real subprocess against the sandboxes, on real Kafka and Postgres.

The stack writes its configuration (``Stack.write_config``); no daemon runs, so each
``sync-all`` runs the poster, reporter and acknowledger itself. Exit codes: 0 every record
posted, 1 some did not, 2 usage or configuration error (Sync All disabled, an unknown --company).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.testing.stack import CompanySpec, Stack

WISESYNC = Path(sys.executable).with_name("wisesync")
DEMO, CLEAN = "acme", "tidy"
#: ordinary invoices only: everything posts
CLEAN_BOOKS = {"invoices": 6, "expenses": 0, "procurement": 0, "customers": 3, "cases": False}


class Cli:
    """Runs ``wisesync --config <file> ...`` with the stack's environment."""

    def __init__(self, config: Path, env: dict[str, str], cwd: Path):
        base = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
        # COLUMNS: wide enough for rich's tables to keep codes and summaries on one line
        self.config, self.env, self.cwd = config, {**base, **env, "COLUMNS": "200"}, cwd

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WISESYNC), "--config", str(self.config), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def stack(pg_database: str, kafka_bootstrap: str) -> Iterator[Stack]:
    specs = [
        CompanySpec(
            DEMO,
            hold_billing_statuses=["Finance Hold"],
            options={"require_item_code": True},
            sync_all=False,  # the default: an admin has to enable it
        ),
        CompanySpec(CLEAN, seed=3, sandbox_options={"connectwise": CLEAN_BOOKS}),
    ]
    with Stack(specs, dsn=pg_database, transport="kafka", kafka_bootstrap=kafka_bootstrap) as s:
        yield s


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    config = tmp_path / "wisesync.toml"
    env = stack.write_config(config)
    return Cli(config, env, tmp_path)


def unposted_total(stack: Stack, company: str) -> int:
    return sum(stack.sandbox("connectwise", company).app.unposted_counts().values())


def test_sync_all_is_refused_until_an_admin_enables_it_then_reviews_the_run(
    stack: Stack, cli: Cli
) -> None:
    xero = stack.sandbox("xero", DEMO).app
    waiting = unposted_total(stack, DEMO)

    refused = cli("sync-all", "--company", DEMO, "--json")
    assert refused.returncode == 2, refused.stderr
    assert "Sync All is disabled for company acme" in refused.stderr
    assert "wisesync options set --company acme sync_all=on" in refused.stderr
    assert refused.stdout == ""
    assert xero.documents_count() == 0 and unposted_total(stack, DEMO) == waiting

    enabled = cli("options", "set", "--company", DEMO, "sync_all=on")
    assert enabled.returncode == 0, enabled.stderr
    audit = cli("options", "show", "--company", DEMO, "--audit")
    assert (
        "sync_all = on" in audit.stdout and "set sync_all to on (was the default)" in audit.stdout
    )
    assert "None" not in audit.stdout  # no Python reprs

    done = cli("sync-all", "--company", DEMO, "--json")
    assert done.returncode == 1, done.stderr  # the seed has records that cannot post
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    review = json.loads(done.stdout)
    summary, run = review["summary"], review["run"]
    by_status = summary["by_status"]
    assert summary["records"] == len(review["records"]) == waiting + 1 == run["expected_results"]
    assert by_status["posted"] == xero.documents_count() > 0
    records = review["records"]
    by_status_hold = [
        r
        for r in records
        if r["status"] == "held"
        and r["document_number"] == (stack.sandbox("connectwise", DEMO).app.case("finance_hold"))
    ]
    assert len(by_status_hold) == 1 and by_status["failed"] > 0
    # the other held records: ConnectWise exported them inconsistent (held with an error,
    # they make the exit 1) or as part of an expense bill (combined, not an error)
    source_held = by_status["held"] - 1
    assert source_held >= 3
    assert summary["all_posted"] is False and summary["missing_results"] == 0
    # the review comes as soon as every record has its result: what is not yet marked in
    # ConnectWise is counted, and the command still gives each its first try before it exits
    assert summary["unacknowledged"] == sum(summary["acknowledging"].values())
    assert sum(n for per in summary["by_type"].values() for n in per.values()) == waiting + 1
    assert run["trigger"] == "sync_all" and run["company"] == DEMO
    assert Counter(r["status"] for r in review["records"]) == by_status
    held_errors = [e for e in review["errors"] if e["code"].startswith("SOURCE_")]
    assert unposted_total(stack, DEMO) == by_status["failed"] + len(held_errors)
    codes = {e["code"] for e in review["errors"]}
    assert {"GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "TAX_CODE_INVALID"} <= codes
    assert {"SOURCE_TOTALS_MISMATCH", "SOURCE_FIELD_INVALID"} <= codes
    assert all(e["hint"] for e in review["errors"] + review["warnings"])
    assert len(review["errors"]) == summary["errors"]

    # The people's view of a second Sync All: counts, then errors with codes and fixes.
    again = cli("sync-all", "--company", DEMO)
    assert again.returncode == 1, again.stderr
    text = again.stdout
    assert "Sync All: Acme" in text and "Records by type and status" in text
    assert "Errors (" in text and "GL_MAPPING_MISSING" in text and "NOT all posted" in text
    assert xero.documents_count() == by_status["posted"]  # nothing posted twice


def test_sync_all_exits_0_when_everything_posted(stack: Stack, cli: Cli) -> None:
    xero = stack.sandbox("xero", CLEAN).app
    waiting = unposted_total(stack, CLEAN)
    result = cli("sync-all", "--company", CLEAN, "--json")
    assert result.returncode == 0, result.stderr
    review = json.loads(result.stdout)
    assert review["summary"]["by_status"] == {"posted": waiting}
    assert review["summary"]["all_posted"] is True
    assert xero.documents_count() == waiting and unposted_total(stack, CLEAN) == 0
    assert not review["errors"]


def test_sync_all_wait_ack_waits_until_connectwise_has_every_posted_record(
    stack: Stack, cli: Cli
) -> None:
    """ConnectWise refuses the first two batch creates: without ``--wait-ack`` the review
    would end while those acknowledgements wait for their retry ("acknowledging in
    ConnectWise: 2 to go"); with it, sync-all waits for the retry and ends with every posted
    record batched."""
    from wisesync.testing.sandbox import Fault

    cw = stack.sandbox("connectwise", CLEAN).app
    waiting = unposted_total(stack, CLEAN)
    cw.faults.arm(Fault("status", count=2, method="POST", path=r"/accounting/batches$", status=400))
    result = cli("sync-all", "--company", CLEAN, "--wait-ack", "--json")
    assert result.returncode == 0, result.stderr
    review = json.loads(result.stdout)
    assert review["summary"]["by_status"] == {"posted": waiting}
    assert review["summary"]["unacknowledged"] == 0
    assert review["summary"]["acknowledging"] == {}
    assert unposted_total(stack, CLEAN) == 0 and len(cw.batches()) == waiting
    with stack.db.connection() as conn:
        (retried,) = conn.execute(
            "SELECT count(*) FROM acknowledgements WHERE company = %s AND tries > 1", (CLEAN,)
        ).fetchone()
    assert retried >= 1, "an acknowledgement needed its retry, and sync-all waited for it"


def test_sync_all_selects_the_first_company_and_says_which(stack: Stack, cli: Cli) -> None:
    """Wise-Sync's rule: the first configured company is selected by default. Here it is
    the demo company, whose Sync All an admin has not enabled yet: refused, naming it."""
    result = cli("sync-all", "--json")
    assert result.stderr.startswith(
        f"company {DEMO} (the first configured; others: {CLEAN}; choose one with --company)"
    )
    assert result.returncode == 2 and f"Sync All is disabled for company {DEMO}" in result.stderr
    assert result.stdout == ""
    unknown = cli("sync-all", "--company", "tidyy")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert f"'tidyy' is not a configured company; did you mean '{CLEAN}'?" in unknown.stderr
    assert stack.sandbox("xero", DEMO).app.documents_count() == 0


def test_sync_all_of_a_company_whose_xero_connection_was_revoked(stack: Stack, cli: Cli) -> None:
    """The records fail with AUTH_TOKEN_INVALID and the fix; reading payments from Xero
    failed too, and the review says so: a review and exit 1, not a traceback."""
    connected = cli("xero", "connect", "--company", CLEAN)
    assert connected.returncode == 0, connected.stderr
    xero = stack.sandbox("xero", CLEAN).app
    xero.revoke()
    waiting = unposted_total(stack, CLEAN)

    result = cli("sync-all", "--company", CLEAN, "--json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    review = json.loads(result.stdout)
    assert review["summary"]["by_status"] == {"failed": waiting}
    assert {e["code"] for e in review["errors"]} == {"AUTH_TOKEN_INVALID"}
    assert all(f"wisesync xero connect --company {CLEAN}" in e["text"] for e in review["errors"])
    assert f"wisesync xero connect --company {CLEAN}" in review["run"]["error"]
    assert xero.documents_count() == 0 and unposted_total(stack, CLEAN) == waiting
