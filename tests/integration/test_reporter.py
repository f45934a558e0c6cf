"""The reporter on real Postgres (and real Kafka / the embedded transport): results, runs and
dead letters are stored once, offsets live with the rows, and redelivery changes nothing."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

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
from wisesync.messages import message
from wisesync.pipeline.reporter import Reporter
from wisesync.store.db import Database
from wisesync.transport import open_transport
from wisesync.transport.base import Message as BusMessage
from wisesync.transport.topics import Topics

CODEC = Codec()
FAST: dict[str, dict[str, Any]] = {
    "kafka": {"session_timeout_s": 6.0, "heartbeat_interval_s": 0.5, "max_poll_interval_s": 30.0},
    "embedded": {"session_timeout_s": 1.5, "heartbeat_interval_s": 0.25},
}
TABLES = {
    "sync_runs": "run_id",
    "attempts": "result_id",
    "result_messages": "result_id, idx",
    "records": "company, source, record_type, source_id",
    "acknowledgements": "result_id",
    "dead_letters": 'topic, partition, "offset"',
    "reporter_offsets": "group_id, topic, partition",
}


class _NoHooks:
    """A registry stand-in with no plugins (no on_result implementations)."""

    sources = {"connectwise": object}
    manager = None


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def result(
    source_id: str = "1001",
    *,
    status: Status = Status.POSTED,
    company: str = "acme",
    run_id: str = "run-1",
    finished_at=None,
    messages: list | None = None,
    record_type: RecordType = RecordType.INVOICE,
    source: str = "connectwise",
) -> PostingResult:
    """A PostingResult as the poster emits it."""
    return PostingResult(
        record_event_id=new_id(),
        run_id=run_id,
        company=company,
        record_type=record_type,
        source=source,
        source_id=source_id,
        target="xero",
        status=status,
        trigger=Trigger.SYNC_ALL,
        document_number=f"INV-{source_id}",
        ledger_id=f"xero-{source_id}" if status is Status.POSTED else None,
        ledger_number=f"INV-{source_id}" if status is Status.POSTED else None,
        messages=messages or [],
        source_batch_ids=[f"gl-{source_id}"],
        finished_at=finished_at or utcnow(),
    )


def bus(topic: str, offset: int, obj: Any, partition: int = 0) -> BusMessage:
    """A consumed message carrying ``obj``, as the transport hands it over."""
    key = getattr(obj, "company", None)
    return BusMessage(
        topic,
        partition,
        offset,
        key.encode() if key else None,
        CODEC.encode(obj),
        CODEC.headers(obj),
        0,
    )


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every reporter table, ordered: equal snapshots mean nothing changed."""
    out = {}
    with db.connection() as conn:
        for table, order in TABLES.items():
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    return out


def scalar(db: Database, sql: str, *params: Any) -> Any:
    with db.connection() as conn:
        return conn.execute(sql, params).fetchone()[0]


def reporter_for(db: Database, transport: Any = None, **kw: Any) -> Reporter:
    return Reporter(db, transport, CODEC, registry=_NoHooks(), **kw)


# --- storing, straight through Reporter.store (no transport) --------------------------------


@pytest.mark.postgres
def test_stores_runs_attempts_messages_records_dead_letters_and_offsets(db: Database) -> None:
    run = SyncRun("run-1", "acme", Trigger.SYNC_ALL, "ann", ["invoice"], {"invoice": 3}, {})
    posted = result(
        "1", messages=[message("ROUNDING_APPLIED", "rounding line of 0.01 added", line=2)]
    )
    failed = result(
        "2",
        status=Status.FAILED,
        messages=[message("GL_MAPPING_MISSING", "line 1 has no GL account", line=0)],
    )
    held = result(
        "3",
        status=Status.HELD,
        messages=[message("BILLING_STATUS_HOLD", "billing status Finance Hold")],
    )
    poison = RecordEvent("acme", "connectwise", "xero", RecordType.INVOICE, "4", run_id="run-1")
    letter = DeadLetter(
        "wisesync.records.v1", 0, 17, b"acme", CODEC.encode(poison), "KeyError", "boom",
        "wisesync-poster", company="acme", record_event_id=poison.event_id,
    )  # fmt: skip
    reporter = reporter_for(db)
    new = reporter.store(
        [
            bus("wisesync.runs.v1", 0, run),
            bus("wisesync.results.v1", 0, posted),
            bus("wisesync.results.v1", 1, failed),
            bus("wisesync.results.v1", 2, held, partition=0),
            bus("wisesync.dlq.v1", 5, letter, partition=1),
        ]
    )

    assert [r.result_id for r in new] == [posted.result_id, failed.result_id, held.result_id]
    with db.connection() as conn:
        assert conn.execute("SELECT extracted, held, requested_by FROM sync_runs").fetchone() == (
            {"invoice": 3},
            {},
            "ann",
        )
        assert conn.execute(
            "SELECT source_batch_ids, ledger_id, trigger, finished_at FROM attempts "
            "WHERE source_id = '1'"
        ).fetchone() == (["gl-1"], "xero-1", "sync_all", posted.finished_at)
        records = dict(
            conn.execute("SELECT source_id, status FROM records ORDER BY source_id").fetchall()
        )
        assert records == {"1": "posted", "2": "failed", "3": "held"}
        msgs = conn.execute(
            "SELECT a.source_id, m.severity, m.code, m.line FROM result_messages m "
            "JOIN attempts a USING (result_id) ORDER BY a.source_id"
        ).fetchall()
        assert msgs == [
            ("1", "warning", "ROUNDING_APPLIED", 2),
            ("2", "error", "GL_MAPPING_MISSING", 0),
            ("3", "info", "BILLING_STATUS_HOLD", None),
        ]
        # only the posted result owes the source an acknowledgement
        acks = conn.execute("SELECT source_id, state, tries FROM acknowledgements").fetchall()
        assert acks == [("1", "pending", 0)]
        dl = conn.execute(
            "SELECT original_offset, run_id, record_type, source_id, record_event_id, "
            "original_value FROM dead_letters"
        ).fetchone()
        assert dl[:5] == (17, "run-1", "invoice", "4", poison.event_id)
        assert bytes(dl[5]) == CODEC.encode(poison)
        offsets = conn.execute(
            "SELECT topic, partition, next_offset FROM reporter_offsets ORDER BY topic"
        ).fetchall()
    assert offsets == [
        ("wisesync.dlq.v1", 1, 6),
        ("wisesync.results.v1", 0, 3),
        ("wisesync.runs.v1", 0, 1),
    ]


@pytest.mark.postgres
def test_the_same_messages_again_change_nothing(db: Database) -> None:
    items = [result(str(i), messages=[message("TERMS_XREF", "no due days")]) for i in range(5)]
    msgs = [bus("wisesync.results.v1", i, r) for i, r in enumerate(items)]
    reporter = reporter_for(db)
    assert len(reporter.store(msgs)) == 5
    before = snapshot(db)

    assert reporter.store(msgs) == []  # redelivered: below the stored offsets
    assert reporter.store(msgs[2:]) == []
    assert snapshot(db) == before
    assert reporter.stats.skipped == 8


@pytest.mark.postgres
def test_a_result_re_emitted_at_a_new_offset_is_stored_once(db: Database) -> None:
    """The poster re-emits a journal's stored result (same result id) after a crash."""
    r = result("7")
    reporter = reporter_for(db)
    reporter.store([bus("wisesync.results.v1", 0, r)])
    before = snapshot(db)
    assert reporter.store([bus("wisesync.results.v1", 1, r)]) == []
    after = snapshot(db)
    assert after["reporter_offsets"][0][3] == 2  # the offset still moves on
    for table in ("attempts", "result_messages", "records", "acknowledgements"):
        assert after[table] == before[table]
    assert reporter.stats.duplicates == 1


@pytest.mark.postgres
def test_an_older_result_never_overwrites_a_newer_state(db: Database) -> None:
    now = utcnow()
    newer = result("9", status=Status.POSTED, finished_at=now, run_id="run-2")
    older = result(
        "9",
        status=Status.FAILED,
        finished_at=now - timedelta(minutes=5),
        messages=[message("LEDGER_ACCOUNT_MISSING", "account 200 does not exist")],
    )
    reporter = reporter_for(db)
    reporter.store([bus("wisesync.results.v1", 0, newer)])
    reporter.store([bus("wisesync.results.v1", 1, older)])  # late redelivery of an old attempt
    # and both in one poll, older last
    reporter.store(
        [
            bus("wisesync.results.v1", 2, result("10", finished_at=now)),
            bus(
                "wisesync.results.v1",
                3,
                result("10", status=Status.FAILED, finished_at=now - timedelta(seconds=1)),
            ),
        ]
    )
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, status, last_result_id, last_run_id, attempts, ledger_id "
            "FROM records ORDER BY source_id"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 4
    assert rows[0] == ("10", "posted", rows[0][2], "run-1", 2, "xero-10")
    assert rows[1] == ("9", "posted", newer.result_id, "run-2", 2, "xero-9")


@pytest.mark.postgres
def test_a_later_hold_never_hides_that_the_ledger_has_the_record(db: Database) -> None:
    """A run that lists a record as unposted, and finds it gone from ConnectWise's export
    because it was posted and acknowledged meanwhile, holds it (SOURCE_RECORD_GONE): the
    record still says posted, its ledger id kept; a hold of a record not in the ledger is
    stored as usual."""
    now = utcnow()
    gone = [message("SOURCE_RECORD_GONE", "11 is not in the GL export")]
    reporter = reporter_for(db)
    posted = result("11", finished_at=now - timedelta(seconds=5))
    reporter.store([bus("wisesync.results.v1", 0, posted)])
    held = result("11", status=Status.HELD, finished_at=now, run_id="run-2", messages=gone)
    reporter.store([bus("wisesync.results.v1", 1, held)])
    # and both in one poll, the hold last
    in_one = [
        result("12", finished_at=now - timedelta(seconds=5)),
        result("12", status=Status.HELD, finished_at=now, run_id="run-2", messages=gone),
        result("13", status=Status.FAILED, finished_at=now - timedelta(seconds=5)),
        result("13", status=Status.HELD, finished_at=now, run_id="run-2", messages=gone),
    ]
    reporter.store([bus("wisesync.results.v1", 2 + n, r) for n, r in enumerate(in_one)])
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, status, last_run_id, attempts, ledger_id FROM records "
            "ORDER BY source_id"
        ).fetchall()
    assert rows == [
        ("11", "posted", "run-1", 2, "xero-11"),
        ("12", "posted", "run-1", 2, "xero-12"),
        ("13", "held", "run-2", 2, None),
    ]


@pytest.mark.postgres
def test_rows_and_offsets_commit_together_or_not_at_all(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = result("11")
    poison_letter = DeadLetter("wisesync.records.v1", 0, 1, None, b"\x00", "X", "y", "g")
    msgs = [bus("wisesync.results.v1", 0, r), bus("wisesync.dlq.v1", 0, poison_letter)]
    reporter = reporter_for(db)
    empty = snapshot(db)

    def explode(*a: Any, **k: Any) -> None:
        raise RuntimeError("database went away mid-transaction")

    monkeypatch.setattr(reporter, "_store_dead_letters", explode)
    with pytest.raises(RuntimeError):
        reporter.store(msgs)
    assert snapshot(db) == empty  # neither rows nor offsets

    monkeypatch.undo()
    assert [x.result_id for x in reporter.store(msgs)] == [r.result_id]
    assert scalar(db, "SELECT sum(next_offset) FROM reporter_offsets") == 2


@pytest.mark.postgres
def test_undecodable_messages_become_dead_letters_and_the_rest_flows(db: Database) -> None:
    good = result("12")
    junk = BusMessage("wisesync.results.v1", 0, 0, b"acme", b"not avro at all", [], 0)
    wrong = bus("wisesync.results.v1", 1, SyncRun("r", "acme", Trigger.SCHEDULE, "x", []))
    reporter = reporter_for(db)
    new = reporter.store([junk, wrong, bus("wisesync.results.v1", 2, good)])
    assert [x.result_id for x in new] == [good.result_id]
    with db.connection() as conn:
        letters = conn.execute(
            'SELECT topic, "offset", error_class, company, original_value FROM dead_letters '
            'ORDER BY "offset"'
        ).fetchall()
    assert [(t, o, c, co) for t, o, c, co, _ in letters] == [
        ("wisesync.results.v1", 0, "CorruptEvent", "acme"),
        ("wisesync.results.v1", 1, "EventDecodeError", "acme"),
    ]
    assert bytes(letters[0][4]) == b"not avro at all"


@pytest.mark.postgres
def test_on_result_hook_sees_each_new_result_once_and_a_failing_observer_is_contained(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wisesync.hookspecs import hookimpl
    from wisesync.plugins import build_registry

    seen: list[str] = []

    class Broken:
        @hookimpl
        def on_result(self, result: PostingResult) -> None:
            raise ValueError("observer bug")

    class Watcher:
        @hookimpl
        def on_result(self, result: PostingResult) -> None:
            seen.append(result.result_id)

    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "")  # only the two plugins below
    registry = build_registry(extra_plugins=(Broken(), Watcher()))
    reporter = Reporter(db, None, CODEC, registry=registry, ack_sources=())
    r1, r2 = result("20"), result("21")
    msgs = [bus("wisesync.results.v1", 0, r1), bus("wisesync.results.v1", 1, r2)]
    reporter._observe(reporter.store(msgs))
    reporter._observe(reporter.store(msgs))  # redelivered: no second notification
    assert seen == [r1.result_id, r2.result_id]
    assert reporter.stats.hook_errors == 2
    assert scalar(db, "SELECT count(*) FROM acknowledgements") == 0  # ack_sources=()


# --- through a real transport ------------------------------------------------------------------

KINDS = [
    pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
    pytest.param("embedded", marks=pytest.mark.postgres, id="embedded"),
]


@pytest.fixture(params=KINDS)
def transport_env(request: pytest.FixtureRequest, db: Database) -> Iterator[dict[str, Any]]:
    """A transport with unique results/runs/dlq topics (2 partitions each)."""
    tag = uuid.uuid4().hex[:8]
    if request.param == "kafka":
        transport = open_transport(
            "kafka", bootstrap_servers=request.getfixturevalue("kafka_bootstrap")
        )
    else:
        transport = open_transport("embedded", dsn=db.dsn)
    names = Topics(f"test-{tag}.")
    transport.admin().create_topics([names.results, names.runs, names.dlq], partitions=2)
    env = {"kind": request.param, "transport": transport, "topics": names, "group": f"rep-{tag}"}
    yield env
    transport.close()


def _reporter(db: Database, env: dict[str, Any]) -> Reporter:
    return Reporter(
        db,
        env["transport"],
        CODEC,
        group=env["group"],
        registry=_NoHooks(),
        consumer_options=FAST[env["kind"]],
        topics=env["topics"],
    )


def _publish(env: dict[str, Any], items: list[Any]) -> None:
    t = env["topics"]
    topic_of = {PostingResult: t.results, SyncRun: t.runs, DeadLetter: t.dlq}
    with env["transport"].producer() as producer:
        for obj in items:
            producer.send(
                topic_of[type(obj)], obj.company.encode(), CODEC.encode(obj), CODEC.headers(obj)
            )
        producer.flush()


def _until(reporter: Reporter, done, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"reporter did not catch up: {reporter.stats}"
        reporter.run_once(0.5)


def test_reporter_consumes_a_real_transport_and_a_redelivery_changes_nothing(
    db: Database, transport_env: dict[str, Any]
) -> None:
    companies = ["acme", "globex", "initech"]
    run = SyncRun("run-t", "acme", Trigger.SCHEDULE, "scheduler", ["invoice"], {"invoice": 30})
    items: list[Any] = [run]
    for i in range(30):
        status = Status.FAILED if i % 5 == 0 else Status.POSTED
        msgs = [message("GL_MAPPING_MISSING", "no GL")] if status is Status.FAILED else []
        items.append(
            result(str(i), company=companies[i % 3], status=status, run_id="run-t", messages=msgs)
        )
    _publish(transport_env, items)

    first = _reporter(db, transport_env)
    try:
        _until(first, lambda: scalar(db, "SELECT count(*) FROM attempts") == 30)
        _until(first, lambda: scalar(db, "SELECT count(*) FROM sync_runs") == 1)
    finally:
        first.close()
    before = snapshot(db)
    assert scalar(db, "SELECT count(*) FROM records WHERE status = 'failed'") == 6
    assert scalar(db, "SELECT count(*) FROM acknowledgements") == 24
    # stored offsets == the end of every partition the messages went to
    admin = transport_env["transport"].admin()
    stored = {(t, p): o for _, t, p, o in before["reporter_offsets"]}
    for topic in (transport_env["topics"].results, transport_env["topics"].runs):
        for p, end in admin.end_offsets(topic).items():
            if end:
                assert stored[(topic, p)] == end

    # Rewind the group on the transport: everything is delivered again, nothing changes.
    deadline = time.monotonic() + 30
    while admin.group_has_live_members(transport_env["group"]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for topic in (transport_env["topics"].results, transport_env["topics"].runs):
        admin.reset_offsets(transport_env["group"], topic, to_offset=0)
    second = _reporter(db, transport_env)
    try:
        _until(second, lambda: second.stats.skipped >= 31)
    finally:
        second.close()
    assert second.stats.results == 0
    assert snapshot(db) == before


def test_a_crash_between_the_store_and_the_transport_commit_loses_and_duplicates_nothing(
    db: Database, transport_env: dict[str, Any]
) -> None:
    items = [result(str(i), company="acme") for i in range(10)]
    _publish(transport_env, items)
    crashing = _reporter(db, transport_env)
    got: list[BusMessage] = []
    deadline = time.monotonic() + 60
    with contextlib.ExitStack() as stack:
        stack.callback(crashing.close)
        while len(got) < 10:
            assert time.monotonic() < deadline
            got.extend(crashing.consumer.poll(0.5, 100))
        crashing.store(got)  # durable in Postgres ... then the process dies before commit
    stored = snapshot(db)

    successor = _reporter(db, transport_env)
    try:
        _until(successor, lambda: successor.stats.skipped >= 10)
    finally:
        successor.close()
    assert successor.stats.results == 0
    assert snapshot(db) == stored
    assert scalar(db, "SELECT count(*) FROM attempts") == 10
