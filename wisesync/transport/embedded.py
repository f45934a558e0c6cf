"""The embedded transport: Kafka's log semantics stored in Postgres (psycopg 3).

Tables (migration ``0002_embedded_transport.sql``): ``transport_topics`` / ``transport_partitions``
(partition count, next offset per partition), ``transport_log`` (the append-only log keyed by
topic, partition, offset), ``transport_members`` (group members with a lease renewed by
heartbeat), ``transport_owners`` (which member owns a partition), ``transport_offsets``
(committed offsets).

- **Produce**: a background writer batches sends (``linger_ms``, ``batch_max_records``); one
  transaction per batch locks the partition rows in a fixed order, advances ``next_offset``,
  COPYs the rows and NOTIFYs ``wisesync_transport`` with ``d:<topic>``. Offsets are dense and
  become visible in order because writers of one partition are serialised by its row lock.
- **Groups**: a member is alive while its lease (database clock) is in the future. Every member
  computes the same range assignment from the live members; it releases what it should no
  longer own (after ``on_revoked``) and claims what it should own only when no live member
  holds it, so a partition never has two live owners. Joins and leaves NOTIFY ``g:<group>`` so
  others rebalance at once; a dead member is noticed when its lease runs out.
- **Fencing**: a commit checks, in the same transaction, that this member's lease is valid and
  that it owns the partitions (row locks), so a member that lost its partitions cannot
  overwrite the new owner's offsets.
- **Consume**: fetches in batches per owned partition (binary protocol) into a local buffer and
  waits on LISTEN when idle.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

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
    CommitFailedError,
    DatabaseUnavailable,
    DeliveryError,
    FencedInstanceError,
    GroupActiveError,
    NotAssignedError,
    SchemaMissing,
    TransportClosedError,
    TransportError,
    UnknownTopicError,
)
from wisesync.transport.naming import validate_topic_name

__all__ = ["EmbeddedTransport", "describe_dsn", "range_assign"]

log = logging.getLogger(__name__)

CHANNEL = "wisesync_transport"

_COPY_SQL = (
    "COPY transport_log (topic, partition, log_offset, timestamp_ms, key, value, "
    "header_names, header_values) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ["text", "int4", "int8", "int8", "bytea", "bytea", "text[]", "bytea[]"]

_FETCH_SQL = """
SELECT l.topic, l.partition, l.log_offset, l.timestamp_ms, l.key, l.value,
       l.header_names, l.header_values
FROM unnest(%s::text[], %s::int4[], %s::int8[]) AS p(topic, partition, pos)
CROSS JOIN LATERAL (
    SELECT * FROM transport_log t
    WHERE t.topic = p.topic AND t.partition = p.partition AND t.log_offset >= p.pos
    ORDER BY t.log_offset
    LIMIT %s
) AS l
"""

_LIVE = "m.lease_until > clock_timestamp()"
#: Between a static member's instance id and the part that changes at each join.
_INSTANCE_SEP = "~"


def describe_dsn(dsn: str) -> str:
    """``user@host:port/dbname`` for messages: never the password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparseable DSN)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    user = parts.get("user") or ""
    db = parts.get("dbname") or user or "?"
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


class EmbeddedTransport(Transport):
    """Producers, consumers and admin over one Postgres database.

    ``dsn``: libpq connection string. ``pool``: an existing psycopg_pool ConnectionPool to share
    (it must not use autocommit); otherwise one is opened with ``pool_max_size`` connections.
    ``connect_timeout_s``: how long to wait for the database at start.
    """

    kind = "embedded"

    def __init__(
        self,
        dsn: str,
        *,
        pool: ConnectionPool | None = None,
        pool_max_size: int = 10,
        connect_timeout_s: float = 10.0,
        client_id: str = "wisesync",
    ) -> None:
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.client_id = client_id
        self._own_pool = pool is None
        self.pool = pool or ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_max_size,
            open=False,
            name="wisesync-transport",
            kwargs={"application_name": "wisesync-transport"},
        )
        self._closed = False
        self._partitions: dict[str, int] = {}
        self._admin: EmbeddedAdmin | None = None
        if self._own_pool:
            try:
                self.pool.open(wait=True, timeout=connect_timeout_s)
            except PoolTimeout:
                self.pool.close()
                raise DatabaseUnavailable(self.where, _why_unreachable(dsn)) from None
        try:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT to_regclass('transport_log'), to_regclass('transport_owners')"
                ).fetchone()
        except psycopg.OperationalError as exc:
            self.close()
            raise DatabaseUnavailable(self.where, str(exc).strip().splitlines()[0]) from None
        if row is None or None in row:
            self.close()
            raise SchemaMissing(self.where)

    # -- factory ----------------------------------------------------------------------------
    def producer(self, **opts: Any) -> EmbeddedProducer:
        """A producer. Options: ``linger_ms`` (5), ``batch_max_records`` (2000),
        ``batch_max_bytes`` (8 MiB), ``buffer_max_records`` (50000, send blocks beyond)."""
        self._check_open()
        return EmbeddedProducer(self, **opts)

    def consumer(self, group: str, topics: Sequence[str], **opts: Any) -> EmbeddedConsumer:
        """A group member; options are :class:`ConsumerOptions` plus ``fetch_max_records``
        and ``instance_id`` (static membership, see :class:`EmbeddedConsumer`)."""
        self._check_open()
        fetch_max = int(opts.pop("fetch_max_records", 500))
        instance_id = opts.pop("instance_id", None)
        options = ConsumerOptions.from_opts(opts)
        return EmbeddedConsumer(
            self,
            group,
            tuple(topics),
            options,
            fetch_max_records=fetch_max,
            instance_id=instance_id,
        )

    def admin(self) -> EmbeddedAdmin:
        """The shared admin."""
        self._check_open()
        if self._admin is None:
            self._admin = EmbeddedAdmin(self)
        return self._admin

    def close(self) -> None:
        """Close the pool if this transport opened it."""
        if self._closed:
            return
        self._closed = True
        if self._own_pool:
            self.pool.close()

    # -- shared helpers ---------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosedError("the embedded transport")

    def partitions_of(self, topic: str, *, refresh: bool = False) -> int:
        """Partition count of ``topic`` (cached; UnknownTopicError if absent)."""
        n = None if refresh else self._partitions.get(topic)
        if n is None:
            with self.connection() as conn:
                row = conn.execute(
                    "SELECT partitions FROM transport_topics WHERE topic = %s", (topic,)
                ).fetchone()
            if row is None:
                raise UnknownTopicError(topic, f"the embedded transport ({self.where})")
            n = self._partitions[topic] = row[0]
        return n

    @contextlib.contextmanager
    def connection(self) -> Any:
        """A pooled connection in a transaction (committed on success), with errors typed."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise DatabaseUnavailable(self.where, "no connection available from the pool") from None
        except PoolClosed:
            raise TransportClosedError("the embedded transport") from None
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(self.where, str(exc).strip().splitlines()[0]) from exc


def _why_unreachable(dsn: str) -> str:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return "timed out"
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# ------------------------------------------------------------------------------------------
# Producer
# ------------------------------------------------------------------------------------------


class _Pending(DeliveryFuture):
    """One queued message; also its delivery future."""

    __slots__ = ("error", "headers", "key", "meta", "partition", "producer", "topic", "ts", "value")

    def __init__(self, producer, topic, partition, key, value, headers, ts):
        self.producer = producer
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.ts = ts
        self.meta: RecordMetadata | None = None
        self.error: BaseException | None = None

    def done(self) -> bool:
        """True once stored or failed."""
        return self.meta is not None or self.error is not None

    def result(self, timeout_s: float | None = None) -> RecordMetadata:
        """Wait for the write; raise DeliveryError if it failed."""
        cond = self.producer._cond
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with cond:
            while not self.done():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"message to {self.topic} not stored within {timeout_s} s")
                cond.wait(left)
        if self.error is not None:
            raise DeliveryError(1, self.error) from self.error
        assert self.meta is not None
        return self.meta


class EmbeddedProducer(Producer):
    """Batches sends and appends them to ``transport_log`` from one writer thread."""

    def __init__(
        self,
        transport: EmbeddedTransport,
        *,
        linger_ms: float = 5.0,
        batch_max_records: int = 2000,
        batch_max_bytes: int = 8 * 1024 * 1024,
        buffer_max_records: int = 50_000,
    ) -> None:
        self._t = transport
        self._linger = linger_ms / 1000.0
        self._batch_max = batch_max_records
        self._batch_bytes = batch_max_bytes
        self._buffer_max = buffer_max_records
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._inflight = 0
        self._flushers = 0
        self._errors: list[BaseException] = []
        self._failed = 0
        self._closing = False
        self._closed = False
        self._rr = itertools.count(random.randrange(1 << 16))
        self._thread = threading.Thread(
            target=self._run, name="wisesync-embedded-producer", daemon=True
        )
        self._thread.start()

    def _refusing_sends(self) -> bool:
        return self._closing

    def _partition_count(self, topic: str) -> int:
        return self._t.partitions_of(topic)

    def _enqueue(self, msg: Outgoing) -> DeliveryFuture:
        """Queue one message (see :meth:`Producer.send`); no key, no partition: round robin."""
        partition = msg.partition
        if partition is None:
            partition = next(self._rr) % msg.partitions
        if not isinstance(msg.value, bytes | bytearray | memoryview):
            raise TypeError("value must be bytes (encode events before sending)")
        pending = _Pending(
            self, msg.topic, partition, msg.key, msg.value, msg.headers, int(time.time() * 1000)
        )
        with self._cond:
            while len(self._queue) >= self._buffer_max and not self._closing:
                self._cond.wait(0.1)
            self._queue.append(pending)
            if len(self._queue) == 1 or len(self._queue) >= self._batch_max:
                self._cond.notify_all()
        return pending

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until all queued messages are written; raise DeliveryError for failures."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            self._flushers += 1
            self._cond.notify_all()
            try:
                while self._queue or self._inflight:
                    if not self._thread.is_alive():
                        raise TransportError("the embedded producer's writer thread died")
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(
                            f"flush: {len(self._queue) + self._inflight} message(s) still "
                            f"unwritten after {timeout_s} s"
                        )
                    self._cond.wait(left if left is not None else 1.0)
            finally:
                self._flushers -= 1
            errors, failed = self._errors, self._failed
            self._errors, self._failed = [], 0
        if errors:
            raise DeliveryError(failed, errors[0]) from errors[0]

    def close(self, timeout_s: float | None = None) -> None:
        """Flush and stop the writer thread."""
        if self._closed:
            return
        try:
            self.flush(timeout_s)
        finally:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join(timeout_s)
            self._closed = True

    # -- writer thread ----------------------------------------------------------------------
    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            if len(self._queue) < self._batch_max and not self._flushers and not self._closing:
                self._cond.wait(self._linger)
            batch: list[_Pending] = []
            size = 0
            while self._queue and len(batch) < self._batch_max and size < self._batch_bytes:
                p = self._queue.popleft()
                batch.append(p)
                size += len(p.value) + (len(p.key) if p.key else 0)
            self._inflight = len(batch)
            self._cond.notify_all()  # wake senders blocked on a full buffer
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                metas = self._write(batch)
            except Exception as exc:  # every failure goes to the futures and to flush()
                log.warning("embedded producer: %d message(s) not written: %s", len(batch), exc)
                with self._cond:
                    for p in batch:
                        p.error = exc
                    self._errors.append(exc)
                    self._failed += len(batch)
                    self._inflight = 0
                    self._cond.notify_all()
                continue
            with self._cond:
                for p, meta in zip(batch, metas, strict=True):
                    p.meta = meta
                self._inflight = 0
                self._cond.notify_all()

    def _write(self, batch: list[_Pending]) -> list[RecordMetadata]:
        counts: dict[tuple[str, int], int] = {}
        for p in batch:
            k = (p.topic, p.partition)
            counts[k] = counts.get(k, 0) + 1
        keys = sorted(counts)
        with self._t.connection() as conn:
            # Lock the partition rows in a fixed order (no deadlock between producers), then
            # reserve offsets; the locks are held until commit so offsets appear in order.
            rows = conn.execute(
                "SELECT topic, partition, next_offset FROM transport_partitions "
                "WHERE (topic, partition) IN (SELECT * FROM unnest(%s::text[], %s::int4[])) "
                "ORDER BY topic, partition FOR UPDATE",
                ([k[0] for k in keys], [k[1] for k in keys]),
            ).fetchall()
            base = {(t, p): off for t, p, off in rows}
            missing = [k for k in keys if k not in base]
            if missing:
                raise UnknownTopicError(missing[0][0], f"the embedded transport ({self._t.where})")
            conn.execute(
                "UPDATE transport_partitions AS tp SET next_offset = tp.next_offset + v.n "
                "FROM unnest(%s::text[], %s::int4[], %s::int8[]) AS v(topic, partition, n) "
                "WHERE tp.topic = v.topic AND tp.partition = v.partition",
                ([k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys]),
            )
            nxt = dict(base)
            metas: list[RecordMetadata] = []
            with conn.cursor() as cur, cur.copy(_COPY_SQL) as copy:
                copy.set_types(_COPY_TYPES)
                for p in batch:
                    k = (p.topic, p.partition)
                    off = nxt[k]
                    nxt[k] = off + 1
                    copy.write_row(
                        (
                            p.topic,
                            p.partition,
                            off,
                            p.ts,
                            p.key,
                            bytes(p.value),
                            [h[0] for h in p.headers],
                            [bytes(h[1]) for h in p.headers],
                        )
                    )
                    metas.append(RecordMetadata(p.topic, p.partition, off, p.ts))
            for topic in sorted({k[0] for k in keys}):
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "d:" + topic))
        return metas


# ------------------------------------------------------------------------------------------
# Consumer
# ------------------------------------------------------------------------------------------


def range_assign(
    members: Sequence[tuple[str, Sequence[str]]], partitions: Mapping[str, int]
) -> dict[str, set[TopicPartition]]:
    """Kafka's range assignor: per topic, contiguous partition ranges over the sorted members
    subscribed to it (the first ``n % m`` members get one extra)."""
    out: dict[str, set[TopicPartition]] = {m: set() for m, _ in members}
    for topic in sorted(partitions):
        subs = sorted(m for m, topics in members if topic in topics)
        if not subs:
            continue
        n = partitions[topic]
        per, extra = divmod(n, len(subs))
        start = 0
        for i, m in enumerate(subs):
            count = per + (1 if i < extra else 0)
            out[m].update(TopicPartition(topic, p) for p in range(start, start + count))
            start += count
    return out


class EmbeddedConsumer(Consumer):
    """A consumer-group member over Postgres (see the module docstring)."""

    def __init__(
        self,
        transport: EmbeddedTransport,
        group: str,
        topics: tuple[str, ...],
        options: ConsumerOptions,
        *,
        fetch_max_records: int = 500,
        instance_id: str | None = None,
    ) -> None:
        if not topics:
            raise ValueError("subscribe to at least one topic")
        self._t = transport
        self._instance = instance_id
        self.group = group
        self.topics = topics
        self._opt = options
        self._fetch_max = fetch_max_records
        for topic in topics:
            transport.partitions_of(topic, refresh=True)
        self._client_id = options.client_id or transport.client_id
        self._member_id: str | None = None
        self._owned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._fetch_pos: dict[TopicPartition, int] = {}
        self._buffers: dict[TopicPartition, deque[Message]] = {}
        self._rr = 0
        self._sync_due = 0.0
        self._data_hint = True
        self._fenced_member: str | None = None
        self._last_poll = time.monotonic()
        self._closed = False
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self._listen = self._connect_listener()

    # -- public API -------------------------------------------------------------------------
    def assignment(self) -> set[TopicPartition]:
        """Partitions owned right now."""
        return set(self._owned)

    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        """See :meth:`Consumer.poll`."""
        self._check_open()
        if max_records < 1:
            raise ValueError("max_records must be positive")
        self._last_poll = time.monotonic()
        deadline = self._last_poll + max(0.0, timeout_s)
        while True:
            self._drain_notifications()
            if self._member_id is None or time.monotonic() >= self._sync_due or self._fenced():
                self._sync()
            out = self._take(max_records)
            if out:
                return out
            if self._owned and self._data_hint:
                self._fetch()
                out = self._take(max_records)
                if out:
                    return out
            now = time.monotonic()
            if now >= deadline:
                return []
            self._wait(min(deadline, self._sync_due) - now)

    def wait_for_assignment(self, timeout_s: float = 30.0) -> set[TopicPartition]:
        """Join and wait until a partition is assigned (no records are consumed)."""
        self._check_open()
        deadline = time.monotonic() + timeout_s
        while True:
            self._last_poll = time.monotonic()
            self._drain_notifications()
            if self._member_id is None or time.monotonic() >= self._sync_due or self._fenced():
                self._sync()
            now = time.monotonic()
            if self._owned or now >= deadline:
                return set(self._owned)
            self._wait(min(deadline, self._sync_due) - now)

    def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit ``{(topic, partition): next_offset}``, fenced by ownership and lease."""
        self._check_open()
        items = [(TopicPartition(t, p), int(o)) for (t, p), o in offsets.items()]
        if not items:
            return
        not_owned = [tp for tp, _ in items if tp not in self._owned]
        if not_owned:
            raise CommitFailedError(self.group, not_owned, "not assigned to this member")
        for tp, off in items:
            if off < 0:
                raise ValueError(f"offset for {tp} must be >= 0")
        member = self._member_id
        topics = [tp.topic for tp, _ in items]
        parts = [tp.partition for tp, _ in items]
        with self._t.connection() as conn:
            alive = conn.execute(
                "SELECT 1 FROM transport_members m WHERE m.group_id = %s AND m.member_id = %s "
                f"AND {_LIVE} FOR SHARE",
                (self.group, member),
            ).fetchone()
            if alive is None:
                conn.rollback()
                self._fenced_member = member
                raise CommitFailedError(
                    self.group, [tp for tp, _ in items], "this member's session expired"
                )
            held = conn.execute(
                "SELECT topic, partition FROM transport_owners WHERE group_id = %s "
                "AND member_id = %s AND (topic, partition) IN "
                "(SELECT * FROM unnest(%s::text[], %s::int4[])) FOR SHARE",
                (self.group, member, topics, parts),
            ).fetchall()
            lost = {tp for tp, _ in items} - {TopicPartition(t, p) for t, p in held}
            if lost:
                conn.rollback()
                raise CommitFailedError(self.group, lost, "another member owns them now")
            conn.execute(
                "INSERT INTO transport_offsets (group_id, topic, partition, next_offset) "
                "SELECT %s, * FROM unnest(%s::text[], %s::int4[], %s::int8[]) "
                "ON CONFLICT (group_id, topic, partition) DO UPDATE "
                "SET next_offset = EXCLUDED.next_offset, committed_at = clock_timestamp()",
                (self.group, topics, parts, [o for _, o in items]),
            )

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Read ``(topic, partition)`` from ``offset`` on the next poll."""
        self._check_open()
        tp = TopicPartition(topic, partition)
        if tp not in self._owned:
            raise NotAssignedError(self.group, topic, partition, self._owned)
        if offset < 0:
            raise ValueError("offset must be >= 0")
        self._positions[tp] = self._fetch_pos[tp] = offset
        self._buffers[tp].clear()
        self._data_hint = True

    def close(self) -> None:
        """Run on_revoked, release partitions and membership, notify the group."""
        if self._closed:
            return
        member = self._member_id
        try:
            if member is not None and self._owned:
                self._callback(self._opt.on_revoked, set(self._owned))  # may still commit
        finally:
            self._closed = True
            self._hb_stop.set()
            if self._hb_thread is not None:
                self._hb_thread.join(5)
        try:
            if member is not None:
                with self._t.connection() as conn:
                    conn.execute(
                        "DELETE FROM transport_owners WHERE group_id = %s AND member_id = %s",
                        (self.group, member),
                    )
                    conn.execute(
                        "DELETE FROM transport_members WHERE group_id = %s AND member_id = %s",
                        (self.group, member),
                    )
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "g:" + self.group))
        except TransportError as exc:
            log.warning(
                "consumer of %s left without cleanup (lease will expire): %s", self.group, exc
            )
        finally:
            self._owned.clear()
            self._member_id = None
            with contextlib.suppress(Exception):
                self._listen.close()

    # -- membership -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosedError(f"the consumer of group {self.group!r}")

    def _fenced(self) -> bool:
        return self._member_id is not None and self._fenced_member == self._member_id

    def _lease_sql(self) -> str:
        return "clock_timestamp() + %s * interval '1 millisecond'"

    def _join(self) -> None:
        member = f"{self._client_id}-{uuid.uuid4().hex[:16]}"
        if self._instance:
            member = f"{self._instance}{_INSTANCE_SEP}{uuid.uuid4().hex[:16]}"
        with self._t.connection() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", ("transport_group:" + self.group,)
            )
            if self._instance:
                # static membership: this instance's earlier member (killed, its lease still
                # running) is replaced at once, and its partitions are free to claim
                for table in ("transport_owners", "transport_members"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE group_id = %s AND starts_with(member_id, %s)",
                        (self.group, self._instance + _INSTANCE_SEP),
                    )
            conn.execute(
                "INSERT INTO transport_members (group_id, member_id, client_id, topics, lease_until) "
                f"VALUES (%s, %s, %s, %s, {self._lease_sql()})",
                (self.group, member, self._client_id, list(self.topics), self._session_ms()),
            )
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "g:" + self.group))
        self._member_id = member
        if self._hb_thread is None:
            self._hb_thread = threading.Thread(
                target=self._heartbeat_loop, name=f"wisesync-heartbeat-{self.group}", daemon=True
            )
            self._hb_thread.start()

    def _check_not_replaced(self) -> None:
        """With an instance id: raise :class:`FencedInstanceError` when another process
        joined under it (rejoining would fence that one in turn, and so on)."""
        if not self._instance:
            return
        with self._t.connection() as conn:
            other = conn.execute(
                "SELECT member_id FROM transport_members WHERE group_id = %s "
                "AND starts_with(member_id, %s) AND member_id <> %s LIMIT 1",
                (self.group, self._instance + _INSTANCE_SEP, self._member_id),
            ).fetchone()
        if other is not None:
            raise FencedInstanceError(
                f"another process joined consumer group {self.group!r} as instance "
                f"{self._instance!r} and took this one's partitions; give each process that "
                "runs the same role on one host its own id (wisesync run --instance-id)"
            )

    def _session_ms(self) -> int:
        return int(self._opt.session_timeout_s * 1000)

    def _renew(self, conn: psycopg.Connection, member: str) -> bool:
        cur = conn.execute(
            f"UPDATE transport_members m SET lease_until = {self._lease_sql()} "
            f"WHERE m.group_id = %s AND m.member_id = %s AND {_LIVE}",
            (self._session_ms(), self.group, member),
        )
        return cur.rowcount == 1

    def _heartbeat_loop(self) -> None:
        warned = False
        while not self._hb_stop.wait(self._opt.heartbeat_s):
            member = self._member_id
            if member is None:
                continue
            if time.monotonic() - self._last_poll > self._opt.max_poll_interval_s:
                if not warned:
                    log.warning(
                        "consumer of group %s did not poll for %.0f s (max_poll_interval_s); "
                        "its partitions will move to other members",
                        self.group,
                        self._opt.max_poll_interval_s,
                    )
                    warned = True
                continue
            warned = False
            try:
                with self._t.connection() as conn:
                    if not self._renew(conn, member):
                        self._fenced_member = member
            except TransportError as exc:
                log.warning("heartbeat for group %s failed: %s", self.group, exc)

    def _sync(self, _retry: bool = True) -> None:
        """Rebalance step: renew the lease, drop dead members, release and claim partitions."""
        if self._member_id is None:
            self._join()
        member = self._member_id
        assert member is not None
        with self._t.connection() as conn:
            alive = self._renew(conn, member)
            if alive:
                conn.execute(
                    "DELETE FROM transport_owners o WHERE o.group_id = %s AND NOT EXISTS ("
                    "SELECT 1 FROM transport_members m WHERE m.group_id = o.group_id "
                    f"AND m.member_id = o.member_id AND {_LIVE})",
                    (self.group,),
                )
                conn.execute(
                    "DELETE FROM transport_members m WHERE m.group_id = %s "
                    "AND m.lease_until <= clock_timestamp()",
                    (self.group,),
                )
                live = conn.execute(
                    "SELECT member_id, topics FROM transport_members WHERE group_id = %s",
                    (self.group,),
                ).fetchall()
                held = {
                    TopicPartition(t, p)
                    for t, p in conn.execute(
                        "SELECT topic, partition FROM transport_owners "
                        "WHERE group_id = %s AND member_id = %s",
                        (self.group, member),
                    ).fetchall()
                }
                wanted_topics = sorted({t for _, ts in live for t in ts})
                counts = dict(
                    conn.execute(
                        "SELECT topic, partitions FROM transport_topics WHERE topic = ANY(%s)",
                        (wanted_topics,),
                    ).fetchall()
                )
        if not alive:
            self._check_not_replaced()
            lost = set(self._owned)
            log.warning("consumer of group %s lost its session; rejoining", self.group)
            self._forget(lost)
            self._callback(self._opt.on_lost or self._opt.on_revoked, lost)
            self._member_id = None
            if _retry:
                self._sync(_retry=False)
            return
        desired = range_assign(live, counts).get(member, set())
        stolen = self._owned - held
        if stolen:  # should not happen while alive; be safe
            self._forget(stolen)
            self._callback(self._opt.on_lost or self._opt.on_revoked, stolen)
        revoke = self._owned - desired
        if revoke:
            self._callback(self._opt.on_revoked, set(revoke))
        claim = desired - self._owned
        claimed: set[TopicPartition] = set()
        with self._t.connection() as conn:
            if revoke:
                conn.execute(
                    "DELETE FROM transport_owners WHERE group_id = %s AND member_id = %s AND "
                    "(topic, partition) IN (SELECT * FROM unnest(%s::text[], %s::int4[]))",
                    (
                        self.group,
                        member,
                        [tp.topic for tp in revoke],
                        [tp.partition for tp in revoke],
                    ),
                )
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "g:" + self.group))
            if claim:
                got = conn.execute(
                    "INSERT INTO transport_owners AS o (group_id, topic, partition, member_id) "
                    "SELECT %s, c.topic, c.partition, %s "
                    "FROM unnest(%s::text[], %s::int4[]) AS c(topic, partition) "
                    "ON CONFLICT (group_id, topic, partition) DO UPDATE "
                    "SET member_id = EXCLUDED.member_id, since = clock_timestamp() "
                    "WHERE o.member_id = EXCLUDED.member_id OR NOT EXISTS ("
                    "  SELECT 1 FROM transport_members m WHERE m.group_id = o.group_id "
                    f"  AND m.member_id = o.member_id AND {_LIVE}) "
                    "RETURNING o.topic, o.partition",
                    (
                        self.group,
                        member,
                        [tp.topic for tp in claim],
                        [tp.partition for tp in claim],
                    ),
                ).fetchall()
                claimed = {TopicPartition(t, p) for t, p in got}
                if claimed:
                    starts = self._start_offsets(conn, claimed)
        self._forget(revoke)
        if claimed:
            for tp in claimed:
                self._owned.add(tp)
                self._positions[tp] = self._fetch_pos[tp] = starts[tp]
                self._buffers[tp] = deque()
            self._data_hint = True
            self._callback(self._opt.on_assigned, set(claimed))
        pending = bool(claim - claimed)
        # Retry soon while a partition we should own is still held by its previous owner.
        self._sync_due = time.monotonic() + (
            min(0.2, self._opt.heartbeat_s) if pending else self._opt.heartbeat_s
        )

    def _start_offsets(
        self, conn: psycopg.Connection, tps: set[TopicPartition]
    ) -> dict[TopicPartition, int]:
        topics = [tp.topic for tp in tps]
        parts = [tp.partition for tp in tps]
        rows = conn.execute(
            "SELECT c.topic, c.partition, o.next_offset, p.next_offset "
            "FROM unnest(%s::text[], %s::int4[]) AS c(topic, partition) "
            "JOIN transport_partitions p ON p.topic = c.topic AND p.partition = c.partition "
            "LEFT JOIN transport_offsets o ON o.group_id = %s AND o.topic = c.topic "
            "AND o.partition = c.partition",
            (topics, parts, self.group),
        ).fetchall()
        out = {}
        for t, p, committed, end in rows:
            if committed is not None:
                out[TopicPartition(t, p)] = committed
            else:
                out[TopicPartition(t, p)] = 0 if self._opt.auto_offset_reset == "earliest" else end
        return out

    def _forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in list(tps):
            self._owned.discard(tp)
            self._positions.pop(tp, None)
            self._fetch_pos.pop(tp, None)
            self._buffers.pop(tp, None)

    def _callback(self, cb: PartitionCallback | None, tps: set[TopicPartition]) -> None:
        if cb is not None and tps:
            cb(tps)

    # -- fetching ---------------------------------------------------------------------------
    def _fetch(self) -> None:
        tps = [tp for tp in sorted(self._owned) if not self._buffers[tp]]
        if not tps:
            return
        with self._t.connection() as conn, conn.cursor(binary=True) as cur:
            cur.execute(
                _FETCH_SQL,
                (
                    [tp.topic for tp in tps],
                    [tp.partition for tp in tps],
                    [self._fetch_pos[tp] for tp in tps],
                    self._fetch_max,
                ),
            )
            rows = cur.fetchall()
        full = False
        per: dict[TopicPartition, int] = {}
        for topic, part, off, ts, key, value, hnames, hvalues in rows:
            tp = TopicPartition(topic, part)
            buf = self._buffers.get(tp)
            if buf is None:
                continue
            buf.append(
                Message(topic, part, off, key, value, list(zip(hnames, hvalues, strict=True)), ts)
            )
            self._fetch_pos[tp] = off + 1
            per[tp] = per.get(tp, 0) + 1
        full = any(n >= self._fetch_max for n in per.values())
        self._data_hint = full

    def _take(self, max_records: int) -> list[Message]:
        ready = [tp for tp in sorted(self._buffers) if self._buffers[tp]]
        if not ready:
            return []
        out: list[Message] = []
        start = self._rr % len(ready)
        self._rr += 1
        for tp in ready[start:] + ready[:start]:
            buf = self._buffers[tp]
            while buf and len(out) < max_records:
                out.append(buf.popleft())
            if out and out[-1].tp == tp:
                self._positions[tp] = out[-1].offset + 1
            if len(out) >= max_records:
                break
        if any(not self._buffers[tp] for tp in ready):
            self._data_hint = True
        return out

    # -- notifications ----------------------------------------------------------------------
    def _connect_listener(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self._t.dsn, autocommit=True, application_name="wisesync-listen")
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(self._t.where, str(exc).strip().splitlines()[0]) from None
        return conn

    def _handle(self, payload: str) -> None:
        kind, _, name = payload.partition(":")
        if kind == "d" and name in self.topics:
            self._data_hint = True
        elif kind == "g" and name == self.group:
            self._sync_due = 0.0

    def _drain_notifications(self) -> None:
        self._wait(0.0)

    def _wait(self, timeout_s: float) -> None:
        try:
            gen = self._listen.notifies(timeout=max(0.0, timeout_s), stop_after=1)
            for n in gen:
                self._handle(n.payload)
            if timeout_s > 0:  # collect whatever else arrived in the same packet(s)
                for n in self._listen.notifies(timeout=0.0):
                    self._handle(n.payload)
        except psycopg.OperationalError as exc:
            log.warning("LISTEN connection lost (%s); reconnecting", exc)
            with contextlib.suppress(Exception):
                self._listen.close()
            time.sleep(min(max(timeout_s, 0.0), 1.0))
            try:
                self._listen = self._connect_listener()
            except DatabaseUnavailable as again:
                log.warning("%s", again)
            self._data_hint = True
            self._sync_due = 0.0


# ------------------------------------------------------------------------------------------
# Admin
# ------------------------------------------------------------------------------------------


class EmbeddedAdmin(Admin):
    """Topic and group administration in Postgres."""

    def __init__(self, transport: EmbeddedTransport) -> None:
        self._t = transport

    def create_topics(
        self, names: Iterable[str], partitions: int | Mapping[str, int] = 1
    ) -> dict[str, int]:
        """Create the topics that do not exist; return every topic's partition count."""
        out: dict[str, int] = {}
        names = list(names)
        for name in names:
            validate_topic_name(name)
        with self._t.connection() as conn:
            for name in names:
                n = partitions[name] if isinstance(partitions, Mapping) else partitions
                if n < 1:
                    raise ValueError(f"{name}: a topic needs at least one partition")
                created = conn.execute(
                    "INSERT INTO transport_topics (topic, partitions) VALUES (%s, %s) "
                    "ON CONFLICT (topic) DO NOTHING RETURNING partitions",
                    (name, n),
                ).fetchone()
                if created:
                    conn.execute(
                        "INSERT INTO transport_partitions (topic, partition) "
                        "SELECT %s, generate_series(0, %s - 1)",
                        (name, n),
                    )
                    out[name] = n
                else:
                    row = conn.execute(
                        "SELECT partitions FROM transport_topics WHERE topic = %s", (name,)
                    ).fetchone()
                    out[name] = row[0]
        self._t._partitions.update(out)
        return out

    def partition_count(self, topic: str) -> int:
        """Partitions of ``topic``."""
        return self._t.partitions_of(topic, refresh=True)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset per partition."""
        with self._t.connection() as conn:
            rows = conn.execute(
                "SELECT partition, next_offset FROM transport_partitions WHERE topic = %s",
                (topic,),
            ).fetchall()
        if not rows:
            raise UnknownTopicError(topic, f"the embedded transport ({self._t.where})")
        return dict(rows)

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        """Committed next offset per partition (None if never committed)."""
        with self._t.connection() as conn:
            rows = conn.execute(
                "SELECT p.partition, o.next_offset FROM transport_partitions p "
                "LEFT JOIN transport_offsets o ON o.group_id = %s AND o.topic = p.topic "
                "AND o.partition = p.partition WHERE p.topic = %s",
                (group, topic),
            ).fetchall()
        if not rows:
            raise UnknownTopicError(topic, f"the embedded transport ({self._t.where})")
        return dict(rows)

    def offsets_for_time(self, topic: str, ts_ms: int) -> dict[int, int]:
        """Earliest offset with timestamp >= ts_ms per partition (end offset if none)."""
        with self._t.connection() as conn:
            rows = conn.execute(
                "SELECT p.partition, COALESCE((SELECT min(l.log_offset) FROM transport_log l "
                "WHERE l.topic = p.topic AND l.partition = p.partition AND l.timestamp_ms >= %s),"
                " p.next_offset) FROM transport_partitions p WHERE p.topic = %s",
                (ts_ms, topic),
            ).fetchall()
        if not rows:
            raise UnknownTopicError(topic, f"the embedded transport ({self._t.where})")
        return dict(rows)

    def _live_members(self, conn: psycopg.Connection, group: str) -> int:
        row = conn.execute(
            f"SELECT count(*) FROM transport_members m WHERE m.group_id = %s AND {_LIVE}",
            (group,),
        ).fetchone()
        return int(row[0]) if row else 0

    def group_has_live_members(self, group: str) -> bool:
        """True while a member's lease is valid."""
        with self._t.connection() as conn:
            return self._live_members(conn, group) > 0

    def reset_offsets(
        self,
        group: str,
        topic: str,
        *,
        to_offset: int | Mapping[int, int] | None = None,
        to_time_ms: int | None = None,
    ) -> dict[int, int]:
        """Overwrite the group's committed offsets (refused while members are alive)."""
        check_reset_args(to_offset, to_time_ms)
        ends = self.end_offsets(topic)
        by_time = self.offsets_for_time(topic, to_time_ms) if to_time_ms is not None else None
        targets = resolve_reset_targets(ends, to_offset, by_time)
        with self._t.connection() as conn:
            # Same lock as a joining member: nobody can join between the check and the write.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", ("transport_group:" + group,)
            )
            live = self._live_members(conn, group)
            if live:
                conn.rollback()
                raise GroupActiveError(group, f"reset offsets of {topic}", live)
            conn.execute(
                "INSERT INTO transport_offsets (group_id, topic, partition, next_offset) "
                "SELECT %s, %s, * FROM unnest(%s::int4[], %s::int8[]) "
                "ON CONFLICT (group_id, topic, partition) DO UPDATE "
                "SET next_offset = EXCLUDED.next_offset, committed_at = clock_timestamp()",
                (group, topic, list(targets), list(targets.values())),
            )
        return targets

    def close(self) -> None:
        """Nothing to release (the pool belongs to the transport)."""
