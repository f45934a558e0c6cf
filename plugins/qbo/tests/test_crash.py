"""The crash suite's kill points on QuickBooks Online: every record reaches QBO exactly once
and every record event gets exactly one result, with the poster SIGKILLed mid-batch, at the
point between QBO's answer and the journal, and with QBO's answers lost.

Real Kafka and Postgres, the QBO and ConnectWise sandboxes, the crash suite's harness
(``tests/integration/crash_harness.py``). The kill points chosen are the ones that take
QBO's own paths: a ``/batch`` write whose answer never arrives (the HTTP client sends it
again with the same ``requestid`` and QBO answers from its record), a ``claimed`` batch the
next poster must find by DocNumber (``find_existing``) rather than post again, and a kill
while batches are on their way. The full 2,000-document crash loop is
``bench/crash_loop.py --ledger qbo``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "integration"))
from crash_harness import (
    RoleProcess,
    assert_exactly_once,
    crash_ledger,
    fast_role_options,
    kafka_stack,
    linked,
    run_with_poster,
    runs_complete,
    wait_runs,
)
from crash_harness import workload as crash_workload

QBO = crash_ledger("qbo")
SEED = 20261207
#: Per company: ~130 records (the seeded error and warning cases plus random documents).
MIX = {"invoices": 80, "expenses": 30, "procurement": 20, "customers": 15}
#: What two companies of the workload earn, as without any crash (their seeded error cases
#: fail; the source holds its unbalanced and zero-line invoices and combined expenses).
EXPECTED = {
    41: {"posted": 235, "held": 6, "failed": 14},
    51: {"posted": 235, "held": 6, "failed": 14},
}


def workload(companies: int, seed: int) -> list:
    """The crash workload (:data:`MIX`) on QBO sandboxes."""
    return crash_workload(companies, seed=seed, mix=MIX, ledger="qbo")


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    """Two companies of ~130 records each on QBO, the session's Kafka, a fresh database."""
    with kafka_stack(workload(2, seed=41), kafka_bootstrap, pg_database) as stack:
        yield stack


def _documents(stack: Stack) -> int:
    """Documents the companies' QBO sandboxes hold."""
    return sum(len(stack.ledger(s.key).posted_documents()) for s in stack.specs)


def _poster(stack: Stack, tmp_path: Path) -> RoleProcess:
    config = tmp_path / "wisesync.toml"
    env = stack.write_config(config)
    options = fast_role_options("kafka", instance=f"{stack.namespace}-poster")
    return RoleProcess(config, env, tmp_path, options=options)


def test_poster_killed_mid_batch_posts_every_document_once(stack: Stack, tmp_path: Path) -> None:
    """SIGKILL the poster three times while its ``/batch`` writes are inside QBO (each takes
    0.6 s: QBO creates the documents, the poster never hears back): the next poster finds
    the ``claimed`` documents by DocNumber and links them; none is in QBO twice."""
    rng = random.Random(SEED)
    for spec in stack.specs:
        app = stack.sandbox("qbo", spec.key).app
        app.faults.arm(Fault("latency", count=10**6, method="POST", path=QBO.writes, seconds=0.6))
    poster = _poster(stack, tmp_path)
    poster.options["poster"]["chunk_workers"] = 2

    def kill_mid_batch(runs: list) -> int:
        kills = 0
        while kills < 3 and not runs_complete(stack, runs):
            before = _documents(stack)
            poster.launch()
            deadline = time.monotonic() + 30
            while _documents(stack) == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.1, 0.5))  # the next writes are inside QBO now
            if runs_complete(stack, runs):
                break
            assert poster.alive(), f"the poster died by itself:\n{poster.tail()}"
            poster.kill()
            kills += 1
        return kills

    runs, reviews, kills = run_with_poster(stack, poster, kill_mid_batch)
    totals = assert_exactly_once(stack, runs, reviews)
    assert kills == 3, f"only {kills} kills before the run completed"
    assert totals == EXPECTED[41], totals
    assert linked(reviews) >= 1, "a killed batch was found in QBO by DocNumber, not posted again"


def test_crash_after_qbo_answered_is_found_by_doc_number(stack: Stack, tmp_path: Path) -> None:
    """The poster dies after QBO created a batch and before the journal recorded it, three
    times: each next poster finds those documents by DocNumber (``find_existing``,
    ALREADY_IN_LEDGER) instead of posting them again."""
    rng = random.Random(f"{SEED}-after_post")
    poster = _poster(stack, tmp_path)

    def crash_after_post(runs: list) -> int:
        crashes = 0
        while crashes < 3 and not runs_complete(stack, runs):
            poster.start(crash_at=f"after_post:{rng.randint(1, 2)}")
            code = poster.wait_exit(60)
            if code is None:  # the run completed before the hook fired again
                break
            assert code == 137, f"exit {code}, not the hook's 137:\n{poster.tail()}"
            crashes += 1
        return crashes

    runs, reviews, crashes = run_with_poster(stack, poster, crash_after_post)
    assert crashes == 3, f"only {crashes} crashes before the run completed"
    totals = assert_exactly_once(stack, runs, reviews)
    assert totals == EXPECTED[41], totals
    assert linked(reviews) >= crashes, "each crash left a batch for the next poster to find"


def _run_in_process(stack: Stack) -> tuple[list, list]:
    options = fast_role_options("kafka")
    options["poster"]["retry_delays"] = (0.2, 0.5, 1.0)
    options["poster"]["chunk_workers"] = 1  # the lost answers hit the writes in order
    with stack.service(("poster", "reporter", "acknowledger"), **options):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        reviews = wait_runs(stack, runs, 120)
    return runs, reviews


def _lost(app) -> int:
    """``/batch`` requests whose answer the sandbox dropped (logged with status 0)."""
    return sum(1 for method, path, status in app.log if path.endswith("/batch") and not status)


def test_lost_answers_are_replayed_by_requestid_or_found_by_doc_number(
    kafka_bootstrap: str, pg_database: str
) -> None:
    """Company A: the answers of its first three ``/batch`` writes are lost once; the client
    sends each again with the same ``requestid`` and QBO answers from its record (nothing
    needs reconciling). Company B: one write's answer is lost on every try of the client; the
    poster tries the chunk again, finds its rows ``claimed`` and the documents in QBO by
    DocNumber, and links them."""
    with kafka_stack(workload(2, seed=51), kafka_bootstrap, pg_database) as stack:
        replayed, reconciled = (stack.sandbox("qbo", s.key).app for s in stack.specs)
        replayed.faults.arm(Fault("lose_response", count=3, method="POST", path=QBO.writes))
        reconciled.faults.arm(Fault("lose_response", count=5, method="POST", path=QBO.writes))
        runs, reviews = _run_in_process(stack)
        totals = assert_exactly_once(stack, runs, reviews)
        assert totals == EXPECTED[51], totals
        assert _lost(replayed) == 3 and _lost(reconciled) == 5
        assert replayed.requestid_replays >= 3, "each retry was answered from QBO's record"
        assert linked(reviews[:1]) == 0, "nothing of A needed the journal's reconciliation"
        assert linked(reviews[1:]) >= 1, "B's lost batch was found in QBO, not posted again"
