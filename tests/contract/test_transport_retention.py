"""Embedded transport retention, on a real Postgres: the log is pruned, but never a row that
is younger than the retention or that some consumer group has not read yet.

Ages are measured against the producers' own timestamps: ``now_ms`` moves the pruner's clock
forward instead of waiting days.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from wisesync.config import ConfigInvalid, parse_config
from wisesync.daemon import Service
from wisesync.store.migrate import migrate
from wisesync.transport import Message, open_transport
from wisesync.transport.embedded import EmbeddedConsumer, EmbeddedTransport
from wisesync.transport.retention import prune

DAY_MS = 86_400_000
WEEK_S = 7 * 86_400
FAST = {"session_timeout_s": 1.5, "heartbeat_interval_s": 0.25}


@pytest.fixture
def transport(pg_database: str) -> Iterator[EmbeddedTransport]:
    """A migrated database and an embedded transport on it."""
    with psycopg.connect(pg_database) as conn:
        migrate(conn)
    t = open_transport("embedded", dsn=pg_database)
    yield t
    t.close()


def topic_of(t: EmbeddedTransport, partitions: int = 1) -> str:
    name = f"retention.{uuid.uuid4().hex[:8]}"
    t.admin().create_topics([name], partitions=partitions)
    return name


def produce(t: EmbeddedTransport, topic: str, n: int, *, partition: int = 0) -> list[int]:
    """Send ``n`` messages to one partition; return their offsets."""
    with t.producer() as producer:
        futures = [
            producer.send(topic, None, f"m{i}".encode(), partition=partition) for i in range(n)
        ]
        producer.flush(30)
    return [f.result(10).offset for f in futures]


def read(t: EmbeddedTransport, group: str, topic: str, count: int, *, commit: bool = True):
    """Join ``group``, read ``count`` messages (committing them), leave; return them."""
    consumer = t.consumer(group, [topic], **FAST)
    got: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < count and time.monotonic() < deadline:
            batch = consumer.poll(0.3, max_records=count - len(got))
            got.extend(batch)
            if commit and batch:
                consumer.commit_messages(batch)
    finally:
        consumer.close()
    assert len(got) == count, f"{group} read {len(got)} of {count}"
    return got


def log_offsets(t: EmbeddedTransport, topic: str, partition: int = 0) -> list[int]:
    with t.connection() as conn:
        rows = conn.execute(
            "SELECT log_offset FROM transport_log WHERE topic = %s AND partition = %s "
            "ORDER BY log_offset",
            (topic, partition),
        ).fetchall()
    return [r[0] for r in rows]


def later(days: int = 8) -> int:
    """A pruner clock ``days`` ahead: every message produced so far is that old."""
    return int(time.time() * 1000) + days * DAY_MS


def test_nothing_is_deleted_that_a_group_has_not_read(transport: EmbeddedTransport) -> None:
    topic = topic_of(transport)
    produce(transport, topic, 10)
    read(transport, "fast", topic, 10)  # committed 10
    read(transport, "slow", topic, 4)  # committed 4

    stats = prune(transport, WEEK_S, now_ms=later())
    assert stats.deleted == {(topic, 0): 4}
    assert log_offsets(transport, topic) == list(range(4, 10))

    # The slow group reads on from where it stopped: nothing it had not read is gone.
    rest = read(transport, "slow", topic, 6)
    assert [m.offset for m in rest] == list(range(4, 10))
    assert [m.value for m in rest] == [f"m{i}".encode() for i in range(4, 10)]

    # Now both groups are past everything: all of it goes.
    assert prune(transport, WEEK_S, now_ms=later()).total == 6
    assert log_offsets(transport, topic) == []
    # Offsets stay monotonic after a full prune; a new message gets the next offset.
    assert produce(transport, topic, 1) == [10]


def test_nothing_younger_than_the_retention_is_deleted(transport: EmbeddedTransport) -> None:
    topic = topic_of(transport)
    produce(transport, topic, 5)
    time.sleep(0.05)
    middle_ms = int(time.time() * 1000)
    time.sleep(0.05)
    produce(transport, topic, 5)
    read(transport, "everyone", topic, 10)  # read and committed: only age protects the rows

    assert prune(transport, WEEK_S).total == 0  # with the real clock all of it is young
    assert log_offsets(transport, topic) == list(range(10))

    # Retention of 1 s measured at middle + 1 s: the first five are older, the rest younger.
    stats = prune(transport, 1, now_ms=middle_ms + 1000)
    assert stats.deleted == {(topic, 0): 5}
    assert log_offsets(transport, topic) == list(range(5, 10))


def test_a_group_that_committed_on_another_partition_protects_this_one(
    transport: EmbeddedTransport,
) -> None:
    topic = topic_of(transport, partitions=2)
    produce(transport, topic, 3, partition=0)
    produce(transport, topic, 3, partition=1)
    read(transport, "both", topic, 6)
    # "left" reads partition 0 only (it seeks past nothing on 1): it committed on the topic,
    # so partition 1's unread rows are kept for it, as offset 0.
    consumer = transport.consumer("left", [topic], **FAST)
    try:
        consumer.wait_for_assignment(10)
        consumer.commit({(topic, 0): 3})
    finally:
        consumer.close()

    stats = prune(transport, WEEK_S, now_ms=later())
    assert stats.deleted == {(topic, 0): 3}
    assert log_offsets(transport, topic, 1) == [0, 1, 2]


def test_live_members_that_never_committed_and_unread_topics_keep_everything(
    transport: EmbeddedTransport,
) -> None:
    nobody = topic_of(transport)
    produce(transport, nobody, 3)
    assert prune(transport, WEEK_S, now_ms=later()).total == 0
    assert log_offsets(transport, nobody) == [0, 1, 2]

    topic = topic_of(transport)
    produce(transport, topic, 3)
    read(transport, "done", topic, 3)
    newcomer: EmbeddedConsumer = transport.consumer("newcomer", [topic], **FAST)
    try:
        assert newcomer.wait_for_assignment(10)  # a live member, no commit yet
        assert prune(transport, WEEK_S, now_ms=later()).total == 0
        got = newcomer.poll(5, max_records=10)
        assert [m.offset for m in got] == [0, 1, 2]
    finally:
        newcomer.close()


def test_large_prefix_is_deleted_in_chunks_and_consumers_start_at_the_log_start(
    transport: EmbeddedTransport,
) -> None:
    topic = topic_of(transport)
    produce(transport, topic, 25)
    read(transport, "g", topic, 20)
    stats = prune(transport, WEEK_S, now_ms=later(), chunk=7)
    assert stats.total == 20
    assert log_offsets(transport, topic) == [20, 21, 22, 23, 24]
    # A group rewound to 0 (or a new one) reads from the first offset that is left.
    transport.admin().reset_offsets("g", topic, to_offset=0)
    again = read(transport, "g", topic, 5)
    assert [m.offset for m in again] == [20, 21, 22, 23, 24]
    assert transport.admin().lag("g", topic) == {0: 0}


def test_another_pruner_holding_the_lock_makes_this_pass_skip(
    transport: EmbeddedTransport, pg_database: str
) -> None:
    topic = topic_of(transport)
    produce(transport, topic, 3)
    read(transport, "g", topic, 3)
    with psycopg.connect(pg_database) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext('wisesync_transport_retention'))")
        stats = prune(transport, WEEK_S, now_ms=later())
        assert stats.skipped and stats.total == 0
    assert prune(transport, WEEK_S, now_ms=later()).total == 3


def test_the_service_prunes_periodically(transport: EmbeddedTransport, pg_database: str) -> None:
    config = parse_config(
        {"transport": {"kind": "embedded", "retention": "1s"}},
        environ={"WISESYNC_DSN": pg_database},
    )
    assert config.retention_seconds == 1
    topic = topic_of(transport)
    produce(transport, topic, 6)
    read(transport, "g", topic, 4)
    time.sleep(1.1)  # older than the 1 s retention
    service = Service(config, roles=(), transport=transport, retention_interval_s=0.2)
    service.open().start()
    try:
        deadline = time.monotonic() + 10
        while log_offsets(transport, topic) != [4, 5] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log_offsets(transport, topic) == [4, 5]  # unread 4 and 5 stay
        read(transport, "g", topic, 2)
        deadline = time.monotonic() + 10
        while log_offsets(transport, topic) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log_offsets(transport, topic) == []
    finally:
        started = time.monotonic()
        service.stop()
        service.db.close()
        assert time.monotonic() - started < 5  # the retention thread stops with the service
    assert not any(t.name == "wisesync-retention" for t in threading.enumerate())


def test_retention_config() -> None:
    assert parse_config({}).retention_seconds == WEEK_S
    assert parse_config({"transport": {"retention": "36h"}}).retention_seconds == 36 * 3600
    assert parse_config({"transport": {"retention": "0"}}).retention_seconds == 0
    with pytest.raises(ConfigInvalid) as bad:
        parse_config({"transport": {"retention": "a week"}})
    assert [p.key for p in bad.value.problems] == ["transport.retention"]
