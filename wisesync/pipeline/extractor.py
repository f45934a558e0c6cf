"""The extractor role: source plugins -> ``wisesync.records.v1`` + a run manifest.

A sync of one company runs under an overlap lock (a Postgres advisory lock), so
a scheduled sync and a manual Sync All of the same company never run at the same
time, across processes. Records the source holds back (billing-status hold) are
reported as ``held`` results straight away, so every record the source saw has
an answer in the review.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime

from wisesync.config import AppConfig, CompanyConfig
from wisesync.errors import WisesyncError
from wisesync.events.codec import Codec
from wisesync.events.models import (
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
from wisesync.pipeline.journal import Journal
from wisesync.plugins import Registry
from wisesync.protocols import Held, PluginRuntime, Source
from wisesync.requestlog.context import request_context
from wisesync.store.db import Database, advisory_lock_key
from wisesync.store.options import OptionsStore
from wisesync.store.state import plugin_state
from wisesync.transport.base import Producer, Transport

log = logging.getLogger(__name__)


#: Records checked against the posting journal at a time (see :meth:`Extractor._unowned`).
CHECK_BATCH = 200
#: The first check covers this many records; each next one twice as many, up to
#: :data:`CHECK_BATCH`: the first records are published as soon as they are read (the
#: poster starts on them while the export goes on), at a few more journal queries per run.
FIRST_CHECK_BATCH = 1

#: Messages sent between two waits for the transport's acknowledgement. The Kafka client
#: buffers what it has not delivered without a bound: a sync extracting faster than the
#: broker acknowledges held its whole backlog in memory (the daemon's RSS grew with it,
#: #15 item 4); flushing every so often keeps at most this many in memory.
FLUSH_EVERY = 1000


class SyncInProgress(WisesyncError):
    """Another sync of the same company is running."""


class Extractor:
    """Runs syncs: extract from sources, publish records, held results and the manifest."""

    def __init__(
        self,
        *,
        config: AppConfig,
        registry: Registry,
        db: Database,
        transport: Transport,
        codec: Codec | None = None,
        runtime: PluginRuntime | None = None,
        producer: Producer | None = None,
    ):
        self.config = config
        self.registry = registry
        self.db = db
        self.codec = codec or Codec()
        self.runtime = runtime or PluginRuntime(config=config, db=db)
        self._producer = producer or transport.producer()
        self.topics = config.topics
        self._sources: dict[str, Source] = {}
        self._journal = Journal(db)
        #: records left to the acknowledger (:meth:`_unowned`), by run id
        self.skipped_awaiting_ack: dict[str, int] = {}
        self._unflushed = 0

    def source(self, name: str) -> Source:
        """The instance of source ``name``."""
        if name not in self._sources:
            self._sources[name] = self.registry.source(name)(self.runtime)
        return self._sources[name]

    def sync(
        self,
        company: CompanyConfig,
        record_types: Collection[RecordType] | None = None,
        *,
        trigger: Trigger = Trigger.SCHEDULE,
        requested_by: str = "wisesync",
        since: datetime | None = None,
        source_ids: dict[RecordType, Collection[str]] | None = None,
        attempts: dict[tuple[str, str], int] | None = None,
        run_id: str | None = None,
        on_record: Callable[[RecordEvent | Held], None] | None = None,
    ) -> SyncRun:
        """Extract and publish one company's unposted records; return the manifest.

        ``source_ids`` limits extraction to those records per type (replay), and
        ``attempts`` gives their attempt numbers by (record type, source id).
        Raises SyncInProgress when a sync of the company is already running.
        """
        if self.db is not None:  # options set on the console's Options page
            company = OptionsStore(self.db).effective(company)
        types = list(record_types or company.record_types)
        run = SyncRun(
            run_id=run_id or new_id(),
            company=company.key,
            trigger=trigger,
            requested_by=requested_by,
            record_types=[str(t) for t in types],
            extracted={str(t): 0 for t in types},
            held={},
        )
        with self._overlap_lock(company.key):
            try:
                by_source: dict[str, list[RecordType]] = defaultdict(list)
                for t in types:
                    by_source[company.source_for(t)].append(t)
                for source_name, source_types in by_source.items():
                    source = self.source(source_name)
                    wanted = [t for t in source_types if t in source.record_types]
                    ids = None
                    if source_ids is not None:
                        ids = [i for t in wanted for i in source_ids.get(t, ())]
                        if not ids:
                            continue
                    with request_context(company.key, source_name, run_id=run.run_id):
                        items = source.extract(company, wanted, since, ids)
                        if trigger is not Trigger.REPLAY:
                            items = self._unowned(items, run)
                        for item in items:
                            self._publish(run, item, attempts or {})
                            if on_record is not None:
                                on_record(item)
            except WisesyncError as exc:
                run.error = str(exc)
                raise
            finally:
                run.finished_at = utcnow()
                self._producer.send(
                    self.topics.runs,
                    company.key.encode(),
                    self.codec.encode(run),
                    self.codec.headers(run),
                )
                self._producer.flush()
        return run

    def _unowned(
        self, items: Iterable[RecordEvent | Held], run: SyncRun
    ) -> Iterator[RecordEvent | Held]:
        """``items`` without the records the acknowledger owns: posted with the same content
        and not yet marked posted at the source (they are unposted there until then, so
        every sync would publish them again; under a crash loop that cost one result, one
        acknowledgement row and one source look-up per record per restart). Checked in
        batches growing from :data:`FIRST_CHECK_BATCH` to :data:`CHECK_BATCH`; held items
        pass straight through."""
        batch: list[RecordEvent] = []
        size = [FIRST_CHECK_BATCH]

        def drain() -> Iterator[RecordEvent]:
            owned = self._journal.awaiting_acknowledgement(batch)
            if owned:
                self.skipped_awaiting_ack[run.run_id] = self.skipped_awaiting_ack.get(
                    run.run_id, 0
                ) + len(owned)
                log.info(
                    "%s: %d record(s) already posted and awaiting acknowledgement at the "
                    "source are left to the acknowledger, not published again",
                    run.company,
                    len(owned),
                )
            yield from (e for e in batch if e.identity not in owned)
            batch.clear()
            size[0] = min(CHECK_BATCH, 2 * size[0])

        for item in items:
            if isinstance(item, Held):
                yield item
                continue
            batch.append(item)
            if len(batch) >= size[0]:
                yield from drain()
        if batch:
            yield from drain()

    def _publish(
        self, run: SyncRun, item: RecordEvent | Held, attempts: dict[tuple[str, str], int]
    ) -> None:
        self._unflushed += 1
        if self._unflushed >= FLUSH_EVERY:
            self._unflushed = 0
            self._producer.flush()
        if isinstance(item, Held):
            key = str(item.record_type)
            run.held[key] = run.held.get(key, 0) + 1
            result = PostingResult(
                record_event_id=new_id(),
                run_id=run.run_id,
                trigger=run.trigger,
                company=run.company,
                record_type=item.record_type,
                source="",
                source_id=item.source_id,
                target="",
                status=Status.HELD,
                document_number=item.document_number,
                messages=[message(item.code, item.text)],
            )
            result.source = self.config.company(run.company).source_for(item.record_type)
            result.target = self.config.company(run.company).target_for(item.record_type)
            self._producer.send(
                self.topics.results,
                run.company.encode(),
                self.codec.encode(result),
                self.codec.headers(result),
            )
            return
        item.run_id = run.run_id
        item.trigger = run.trigger
        item.attempt = attempts.get((str(item.record_type), item.source_id), item.attempt)
        run.extracted[str(item.record_type)] = run.extracted.get(str(item.record_type), 0) + 1
        self._producer.send(
            self.topics.records, item.key, self.codec.encode(item), self.codec.headers(item)
        )

    def _overlap_lock(self, company: str):
        return _AdvisoryTryLock(
            self.db,
            f"wisesync-extract:{company}",
            f"a sync of company {company!r} is already running; wait for "
            "it to finish (wisesync results shows its progress)",
        )

    def close(self) -> None:
        """Flush and close the producer."""
        self._producer.close()


class _AdvisoryTryLock:
    """A session-level Postgres advisory lock, taken without waiting."""

    def __init__(self, db: Database, name: str, busy_message: str):
        self.db, self.key, self.busy_message = db, advisory_lock_key(name), busy_message
        self._cm = None

    def __enter__(self) -> None:
        self._cm = self.db.connection()
        conn = self._cm.__enter__()
        conn.autocommit = True
        (ok,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not ok:
            conn.autocommit = False
            self._cm.__exit__(None, None, None)
            raise SyncInProgress(self.busy_message)
        self._conn = conn

    def __exit__(self, *exc: object) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._conn.autocommit = False
        self._cm.__exit__(None, None, None)


class Scheduler:
    """Runs each enabled company's sync every ``interval_seconds`` (the daemon's extractor).

    When a company was last synced is kept in Postgres (``plugin_state``, plugin
    ``wisesync.schedule``, key ``last_sync_at``, stored when a sync has published its
    manifest), so the schedule survives restarts: a daemon started again does not sync a
    company whose interval has not run out since. A sync a crash cut short stores nothing,
    so the next start syncs the company again.
    """

    #: The ``plugin_state`` name the schedule keeps its last-run times under.
    STATE = "wisesync.schedule"
    KEY = "last_sync_at"

    def __init__(self, extractor: Extractor, config: AppConfig):
        self.extractor = extractor
        self.config = config
        self._next: dict[str, float] = {}
        self._state = plugin_state(extractor.db, self.STATE)

    def due_in(self, company: CompanyConfig) -> float:
        """Seconds until ``company`` is due by its stored last sync (0: due now)."""
        stored = self._state.get(company.key, self.KEY)
        if not stored:
            return 0.0
        try:
            last = datetime.fromisoformat(stored)
        except ValueError:
            log.warning("ignoring an unreadable last sync time of %s: %r", company.key, stored)
            return 0.0
        elapsed = (utcnow() - last).total_seconds()
        return max(0.0, company.interval_seconds - max(0.0, elapsed))

    def tick(self, now: float | None = None) -> list[SyncRun]:
        """Run every company whose time has come; returns the runs started."""
        now = time.monotonic() if now is None else now
        runs = []
        for company in self.config.companies:
            if not company.enabled:
                continue
            if company.key not in self._next:  # first look: the stored schedule decides
                self._next[company.key] = now + self.due_in(company)
            if now < self._next[company.key]:
                continue
            self._next[company.key] = now + company.interval_seconds
            try:
                run = self.extractor.sync(
                    company, trigger=Trigger.SCHEDULE, requested_by="schedule"
                )
            except SyncInProgress as exc:
                log.info("%s", exc)
                continue
            except WisesyncError as exc:
                log.error("scheduled sync of %s failed: %s", company.key, exc)
                continue
            self._state.set(company.key, self.KEY, run.started_at.isoformat())
            runs.append(run)
        return runs

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            self.tick()
            stop.wait(1.0)
