"""Restart the Kafka broker in the middle of a 1,000-record run: nothing is lost, nothing is
posted twice, and the service keeps running through the outage.

The broker is the test's own (:class:`crash_harness.OwnKafka`, started with the same code as
the session fixture), stopped with SIGTERM (controlled shutdown) or SIGKILL and started again
on the same data directory and ports. Poster, reporter and acknowledger run in the test
process (one :class:`wisesync.daemon.Service`, as ``wisesync run`` would).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    OwnKafka,
    assert_exactly_once,
    fast_role_options,
    journal_done,
    stretch_writes,
    wait_runs,
    workload,
)

#: What the workload's records earn (the seeded error cases fail).
EXPECTED = {"posted": 976, "held": 14, "failed": 28}
OUTAGE_S = 3.0


@pytest.fixture(scope="module")
def broker() -> Iterator[OwnKafka]:
    """A broker of this module's own, restarted by its tests."""
    own = OwnKafka()
    try:
        yield own
    finally:
        own.close()


@pytest.mark.parametrize(
    ("hard", "ledger"),
    [(False, "xero"), (True, "xero"), (True, "qbo")],
    ids=["sigterm", "sigkill", "sigkill-qbo"],
)
def test_broker_restart_mid_run_loses_nothing(
    broker: OwnKafka, pg_database: str, hard: bool, ledger: str
) -> None:
    """Stop the broker when about a third of the records are done, keep it down OUTAGE_S,
    start it again: the run completes, every record in the ledger (Xero; once QBO) once,
    one result each."""
    with Stack(
        workload(4, seed=11, ledger=ledger),
        dsn=pg_database,
        transport="kafka",
        kafka_bootstrap=broker.bootstrap,
        partitions=4,
    ) as stack:
        stretch_writes(stack, 0.3)  # so the outage lands in the middle of the run
        options = fast_role_options("kafka")
        started = time.monotonic()
        with stack.service(("poster", "reporter", "acknowledger"), **options) as service:
            runs = [stack.sync(spec.key) for spec in stack.specs]
            deadline = time.monotonic() + 60
            while journal_done(stack) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            done_at_stop = journal_done(stack)
            assert 0 < done_at_stop < 900, "the outage must land mid-run"
            broker.stop(hard=hard)
            time.sleep(OUTAGE_S)
            restart_s = broker.start()
            reviews = wait_runs(stack, runs, 90)
            assert service.alive(), f"a role died: {service.errors}"
        totals = assert_exactly_once(stack, runs, reviews)
        print(
            f"{ledger}: broker {'killed' if hard else 'stopped'} at {done_at_stop} records, down "
            f"{OUTAGE_S + restart_s:.1f}s; run done in {time.monotonic() - started:.1f}s; {totals}"
        )
        assert totals == EXPECTED, totals
