"""kill -9 the poster during a 1,000-record run on real Kafka and Postgres: every record
reaches Xero exactly once and every record event gets exactly one result.

The poster runs as a subprocess (``crash_runner.py``: ``wisesync run --role poster`` with
fast-restart consumer options; one test runs the real CLI); the reporter and acknowledger
run in the test process. Two ways to crash it:

* at random times, a dozen times or more (SIGKILL 0.3-1.5 s after each start);
* at each named point of the posting sequence (the poster's ``WISESYNC_CRASH_AT`` test hook):
  after the journal claim, after the ledger answered, after the journal recorded the outcomes,
  after the results were flushed but before the offsets were committed; again and again.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.pipeline.poster import CRASH_POINTS
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    RoleProcess,
    assert_exactly_once,
    fast_role_options,
    linked,
    runs_complete,
    wait_runs,
    workload,
)

SEED = 20261125
KILLS = 10
PUT_LATENCY_S = 0.5
CRASHES = 6
#: What the workload's records earn (the seeded error cases fail; see crash_harness.MIX).
EXPECTED = {"posted": 976, "held": 14, "failed": 28}


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    """Four companies of ~250 records each, on the session's Kafka and a fresh database."""
    with Stack(
        workload(4, seed=11),
        dsn=pg_database,
        transport="kafka",
        kafka_bootstrap=kafka_bootstrap,
        partitions=4,
    ) as stack:
        yield stack


def _poster(stack: Stack, tmp_path: Path, *, cli: bool = False) -> RoleProcess:
    config = tmp_path / "wisesync.toml"
    env = stack.write_config(config)
    options = fast_role_options("kafka", instance=f"{stack.namespace}-poster")
    return RoleProcess(config, env, tmp_path, options=options, cli=cli)


def _journal(stack: Stack) -> dict[str, int]:
    with stack.db.connection() as conn:
        rows = conn.execute("SELECT state, count(*) FROM posting_journal GROUP BY state")
        return dict(rows.fetchall())


def _puts(stack: Stack) -> int:
    """PUTs the Xero sandboxes have finished (the request log is written with the answer)."""
    return sum(stack.sandbox("xero", s.key).app.calls("PUT") for s in stack.specs)


def test_random_kills_post_every_record_once(stack: Stack, tmp_path: Path) -> None:
    """SIGKILL the poster at random times, at least KILLS times, while ~1,000 records post.

    Every PUT to Xero takes PUT_LATENCY_S, and each kill comes 0.05-1.0 s after Xero finished
    this life's first PUT: most kills land while batches are in flight (Xero creates the
    documents, the poster never hears back), the others between claim, post, record, emit
    and commit.
    """
    rng = random.Random(SEED)
    poster = _poster(stack, tmp_path)
    # one batch in flight per company (of the five Xero allows): each life gets less done,
    # so a dozen kills land before the run is over
    poster.options["poster"]["chunk_workers"] = 1
    for spec in stack.specs:
        app = stack.sandbox("xero", spec.key).app
        app.faults.arm(Fault("latency", count=10**6, method="PUT", seconds=PUT_LATENCY_S))
    started = time.monotonic()
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        assert sum(sum(r.extracted.values()) + sum(r.held.values()) for r in runs) >= 1000
        lives: list[dict[str, int]] = []
        try:
            while not runs_complete(stack, runs) and len(lives) < 3 * KILLS:
                puts = _puts(stack)
                poster.launch()
                deadline = time.monotonic() + 20
                while _puts(stack) == puts and time.monotonic() < deadline:
                    if runs_complete(stack, runs):
                        break
                    time.sleep(0.02)
                else:
                    time.sleep(rng.uniform(0.05, 1.0))
                    assert poster.alive(), f"the poster died by itself:\n{poster.tail()}"
                    poster.kill()
                    lives.append(_journal(stack))
                    continue
                break  # the run completed: this life is the last one
            if not poster.alive():
                poster.launch()
            reviews = wait_runs(stack, runs, 60)
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    totals = assert_exactly_once(stack, runs, reviews)
    print(
        f"{len(lives)} kills in {time.monotonic() - started:.1f}s; journal after each kill: "
        f"{lives}; results {totals}"
    )
    assert len(lives) >= KILLS, f"only {len(lives)} kills landed before the run completed"
    assert totals == EXPECTED, totals


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_each_point_posts_every_record_once(
    stack: Stack, tmp_path: Path, point: str
) -> None:
    """The poster dies at ``point`` (the 1st-3rd time it gets there), CRASHES times in a row,
    then a poster without the hook finishes the run: every record is in Xero once, with one
    result; after a crash between post and record, the next poster found the documents in
    Xero (ALREADY_IN_LEDGER) instead of posting them again."""
    rng = random.Random(f"{SEED}-{point}")
    poster = _poster(stack, tmp_path)
    poster.options["poster"]["max_records"] = 50  # more polls: after_emit fires once per poll
    crashes = 0
    started = time.monotonic()
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        try:
            while crashes < CRASHES and not runs_complete(stack, runs):
                poster.start(crash_at=f"{point}:{rng.randint(1, 3)}")
                code = poster.wait_exit(30)
                if code is None:  # the run completed before the hook fired again
                    break
                assert code == 137, f"exit {code}, not the hook's 137:\n{poster.tail()}"
                assert f"exiting at {point}" in poster.log_path.read_text(), poster.tail()
                crashes += 1
            if not poster.alive():
                poster.launch()
            reviews = wait_runs(stack, runs, 60)
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    assert crashes == CRASHES, f"only {crashes} crashes at {point} before the run completed"
    totals = assert_exactly_once(stack, runs, reviews)
    found = linked(reviews)
    print(
        f"{crashes} crashes at {point} in {time.monotonic() - started:.1f}s; results {totals}; "
        f"{found} found in Xero after a crash"
    )
    assert totals == EXPECTED, totals
    if point == "after_post":
        assert found >= CRASHES, "each crash left a posted batch for the next poster to find"


def test_cli_poster_killed_mid_batch_and_restarted(stack: Stack, tmp_path: Path) -> None:
    """The real ``wisesync run --role poster``: SIGKILL once Xero finished its first batches,
    while the next ones are in flight (each PUT takes 1 s: the documents get created, the
    poster never hears back); start it again (it waits out its dead predecessor's consumer
    session); SIGTERM at the end exits 0."""
    poster = _poster(stack, tmp_path, cli=True)
    for spec in stack.specs:
        app = stack.sandbox("xero", spec.key).app
        app.faults.arm(Fault("latency", count=8, method="PUT", seconds=1.0))
    with stack.service(roles=("reporter", "acknowledger")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        try:
            poster.launch()
            deadline = time.monotonic() + 30
            while _puts(stack) < len(stack.specs) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # the next PUTs are inside Xero's 1 s latency now
            assert poster.kill() == -9
            poster.launch()
            reviews = wait_runs(stack, runs, 60)
        finally:
            code = poster.stop()
    assert code == 0, poster.tail()
    totals = assert_exactly_once(stack, runs, reviews)
    assert totals == EXPECTED, totals
    assert linked(reviews) >= len(stack.specs), "the killed batches were found in Xero"
