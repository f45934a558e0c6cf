"""The transport interface: produce with key and headers, consume in a group with manual commit.

Two implementations pass one contract suite (``tests/contract/test_transport_contract.py``):
``kafka`` (:mod:`wisesync.transport.kafka`) and ``embedded`` (:mod:`wisesync.transport.embedded`,
the same log semantics in Postgres). Semantics both guarantee:

- A topic has a fixed number of partitions; a message with a key lands on
  ``murmur2(key) mod partitions`` (Kafka's default partitioner, :func:`partition_for`), so a
  company maps to the same partition number on both transports. Order is kept per partition.
- Topics are never auto-created: producing to or subscribing to an unknown topic raises
  :class:`~wisesync.transport.errors.UnknownTopicError`.
- A consumer belongs to a group; each partition of its topics is owned by at most one live
  member at a time. Members join on their first ``poll``; partitions move when a member joins,
  leaves (``close``) or dies (its session times out). Rebalance callbacks run inside ``poll``
  on the caller's thread (they may call ``commit``).
- Offsets are committed only by the caller (``commit`` / ``commit_messages``); a committed
  offset is the *next* offset to read. A partition that changes owner resumes at the last
  committed offset, so uncommitted messages are delivered again (at least once). A commit
  for a partition the consumer no longer owns raises
  :class:`~wisesync.transport.errors.CommitFailedError`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from kafka.partitioner.default import murmur2

from wisesync.transport.errors import TransportClosedError

__all__ = [
    "Admin",
    "Consumer",
    "ConsumerOptions",
    "DeliveryFuture",
    "Headers",
    "Message",
    "Outgoing",
    "PartitionCallback",
    "Producer",
    "RecordMetadata",
    "TopicPartition",
    "Transport",
    "next_offsets",
    "partition_for",
]

#: Message headers: an ordered list of (name, value) pairs; names may repeat.
Headers = list[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """A (topic, partition) pair; equal to the plain tuple ``(topic, partition)``."""

    topic: str
    partition: int


#: Rebalance callback: receives the set of partitions assigned / revoked / lost.
PartitionCallback = Callable[[set[TopicPartition]], None]


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed message. ``offset`` is its position in ``(topic, partition)``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int

    @property
    def tp(self) -> TopicPartition:
        """The message's (topic, partition)."""
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        """The value of the last header called ``name``, or None."""
        for hname, value in reversed(self.headers):
            if hname == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """Where a produced message was stored."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class DeliveryFuture(abc.ABC):
    """The outcome of one :meth:`Producer.send`."""

    @abc.abstractmethod
    def result(self, timeout_s: float | None = None) -> RecordMetadata:
        """Block until the message is stored and return where; raise DeliveryError on failure."""

    @abc.abstractmethod
    def done(self) -> bool:
        """True once the message was stored or failed."""


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key``: ``murmur2(key) mod n``.

    Same as the Java client (``Utils.toPositive(Utils.murmur2(key)) % numPartitions``) and
    kafka-python's ``DefaultPartitioner``.
    """
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def next_offsets(messages: Iterable[Message]) -> dict[TopicPartition, int]:
    """The offsets to commit after ``messages`` were handled: highest offset + 1 per partition."""
    out: dict[TopicPartition, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        if out.get(tp, -1) <= m.offset:
            out[tp] = m.offset + 1
    return out


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """Options every consumer understands (``transport.consumer(group, topics, **opts)``).

    ``auto_offset_reset``: where a group starts on a partition it never committed.
    ``session_timeout_s``: how long a member may stay silent before it is declared dead and its
    partitions move (Kafka brokers refuse less than ``group.min.session.timeout.ms``, 6 s by
    default). ``heartbeat_interval_s``: defaults to a third of the session timeout, at most 3 s.
    ``max_poll_interval_s``: a member that does not call ``poll`` for this long leaves the group.
    ``on_assigned`` / ``on_revoked`` / ``on_lost``: rebalance callbacks, run inside ``poll`` on
    the caller's thread; ``on_lost`` (membership expired, commits will fail) defaults to
    ``on_revoked``.
    """

    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_s: float = 10.0
    heartbeat_interval_s: float | None = None
    max_poll_interval_s: float = 300.0
    client_id: str | None = None
    on_assigned: PartitionCallback | None = None
    on_revoked: PartitionCallback | None = None
    on_lost: PartitionCallback | None = None

    @property
    def heartbeat_s(self) -> float:
        """The effective heartbeat interval."""
        if self.heartbeat_interval_s is not None:
            return self.heartbeat_interval_s
        return min(3.0, self.session_timeout_s / 3)

    @classmethod
    def from_opts(cls, opts: Mapping[str, Any]) -> ConsumerOptions:
        """Build from keyword options, rejecting unknown names and bad values."""
        unknown = set(opts) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(
                f"unknown consumer option(s) {sorted(unknown)}; "
                f"known: {sorted(cls.__dataclass_fields__)}"
            )
        self = cls(**opts)
        if self.auto_offset_reset not in ("earliest", "latest"):
            raise ValueError("auto_offset_reset must be 'earliest' or 'latest'")
        if self.session_timeout_s <= 0 or self.heartbeat_s <= 0:
            raise ValueError("session_timeout_s and heartbeat_interval_s must be positive")
        if self.heartbeat_s >= self.session_timeout_s:
            raise ValueError("heartbeat_interval_s must be shorter than session_timeout_s")
        return self


class Outgoing(NamedTuple):
    """A message :meth:`Producer.send` has checked, on its way to the transport's queue."""

    topic: str
    #: in range; None for a message with neither key nor partition (the transport picks)
    partition: int | None
    #: how many partitions ``topic`` has
    partitions: int
    key: bytes | None
    value: bytes
    headers: Headers


class Producer(abc.ABC):
    """Appends messages to topics. Thread-safe; one per process is plenty.

    :meth:`send` checks and routes a message the same way on every transport; an
    implementation supplies :meth:`_refusing_sends`, :meth:`_partition_count` and
    :meth:`_enqueue`.
    """

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
    ) -> DeliveryFuture:
        """Queue one message; it is stored asynchronously (batched) in send order per partition.

        ``partition`` overrides the key-based choice. Raises UnknownTopicError for a topic that
        was never created. Delivery failures surface from the future and from :meth:`flush`.
        """
        if self._refusing_sends():
            raise TransportClosedError("the producer")
        n = self._partition_count(topic)
        if partition is None:
            if key is not None:
                partition = partition_for(key, n)
        elif not 0 <= partition < n:
            raise ValueError(f"{topic} has partitions 0..{n - 1}, not {partition}")
        return self._enqueue(
            Outgoing(topic, partition, n, key, value, list(headers) if headers else [])
        )

    @abc.abstractmethod
    def _refusing_sends(self) -> bool:
        """True once the producer is closing: :meth:`send` raises TransportClosedError."""

    @abc.abstractmethod
    def _partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has; UnknownTopicError when it was never created."""

    @abc.abstractmethod
    def _enqueue(self, msg: Outgoing) -> DeliveryFuture:
        """Queue a message :meth:`send` has checked."""

    @abc.abstractmethod
    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every message sent so far is durably stored.

        Raises DeliveryError if any of them failed since the last flush.
        """

    @abc.abstractmethod
    def close(self, timeout_s: float | None = None) -> None:
        """Flush, then release connections. Idempotent."""

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Consumer(abc.ABC):
    """Reads topics as one member of a consumer group, committing offsets only when told.

    Not thread-safe: use one consumer from one thread.
    """

    group: str
    topics: tuple[str, ...]

    @abc.abstractmethod
    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        """Return up to ``max_records`` messages, waiting at most ``timeout_s`` for the first.

        Joins the group on the first call, takes part in rebalances (running the callbacks) and
        keeps per-partition order. An empty list means nothing arrived in time.
        """

    @abc.abstractmethod
    def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit ``{(topic, partition): next_offset}`` synchronously.

        Raises CommitFailedError when a partition is not (or no longer) owned by this member.
        """

    def commit_messages(self, messages: Iterable[Message]) -> None:
        """Commit past ``messages`` (highest offset + 1 per partition)."""
        offsets = next_offsets(messages)
        if offsets:
            self.commit(offsets)

    @abc.abstractmethod
    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Make the next ``poll`` read ``(topic, partition)`` from ``offset``.

        The partition must currently be assigned (NotAssignedError otherwise). Does not commit.
        """

    @abc.abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions this member owns right now."""

    @abc.abstractmethod
    def wait_for_assignment(self, timeout_s: float = 30.0) -> set[TopicPartition]:
        """Join the group if needed and wait until at least one partition is assigned.

        Messages fetched meanwhile are kept for the next ``poll``. Returns the assignment
        (possibly empty if the timeout passed, e.g. more members than partitions).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Leave the group cooperatively: run ``on_revoked``, give the partitions up at once
        (no session timeout wait) and commit nothing that the caller did not commit.
        Idempotent."""

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Admin(abc.ABC):
    """Topic and consumer-group administration."""

    @abc.abstractmethod
    def create_topics(
        self, names: Iterable[str], partitions: int | Mapping[str, int] = 1
    ) -> dict[str, int]:
        """Create topics (idempotent: an existing topic is left as it is).

        Returns ``{topic: partition count}`` as it now exists.
        """

    @abc.abstractmethod
    def partition_count(self, topic: str) -> int:
        """The number of partitions of ``topic`` (UnknownTopicError if it does not exist)."""

    @abc.abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """``{partition: offset the next message will get}``."""

    @abc.abstractmethod
    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        """``{partition: committed next offset, or None if the group never committed it}``."""

    def lag(self, group: str, topic: str) -> dict[int, int]:
        """``{partition: messages not yet committed by the group}`` (end - committed; a
        partition never committed counts from offset 0, nothing is deleted by retention)."""
        ends = self.end_offsets(topic)
        committed = self.committed(group, topic)
        return {p: max(0, end - (committed.get(p) or 0)) for p, end in ends.items()}

    @abc.abstractmethod
    def offsets_for_time(self, topic: str, ts_ms: int) -> dict[int, int]:
        """``{partition: earliest offset whose timestamp >= ts_ms}``; the end offset when no
        message is that recent (so seeking there means "from now on")."""

    @abc.abstractmethod
    def group_has_live_members(self, group: str) -> bool:
        """True while any consumer of ``group`` is alive (joined and within its session)."""

    @abc.abstractmethod
    def reset_offsets(
        self,
        group: str,
        topic: str,
        *,
        to_offset: int | Mapping[int, int] | None = None,
        to_time_ms: int | None = None,
    ) -> dict[int, int]:
        """Set the group's committed offsets on every partition of ``topic``; return them.

        Exactly one of ``to_offset`` (one offset for all partitions, or per partition) and
        ``to_time_ms`` (see :meth:`offsets_for_time`). Offsets are clamped to ``[0, end]``.
        Refused with GroupActiveError while the group has live members.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport(abc.ABC):
    """A factory for producers, consumers and an admin on one Kafka cluster or Postgres."""

    #: "kafka" or "embedded".
    kind: str

    @abc.abstractmethod
    def producer(self, **opts: Any) -> Producer:
        """A new producer (see the implementation for tuning options)."""

    @abc.abstractmethod
    def consumer(self, group: str, topics: Sequence[str], **opts: Any) -> Consumer:
        """A new member of ``group`` subscribed to ``topics``; options: :class:`ConsumerOptions`.

        Raises UnknownTopicError if a topic does not exist.
        """

    @abc.abstractmethod
    def admin(self) -> Admin:
        """The admin client (shared; closed with the transport)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the admin and shared resources (producers/consumers are closed by their
        owners). Idempotent."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_reset_args(to_offset: int | Mapping[int, int] | None, to_time_ms: int | None) -> None:
    """Validate :meth:`Admin.reset_offsets` arguments (exactly one target)."""
    if (to_offset is None) == (to_time_ms is None):
        raise ValueError("reset_offsets needs exactly one of to_offset or to_time_ms")


def resolve_reset_targets(
    ends: Mapping[int, int],
    to_offset: int | Mapping[int, int] | None,
    by_time: Mapping[int, int] | None,
) -> dict[int, int]:
    """Per-partition reset targets clamped to ``[0, end]``."""
    out: dict[int, int] = {}
    for p, end in ends.items():
        if by_time is not None:
            raw = by_time[p]
        elif isinstance(to_offset, Mapping):
            if p not in to_offset:
                continue
            raw = to_offset[p]
        else:
            raw = int(to_offset)  # type: ignore[arg-type]
        out[p] = min(max(0, raw), end)
    return out
