"""The reporter role: results, run manifests and dead letters -> Postgres, exactly once.

It consumes ``wisesync.results.v1``, ``wisesync.runs.v1`` and ``wisesync.dlq.v1`` and,
for each poll, in **one** transaction:

1. locks its stored offsets (``reporter_offsets``) for the polled partitions and drops
   every message below them (a redelivery, a rebalance overlap or a rewind);
2. upserts run manifests (``sync_runs``), inserts each new attempt by result id
   (``attempts``) with its messages (``result_messages``), moves the latest state of
   each record (``records``) forward in time only, inserts dead letters
   (``dead_letters``), and queues a pending acknowledgement (``acknowledgements``) for
   every new ``posted`` / ``skipped_already_posted`` result whose source plugin is
   installed;
3. advances the stored offsets.

Then it commits the offsets to the transport too (a failed commit is harmless: the stored
offsets win) and calls the ``on_result`` observer hook for each newly stored result.
A redelivered message therefore changes nothing: not the rows, not the counts, not the
acknowledgements.

Why the reporter queues acknowledgements instead of the acknowledger consuming the
results topic itself: the reporter already decodes every result exactly once under its
stored offsets, so writing the pending row in the same transaction makes "a posted result
is owed an acknowledgement" exactly-once for free. A second consumer would need its own
group, its own offset store and its own dedupe, and it would have to hold partitions
while a slow source retries; here the acknowledger is a plain work queue over one table
(``FOR UPDATE SKIP LOCKED``), retried with backoff, that any number of processes can
share, and whose state the review reads directly.

Messages that do not decode (or carry the wrong event type for their topic) are not
retried forever: they are stored as dead letters with their original bytes, at their own
topic/partition/offset, and the rest flows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from wisesync.events.codec import Codec
from wisesync.events.errors import EventDecodeError
from wisesync.events.models import DeadLetter, PostingResult, RecordEvent, Status, SyncRun
from wisesync.store.db import Database
from wisesync.transport.base import Message as BusMessage
from wisesync.transport.base import TopicPartition, Transport, next_offsets
from wisesync.transport.errors import CommitFailedError, TransportError
from wisesync.transport.topics import DEFAULT as DEFAULT_TOPICS
from wisesync.transport.topics import Topics

log = logging.getLogger(__name__)

DEFAULT_GROUP = "wisesync-reporter"
#: Result statuses that owe the source an acknowledgement (the record is in the ledger).
ACK_STATUSES = frozenset({Status.POSTED, Status.SKIPPED_ALREADY_POSTED})


@dataclass
class ReporterStats:
    """What a reporter has done since it started (tests, benchmarks, metrics)."""

    polls: int = 0
    messages: int = 0
    skipped: int = 0
    results: int = 0
    duplicates: int = 0
    runs: int = 0
    dead_letters: int = 0
    undecodable: int = 0
    acknowledgements: int = 0
    last_stored_at: datetime | None = None
    hook_errors: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    """One poll, decoded and sorted by kind."""

    results: list[tuple[BusMessage, PostingResult]] = field(default_factory=list)
    runs: list[SyncRun] = field(default_factory=list)
    letters: list[tuple[BusMessage, DeadLetter]] = field(default_factory=list)


class Reporter:
    """Consumes results, run manifests and dead letters and stores them in Postgres.

    Args:
        db: the store.
        transport: where to consume from.
        codec: the event codec (default: a new one).
        group: the consumer group (``config.group_for("reporter")``); its offsets are also
            kept in ``reporter_offsets``.
        registry: the plugin registry, for the ``on_result`` hook and to know which sources
            can acknowledge (default: the process-wide one).
        metrics: a :class:`wisesync.observability.Metrics` (optional).
        ack_sources: source names that get acknowledgement rows (default: every source
            plugin in ``registry``).
        max_records: most messages handled per poll (= per transaction).
        consumer_options: extra :class:`~wisesync.transport.base.ConsumerOptions`.
        topics: the deployment's topic names (``config.topics``: an optional prefix).
    """

    def __init__(
        self,
        db: Database,
        transport: Transport,
        codec: Codec | None = None,
        *,
        group: str = DEFAULT_GROUP,
        registry: Any = None,
        metrics: Any = None,
        ack_sources: Collection[str] | None = None,
        max_records: int = 2000,
        consumer_options: dict[str, Any] | None = None,
        topics: Topics = DEFAULT_TOPICS,
    ):
        self.db = db
        self.transport = transport
        self.codec = codec or Codec()
        self.group = group
        if registry is None:
            from wisesync.plugins import registry as default_registry

            registry = default_registry()
        self.registry = registry
        self.metrics = metrics
        self.ack_sources = frozenset(
            ack_sources if ack_sources is not None else getattr(registry, "sources", {}) or ()
        )
        self.max_records = max_records
        self.stats = ReporterStats()
        self._consumer_options = consumer_options or {}
        self._consumer = None
        self._expected: dict[str, type] = {
            topics.results: PostingResult,
            topics.runs: SyncRun,
            topics.dlq: DeadLetter,
        }
        self.topics = (topics.results, topics.runs, topics.dlq)
        if metrics is not None:
            metrics.watch_lag(transport.admin, group, self.topics)

    # --- the loop -------------------------------------------------------------------

    @property
    def consumer(self):
        """The group member, created on first use."""
        if self._consumer is None:
            self._consumer = self.transport.consumer(
                self.group, list(self.topics), **self._consumer_options
            )
        return self._consumer

    def run_once(self, timeout_s: float = 1.0) -> int:
        """Poll once, store what arrived in one transaction, commit. Returns messages handled
        (including redeliveries that were skipped)."""
        messages = self.consumer.poll(timeout_s, self.max_records)
        if not messages:
            return 0
        new_results = self.store(messages)
        self._commit_transport(messages)
        self._observe(new_results)
        return len(messages)

    def run(self, stop: threading.Event, *, poll_timeout_s: float = 1.0) -> None:
        """Poll until ``stop`` is set; the poll in hand is stored and committed first."""
        try:
            while not stop.is_set():
                self.run_once(poll_timeout_s)
        finally:
            self.close()

    def drain(self, *, idle_s: float = 1.0, timeout_s: float = 60.0) -> int:
        """Join the group, then poll until nothing arrives for ``idle_s`` (tests, tools).

        Returns the messages handled (redeliveries included)."""
        import time

        deadline = time.monotonic() + timeout_s
        self.consumer.wait_for_assignment(timeout_s)
        total = 0
        while time.monotonic() < deadline:
            got = self.run_once(idle_s)
            if not got:
                break
            total += got
        return total

    def close(self) -> None:
        """Leave the group (idempotent)."""
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None

    # --- storing a poll -------------------------------------------------------------

    def store(self, messages: list[BusMessage]) -> list[PostingResult]:
        """Store ``messages`` and advance the stored offsets, in one transaction.

        Returns the results that were new (not stored before). Safe to call again with the
        same messages: everything below the stored offsets is skipped.
        """
        self.stats.polls += 1
        self.stats.messages += len(messages)
        ends = next_offsets(messages)
        with self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            stored = self._lock_offsets(cur, ends)
            fresh = [m for m in messages if m.offset >= stored.get(m.tp, 0)]
            self.stats.skipped += len(messages) - len(fresh)
            batch = self._decode(fresh)
            self._store_runs(cur, batch.runs)
            new_results = self._store_results(cur, batch.results)
            self._store_dead_letters(cur, batch.letters)
            cur.executemany(
                "UPDATE reporter_offsets SET next_offset = GREATEST(next_offset, %s) "
                "WHERE group_id = %s AND topic = %s AND partition = %s",
                [(end, self.group, tp.topic, tp.partition) for tp, end in ends.items()],
            )
        self.stats.last_stored_at = datetime.now(UTC)
        if self.metrics is not None:
            self.metrics.reporter_stored(
                stored=len(new_results),
                skipped=len(messages) - len(fresh),
                dead_letters=len(batch.letters),
            )
        return new_results

    def _lock_offsets(self, cur, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        rows = [(self.group, tp.topic, tp.partition) for tp in sorted(ends)]
        cur.executemany(
            "INSERT INTO reporter_offsets (group_id, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING",
            rows,
        )
        # Row locks, taken in a fixed order: two members that both think they own a
        # partition during a rebalance store its messages one after the other, and the
        # second one skips what the first stored.
        cur.execute(
            """SELECT o.topic, o.partition, o.next_offset
                 FROM reporter_offsets o
                 JOIN unnest(%s::text[], %s::int[]) AS w(topic, partition)
                   ON o.topic = w.topic AND o.partition = w.partition
                WHERE o.group_id = %s
                ORDER BY o.topic, o.partition
                  FOR UPDATE OF o""",
            ([r[1] for r in rows], [r[2] for r in rows], self.group),
        )
        return {TopicPartition(t, p): o for t, p, o in cur.fetchall()}

    def _decode(self, messages: Iterable[BusMessage]) -> _Batch:
        batch = _Batch()
        expected = self._expected
        for msg in messages:
            try:
                obj = self.codec.decode(msg.value)
                want = expected.get(msg.topic)
                if want is not None and not isinstance(obj, want):
                    raise EventDecodeError(
                        f"expected a {want.__name__} on {msg.topic}, got {type(obj).__name__}"
                    )
            except EventDecodeError as exc:
                self.stats.undecodable += 1
                log.warning(
                    "undecodable message %s[%d]@%d stored as a dead letter: %s",
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    exc,
                )
                batch.letters.append((msg, self._letter_for(msg, exc)))
                continue
            if isinstance(obj, PostingResult):
                batch.results.append((msg, obj))
            elif isinstance(obj, SyncRun):
                batch.runs.append(obj)
            elif isinstance(obj, DeadLetter):
                batch.letters.append((msg, obj))
        return batch

    def _letter_for(self, msg: BusMessage, exc: BaseException) -> DeadLetter:
        """A dead letter for a message the reporter itself cannot read."""
        return DeadLetter(
            original_topic=msg.topic,
            original_partition=msg.partition,
            original_offset=msg.offset,
            original_key=msg.key,
            original_value=msg.value,
            error_class=type(exc).__name__,
            error_text=str(exc)[:2000],
            consumer_group=self.group,
            company=msg.key.decode(errors="replace") if msg.key else None,
        )

    # --- runs -------------------------------------------------------------------------

    def _store_runs(self, cur, runs: list[SyncRun]) -> None:
        if not runs:
            return
        self.stats.runs += len(runs)
        cur.executemany(
            """INSERT INTO sync_runs AS s (run_id, company, trigger, requested_by, record_types,
                                          extracted, held, started_at, finished_at, error)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (run_id) DO UPDATE SET
                   record_types = EXCLUDED.record_types,
                   -- a final manifest (finished_at set) is never replaced by an interim one
                   extracted = CASE WHEN s.finished_at IS NOT NULL AND EXCLUDED.finished_at IS NULL
                                    THEN s.extracted ELSE EXCLUDED.extracted END,
                   held = CASE WHEN s.finished_at IS NOT NULL AND EXCLUDED.finished_at IS NULL
                               THEN s.held ELSE EXCLUDED.held END,
                   started_at = LEAST(s.started_at, EXCLUDED.started_at),
                   finished_at = COALESCE(EXCLUDED.finished_at, s.finished_at),
                   error = COALESCE(EXCLUDED.error, s.error)""",
            [
                (
                    r.run_id,
                    r.company,
                    str(r.trigger),
                    r.requested_by,
                    list(r.record_types),
                    Jsonb(dict(r.extracted)),
                    Jsonb(dict(r.held)),
                    r.started_at,
                    r.finished_at,
                    r.error,
                )
                for r in runs
            ],
        )

    # --- results ------------------------------------------------------------------------

    def _store_results(
        self, cur, items: list[tuple[BusMessage, PostingResult]]
    ) -> list[PostingResult]:
        if not items:
            return []
        unique: dict[str, tuple[BusMessage, PostingResult]] = {}
        for msg, result in items:
            unique.setdefault(result.result_id, (msg, result))
        cur.execute("SELECT result_id FROM attempts WHERE result_id = ANY(%s)", (list(unique),))
        existing = {row[0] for row in cur.fetchall()}
        new = [(m, r) for rid, (m, r) in unique.items() if rid not in existing]
        self.stats.duplicates += len(items) - len(new)
        if not new:
            return []
        _bulk(
            cur,
            """INSERT INTO attempts (result_id, record_event_id, run_id, trigger, company,
                   record_type, source, source_id, target, status, document_number, ledger_id,
                   ledger_number, ledger_total, source_total, source_batch_ids, attempt,
                   api_calls, content_hash, finished_at)""",
            ["text"] * 13 + ["numeric", "numeric", "jsonb", "int", "int", "text", "timestamptz"],
            [
                (
                    r.result_id,
                    r.record_event_id,
                    r.run_id,
                    str(r.trigger),
                    r.company,
                    str(r.record_type),
                    r.source,
                    r.source_id,
                    r.target,
                    str(r.status),
                    r.document_number,
                    r.ledger_id,
                    r.ledger_number,
                    r.ledger_total,
                    r.source_total,
                    Jsonb(list(r.source_batch_ids)),
                    r.attempt,
                    r.api_calls,
                    r.content_hash,
                    r.finished_at,
                )
                for _, r in new
            ],
            "ON CONFLICT (result_id) DO NOTHING",
            select="c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, "
            "ARRAY(SELECT jsonb_array_elements_text(c15)), c16, c17, c18, c19",
        )
        message_rows = [
            (r.result_id, i, str(m.severity), m.code, m.text, m.line)
            for _, r in new
            for i, m in enumerate(r.messages)
        ]
        _bulk(
            cur,
            "INSERT INTO result_messages (result_id, idx, severity, code, text, line)",
            ["text", "int", "text", "text", "text", "int"],
            message_rows,
            "ON CONFLICT DO NOTHING",
        )
        self._advance_records(cur, [r for _, r in new])
        acks = [
            (r.result_id, r.company, r.source, str(r.record_type), r.source_id, m.value)
            for m, r in new
            if r.status in ACK_STATUSES and r.source in self.ack_sources
        ]
        _bulk(
            cur,
            """INSERT INTO acknowledgements
                   (result_id, company, source, record_type, source_id, result, state)""",
            ["text", "text", "text", "text", "text", "bytea"],
            acks,
            "ON CONFLICT (result_id) DO NOTHING",
            select="c0, c1, c2, c3, c4, c5, 'pending'",
        )
        self.stats.acknowledgements += len(acks)
        self.stats.results += len(new)
        for _, r in new:
            key = str(r.status)
            self.stats.by_status[key] = self.stats.by_status.get(key, 0) + 1
        return [r for _, r in new]

    def _advance_records(self, cur, results: list[PostingResult]) -> None:
        """Upsert the latest state of each record; an older result never overwrites a newer,
        nor a held one a record in the ledger."""
        newest: dict[tuple[str, str, str, str], PostingResult] = {}
        count: dict[tuple[str, str, str, str], int] = {}
        for r in results:
            key = (r.company, r.source, str(r.record_type), r.source_id)
            count[key] = count.get(key, 0) + 1
            best = newest.get(key)
            if best is None or (_order(r) > _order(best) and not _hides_ledger(r, best)):
                newest[key] = r
        cols = (
            "target",
            "status",
            "document_number",
            "ledger_id",
            "ledger_number",
            "last_result_id",
            "last_run_id",
            "updated_at",
        )
        # a hold from the source (e.g. SOURCE_RECORD_GONE: the record left ConnectWise's
        # unposted list between a run's listing and its export, because it was posted and
        # acknowledged meanwhile) never hides that the ledger has the record
        newer = (
            '(EXCLUDED.updated_at, EXCLUDED.last_result_id COLLATE "C") '
            '> (r.updated_at, r.last_result_id COLLATE "C") '
            f"AND NOT (EXCLUDED.status = '{Status.HELD}' "
            f"AND r.status IN ('{Status.POSTED}', '{Status.SKIPPED_ALREADY_POSTED}'))"
        )
        sets = ",\n".join(f"{c} = CASE WHEN {newer} THEN EXCLUDED.{c} ELSE r.{c} END" for c in cols)
        _bulk(
            cur,
            """INSERT INTO records AS r (company, source, record_type, source_id, target, status,
                   document_number, ledger_id, ledger_number, last_result_id, last_run_id,
                   attempts, updated_at)""",
            ["text"] * 11 + ["int", "timestamptz"],
            [
                (
                    *key,
                    r.target,
                    str(r.status),
                    r.document_number,
                    r.ledger_id,
                    r.ledger_number,
                    r.result_id,
                    r.run_id,
                    count[key],
                    r.finished_at,
                )
                for key, r in newest.items()
            ],
            f"""ON CONFLICT (company, source, record_type, source_id) DO UPDATE SET
                    attempts = r.attempts + EXCLUDED.attempts,
                    {sets}""",
        )

    # --- dead letters -------------------------------------------------------------------

    def _store_dead_letters(self, cur, letters: list[tuple[BusMessage, DeadLetter]]) -> None:
        if not letters:
            return
        rows = []
        for msg, letter in letters:
            run_id = record_type = source_id = None
            event_id = letter.record_event_id
            company = letter.company
            try:
                original = self.codec.decode(letter.original_value)
            except EventDecodeError:
                original = None
            if isinstance(original, RecordEvent):
                run_id, record_type, source_id = (
                    original.run_id or None,
                    str(original.record_type),
                    original.source_id,
                )
                event_id = event_id or original.event_id
                company = company or original.company
            rows.append(
                (
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    letter.original_topic,
                    letter.original_partition,
                    letter.original_offset,
                    company,
                    event_id,
                    letter.error_class,
                    letter.error_text,
                    letter.consumer_group,
                    letter.first_seen,
                    letter.original_key,
                    letter.original_value,
                    run_id,
                    record_type,
                    source_id,
                )
            )
        cur.executemany(
            """INSERT INTO dead_letters (topic, partition, "offset", original_topic,
                   original_partition, original_offset, company, record_event_id, error_class,
                   error_text, consumer_group, first_seen, original_key, original_value, run_id,
                   record_type, source_id)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)
               ON CONFLICT (topic, partition, "offset") DO NOTHING""",
            rows,
        )
        self.stats.dead_letters += len(rows)

    # --- after the transaction ---------------------------------------------------------

    def _commit_transport(self, messages: list[BusMessage]) -> None:
        try:
            self.consumer.commit_messages(messages)
        except CommitFailedError as exc:
            # The rows and the stored offsets are durable; the new owner skips them.
            log.info("reporter commit refused after a rebalance (harmless): %s", exc)
        except TransportError as exc:
            log.warning("reporter commit did not reach the transport (harmless): %s", exc)

    def _observe(self, results: list[PostingResult]) -> None:
        if not results:
            return
        hook = getattr(getattr(self.registry, "manager", None), "hook", None)
        if hook is None:
            return
        from wisesync.plugins import notify

        for result in results:
            self.stats.hook_errors += notify(hook.on_result, result=result)


def _bulk(
    cur: Any,
    head: str,
    types: list[str],
    rows: list[tuple],
    tail: str = "",
    *,
    select: str | None = None,
) -> None:
    """``head SELECT ... FROM unnest(column arrays) tail``: all rows in one statement.

    ``types`` are the Postgres types of the columns (named c0, c1, ... for ``select``).
    """
    if not rows:
        return
    names = [f"c{i}" for i in range(len(types))]
    arrays = ", ".join(f"%b::{t}[]" for t in types)
    cur.execute(
        f"{head} SELECT {select or ', '.join(names)} "
        f"FROM unnest({arrays}) AS u({', '.join(names)}) {tail}",
        [list(column) for column in zip(*rows, strict=True)],
    )


def _hides_ledger(newer: PostingResult, older: PostingResult) -> bool:
    """A held result after one that says the ledger has the record (see _advance_records)."""
    return newer.status is Status.HELD and older.status in ACK_STATUSES


def _order(result: PostingResult) -> tuple[datetime, str]:
    """Which of two results of one record is newer: finish time, then result id."""
    return (result.finished_at, result.result_id)
