"""Retention for the embedded transport: prune the log, never what a group has not read.

The embedded log (``transport_log``) is append-only, so without pruning it grows forever.
:func:`prune` deletes, per topic partition, the oldest rows when both hold:

- the row is older than the retention (``transport.retention``, default 7 days; its
  ``timestamp_ms`` is the producer's clock), and
- every consumer group that reads the topic has committed past it. A group reads a topic
  when it ever committed on any of its partitions, or has a live member subscribed to it
  now; a reader that never committed on this partition holds it at offset 0. A partition
  nobody reads keeps everything.

Like Kafka's log-start offset, only a prefix of each partition is removed (up to the first
row that is still young or still unread), so the remaining log stays contiguous. A group
rewound or starting before the first remaining offset reads from the first remaining row.

:class:`RetentionLoop` runs it periodically inside ``wisesync run`` (``wisesync.daemon``).
Several processes may prune at once: a transaction-level advisory lock lets one work and
the others skip that pass.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from wisesync.transport.embedded import EmbeddedTransport
from wisesync.transport.errors import TransportError

__all__ = ["DEFAULT_INTERVAL_S", "PruneStats", "RetentionLoop", "prune"]

log = logging.getLogger(__name__)

#: How often ``wisesync run`` prunes (seconds).
DEFAULT_INTERVAL_S = 600.0
#: Rows deleted per transaction, so a first prune of a large log holds no long locks.
DEFAULT_CHUNK = 10_000

_LOCK_KEY = "wisesync_transport_retention"

# Lowest offset every reader of the topic has committed on this partition (NULL: no reader).
_FLOOR_SQL = """
WITH readers AS (
    SELECT group_id FROM transport_offsets WHERE topic = %(topic)s
    UNION
    SELECT m.group_id FROM transport_members m
    WHERE %(topic)s = ANY(m.topics) AND m.lease_until > clock_timestamp()
)
SELECT min(COALESCE(o.next_offset, 0))
FROM readers r
LEFT JOIN transport_offsets o
    ON o.group_id = r.group_id AND o.topic = %(topic)s AND o.partition = %(partition)s
"""


@dataclass
class PruneStats:
    """What one :func:`prune` pass did: rows deleted per ``(topic, partition)``."""

    deleted: dict[tuple[str, int], int] = field(default_factory=dict)
    skipped: bool = False  # another process held the retention lock

    @property
    def total(self) -> int:
        """Rows deleted in all partitions."""
        return sum(self.deleted.values())


def prune(
    transport: EmbeddedTransport,
    retention_s: float,
    *,
    now_ms: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    stop: threading.Event | None = None,
) -> PruneStats:
    """Delete log rows older than ``retention_s`` that every reading group has committed past.

    ``now_ms`` is the clock to measure age against (default: this machine's, the clock the
    producers stamp rows with). ``retention_s <= 0`` keeps everything. ``stop`` ends the pass
    between chunks.
    """
    stats = PruneStats()
    if retention_s <= 0:
        return stats
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff_ms = now_ms - int(retention_s * 1000)
    with transport.connection() as conn:
        parts = conn.execute(
            "SELECT topic, partition FROM transport_partitions ORDER BY topic, partition"
        ).fetchall()
    for topic, partition in parts:
        if stop is not None and stop.is_set():
            break
        n = _prune_partition(transport, topic, partition, cutoff_ms, chunk, stop)
        if n is None:
            stats.skipped = True
            break
        if n:
            stats.deleted[(topic, partition)] = n
    return stats


def _prune_partition(
    transport: EmbeddedTransport,
    topic: str,
    partition: int,
    cutoff_ms: int,
    chunk: int,
    stop: threading.Event | None,
) -> int | None:
    """Delete the prunable prefix of one partition, ``chunk`` rows per transaction.

    Returns the rows deleted, or None when another process holds the retention lock.
    """
    deleted = 0
    key = {"topic": topic, "partition": partition}
    while stop is None or not stop.is_set():
        with transport.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (_LOCK_KEY,))
            if not got.fetchone()[0]:
                return None
            floor = conn.execute(_FLOOR_SQL, key).fetchone()[0]
            if floor is None:  # nobody reads this topic: keep what it holds
                return deleted
            start = conn.execute(
                "SELECT min(log_offset) FROM transport_log WHERE topic = %s AND partition = %s",
                (topic, partition),
            ).fetchone()[0]
            if start is None or start >= floor:
                return deleted
            upto = min(floor, start + chunk)
            young = conn.execute(
                "SELECT log_offset FROM transport_log WHERE topic = %s AND partition = %s "
                "AND log_offset >= %s AND log_offset < %s AND timestamp_ms >= %s "
                "ORDER BY log_offset LIMIT 1",
                (topic, partition, start, upto, cutoff_ms),
            ).fetchone()
            boundary = young[0] if young else upto
            if boundary > start:
                cur = conn.execute(
                    "DELETE FROM transport_log WHERE topic = %s AND partition = %s "
                    "AND log_offset >= %s AND log_offset < %s",
                    (topic, partition, start, boundary),
                )
                deleted += cur.rowcount
        if young is not None or boundary >= floor:
            return deleted
    return deleted


class RetentionLoop:
    """Prunes the embedded log every ``interval_s`` in a daemon thread until ``stop`` is set.

    The first pass runs at once. A failed pass is logged and retried at the next interval:
    retention never stops the service.
    """

    def __init__(
        self,
        transport: EmbeddedTransport,
        retention_s: float,
        stop: threading.Event,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.transport = transport
        self.retention_s = retention_s
        self.stop = stop
        self.interval_s = interval_s
        self.passes = 0
        self.deleted = 0
        self._thread = threading.Thread(target=self._run, name="wisesync-retention", daemon=True)

    def start(self) -> RetentionLoop:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the thread to end (after ``stop`` is set)."""
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                stats = prune(self.transport, self.retention_s, stop=self.stop)
            except TransportError as exc:
                log.warning("embedded transport retention pass failed: %s", exc)
            except Exception:
                log.exception("embedded transport retention pass failed")
            else:
                self.passes += 1
                self.deleted += stats.total
                if stats.total:
                    log.info(
                        "embedded transport retention: deleted %d message(s) older than %ss "
                        "in %d partition(s)",
                        stats.total,
                        self.retention_s,
                        len(stats.deleted),
                    )
            self.stop.wait(self.interval_s)
