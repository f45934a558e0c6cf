"""One contract for both transports: every test runs on Kafka and on the embedded (Postgres) one.

Services come from the ``wisesync.testing.services`` pytest plugin: ``kafka_bootstrap`` (a real
KRaft broker) and ``pg_database`` (a fresh database, migrated here with ``wisesync db migrate``'s
runner). Topic and group names are unique per test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from wisesync.transport import (
    Consumer,
    Message,
    TopicPartition,
    Transport,
    open_transport,
    partition_for,
)
from wisesync.transport.errors import (
    CommitFailedError,
    GroupActiveError,
    NotAssignedError,
    UnknownTopicError,
)

HERE = Path(__file__).resolve().parent

KINDS = [
    pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
    pytest.param("embedded", marks=pytest.mark.postgres, id="embedded"),
]

# Short sessions so failure detection is quick in tests (Kafka's broker minimum is 6 s).
FAST: dict[str, dict[str, Any]] = {
    "kafka": {"session_timeout_s": 6.0, "heartbeat_interval_s": 0.5, "max_poll_interval_s": 20.0},
    "embedded": {"session_timeout_s": 1.5, "heartbeat_interval_s": 0.25},
}


def migrate(dsn: str) -> None:
    """Apply the store migrations (including 0002_embedded_transport.sql) to ``dsn``."""
    from wisesync.store.migrate import migrate as run_migrations

    with psycopg.connect(dsn) as conn:
        run_migrations(conn)


class Env:
    """One transport under test plus helpers for unique names and consumers."""

    def __init__(self, kind: str, connection: str, transport: Transport) -> None:
        self.kind = kind
        self.connection = connection
        self.t = transport
        self.admin = transport.admin()
        self._consumers: list[Consumer] = []
        self.tag = uuid.uuid4().hex[:8]

    def topic(self, name: str = "t", partitions: int = 1) -> str:
        """Create a topic unique to this test."""
        topic = f"contract.{name}.{self.tag}"
        self.admin.create_topics([topic], partitions=partitions)
        return topic

    def group(self, name: str = "g") -> str:
        """A group name unique to this test."""
        return f"contract-{name}-{self.tag}"

    def consumer(self, group: str, topics: list[str], **opts: Any) -> Consumer:
        """A consumer with fast session settings, closed at the end of the test."""
        c = self.t.consumer(group, topics, **{**FAST[self.kind], **opts})
        self._consumers.append(c)
        return c

    def settings(self) -> dict[str, str]:
        """open_transport settings for another process."""
        if self.kind == "kafka":
            return {"bootstrap_servers": self.connection}
        return {"dsn": self.connection}

    def close(self) -> None:
        """Close every consumer made here, then the transport."""
        for c in self._consumers:
            with contextlib.suppress(Exception):
                c.close()
        self.t.close()


@pytest.fixture(params=KINDS)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """The transport under test (parametrised: kafka, embedded)."""
    if request.param == "kafka":
        conn = request.getfixturevalue("kafka_bootstrap")
        transport = open_transport("kafka", bootstrap_servers=conn)
    else:
        conn = request.getfixturevalue("pg_database")
        migrate(conn)
        transport = open_transport("embedded", dsn=conn)
    e = Env(request.param, conn, transport)
    yield e
    e.close()


def send_all(env: Env, topic: str, items: list[tuple[bytes | None, bytes]], **kw: Any) -> list:
    """Send and flush; return the delivery metadata in send order."""
    with env.t.producer() as producer:
        futures = [producer.send(topic, k, v, **kw) for k, v in items]
        producer.flush(30)
    return [f.result(10) for f in futures]


def consume(
    consumer: Consumer,
    count: int,
    timeout_s: float = 30.0,
    commit: bool = False,
    max_records: int = 500,
) -> list[Message]:
    """Poll until ``count`` messages arrived (or the timeout); optionally commit each batch."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        batch = consumer.poll(0.5, max_records=min(max_records, count - len(got)))
        got.extend(batch)
        if commit and batch:
            consumer.commit_messages(batch)
    return got


def quiet(consumer: Consumer, seconds: float) -> list[Message]:
    """Everything the consumer receives within ``seconds`` (expected: nothing)."""
    got: list[Message] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got.extend(consumer.poll(0.2))
    return got


class Poller:
    """Polls a consumer on its own thread, recording messages and committing each batch."""

    def __init__(self, consumer: Consumer, commit: bool = True) -> None:
        self.consumer = consumer
        self.commit = commit
        self.messages: list[Message] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.consumer.poll(0.2)
                self.messages.extend(batch)
                if batch and self.commit:
                    self.consumer.commit_messages(batch)
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def stop(self) -> None:
        """Stop polling (the consumer stays open); re-raise a poll error."""
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "poller did not stop"
        if self.errors:
            raise self.errors[0]


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait for ``cond`` or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Producing
# ---------------------------------------------------------------------------------------------


def test_headers_key_value_and_timestamp_round_trip(env: Env) -> None:
    topic = env.topic("headers")
    headers = [("event_type", b"RecordEvent"), ("fp", bytes(range(256))), ("event_type", b"")]
    before = int(time.time() * 1000)
    meta = send_all(env, topic, [(b"acme", b"\x00payload\xff"), (None, b"no key")], headers=headers)
    after = int(time.time() * 1000)
    got = consume(env.consumer(env.group(), [topic]), 2)
    assert [(m.key, m.value) for m in got] == [(b"acme", b"\x00payload\xff"), (None, b"no key")]
    assert got[0].headers == headers
    assert got[0].header("event_type") == b""  # last one wins for repeated names
    assert [(m.partition, m.offset) for m in got] == [(md.partition, md.offset) for md in meta]
    assert all(before - 1000 <= m.timestamp_ms <= after + 1000 for m in got)
    assert [m.timestamp_ms for m in got] == [md.timestamp_ms for md in meta]


def test_order_per_key_and_same_partition_as_kafka_default(env: Env) -> None:
    topic = env.topic("order", partitions=4)
    keys = [f"company-{i}".encode() for i in range(12)]
    items = [(k, f"{k.decode()}:{seq}".encode()) for seq in range(25) for k in keys]
    send_all(env, topic, items)
    got = consume(env.consumer(env.group(), [topic]), len(items))
    assert len(got) == len(items)
    by_key: dict[bytes, list[Message]] = defaultdict(list)
    for m in got:
        by_key[m.key].append(m)
    for key, msgs in by_key.items():
        assert {m.partition for m in msgs} == {partition_for(key, 4)}
        assert [int(m.value.split(b":")[1]) for m in msgs] == list(range(25))
    for p in range(4):
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == list(range(len(offsets)))  # dense and in order


def test_concurrent_producers_get_dense_ordered_offsets(env: Env) -> None:
    topic = env.topic("concurrent", partitions=2)
    producers = [env.t.producer(), env.t.producer()]
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            for seq in range(400):
                producers[n].send(topic, f"key-{seq % 4}".encode(), f"p{n}:{seq}".encode())
            producers[n].flush(30)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for p in producers:
        p.close()
    assert not errors
    got = consume(env.consumer(env.group(), [topic]), 800)
    assert len(got) == 800
    for part in (0, 1):
        in_part = [m for m in got if m.partition == part]
        assert [m.offset for m in in_part] == list(range(len(in_part)))
    for n in (0, 1):  # each producer's messages keep their order within a partition
        for part in (0, 1):
            seqs = [
                int(m.value.split(b":")[1])
                for m in got
                if m.partition == part and m.value.startswith(f"p{n}:".encode())
            ]
            assert seqs == sorted(seqs)


def test_topics_are_never_auto_created(env: Env) -> None:
    missing = f"contract.missing.{env.tag}"
    with env.t.producer() as producer, pytest.raises(UnknownTopicError, match=missing):
        producer.send(missing, b"k", b"v")
    with pytest.raises(UnknownTopicError, match="create_topics"):
        env.t.consumer(env.group(), [missing])
    with pytest.raises(UnknownTopicError):
        env.admin.partition_count(missing)


def test_create_topics_is_idempotent_and_keeps_partitions(env: Env) -> None:
    a, b = f"contract.a.{env.tag}", f"contract.b.{env.tag}"
    assert env.admin.create_topics([a, b], partitions={a: 3, b: 1}) == {a: 3, b: 1}
    assert env.admin.create_topics([a], partitions=8) == {a: 3}
    assert env.admin.partition_count(a) == 3
    assert env.admin.end_offsets(a) == {0: 0, 1: 0, 2: 0}
    with pytest.raises(ValueError, match="illegal topic name"):
        env.admin.create_topics(["bad name!"])


# ---------------------------------------------------------------------------------------------
# Consuming, committing, redelivery
# ---------------------------------------------------------------------------------------------


def test_commit_and_resume_where_committed(env: Env) -> None:
    topic = env.topic("resume")
    group = env.group()
    send_all(env, topic, [(b"k", f"m{i}".encode()) for i in range(25)])
    first = env.consumer(group, [topic])
    got = consume(first, 10, max_records=10)
    assert [m.offset for m in got] == list(range(10))
    first.commit_messages(got)
    assert env.admin.committed(group, topic) == {0: 10}
    assert env.admin.lag(group, topic) == {0: 15}
    first.close()
    second = env.consumer(group, [topic])
    rest = consume(second, 15)
    assert [m.offset for m in rest] == list(range(10, 25))
    assert quiet(second, 0.5) == []


def test_uncommitted_messages_are_redelivered_after_close(env: Env) -> None:
    topic = env.topic("redeliver")
    group = env.group()
    send_all(env, topic, [(b"k", f"m{i}".encode()) for i in range(20)])
    first = env.consumer(group, [topic])
    got = consume(first, 20)
    first.commit({(topic, 0): 12})  # work durable up to offset 11 only
    first.close()
    again = consume(env.consumer(group, [topic]), 8)
    assert [m.offset for m in again] == list(range(12, 20))
    assert [m.value for m in again] == [m.value for m in got[12:]]


def test_dead_member_partitions_move_and_uncommitted_are_redelivered(env: Env) -> None:
    topic = env.topic("crash", partitions=2)
    group = env.group()
    send_all(env, topic, [(None, f"m{i}".encode()) for i in range(10)], partition=0)
    send_all(env, topic, [(None, f"n{i}".encode()) for i in range(10)], partition=1)
    opts = json.dumps(FAST[env.kind])
    child = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "transport_crash_child.py"),
            env.kind,
            env.connection,
            group,
            topic,
            "20",
            "4",
            opts,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.startswith("READY 20"), f"child did not consume: {line!r}"
        assert env.admin.group_has_live_members(group)
        child.send_signal(signal.SIGKILL)  # no close, no leave: only the session timeout tells
        child.wait(10)
        killed_at = time.monotonic()
        survivor = env.consumer(group, [topic])
        again = consume(survivor, 12, timeout_s=40)
    finally:
        if child.poll() is None:
            child.kill()
    assert sorted((m.partition, m.offset) for m in again) == [
        (p, o) for p in (0, 1) for o in range(4, 10)
    ]
    assert survivor.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    assert time.monotonic() - killed_at < FAST[env.kind]["session_timeout_s"] + 20


def test_members_of_a_group_split_partitions_without_overlap(env: Env) -> None:
    topic = env.topic("split", partitions=4)
    group = env.group()
    c1, c2 = env.consumer(group, [topic]), env.consumer(group, [topic])
    p1, p2 = Poller(c1), Poller(c2)
    every = {TopicPartition(topic, p) for p in range(4)}
    wait_until(
        lambda: (
            c1.assignment() | c2.assignment() == every
            and not c1.assignment() & c2.assignment()
            and len(c1.assignment()) == 2
        ),
        40,
        "two members to own two partitions each",
    )
    items = [(f"company-{i}".encode(), f"v{i}".encode()) for i in range(200)]
    send_all(env, topic, items)
    wait_until(lambda: len(p1.messages) + len(p2.messages) >= 200, 30, "all 200 messages")
    time.sleep(0.3)
    p1.stop()
    p2.stop()
    seen1 = {(m.partition, m.offset) for m in p1.messages}
    seen2 = {(m.partition, m.offset) for m in p2.messages}
    assert len(seen1) + len(seen2) == len(p1.messages) + len(p2.messages) == 200
    assert not seen1 & seen2
    assert {p for p, _ in seen1}.isdisjoint({p for p, _ in seen2})
    assert {p for p, _ in seen1} == {tp.partition for tp in c1.assignment()}

    # When one member leaves, the other takes over all partitions and continues from the
    # committed offsets (nothing delivered twice).
    c2.close()
    p1 = Poller(c1)
    wait_until(lambda: c1.assignment() == every, 40, "the remaining member to own everything")
    send_all(env, topic, [(f"company-{i}".encode(), b"later") for i in range(40)])
    wait_until(lambda: len(p1.messages) >= 40, 30, "40 later messages")
    time.sleep(0.3)
    p1.stop()
    assert [m.value for m in p1.messages] == [b"later"] * 40


def test_rebalance_callbacks_run_and_may_commit(env: Env) -> None:
    topic = env.topic("callbacks", partitions=2)
    group = env.group()
    events: list[tuple[str, str, set[TopicPartition]]] = []
    handled: dict[str, list[Message]] = {"c1": [], "c2": []}
    consumers: dict[str, Consumer] = {}

    def callbacks(name: str) -> dict[str, Callable[[set[TopicPartition]], None]]:
        def on_revoked(tps: set[TopicPartition]) -> None:
            events.append((name, "revoked", tps))
            done = [m for m in handled[name] if m.tp in tps]
            if done:  # classic pattern: commit what was handled before giving partitions up
                consumers[name].commit_messages(done)

        def on_assigned(tps: set[TopicPartition]) -> None:
            events.append((name, "assigned", tps))

        return {"on_revoked": on_revoked, "on_assigned": on_assigned}

    send_all(env, topic, [(None, f"a{i}".encode()) for i in range(10)], partition=0)
    send_all(env, topic, [(None, f"b{i}".encode()) for i in range(10)], partition=1)
    consumers["c1"] = env.consumer(group, [topic], **callbacks("c1"))
    handled["c1"] = consume(consumers["c1"], 20)  # handled, never committed in the loop
    assigned_to_c1 = {tp for n, k, tps in events if n == "c1" and k == "assigned" for tp in tps}
    assert assigned_to_c1 == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    consumers["c2"] = env.consumer(group, [topic], **callbacks("c2"))
    p1 = Poller(consumers["c1"], commit=False)
    p2 = Poller(consumers["c2"], commit=False)
    wait_until(
        lambda: len(consumers["c1"].assignment()) == 1 and len(consumers["c2"].assignment()) == 1,
        40,
        "the partitions to be split",
    )
    time.sleep(0.5)
    p1.stop()
    p2.stop()
    assert any(n == "c1" and k == "revoked" for n, k, _ in events)
    assert any(n == "c2" and k == "assigned" for n, k, _ in events)
    # c1 committed in on_revoked, so c2 starts after what c1 handled: nothing redelivered.
    assert p1.messages == [] and p2.messages == []
    moved = consumers["c2"].assignment()
    committed = env.admin.committed(group, topic)
    assert moved and all(committed[tp.partition] == 10 for tp in moved)


def test_commit_of_a_partition_not_owned_is_refused(env: Env) -> None:
    topic = env.topic("fence", partitions=1)
    other = env.topic("other", partitions=1)
    c = env.consumer(env.group(), [topic])
    assert c.wait_for_assignment(20) == {TopicPartition(topic, 0)}
    with pytest.raises(CommitFailedError, match=r"other.*not assigned"):
        c.commit({(other, 0): 1})
    with pytest.raises(NotAssignedError, match="not assigned"):
        c.seek(other, 0, 0)
    assert env.admin.committed(c.group, other) == {0: None}


# ---------------------------------------------------------------------------------------------
# Seeking, lag, groups, admin
# ---------------------------------------------------------------------------------------------


def test_seek_to_offset_and_to_timestamp(env: Env) -> None:
    topic = env.topic("seek")
    send_all(env, topic, [(b"k", f"old{i}".encode()) for i in range(10)])
    time.sleep(0.05)
    boundary = int(time.time() * 1000)
    time.sleep(0.05)
    send_all(env, topic, [(b"k", f"new{i}".encode()) for i in range(10)])
    c = env.consumer(env.group(), [topic])
    assert c.wait_for_assignment(20) == {TopicPartition(topic, 0)}
    c.seek(topic, 0, 17)
    assert [m.offset for m in consume(c, 3)] == [17, 18, 19]
    assert env.admin.offsets_for_time(topic, boundary) == {0: 10}
    assert env.admin.offsets_for_time(topic, 0) == {0: 0}
    assert env.admin.offsets_for_time(topic, boundary + 3_600_000) == {0: 20}
    c.seek(topic, 0, env.admin.offsets_for_time(topic, boundary)[0])
    assert [m.value for m in consume(c, 10)] == [f"new{i}".encode() for i in range(10)]
    c.seek(topic, 0, 2)
    assert consume(c, 1)[0].value == b"old2"


def test_lag_per_partition(env: Env) -> None:
    topic = env.topic("lag", partitions=3)
    group = env.group()
    for p, n in ((0, 5), (1, 3), (2, 0)):
        if n:
            send_all(env, topic, [(None, b"x")] * n, partition=p)
    assert env.admin.end_offsets(topic) == {0: 5, 1: 3, 2: 0}
    assert env.admin.lag(group, topic) == {0: 5, 1: 3, 2: 0}
    assert env.admin.committed(group, topic) == {0: None, 1: None, 2: None}
    c = env.consumer(group, [topic])
    got = consume(c, 8)
    c.commit_messages([m for m in got if m.partition == 0][:2])
    c.commit({(topic, 1): 3})
    assert env.admin.lag(group, topic) == {0: 3, 1: 0, 2: 0}
    assert env.admin.committed(group, topic) == {0: 2, 1: 3, 2: None}


def test_two_groups_read_the_same_topic_independently(env: Env) -> None:
    topic = env.topic("groups", partitions=2)
    send_all(env, topic, [(f"c{i}".encode(), f"v{i}".encode()) for i in range(30)])
    a = env.consumer(env.group("a"), [topic])
    b = env.consumer(env.group("b"), [topic])
    got_a = consume(a, 30, commit=True)
    assert env.admin.lag(env.group("a"), topic) == {0: 0, 1: 0}
    assert sum(env.admin.lag(env.group("b"), topic).values()) == 30
    got_b = consume(b, 30)
    assert sorted(m.value for m in got_a) == sorted(m.value for m in got_b)
    assert len(got_b) == 30


def test_reset_offsets_refused_with_live_members_then_applied(env: Env) -> None:
    topic = env.topic("reset")
    group = env.group()
    send_all(env, topic, [(b"k", f"old{i}".encode()) for i in range(5)])
    time.sleep(0.05)
    boundary = int(time.time() * 1000)
    time.sleep(0.05)
    send_all(env, topic, [(b"k", f"new{i}".encode()) for i in range(5)])
    c = env.consumer(group, [topic])
    consume(c, 10, commit=True)
    assert env.admin.group_has_live_members(group)
    with pytest.raises(GroupActiveError, match="live member"):
        env.admin.reset_offsets(group, topic, to_offset=0)
    assert env.admin.committed(group, topic) == {0: 10}
    c.close()
    wait_until(lambda: not env.admin.group_has_live_members(group), 15, "the group to be empty")
    assert env.admin.reset_offsets(group, topic, to_offset=2) == {0: 2}
    assert env.admin.reset_offsets(group, topic, to_offset=99) == {0: 10}  # clamped to the end
    assert env.admin.reset_offsets(group, topic, to_time_ms=boundary) == {0: 5}
    replay = consume(env.consumer(group, [topic]), 5)
    assert [m.value for m in replay] == [f"new{i}".encode() for i in range(5)]
    with pytest.raises(ValueError, match="exactly one"):
        env.admin.reset_offsets(group, topic)


# ---------------------------------------------------------------------------------------------
# Embedded-only: fencing of a member whose lease expired (Kafka's equivalent is the broker's
# generation check, exercised above through the crash test).
# ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_embedded_expired_member_cannot_commit_over_new_owner(pg_database: str) -> None:
    migrate(pg_database)
    with open_transport("embedded", dsn=pg_database) as t:
        topic = "contract.zombie"
        t.admin().create_topics([topic], partitions=1)
        with t.producer() as p:
            for i in range(5):
                p.send(topic, b"k", f"v{i}".encode())
        zombie = t.consumer("g", [topic], session_timeout_s=30, heartbeat_interval_s=10)
        assert len(consume(zombie, 5)) == 5
        with psycopg.connect(pg_database, autocommit=True) as conn:  # the zombie stalls...
            conn.execute("UPDATE transport_members SET lease_until = now() - interval '1 s'")
        fresh = t.consumer("g", [topic], session_timeout_s=30)
        assert fresh.wait_for_assignment(10) == {TopicPartition(topic, 0)}
        with pytest.raises(CommitFailedError, match=r"expired|owns"):
            zombie.commit({(topic, 0): 5})
        assert t.admin().committed("g", topic) == {0: None}
        assert [m.offset for m in consume(fresh, 5)] == [0, 1, 2, 3, 4]
        # The zombie notices on its next poll, gives up the partition and rejoins.
        assert zombie.poll(0.5) == []
        assert zombie.assignment() == set()
        fresh.close()
        zombie.close()
