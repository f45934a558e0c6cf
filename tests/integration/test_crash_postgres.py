"""Restart Postgres in the middle of a 1,000-record run: the roles ride out the outage and
resume; nothing is lost and nothing is posted twice.

Postgres is the test's own (:class:`crash_harness.OwnPostgres`, started with the same code as
the session fixture), stopped (``pg_ctl stop -m fast``, or ``immediate``: a crash, recovery at
the next start) and started again on the same data directory and port. The poster runs in a
subprocess (``crash_runner.py``, as ``wisesync run --role poster``), reporter and acknowledger in
the test process. On the embedded transport Postgres is the message log too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.testing.services import temporary_database
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    OwnPostgres,
    RoleProcess,
    assert_exactly_once,
    fast_role_options,
    journal_done,
    stretch_writes,
    wait_runs,
    workload,
)

#: What the workload's records earn, on Xero and on QBO (the seeded error cases fail).
EXPECTED = {"posted": 976, "held": 14, "failed": 28}
OUTAGE_S = 3.0


@pytest.fixture(scope="module")
def server() -> Iterator[OwnPostgres]:
    """A Postgres of this module's own, restarted by its tests."""
    own = OwnPostgres()
    try:
        yield own
    finally:
        own.close()


@pytest.fixture
def database(server: OwnPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database on that server for one test."""
    with temporary_database(server.dsn, request.node.name) as dsn:
        yield dsn


@pytest.mark.parametrize(
    ("kind", "mode", "ledger"),
    [
        ("kafka", "fast", "xero"),
        ("kafka", "immediate", "xero"),
        ("embedded", "fast", "xero"),
        ("embedded", "immediate", "xero"),
        ("kafka", "immediate", "qbo"),
    ],
    ids=["kafka-fast", "kafka-immediate", "embedded-fast", "embedded-immediate", "kafka-qbo"],
)
def test_postgres_restart_mid_run_roles_resume(
    server: OwnPostgres,
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kind: str,
    mode: str,
    ledger: str,
) -> None:
    """Stop Postgres when about a third of the records are done, keep it down OUTAGE_S, start
    it again: the poster process and the in-process roles keep running and finish the run
    (on Xero, and once on QBO, whose journal claims then find their batches by DocNumber)."""
    bootstrap = request.getfixturevalue("kafka_bootstrap") if kind == "kafka" else None
    with Stack(
        workload(4, seed=11, ledger=ledger),
        dsn=database,
        transport=kind,
        kafka_bootstrap=bootstrap,
        partitions=4,
    ) as stack:
        stretch_writes(stack, 0.3)  # so the outage lands in the middle of the run
        config = tmp_path / "wisesync.toml"
        options = fast_role_options(kind, instance=f"{stack.namespace}-poster")
        poster = RoleProcess(config, stack.write_config(config), tmp_path, options=options)
        in_process = {k: v for k, v in fast_role_options(kind).items() if k != "poster"}
        started = time.monotonic()
        with stack.service(("reporter", "acknowledger"), **in_process) as service:
            runs = [stack.sync(spec.key) for spec in stack.specs]
            try:
                poster.launch()
                deadline = time.monotonic() + 60
                while journal_done(stack) < 300 and time.monotonic() < deadline:
                    time.sleep(0.05)
                done_at_stop = journal_done(stack)
                assert 0 < done_at_stop < 900, "the outage must land mid-run"
                server.stop(mode)
                time.sleep(OUTAGE_S)
                restart_s = server.start()
                reviews = wait_runs(stack, runs, 90)
                assert poster.alive(), f"the poster died:\n{poster.tail()}"
                assert service.alive(), f"a role died: {service.errors}"
            finally:
                code = poster.stop()
        assert code == 0, poster.tail()
        totals = assert_exactly_once(stack, runs, reviews)
        print(
            f"{kind} {ledger}: Postgres stopped ({mode}) at {done_at_stop} records, down "
            f"{OUTAGE_S + restart_s:.1f}s; run done in {time.monotonic() - started:.1f}s; {totals}"
        )
        assert totals == EXPECTED, totals
