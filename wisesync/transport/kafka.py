"""The Kafka transport (kafka-python >= 3.0.12).

- Producer: ``acks=all`` + idempotence (no duplicates or reordering on retry), ``linger_ms`` and
  ``batch_size`` for throughput, partition chosen by :func:`~wisesync.transport.base.partition_for`
  (the same murmur2 as the embedded transport). Topics are never auto-created.
- Consumer: ``enable_auto_commit=False``; rebalance callbacks run on a worker thread while
  kafka-python's IO loop waits, so they may call ``commit`` (a synchronous listener on the IO
  thread could not); ``close`` leaves the group at once and commits nothing by itself.
- Admin: idempotent topic creation with the configured partitions, lag from end offsets vs
  committed offsets, offset resets refused while the group has members.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTP
from kafka import errors as kerr
from kafka.admin import KafkaAdminClient, OffsetSpec, OffsetTimestamp
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

from wisesync.transport.base import (
    Admin,
    Consumer,
    ConsumerOptions,
    DeliveryFuture,
    Message,
    Outgoing,
    PartitionCallback,
    Producer,
    RecordMetadata,
    TopicPartition,
    Transport,
    check_reset_args,
    resolve_reset_targets,
)
from wisesync.transport.errors import (
    BrokerUnavailable,
    CommitFailedError,
    DeliveryError,
    GroupActiveError,
    NotAssignedError,
    TransportClosedError,
    TransportError,
    TransportUnavailable,
    UnknownTopicError,
)
from wisesync.transport.naming import validate_topic_name

__all__ = ["KafkaTransport"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_FENCED = (
    kerr.CommitFailedError,
    kerr.RebalanceInProgressError,
    kerr.IllegalGenerationError,
    kerr.UnknownMemberIdError,
    kerr.FencedInstanceIdError,
)


def _no_auto_create(client: Any) -> None:
    """kafka-python 3.0.12 does not pass ``allow_auto_create_topics`` to its ClusterMetadata,
    so metadata requests would still auto-create topics; switch it off there too."""
    for path in (("_metadata",), ("_client", "cluster"), ("_manager", "cluster")):
        obj = client
        for attr in path:
            obj = getattr(obj, attr, None)
        cfg = getattr(obj, "config", None)
        if isinstance(cfg, dict) and "allow_auto_create_topics" in cfg:
            cfg["allow_auto_create_topics"] = False


_CRC_WARNED = False


def _warn_if_slow_crc() -> None:
    """kafka-python checksums every record batch with CRC32C; without the ``crc32c`` C
    extension it uses a pure-Python version that makes producing and consuming ~5x slower."""
    global _CRC_WARNED
    if _CRC_WARNED:
        return
    _CRC_WARNED = True
    try:
        import crc32c  # noqa: F401
    except ImportError:
        log.warning(
            "the crc32c package is not installed: kafka-python falls back to pure-Python "
            "CRC32C and Kafka throughput drops ~5x; pip install crc32c"
        )


class KafkaTransport(Transport):
    """Producers, consumers and admin on one Kafka cluster.

    ``bootstrap_servers``: ``"host:port[,host:port]"`` (config ``transport.kafka.bootstrap_servers``).
    ``replication_factor``: for created topics (-1 = the broker's ``default.replication.factor``).
    ``connect_timeout_s``: how long to try the bootstrap servers before BrokerUnavailable.
    ``client_config``: extra kafka-python settings for every client (security, SASL, ...).
    """

    kind = "kafka"

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        client_id: str = "wisesync",
        replication_factor: int = -1,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 30.0,
        client_config: Mapping[str, Any] | None = None,
    ) -> None:
        if not bootstrap_servers:
            from wisesync.transport.errors import KAFKA_BOOTSTRAP_KEY, TransportConfigError

            raise TransportConfigError("no Kafka bootstrap servers given", key=KAFKA_BOOTSTRAP_KEY)
        if not isinstance(bootstrap_servers, str):
            bootstrap_servers = ",".join(bootstrap_servers)
        self.bootstrap = bootstrap_servers
        self.client_id = client_id
        self.replication_factor = replication_factor
        self.common: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers.split(","),
            "client_id": client_id,
            "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
            "request_timeout_ms": int(request_timeout_s * 1000),
            **(client_config or {}),
        }
        self._admin: KafkaAdmin | None = None
        self._admin_lock = threading.Lock()
        _warn_if_slow_crc()
        self._closed = False

    def connect(self, factory: Callable[..., _T], **config: Any) -> _T:
        """Build a kafka-python client, turning bootstrap failures into BrokerUnavailable."""
        try:
            return factory(**{**self.common, **config})
        except (kerr.KafkaTimeoutError, kerr.KafkaConnectionError) as exc:
            raise BrokerUnavailable(self.bootstrap, type(exc).__name__) from None

    def producer(self, **opts: Any) -> KafkaTransportProducer:
        """A producer. Options: ``linger_ms`` (5), ``batch_size`` (256 KiB), ``compression_type``
        (None), ``max_block_s`` (10), ``delivery_timeout_s`` (120), ``config`` (extra settings)."""
        self._check_open()
        return KafkaTransportProducer(self, **opts)

    def consumer(self, group: str, topics: Sequence[str], **opts: Any) -> KafkaTransportConsumer:
        """A group member; options are :class:`ConsumerOptions` plus ``config`` (extra
        kafka-python consumer settings, e.g. ``partition_assignment_strategy``)."""
        self._check_open()
        config = dict(opts.pop("config", None) or {})
        options = ConsumerOptions.from_opts(opts)
        return KafkaTransportConsumer(self, group, tuple(topics), options, config)

    def admin(self) -> KafkaAdmin:
        """The shared admin client (created on first use)."""
        self._check_open()
        with self._admin_lock:
            if self._admin is None:
                self._admin = KafkaAdmin(self)
            return self._admin

    def close(self) -> None:
        """Close the shared admin client."""
        if self._closed:
            return
        self._closed = True
        if self._admin is not None:
            self._admin.close()

    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosedError("the kafka transport")


def _translate(where: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Turn kafka-python errors escaping an admin call into transport errors: the ones
    kafka-python calls retriable (no connection, no leader or coordinator yet, node not
    ready: a broker restarting) into :class:`TransportUnavailable`."""

    def deco(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def wrapper(self: KafkaAdmin, *args: Any, **kwargs: Any) -> _T:
            try:
                return fn(self, *args, **kwargs)
            except TransportError:
                raise
            except kerr.UnknownTopicOrPartitionError:
                topic = args[-1] if args and isinstance(args[-1], str) else "?"
                raise UnknownTopicError(topic, f"Kafka at {self._t.bootstrap}") from None
            except kerr.RetriableError as exc:
                raise TransportUnavailable(
                    f"{where}: Kafka at {self._t.bootstrap} did not answer ({exc}); check the "
                    "broker and transport.kafka.bootstrap_servers"
                ) from exc
            except kerr.KafkaError as exc:
                raise TransportError(
                    f"{where} failed on Kafka at {self._t.bootstrap}: {exc}"
                ) from exc

        return wrapper

    return deco


# ------------------------------------------------------------------------------------------
# Producer
# ------------------------------------------------------------------------------------------


class _KafkaFuture(DeliveryFuture):
    __slots__ = ("_f",)

    def __init__(self, f: Any) -> None:
        self._f = f

    def done(self) -> bool:
        """True once acknowledged or failed."""
        return bool(self._f.is_done)

    def result(self, timeout_s: float | None = None) -> RecordMetadata:
        """Wait for the broker's acknowledgement."""
        try:
            md = self._f.get(timeout=timeout_s)
        except kerr.KafkaTimeoutError as exc:
            if not self._f.is_done:
                raise TimeoutError(f"message not acknowledged within {timeout_s} s") from exc
            raise DeliveryError(1, exc) from exc
        except kerr.KafkaError as exc:
            raise DeliveryError(1, exc) from exc
        return RecordMetadata(md.topic, md.partition, md.offset, md.timestamp)


class KafkaTransportProducer(Producer):
    """An idempotent ``acks=all`` KafkaProducer behind the :class:`Producer` interface."""

    def __init__(
        self,
        transport: KafkaTransport,
        *,
        linger_ms: float = 5,
        batch_size: int = 256 * 1024,
        compression_type: str | None = None,
        max_block_s: float = 10.0,
        delivery_timeout_s: float = 120.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._t = transport
        self._p = transport.connect(
            KafkaProducer,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=compression_type,
            max_block_ms=int(max_block_s * 1000),
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            allow_auto_create_topics=False,
            **(config or {}),
        )
        _no_auto_create(self._p)
        self._partitions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._closed = False

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)

    def _refusing_sends(self) -> bool:
        return self._closed

    def _partition_count(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            n = self._partitions[topic] = self._t.admin().partition_count(topic)
        return n

    def _enqueue(self, msg: Outgoing) -> DeliveryFuture:
        """Queue one message (see :meth:`Producer.send`); no key, no partition: the client's
        own partitioner picks."""
        topic = msg.topic
        try:
            f = self._p.send(
                topic,
                value=msg.value,
                key=msg.key,
                headers=msg.headers or None,
                partition=msg.partition,
            )
        except kerr.KafkaTimeoutError as exc:
            raise TransportUnavailable(
                f"could not queue a message for {topic} within max_block_s: the buffer is full "
                f"or Kafka at {self._t.bootstrap} is unreachable ({exc})"
            ) from exc
        f.add_errback(self._on_error)
        return _KafkaFuture(f)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every acknowledgement; raise DeliveryError if any send failed."""
        try:
            self._p.flush(timeout=timeout_s)
        except kerr.KafkaTimeoutError as exc:
            raise TimeoutError(f"flush did not complete within {timeout_s} s") from exc
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise DeliveryError(len(errors), errors[0]) from errors[0]

    def close(self, timeout_s: float | None = None) -> None:
        """Flush and close."""
        if self._closed:
            return
        try:
            self.flush(timeout_s)
        finally:
            self._closed = True
            self._p.close(timeout=timeout_s)


# ------------------------------------------------------------------------------------------
# Consumer
# ------------------------------------------------------------------------------------------


class _Listener(AsyncConsumerRebalanceListener):
    """Runs the user's rebalance callbacks on a worker thread while the IO loop awaits them."""

    def __init__(self, consumer: KafkaTransportConsumer) -> None:
        self._c = consumer

    async def _run(self, cb: PartitionCallback | None, tps: Iterable[KTP], revoke: bool) -> None:
        ours = {TopicPartition(tp.topic, tp.partition) for tp in tps}
        if revoke:
            self._c._drop_stash(ours)
        if cb is None or not ours:
            return
        box: dict[str, BaseException] = {}

        def work() -> None:
            try:
                cb(ours)
            except BaseException as exc:
                box["exc"] = exc

        worker = threading.Thread(target=work, name="wisesync-rebalance-callback", daemon=True)
        worker.start()
        net = getattr(self._c._c, "_net", None)
        while worker.is_alive():
            if net is not None:
                await net.sleep(0.005)
            else:  # pragma: no cover - older kafka-python without the IO loop
                worker.join()
        if "exc" in box:
            raise box["exc"]

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._run(self._c._opt.on_revoked, revoked, True)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._run(self._c._opt.on_assigned, assigned, False)

    async def on_partitions_lost(self, lost: Any) -> None:
        await self._run(self._c._opt.on_lost or self._c._opt.on_revoked, lost, True)


class KafkaTransportConsumer(Consumer):
    """A KafkaConsumer group member with manual commits behind the :class:`Consumer` interface."""

    def __init__(
        self,
        transport: KafkaTransport,
        group: str,
        topics: tuple[str, ...],
        options: ConsumerOptions,
        config: Mapping[str, Any],
    ) -> None:
        if not topics:
            raise ValueError("subscribe to at least one topic")
        admin = transport.admin()
        for topic in topics:
            admin.partition_count(topic)
        self._t = transport
        self.group = group
        self.topics = topics
        self._opt = options
        session_ms = int(options.session_timeout_s * 1000)
        self._c = transport.connect(
            KafkaConsumer,
            group_id=group,
            client_id=options.client_id or transport.client_id,
            enable_auto_commit=False,
            auto_offset_reset=options.auto_offset_reset,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=int(options.heartbeat_s * 1000),
            max_poll_interval_ms=int(options.max_poll_interval_s * 1000),
            allow_auto_create_topics=False,
            **config,
        )
        _no_auto_create(self._c)
        self._c.subscribe(list(topics), listener=_Listener(self))
        # Load the topics' metadata before the first join: a group leader that joins without
        # it assigns nothing for the topic (kafka-python logs "No partition metadata") and the
        # group can stay without partitions until the next metadata refresh (minutes).
        for topic in topics:
            self._c.partitions_for_topic(topic)
        self._stash: dict[TopicPartition, deque[Message]] = {}
        self._stash_lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosedError(f"the consumer of group {self.group!r}")

    def _drop_stash(self, tps: set[TopicPartition]) -> None:
        with self._stash_lock:
            for tp in tps:
                self._stash.pop(tp, None)

    @staticmethod
    def _convert(records: Mapping[Any, list[Any]]) -> list[Message]:
        out = []
        for recs in records.values():
            for r in recs:
                out.append(
                    Message(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        list(r.headers or []),
                        r.timestamp,
                    )
                )
        return out

    def _take_stash(self, max_records: int) -> list[Message]:
        out: list[Message] = []
        with self._stash_lock:
            for tp in list(self._stash):
                buf = self._stash[tp]
                while buf and len(out) < max_records:
                    out.append(buf.popleft())
                if not buf:
                    del self._stash[tp]
                if len(out) >= max_records:
                    break
        return out

    def _kpoll(self, timeout_s: float, max_records: int) -> list[Message]:
        try:
            return self._convert(
                self._c.poll(timeout_ms=int(max(0.0, timeout_s) * 1000), max_records=max_records)
            )
        except kerr.RetriableError as exc:
            raise TransportUnavailable(
                f"consumer of group {self.group!r} lost Kafka at {self._t.bootstrap}: {exc}"
            ) from exc

    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        """See :meth:`Consumer.poll`."""
        self._check_open()
        if max_records < 1:
            raise ValueError("max_records must be positive")
        if self._stash:
            out = self._take_stash(max_records)
            if out:
                return out
        return self._kpoll(timeout_s, max_records)

    def wait_for_assignment(self, timeout_s: float = 30.0) -> set[TopicPartition]:
        """Poll (keeping fetched messages for later) until a partition is assigned."""
        self._check_open()
        deadline = time.monotonic() + timeout_s
        while not self._c.assignment() and time.monotonic() < deadline:
            got = self._kpoll(min(0.1, max(0.0, deadline - time.monotonic())), 500)
            with self._stash_lock:
                for m in got:
                    self._stash.setdefault(m.tp, deque()).append(m)
        return self.assignment()

    def assignment(self) -> set[TopicPartition]:
        """Partitions owned right now."""
        return {TopicPartition(tp.topic, tp.partition) for tp in self._c.assignment()}

    def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Synchronous commit, refused for partitions not assigned to this member."""
        self._check_open()
        wanted = {TopicPartition(t, p): int(o) for (t, p), o in offsets.items()}
        if not wanted:
            return
        assigned = self.assignment()
        missing = [tp for tp in wanted if tp not in assigned]
        if missing:
            raise CommitFailedError(self.group, missing, "not assigned to this member")
        try:
            self._c.commit({KTP(*tp): OffsetAndMetadata(o, "", -1) for tp, o in wanted.items()})
        except _FENCED as exc:
            raise CommitFailedError(self.group, wanted, type(exc).__name__) from exc
        except kerr.RetriableError as exc:
            raise TransportUnavailable(
                f"commit for group {self.group!r} did not reach Kafka at {self._t.bootstrap}: "
                f"{exc}; the offsets may or may not be stored, so the work may be redelivered"
            ) from exc

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Next poll reads ``(topic, partition)`` from ``offset``."""
        self._check_open()
        tp = TopicPartition(topic, partition)
        if tp not in self.assignment():
            raise NotAssignedError(self.group, topic, partition, self.assignment())
        if offset < 0:
            raise ValueError("offset must be >= 0")
        self._drop_stash({tp})
        self._c.seek(KTP(topic, partition), offset)

    def close(self) -> None:
        """Run on_revoked, leave the group, close (no automatic commit)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._c.close(autocommit=False)
        except kerr.KafkaError as exc:
            log.warning("consumer of %s closed uncleanly: %s", self.group, exc)


# ------------------------------------------------------------------------------------------
# Admin
# ------------------------------------------------------------------------------------------


class KafkaAdmin(Admin):
    """KafkaAdminClient behind the :class:`Admin` interface."""

    def __init__(self, transport: KafkaTransport) -> None:
        self._t = transport
        self._a = transport.connect(KafkaAdminClient)
        self._lock = threading.Lock()  # one admin request at a time keeps kafka-python happy

    @_translate("create topics")
    def create_topics(
        self, names: Iterable[str], partitions: int | Mapping[str, int] = 1
    ) -> dict[str, int]:
        """Create missing topics with their partition counts (existing ones are left alone)."""
        names = list(names)
        for name in names:
            validate_topic_name(name)
        spec = {}
        for name in names:
            n = partitions[name] if isinstance(partitions, Mapping) else partitions
            if n < 1:
                raise ValueError(f"{name}: a topic needs at least one partition")
            spec[name] = {"num_partitions": n, "replication_factor": self._t.replication_factor}
        if not spec:
            return {}
        with self._lock:
            result = self._a.create_topics(spec, raise_errors=False)
            for topic in result.get("topics", []):
                code = topic.get("error_code", 0)
                if code and kerr.for_code(code) is not kerr.TopicAlreadyExistsError:
                    raise TransportError(
                        f"Kafka at {self._t.bootstrap} refused to create {topic.get('name')}: "
                        f"{kerr.for_code(code).__name__} {topic.get('error_message') or ''}".strip()
                    )
            self._a.wait_for_topics(names, timeout_ms=30_000)
        return {name: self.partition_count(name) for name in names}

    @_translate("describe topic")
    def partition_count(self, topic: str) -> int:
        """Partitions of ``topic``."""
        with self._lock:
            described = self._a.describe_topics([topic])
        for t in described:
            if t.get("name") == topic:
                if t.get("error_code"):
                    raise UnknownTopicError(topic, f"Kafka at {self._t.bootstrap}")
                return len(t.get("partitions") or [])
        raise UnknownTopicError(topic, f"Kafka at {self._t.bootstrap}")

    def _tps(self, topic: str) -> list[KTP]:
        return [KTP(topic, p) for p in range(self.partition_count(topic))]

    @_translate("list offsets")
    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset per partition."""
        tps = self._tps(topic)
        with self._lock:
            res = self._a.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        return {tp.partition: res[tp].offset for tp in tps}

    @_translate("list committed offsets")
    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        """Committed next offset per partition (None if never committed)."""
        tps = self._tps(topic)
        with self._lock:
            res = self._a.list_group_offsets({group: tps}).get(group, {})
        out: dict[int, int | None] = {}
        for tp in tps:
            om = res.get(tp)
            out[tp.partition] = om.offset if om is not None and om.offset >= 0 else None
        return out

    @_translate("look up offsets by time")
    def offsets_for_time(self, topic: str, ts_ms: int) -> dict[int, int]:
        """Earliest offset with timestamp >= ts_ms per partition (end offset if none)."""
        tps = self._tps(topic)
        with self._lock:
            res = self._a.list_partition_offsets({tp: OffsetTimestamp(ts_ms) for tp in tps})
        ends = None
        out = {}
        for tp in tps:
            off = res[tp].offset
            if off is None or off < 0:
                if ends is None:
                    ends = self.end_offsets(topic)
                off = ends[tp.partition]
            out[tp.partition] = off
        return out

    def _members(self, group: str) -> int:
        with self._lock:
            desc = self._a.describe_groups([group]).get(group) or {}
        members = len(desc.get("members") or [])
        state = desc.get("group_state") or ""
        if not members and state not in ("Empty", "Dead", ""):
            members = 1  # rebalancing with members not listed yet
        return members

    @_translate("describe group")
    def group_has_live_members(self, group: str) -> bool:
        """True while the group has members (state not Empty/Dead)."""
        return self._members(group) > 0

    @_translate("reset offsets")
    def reset_offsets(
        self,
        group: str,
        topic: str,
        *,
        to_offset: int | Mapping[int, int] | None = None,
        to_time_ms: int | None = None,
    ) -> dict[int, int]:
        """Overwrite the group's committed offsets (refused while the group has members)."""
        check_reset_args(to_offset, to_time_ms)
        live = self._members(group)
        if live:
            raise GroupActiveError(group, f"reset offsets of {topic}", live)
        ends = self.end_offsets(topic)
        by_time = self.offsets_for_time(topic, to_time_ms) if to_time_ms is not None else None
        targets = resolve_reset_targets(ends, to_offset, by_time)
        with self._lock:
            res = self._a.alter_group_offsets(
                group, {KTP(topic, p): OffsetAndMetadata(o, "", -1) for p, o in targets.items()}
            )
        for tp, err in res.items():
            if err is kerr.NoError:
                continue
            if err in (kerr.UnknownMemberIdError, kerr.RebalanceInProgressError) or (
                err is kerr.NonEmptyGroupError
            ):
                raise GroupActiveError(group, f"reset offsets of {topic}")
            raise TransportError(
                f"reset of {tp.topic}[{tp.partition}] for {group!r} failed: {err.__name__}"
            )
        return targets

    def close(self) -> None:
        """Close the admin client."""
        try:
            self._a.close()
        except Exception as exc:  # closing must not raise
            log.debug("admin close: %s", exc)
