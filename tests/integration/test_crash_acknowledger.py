"""kill -9 the acknowledger while it batches two companies' posted records in ConnectWise:
every posted record ends in exactly one accounting batch, and no batch is created twice.

ConnectWise has no idempotency key: the acknowledger
(:mod:`wisesync_connectwise.acknowledge`) gives each record's batch a deterministic
identifier and looks the identifiers up before it creates anything. A killed acknowledger
leaves batches behind that it created but never marked ``done`` (it marks a whole chunk of
records at once, after its creates): its successor leases the same rows again and must find
those batches, not create them a second time.

Poster and reporter run in the test process (real Kafka and Postgres); the acknowledger runs
as a subprocess (``crash_runner.py``) that is SIGKILLed at random times, 0.2-1.0 s after each
life's first batch create. Every create is held ``POST_LATENCY_S`` by the ConnectWise sandbox,
so most kills land while a create is in flight. After each kill the test waits out that held
create before the next acknowledger starts (in production the 5-minute lease keeps a dead
acknowledger's rows away for longer than any call stays in flight); so a successor that looks
up never has reason to send a create that ConnectWise refuses, and every create it sends
must be a new batch: creates == batches == posted records.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wisesync.events.models import SyncRun
from wisesync.review import RecordRow, Review
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    RoleProcess,
    assert_exactly_once,
    fast_role_options,
    kafka_stack,
    runs_complete,
    wait_runs,
    wait_until,
    workload,
)

SEED = 20261207
KILLS = 6
#: How long the ConnectWise sandbox holds every batch create.
POST_LATENCY_S = 0.05
BATCHES = r"/finance/accounting/batches$"
#: The acknowledger subprocess: a dead predecessor's leased rows are due again after
#: ``lease_s`` (longer than a create stays held); it looks for new rows every 0.2 s when idle.
ACK_OPTIONS = {"lease_s": 1.0, "idle_s": 0.2, "base_delay_s": 1.0, "max_delay_s": 2.0}


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    """Two companies of ~250 records each on the session's Kafka and a fresh database."""
    with kafka_stack(workload(2, seed=31), kafka_bootstrap, pg_database) as stack:
        yield stack


def _cw(stack: Stack) -> dict[str, Any]:
    """Each company's ConnectWise sandbox app."""
    return {s.key: stack.sandbox("connectwise", s.key).app for s in stack.specs}


def _creates(stack: Stack) -> int:
    """Batch creates ConnectWise answered (all companies, any status)."""
    return sum(app.calls("POST", BATCHES) for app in _cw(stack).values())


def _create_statuses(app: Any) -> dict[int, int]:
    """How many batch creates got which HTTP status."""
    return dict(Counter(s for m, p, s in app.log if m == "POST" and re.search(BATCHES, p)))


def _batches(stack: Stack) -> int:
    return sum(len(app.batches()) for app in _cw(stack).values())


def _acks(stack: Stack) -> dict[str, int]:
    """Acknowledgement rows by state."""
    with stack.db.connection() as conn:
        rows = conn.execute("SELECT state, count(*) FROM acknowledgements GROUP BY state")
        return dict(rows.fetchall())


def _last_errors(stack: Stack) -> dict[str, int]:
    """The last errors of the pending acknowledgements (ids masked), most common first."""
    with stack.db.connection() as conn:
        rows = conn.execute(
            "SELECT last_error FROM acknowledgements WHERE state = 'pending'"
        ).fetchall()
    return dict(Counter(re.sub(r"\d+", "N", str(e)) for (e,) in rows).most_common(3))


def _finished(stack: Stack, runs: list[SyncRun]) -> bool:
    """Every record has its result and no acknowledgement is pending."""
    return runs_complete(stack, runs) and not _acks(stack).get("pending")


def _cw_key(row: RecordRow) -> tuple[str, str]:
    """The record's (kind, id) in ConnectWise, where credit memos are invoices."""
    kind = "invoice" if row.record_type == "credit_memo" else row.record_type
    return kind, row.source_id


def _in_interface(app: Any) -> set[tuple[str, str]]:
    """(kind, id) of the records ConnectWise lists as unposted (its Accounting Interface)."""
    with app.lock:
        state = app.state
        kinds = {
            "invoice": state.unposted_invoices(),
            "expense": state.unposted_expenses(),
            "procurement": state.unposted_procurement(),
        }
        return {(kind, str(rec.id)) for kind, recs in kinds.items() for rec in recs}


def _combined(row: RecordRow) -> bool:
    """A record held because its source exported it inside another's document."""
    return row.status == "held" and any(m.code == "SOURCE_RECORD_COMBINED" for m in row.messages)


def _combined_into(row: RecordRow, lead: RecordRow) -> bool:
    """``row`` was combined into ``lead``'s document (its text names the lead's id)."""
    return _combined(row) and any(f"expense {lead.source_id}'s" in m.text for m in row.messages)


def assert_batched_once(stack: Stack, reviews: list[Review], before: dict[str, set]) -> None:
    """ConnectWise holds one batch per posted record, named by its deterministic identifier,
    the one the review names; every create made a batch; failed records are still unposted."""
    from wisesync_connectwise.acknowledge import batch_identifier

    for (company, app), review in zip(_cw(stack).items(), reviews, strict=True):
        batches = app.batches()
        idents = Counter(b["batchIdentifier"] for b in batches)
        assert not [i for i, n in idents.items() if n > 1], f"{company}: identifier twice"
        batched = Counter((r["kind"], str(r["id"])) for b in batches for r in b["records"])
        assert not [k for k, n in batched.items() if n > 1], f"{company}: record batched twice"
        gl_ids = Counter(g for b in batches for g in b["glEntryIds"])
        assert not [g for g, n in gl_ids.items() if n > 1], f"{company}: GL entry batched twice"
        creates = app.calls("POST", BATCHES)
        assert creates == len(batches), (
            f"{company}: {creates} batch creates for {len(batches)} batches: a create was sent "
            f"for a batch that already existed (answers: {_create_statuses(app)})"
        )
        posted = [r for r in review.rows if r.status == "posted"]
        assert len(batches) == len(posted), f"{company}: {len(batches)} batches, {len(posted)}"
        by_id = {str(b["id"]): b for b in batches}
        for row in posted:
            assert row.acknowledged is True, f"{company}: {row.label} not acknowledged"
            batch = by_id[row.ack.batch_id]
            kind, ident = _cw_key(row)
            # a record's own batch; an expense bill's also carries the expenses it combined
            combined = {_cw_key(r) for r in review.rows if _combined_into(r, row)}
            records = sorted((r["kind"], r["id"]) for r in batch["records"])
            own = sorted((k, int(i)) for k, i in {(kind, ident), *combined})
            assert records == own, row.label
            assert batch["batchIdentifier"] == batch_identifier(
                company, row.record_type, row.source_id
            )
        combined = {_cw_key(r) for r in review.rows if _combined(r)}
        left = {_cw_key(r) for r in review.rows if r.status != "posted"} - combined
        after = _in_interface(app)
        assert after == before[company] - {_cw_key(r) for r in posted} - combined
        assert left <= after, f"{company}: a record that did not post was batched"
        assert all(r.ack is None for r in review.rows if r.status != "posted"), company
        assert not review.unacknowledged(), company
        assert not [m for r in review.rows for m in r.warnings() if m.code == "ACKNOWLEDGE_PENDING"]


def test_random_kills_batch_every_posted_record_once(stack: Stack, tmp_path: Path) -> None:
    """SIGKILL the acknowledger KILLS times while ~500 records post and get acknowledged, then
    let one finish: every posted record is in one ConnectWise batch, created once."""
    rng = random.Random(SEED)
    before = {company: _in_interface(app) for company, app in _cw(stack).items()}
    for app in _cw(stack).values():
        app.faults.arm(
            Fault("latency", count=10**6, method="POST", path=BATCHES, seconds=POST_LATENCY_S)
        )
    config = tmp_path / "wisesync.toml"
    env = stack.write_config(config)
    acker = RoleProcess(
        config, env, tmp_path, roles="acknowledger", options={"acknowledger": ACK_OPTIONS}
    )
    lives: list[dict[str, Any]] = []
    started = time.monotonic()
    with stack.service(roles=("poster", "reporter"), **fast_role_options("kafka")):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        assert sum(sum(r.extracted.values()) for r in runs) >= 500
        try:
            while len(lives) < KILLS:
                creates = _creates(stack)
                acker.launch()
                wait_until(
                    lambda c=creates: _creates(stack) > c or _finished(stack, runs),
                    30,
                    "a batch create",
                )
                if _creates(stack) == creates:
                    break  # all acknowledged: this life is the last one
                after_s = rng.uniform(0.2, 1.0)
                time.sleep(after_s)
                assert acker.alive(), f"the acknowledger died by itself:\n{acker.tail()}"
                acker.kill()
                acks = _acks(stack)
                lives.append(
                    {
                        "after_s": round(after_s, 2),
                        "batches": _batches(stack),
                        "done": acks.get("done", 0),
                    }
                )
                time.sleep(POST_LATENCY_S + 0.2)  # the create held at the kill lands
            if not acker.alive():  # the last life: not killed
                acker.start()
            assert acker.wait_ready(), acker.tail()
            wait_runs(stack, runs, 60)
            try:
                wait_until(lambda: not _acks(stack).get("pending"), 60, "every acknowledgement")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}; still pending: {_last_errors(stack)}") from None
            reviews = wait_runs(stack, runs, 5)
        finally:
            code = acker.stop()
    print(
        f"{len(lives)} acknowledger kills in {time.monotonic() - started:.1f}s; at each kill "
        f"(s after its first create, batches in ConnectWise, acknowledgements done): "
        f"{[tuple(life.values()) for life in lives]}; "
        f"{_batches(stack)} batches, {_creates(stack)} creates"
    )
    assert code == 0, acker.tail()
    assert len(lives) >= KILLS, f"only {len(lives)} kills landed before all was acknowledged"
    orphans = [life["batches"] - life["done"] for life in lives]
    assert any(orphans), "a kill left batches created but not marked done for the successor"
    print(f"results {assert_exactly_once(stack, runs, reviews)}")
    assert_batched_once(stack, reviews, before)
