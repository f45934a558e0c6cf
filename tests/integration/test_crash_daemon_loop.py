"""The whole daemon in a crash loop: ``wisesync run`` with every role (the real CLI and its
defaults: the schedule syncs the company at the first start, static membership) is SIGKILLed
again and again while Xero answers some writes with 5xx or 429 and loses some answers.

Once the kills stop, one life finishes the work, and:

* every posted record is in Xero exactly once, every document in Xero is a posted record's,
  and no failed record has one;
* every posted record is in exactly one ConnectWise batch, each created once;
* the restarts cost little (issue #10 item 2): about one result per record (a restart does
  not sync again within the company's interval, nor republish what waits for its
  acknowledgement), about one Xero write per batch the posted records needed, and about
  one ConnectWise call per record;
* most lives posted something (a kill does not stall the company: records left ``claimed``
  wait alone, the others post at once).

The long version (>= 50 kills, ~1,500 records, timings) is ``bench/crash_loop.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import kafka_stack, workload
from crash_loop import assert_loop_outcome, crash_loop, expected_records, install_faults

SEED = 20261210
KILLS = 12
#: Each life: SIGKILL this long (seconds, at random) after the daemon says it runs.
LIFE_S = (1.0, 4.0)
#: Xero document writes answered 5xx / 429 / written with the answer lost.
FAULT_MIX = (0.05, 0.05, 0.02)
#: ~250 records: the seeded error cases plus random invoices, bills and receipts.
MIX = {"invoices": 150, "expenses": 50, "procurement": 40, "customers": 25}


@pytest.fixture(params=["embedded", "kafka"])
def stack(request: pytest.FixtureRequest, pg_database: str) -> Iterator[Stack]:
    """One company on the transport of the parameter and a fresh database."""
    specs = workload(1, seed=SEED, mix=MIX)
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        with kafka_stack(specs, bootstrap, pg_database) as stack:
            yield stack
    else:
        with Stack(specs, dsn=pg_database, transport="embedded") as stack:
            yield stack


def test_killing_the_whole_daemon_again_and_again_posts_and_batches_each_record_once(
    stack: Stack, tmp_path: Path
) -> None:
    records = expected_records(stack)
    assert records >= 200
    faults = install_faults(stack, SEED, FAULT_MIX)
    figures = crash_loop(stack, tmp_path, kills=KILLS, records=records, seed=SEED, life_s=LIFE_S)
    summary = figures.to_json()

    assert_loop_outcome(stack)
    assert faults.injected or not faults._armed, "the armed faults met the writes"
    in_ledger = figures.statuses.get("posted", 0) + figures.statuses.get(
        "skipped_already_posted", 0
    )
    assert in_ledger > records // 2, summary
    # item 2: the restarts republish (almost) nothing
    assert figures.attempts_per_record <= 1.25, summary
    assert figures.ledger_writes_per_needed_batch <= 2.0, summary
    assert figures.connectwise_calls_per_record <= 1.5, summary
    # item 3: a kill does not stall the company
    assert figures.lives_with_work >= 3, summary
    assert figures.share_of_lives_that_progressed >= 0.5, summary
