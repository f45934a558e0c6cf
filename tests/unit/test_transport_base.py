"""Transport pieces that need no broker or database: partitioning, assignment, options, errors."""

from __future__ import annotations

import random
import socket
import time

import pytest
from kafka.cluster import ClusterMetadata
from kafka.partitioner.default import DefaultPartitioner

from wisesync.transport import (
    ConsumerOptions,
    Message,
    TopicPartition,
    open_transport,
    partition_for,
    topics,
)
from wisesync.transport.base import next_offsets, resolve_reset_targets
from wisesync.transport.embedded import describe_dsn, range_assign
from wisesync.transport.errors import (
    KAFKA_BOOTSTRAP_KEY,
    BrokerUnavailable,
    CommitFailedError,
    DatabaseUnavailable,
    GroupActiveError,
    TransportConfigError,
    UnknownTopicError,
)
from wisesync.transport.naming import validate_topic_name

# Java's own vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2), as signed ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "signed"), JAVA_MURMUR2.items())
def test_partition_for_matches_the_java_client(key: bytes, signed: int) -> None:
    # Java: Utils.toPositive(murmur2(key)) % n, toPositive = & 0x7fffffff
    for n in (1, 3, 6, 12, 50):
        assert partition_for(key, n) == (signed & 0x7FFFFFFF) % n


def test_partition_for_matches_kafka_pythons_default_partitioner() -> None:
    class Cluster(ClusterMetadata):
        def topics(self, exclude_internal_topics: bool = True) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(7))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(7))

    rng = random.Random(7)
    cluster = Cluster()
    for _ in range(300):
        key = rng.randbytes(rng.randrange(0, 40))
        expected = DefaultPartitioner().partition("t", key, key, b"", b"", cluster)
        assert partition_for(key, 7) == expected


def test_partition_for_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError):
        partition_for(b"k", 0)


def test_topic_constants() -> None:
    assert topics.ALL == (
        "wisesync.records.v1",
        "wisesync.results.v1",
        "wisesync.dlq.v1",
        "wisesync.runs.v1",
    )
    for name in topics.ALL:
        validate_topic_name(name)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 250, ".", "..", "caf\u00e9", "a/b"])
def test_illegal_topic_names(bad: str) -> None:
    with pytest.raises(ValueError, match="illegal topic name"):
        validate_topic_name(bad)


def msg(topic: str, partition: int, offset: int) -> Message:
    return Message(topic, partition, offset, None, b"", [], 0)


def test_next_offsets_is_highest_plus_one_per_partition() -> None:
    ms = [msg("a", 0, 5), msg("a", 0, 3), msg("a", 1, 0), msg("b", 0, 9), msg("a", 0, 7)]
    assert next_offsets(ms) == {("a", 0): 8, ("a", 1): 1, ("b", 0): 10}
    assert next_offsets([]) == {}


def test_message_helpers() -> None:
    m = Message("t", 2, 4, b"k", b"v", [("a", b"1"), ("b", b"2"), ("a", b"3")], 1)
    assert m.tp == TopicPartition("t", 2) == ("t", 2)
    assert m.header("a") == b"3"
    assert m.header("missing") is None


@pytest.mark.parametrize("members", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("partitions", [1, 4, 6, 7])
def test_range_assign_is_complete_disjoint_and_balanced(members: int, partitions: int) -> None:
    ids = [f"m{i:02d}" for i in range(members)]
    rng = random.Random(members * 100 + partitions)
    shuffled = ids[:]
    rng.shuffle(shuffled)  # input order must not matter
    result = range_assign([(m, ["t"]) for m in shuffled], {"t": partitions})
    assert result == range_assign([(m, ["t"]) for m in ids], {"t": partitions})
    owned = [tp for tps in result.values() for tp in tps]
    assert sorted(owned) == [TopicPartition("t", p) for p in range(partitions)]
    sizes = [len(result[m]) for m in ids]
    assert max(sizes) - min(sizes) <= 1


def test_range_assign_only_gives_subscribed_topics() -> None:
    result = range_assign([("a", ["x"]), ("b", ["x", "y"])], {"x": 2, "y": 2})
    assert result["a"] == {TopicPartition("x", 0)}
    assert result["b"] == {TopicPartition("x", 1), TopicPartition("y", 0), TopicPartition("y", 1)}


def test_consumer_options_validation() -> None:
    assert ConsumerOptions.from_opts({}).heartbeat_s == 3.0
    assert ConsumerOptions.from_opts({"session_timeout_s": 1.5}).heartbeat_s == 0.5
    with pytest.raises(TypeError, match="unknown consumer option"):
        ConsumerOptions.from_opts({"auto_commit": True})
    with pytest.raises(ValueError, match="auto_offset_reset"):
        ConsumerOptions.from_opts({"auto_offset_reset": "middle"})
    with pytest.raises(ValueError, match="shorter"):
        ConsumerOptions.from_opts({"session_timeout_s": 1, "heartbeat_interval_s": 2})


def test_reset_targets_are_clamped_to_the_log() -> None:
    ends = {0: 10, 1: 0, 2: 5}
    assert resolve_reset_targets(ends, 7, None) == {0: 7, 1: 0, 2: 5}
    assert resolve_reset_targets(ends, -3, None) == {0: 0, 1: 0, 2: 0}
    assert resolve_reset_targets(ends, {0: 2}, None) == {0: 2}
    assert resolve_reset_targets(ends, None, {0: 4, 1: 0, 2: 5}) == {0: 4, 1: 0, 2: 5}


def test_error_messages_say_what_and_how() -> None:
    err = BrokerUnavailable("10.0.0.9:9092", "KafkaTimeoutError")
    assert "10.0.0.9:9092" in str(err) and KAFKA_BOOTSTRAP_KEY in str(err)
    assert "create_topics" in str(UnknownTopicError("wisesync.recrods.v1"))
    commit = CommitFailedError("poster", [("t", 1), ("t", 0)], "another member owns them now")
    assert "t[0], t[1]" in str(commit) and "keep polling" in str(commit)
    assert "stop its consumers" in str(GroupActiveError("poster", "reset offsets of t", 2))


def test_describe_dsn_never_shows_the_password() -> None:
    assert describe_dsn("postgresql://app:s3cret@db.example:6543/ws") == "app@db.example:6543/ws"
    assert "s3cret" not in describe_dsn("host=db user=app password=s3cret dbname=ws")


def test_open_transport_rejects_unknown_kinds_and_missing_settings() -> None:
    with pytest.raises(TransportConfigError, match=r"transport\.kind.*rabbit"):
        open_transport("rabbit")
    with pytest.raises(TransportConfigError, match="DSN"):
        open_transport("embedded")
    with pytest.raises(TransportConfigError, match=KAFKA_BOOTSTRAP_KEY):
        open_transport("kafka", bootstrap_servers="")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_broker_names_the_address_and_the_config_key() -> None:
    port = closed_port()
    transport = open_transport("kafka", bootstrap_servers=f"127.0.0.1:{port}", connect_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as info:
        transport.admin()
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in str(info.value)
    assert KAFKA_BOOTSTRAP_KEY in str(info.value)


def test_unreachable_database_is_typed_and_hides_the_password() -> None:
    port = closed_port()
    dsn = f"postgresql://app:hunter2@127.0.0.1:{port}/ws?connect_timeout=1"
    with pytest.raises(DatabaseUnavailable) as info:
        open_transport("embedded", dsn=dsn, connect_timeout_s=1)
    assert f"127.0.0.1:{port}/ws" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_open_from_config_uses_the_config_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from wisesync import transport as tmod
    from wisesync.config import AppConfig, KafkaSettings

    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(tmod, "open_transport", lambda kind, **s: calls.append((kind, s)))
    kafka = KafkaSettings(bootstrap_servers="k1:9092,k2:9092", partitions=12, client_id="ws-a")
    tmod.open_from_config(AppConfig(transport="kafka", kafka=kafka))
    tmod.open_from_config(AppConfig(transport="embedded", dsn="postgresql:///cfg"))
    tmod.open_from_config(AppConfig(transport="embedded"), dsn="postgresql:///started")
    assert calls == [
        ("kafka", {"bootstrap_servers": "k1:9092,k2:9092", "client_id": "ws-a"}),
        ("embedded", {"dsn": "postgresql:///cfg"}),
        ("embedded", {"dsn": "postgresql:///started"}),
    ]


def test_open_from_config_without_any_dsn_says_what_to_set() -> None:
    from wisesync.config import AppConfig
    from wisesync.transport import open_from_config

    with pytest.raises(TransportConfigError, match=r"store\.dsn_env"):
        open_from_config(AppConfig(transport="embedded"))
