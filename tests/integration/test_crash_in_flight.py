"""A poster dies while its write is still on its way into Xero; the next poster takes over
before that write lands: nothing is posted twice.

The window: Xero is slow to take a batch (the sandbox holds the PUT for ``LATENCY_S``), the
poster is SIGKILLed while the PUT is held, and a new poster (Kafka static membership: it gets
the partitions at once) starts and finds the batch's records ``claimed``. Looked up at once,
Xero has nothing yet and the new poster would post them again; the old write then lands too.
Bills, because Xero refuses a second sales invoice with the same number but takes a second
bill. The new poster here chunks its records differently (``max_records``), as a poster with other
settings or after a rebalance would, so its writes carry other Idempotency-Keys than the dead
one's and Xero's idempotency cache cannot save the day.

The guard (``wisesync.pipeline.journal``): a ``claimed`` record is looked up only once its
claim (stamped as each call is sent) is older than ``in_flight_s``, which is longer than any
write can stay in flight. Real Kafka and Postgres; the poster runs as a subprocess.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    RoleProcess,
    assert_exactly_once,
    fast_role_options,
    journal_claimed,
    kafka_stack,
    linked,
    wait_runs,
    wait_until,
    workload,
)

#: How long Xero holds the first write; longer than a poster takes to start and take over.
LATENCY_S = 5.0
#: The successor's horizon: longer than the write is held (the stack's default, 3 s, is not).
IN_FLIGHT_S = LATENCY_S + 2.0
#: What the workload's records earn (its seeded error cases fail; the source holds what it
#: cannot publish: expenses combined into a bill).
EXPECTED = {"posted": 97, "held": 2, "failed": 1}


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    """One company's expenses and procurement (~100 bills) on the session's Kafka and a fresh
    database."""
    (spec,) = workload(1, seed=21, mix={"invoices": 0, "expenses": 60, "procurement": 40})
    specs = [replace(spec, record_types=["expense", "procurement"])]
    with kafka_stack(specs, kafka_bootstrap, pg_database) as stack:
        yield stack


def test_a_write_in_flight_when_the_poster_dies_is_found_not_posted_again(
    stack: Stack, tmp_path: Path
) -> None:
    app = stack.sandbox("xero", stack.specs[0].key).app
    held = Fault("latency", count=1, method="PUT", path=r"/Invoices$", seconds=LATENCY_S)
    app.faults.arm(held)
    env = stack.write_config(tmp_path / "wisesync.toml")
    options = fast_role_options("kafka", instance=f"{stack.namespace}-poster")
    poster = RoleProcess(tmp_path / "wisesync.toml", env, tmp_path, options=options)
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        try:
            poster.launch()
            wait_until(lambda: held.count == 0, 30, "the first write reaches Xero")
            in_flight = journal_claimed(stack)
            killed_at = time.monotonic()
            assert poster.kill() == -9
            assert in_flight > 0, "the held batch is claimed in the journal"
            # the successor takes over at once and cuts its batches differently
            poster.options["poster"]["max_records"] = 7
            poster.options["poster"]["in_flight_s"] = IN_FLIGHT_S
            poster.launch()
            assert time.monotonic() - killed_at < LATENCY_S, "took over while the write was held"
            reviews = wait_runs(stack, runs, 90)
            # let the held write land before counting what is in Xero
            time.sleep(max(0.0, killed_at + LATENCY_S + 1.0 - time.monotonic()))
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    totals = assert_exactly_once(stack, runs, reviews)
    assert totals == EXPECTED, totals
    assert linked(reviews) > 0, "the held batch was found in Xero, not posted again"
    assert app.idempotent_replays == 0, "no Idempotency-Key was repeated"
    assert "may still be on its way" in poster.log_path.read_text(), poster.tail()
