"""The poster role: records topic -> target plugins -> results topic, exactly once in effect.

For each poll it decodes the records (undecodable ones go to the dead-letter
topic), groups them by (company, target) and hands each group to that company's
lane (:mod:`wisesync.pipeline.lanes`) without waiting: every company is posted by
its own worker, so a company waiting on its ledger's limits, or on a slow or failed
ledger, delays no other company, whatever partitions they share. A lane that is
full (or a poster whose memory budget is spent) spills the group to the durable
backlog (:mod:`wisesync.pipeline.backlog`), which the lane posts from later.

A lane posts a batch under the company's posting lock, in chunks of the target's
batch size (one record type per chunk, so a ledger with an endpoint per type
needs one call per chunk; up to the target's declared concurrency of chunks at
once):

1. reads the posting journal (posted -> re-emit the stored result, no API call);
2. reconciles ``claimed`` rows with ``find_existing``;
3. validates (error messages fail the record without an API call);
4. claims, posts, records the outcomes, emits the results.

The consumer loop commits a partition's offset only up to its oldest record that is
neither answered (journaled, result flushed) nor stored in the backlog
(:class:`~wisesync.pipeline.lanes.OffsetTracker`). Each company stays within its
target's declared limits, so a result never carries a 429. A ledger's daily limit
parks the company's records in Postgres until the reset; they are re-published
then, and fail nothing meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from wisesync.config import AppConfig, CompanyConfig
from wisesync.errors import (
    AuthError,
    ConfigError,
    DailyLimitReached,
    RateLimited,
    RemoteUnavailable,
)
from wisesync.events.codec import Codec, record_route, route_headers
from wisesync.events.errors import EventDecodeError
from wisesync.events.models import (
    DeadLetter,
    PostingResult,
    RecordEvent,
    Status,
    Trigger,
    new_id,
    utcnow,
)
from wisesync.messages import Message, Severity, has_errors, message
from wisesync.pipeline.backlog import QUEUED, Backlog
from wisesync.pipeline.journal import FAILED, POSTED, Journal, PostingLockLost
from wisesync.pipeline.lanes import Key, Lanes, OffsetTracker
from wisesync.pipeline.outcomes import failed, merge_messages, result_for
from wisesync.pipeline.targets import TargetPool
from wisesync.plugins import Registry
from wisesync.protocols import PluginRuntime, Target, TargetContext
from wisesync.requestlog.context import request_context
from wisesync.store.db import Database
from wisesync.store.options import OptionsStore
from wisesync.transport.base import Message as BusMessage
from wisesync.transport.base import Transport
from wisesync.transport.errors import CommitFailedError

log = logging.getLogger(__name__)

#: Test hook for the crash-proofing tests (``tests/integration/test_crash_*.py``), never set
#: in production: ``WISESYNC_CRASH_AT=<point>[:<n>]`` makes the process exit at once with
#: ``os._exit(137)`` (as ``kill -9`` would: no cleanup, no flush, no commit) the n-th time
#: (default: the first) any poster thread reaches ``<point>``, one of :data:`CRASH_POINTS`.
#: Read once, when the :class:`Poster` is built.
CRASH_ENV = "WISESYNC_CRASH_AT"
#: Where the hook can fire: after the journal claim (nothing posted), after the ledger
#: answered (nothing recorded), after the journal recorded the outcomes (no result sent),
#: after the results were sent and flushed (offsets not committed, or backlog rows not
#: deleted).
CRASH_POINTS = ("after_claim", "after_post", "after_record", "after_emit")


def _crash_spec(value: str | None) -> tuple[str, int] | None:
    """Parse ``WISESYNC_CRASH_AT`` (``point`` or ``point:n``); None when unset."""
    if not value:
        return None
    point, _, nth = value.partition(":")
    if point not in CRASH_POINTS:
        raise ValueError(f"{CRASH_ENV}={value!r}: the point must be one of {CRASH_POINTS}")
    return point, int(nth or 1)


#: How long a company's records wait out a ledger outage, and how often it is tried meanwhile.
OUTAGE_WAIT_S = 3600.0
OUTAGE_RETRY_S = 120.0
#: Companies one poster posts at the same time unless ``[poster] workers`` says otherwise.
WORKERS = 32
#: The shortest pause of an outage; each pause is as long as the outage so far, up to
#: ``outage_retry_s``.
OUTAGE_FIRST_RETRY_S = 30.0


def _first(*values: float | None) -> float:
    """The first value that is set."""
    return next(float(v) for v in values if v is not None)


#: The ``parked_records.reason`` of records set aside while a write may be in flight.
IN_FLIGHT = "in flight"


@dataclass
class PosterStats:
    """Counters a poster keeps (exported as metrics, read by tests and benchmarks)."""

    results: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead_letters: int = 0
    reemitted: int = 0
    reconciled: int = 0
    parked: int = 0
    set_aside: int = 0
    batches: int = 0
    #: records stored in the backlog because their lane (or the poster's memory) was full
    spilled: int = 0

    def count(self, result: PostingResult) -> None:
        self.results[str(result.status)] += 1


class _Poison(Exception):
    """One record made the plugin raise unexpectedly."""


class Poster:
    """Consumes ``wisesync.records.v1`` and posts through target plugins.

    Args:
        retry_delays: seconds to wait before re-trying a chunk whose ledger was
            unavailable (5xx, timeouts, 429s beyond the limiter); after the last, the
            company waits out the outage (below).
        outage_wait_s: how long a company's records wait out a ledger outage after the
            retries: they are parked and held (LEDGER_OUTAGE_WAITING), the company paused,
            and tried again after pauses as long as the outage so far (30 s to
            ``outage_retry_s``); once the outage lasted this long they
            fail with LEDGER_UNAVAILABLE (their journal rows stay ``claimed``, so a replay
            reconciles first). 0: fail after the retries. Default: ``[poster] outage_wait``
            in the config, else :data:`OUTAGE_WAIT_S`.
        outage_retry_s: the longest a waiting company pauses between tries of its ledger
            (each pause is as long as the outage so far, at least
            :data:`OUTAGE_FIRST_RETRY_S`; default: ``[poster]
            outage_retry``, else :data:`OUTAGE_RETRY_S`).
        workers: companies posted at the same time (lanes with a running worker; each
            holds a Postgres session for its company's posting lock while it posts).
            Default: ``[poster] workers`` in the config, else :data:`WORKERS`.
        chunk_workers: chunks of one company posted at the same time (at most its
            target's ``limits.concurrency``).
        linger_s: after a message, wait this long for the next one: while records keep
            coming (a sync being extracted) a poll goes on filling its batches, up to
            ``max_records`` or ``max_linger_s`` in all.
        in_flight_s: how old a ``claimed`` journal row must be before the poster asks the
            ledger about it (default: ``[poster] in_flight`` in the config, else the
            target's ``limits.in_flight_s``); see :mod:`wisesync.pipeline.journal`.
        max_records: most records in one poll. Each poll's batches end with a partial one
            per company and record type, a call each: a backlog drained in polls of 500
            invoices with 5% credit memos took 71 Xero calls per 3,000 instead of 66.
        lane_records: most records one company's lane holds in memory (default
            ``max_records``); more go to the backlog.
        max_in_hand: most records all lanes hold in memory (default ``max_records``; a
            decoded record takes about 6 KiB): the poster's memory does not grow with the
            backlog on the topic.
    """

    def __init__(
        self,
        *,
        config: AppConfig,
        registry: Registry,
        db: Database,
        transport: Transport,
        codec: Codec | None = None,
        runtime: PluginRuntime | None = None,
        group: str | None = None,
        workers: int | None = None,
        chunk_workers: int = 8,
        linger_s: float = 0.1,
        max_linger_s: float = 1.0,
        max_records: int = 2000,
        lane_records: int | None = None,
        max_in_hand: int | None = None,
        retry_delays: tuple[float, ...] = (2.0, 10.0, 30.0),
        outage_wait_s: float | None = None,
        outage_retry_s: float | None = None,
        in_flight_s: float | None = None,
        consumer_options: dict[str, Any] | None = None,
        metrics: Any = None,
    ):
        self.config = config
        self.companies = {c.key: c for c in config.companies}
        self.db = db
        self.transport = transport
        self.codec = codec or Codec()
        self.runtime = runtime or PluginRuntime(config=config, db=db)
        self.pool = TargetPool(registry, self.runtime)
        self.journal = Journal(db)
        self.group = group or config.group_for("poster")
        self.topics = config.topics
        self.linger_s = linger_s
        self.max_linger_s = max(linger_s, max_linger_s)
        self.max_records = max_records
        self.retry_delays = retry_delays
        self.outage_wait_s = _first(outage_wait_s, config.poster_outage_wait_s, OUTAGE_WAIT_S)
        self.outage_retry_s = _first(outage_retry_s, config.poster_outage_retry_s, OUTAGE_RETRY_S)
        #: (company, target) -> when its ledger first failed past the retries (monotonic)
        self._outage_since: dict[Key, float] = {}
        self.in_flight_s = in_flight_s if in_flight_s is not None else config.poster_in_flight_s
        self.metrics = metrics
        self.stats = PosterStats()
        self._chunk_workers = max(1, chunk_workers)
        self.backlog = Backlog(db)
        self.lanes = Lanes(
            lambda key, items: self._post_lane(key, items),
            self._load_backlog,
            max_lanes=int(_first(workers, config.poster_workers, WORKERS)),
            lane_records=lane_records or max_records,
            max_in_hand=max_in_hand or max_records,
        )
        self.offsets = OffsetTracker()
        self._last_adopt: float | None = None
        #: (company, target) -> the records-topic partition its records last came from
        self._partition_of: dict[Key, int] = {}
        #: the records-topic partitions assigned at the last poll (read by the lanes)
        self._assigned: frozenset[int] = frozenset()
        self._stats_lock = threading.Lock()
        #: (company, target) -> (until, code, text): a daily limit or an outage
        self._paused: dict[tuple[str, str], tuple[datetime, str, str]] = {}
        #: records this poster claimed and has not recorded an outcome for yet: a claim of
        #: its own is waited out here, another poster's set aside (_set_aside_in_flight)
        self._claimed_here: set[tuple] = set()
        self._consumer_options = consumer_options or {}
        self._consumer = None
        self._producer = transport.producer()
        self._last_release = 0.0
        self._crash_at = _crash_spec(os.environ.get(CRASH_ENV))
        self._crash_seen = 0
        self._crash_lock = threading.Lock()

    # --- the loop -------------------------------------------------------------------

    @property
    def consumer(self):
        """The group member, created on first use."""
        if self._consumer is None:
            self._consumer = self.transport.consumer(
                self.group, [self.topics.records], **self._consumer_options
            )
        return self._consumer

    def poll_once(self, timeout_s: float = 1.0) -> int:
        """Poll, hand the records to their companies' lanes, commit what is answered or
        stored. Returns the messages polled."""
        self._raise_lane_errors()
        self.release_parked()
        self.adopt_backlogs()
        messages = self.consumer.poll(timeout_s, self.max_records)
        self._assigned = frozenset(
            tp.partition for tp in self.consumer.assignment() if tp.topic == self.topics.records
        )
        if messages:
            # Partial batches cost a call each: while records keep arriving, keep filling.
            last = time.monotonic()
            stop = last + self.max_linger_s
            while len(messages) < self.max_records:
                wait = min(last + self.linger_s, stop) - time.monotonic()
                if wait <= 0:
                    break
                more = self.consumer.poll(wait, self.max_records - len(messages))
                if not more:
                    break
                messages.extend(more)
                last = time.monotonic()
            self.dispatch(messages)
        self.commit()
        return len(messages)

    def commit(self) -> None:
        """Flush the results of what the lanes answered, then commit every partition up to
        its oldest record still in a lane."""
        answered = self.offsets.take_answered()
        if answered:
            self._producer.flush()
            self._crash_point("after_emit")
            self.offsets.settle(answered)
        offsets = self.offsets.committable()
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
            self.offsets.committed(offsets)
        except CommitFailedError as exc:
            # The group rebalanced while these records were in hand (e.g. this member's
            # session ran out during a broker outage): the partitions' owner redelivers from
            # the last commit, and the journal answers every redelivered record with its
            # stored result, no API call. Keep polling; dying here would stop the service.
            log.info("poster commit refused after a rebalance (redelivered): %s", exc)
            self.offsets.forget(set(offsets) - self.consumer.assignment())

    def run(self, stop: threading.Event, *, poll_timeout_s: float = 1.0) -> None:
        """Poll until ``stop`` is set; the batches in hand are finished and committed."""
        try:
            while not stop.is_set():
                self.poll_once(poll_timeout_s)
            self.lanes.stop()
            self.commit()
        finally:
            self.close()

    def close(self) -> None:
        """Leave the group and release resources (the lanes' running workers are always
        waited for, even when leaving the group or flushing fails: Postgres or the
        transport is down)."""
        try:
            self.lanes.stop()
            if self._consumer is not None:
                consumer, self._consumer = self._consumer, None
                consumer.close()
        finally:
            try:
                self._producer.close()
            finally:
                try:
                    self.journal.close()
                finally:
                    self.backlog.close()

    def warm(self, company_keys: list[str]) -> threading.Thread:
        """Prepare the ledger contexts of ``company_keys`` (token, reference data) in a
        thread, so an interactive Sync All's first records find them ready instead of
        waiting for them behind the extraction. A failure is left for the posting to meet
        and report. Returns the thread (started)."""

        def prepare() -> None:
            for key in company_keys:
                company = self.companies.get(key)
                if company is None:
                    continue
                try:
                    if self.db is not None:
                        company = OptionsStore(self.db).effective(company)
                    target = self.pool.target(company.ledger)
                    self.pool.context(company, target)
                except Exception as exc:  # the first post prepares again and reports it
                    log.info("could not prepare %s's ledger ahead: %s", key, exc)

        thread = threading.Thread(target=prepare, name="poster-warm", daemon=True)
        thread.start()
        return thread

    # --- handling a poll ---------------------------------------------------------------

    def handle(self, messages: list[BusMessage]) -> None:
        """Decode and post ``messages`` and wait until every lane is done (no commit).
        Results are sent, not yet flushed. The consumer loop uses :meth:`dispatch`."""
        self.dispatch(messages)
        self.lanes.wait_idle()
        self._raise_lane_errors()

    def dispatch(self, messages: list[BusMessage]) -> None:
        """Hand each (company, target) group of ``messages`` to its lane, decoded, or store
        it in the backlog when the lane is full; return without waiting for any posting.

        A message is routed by its company and target headers; a spilled one is stored as it
        came and decoded only when its lane loads it (decoding is most of a poster's work,
        and at month end most records spill). One without the header is decoded to route.
        """
        self.offsets.polled(messages)
        groups: dict[Key, list[tuple[BusMessage, RecordEvent | None]]] = defaultdict(list)
        for msg in messages:
            route = record_route(msg)
            if route is not None:
                groups[route].append((msg, None))
                self._partition_of[route] = msg.partition
                continue
            try:
                event = self._decode_record(msg)
            except EventDecodeError as exc:
                self.dead_letter(msg, exc)
                self.offsets.answered([msg])
                continue
            groups[(event.company, event.target)].append((msg, event))
            self._partition_of[(event.company, event.target)] = msg.partition
        spills: dict[Key, list[BusMessage]] = {}
        for key, items in groups.items():
            if self.lanes.fits(key, len(items)):
                decoded = self._decoded(key, items)
                if not decoded or self.lanes.offer(key, decoded):
                    continue
                items = decoded
            spills[key] = [msg for msg, _ in items]
        if not spills:
            return
        self.backlog.put({key: (msg.value for msg in msgs) for key, msgs in spills.items()})
        for key, msgs in spills.items():
            self.offsets.settle(msgs)
            with self._stats_lock:
                self.stats.spilled += len(msgs)
            # its lane posts them: also when another poster owns the backlog (after a
            # rebalance), so the company's records keep their order
            self.backlog.own(*key)
            self.lanes.spilled(key)

    def _decoded(
        self, key: Key, items: list[tuple[BusMessage, RecordEvent | None]]
    ) -> list[tuple[BusMessage, RecordEvent]]:
        """``items`` with every event decoded; an undecodable one is dead-lettered (and
        answered) instead."""
        decoded = []
        for msg, event in items:
            if event is None:
                try:
                    event = self._decode_record(msg, key)
                except EventDecodeError as exc:
                    self.dead_letter(msg, exc, getattr(exc, "event", None))
                    self.offsets.answered([msg])
                    continue
            decoded.append((msg, event))
        return decoded

    def _decode_record(self, msg: BusMessage, route: Key | None = None) -> RecordEvent:
        """The record event in ``msg``; EventDecodeError when it is none, or when its body
        belongs to another (company, target) than ``route`` (its headers said)."""
        event = self.codec.decode(msg.value)
        if not isinstance(event, RecordEvent):
            raise EventDecodeError(f"expected a RecordEvent, got {type(event).__name__}")
        if route is not None and (event.company, event.target) != route:
            raise MisroutedRecord(
                f"its routing headers say {route[0]}/{route[1]}, "
                f"its body is for {event.company}/{event.target}",
                event,
            )
        return event

    def adopt_backlogs(self, *, every_s: float = 5.0) -> int:
        """Give the lanes the backlogs they do not know of and no live poster owns (left by a
        poster that stopped, or spilled by one whose partitions moved here): at the first
        poll, then every ``every_s``; and release those this poster's lanes emptied, and
        those of companies whose partitions moved to another poster while their lanes
        hold nothing in memory (the new holder adopts them at once, not after their turn
        here comes). Returns how many were adopted."""
        now = time.monotonic()
        if self._last_adopt is not None and now - self._last_adopt < every_s:
            return 0
        self._last_adopt = now
        self.backlog.check()
        active = self.lanes.active()
        active -= self.lanes.release_idle([key for key in active if self._moved_away(key)])
        for key in self.backlog.owned() - active:  # its lane has emptied it, or given it up
            self.backlog.disown(*key)
        found = [
            key
            for key in self.backlog.keys() - active
            if not self._moved_away(key) and self.backlog.own(*key)
        ]
        for key in found:
            self.lanes.spilled(key)
        return len(found)

    def _moved_away(self, key: Key) -> bool:
        """Whether ``key``'s records now come to another member of the group: the partition
        they last came from here is not this poster's since a rebalance. Its backlog is
        then left to that member (this poster stops loading it and lets it go), so a poster
        that joins after another has read the topic into its backlogs takes over its share.
        Unknown (no record of the key seen here, or no assignment right now): False."""
        partition = self._partition_of.get(key)
        mine = self._assigned
        return partition is not None and bool(mine) and partition not in mine

    def _raise_lane_errors(self) -> None:
        """A lane failed (Postgres or the transport went away): wait for the other lanes'
        batches in hand, then raise, so no company goes on posting beside the poster the
        service starts in this one's place."""
        if self.lanes.errors:
            self.lanes.stop()
            raise self.lanes.errors[0]

    def _load_backlog(self, key: Key, limit: int) -> list[tuple[BusMessage, RecordEvent]]:
        """Up to ``limit`` backlog records of ``key``, oldest first, each with a stand-in
        message whose offset is its backlog row (partition -1)."""
        if self._moved_away(key):  # its new home posts it: the lane ends, adopt lets it go
            return []
        items, undecodable = [], []
        for row_id, value in self.backlog.take(*key, limit):
            msg = BusMessage(self.topics.records, -1, row_id, key[0].encode(), value, [], 0)
            try:
                event = self._decode_record(msg, key)
            except EventDecodeError as exc:  # stored as it came: decoded only now
                self.dead_letter(msg, exc, getattr(exc, "event", None))
                undecodable.append(row_id)
                continue
            items.append((msg, event))
        if undecodable:
            self._producer.flush()
            self.backlog.remove(undecodable)
        return items

    def _post_lane(self, key: Key, items: list[tuple[BusMessage, RecordEvent]]) -> None:
        """A lane's worker: post a batch of one company, then report it answered: its backlog
        rows are deleted once their results are flushed (before the lane loads more of its
        backlog), its messages' offsets are committed by the consumer loop."""
        self._post_group(*key, items)
        rows = [msg.offset for msg, _ in items if msg.partition < 0]
        if rows:
            self._producer.flush()
            self._crash_point("after_emit")  # results stored, backlog rows not deleted
            self.backlog.remove(rows)
        self.offsets.answered(msg for msg, _ in items if msg.partition >= 0)

    def _post_group(
        self, company_key: str, target_name: str, items: list[tuple[BusMessage, RecordEvent]]
    ) -> None:
        company = self.companies.get(company_key)
        try:
            if company is None:
                raise ConfigError(
                    f"company {company_key!r} is not configured in this deployment",
                    key="companies",
                    hint="add it, then `wisesync replay --dlq`",
                )
            target = self.pool.target(target_name)
            if self.db is not None:  # options set on the console's Options page
                company = OptionsStore(self.db).effective(company)
        except ConfigError as exc:
            for msg, event in items:
                self.dead_letter(msg, exc, event)
            return
        events = [event for _, event in items]
        by_event = {event.event_id: msg for msg, event in items}
        if any(event.trigger is Trigger.REPLAY for event in events):
            # a replay follows a fix (a new account, a reconnect): load reference data afresh
            self.pool.forget(company, target)
        if self._parked_while_paused((company.key, target.name), events):
            return
        with self.journal.company_lock(company.key, target.name):
            for wave in _waves(events, max(1, target.limits.batch_size)):
                self._post_wave(company, target, wave, by_event)

    def _post_wave(
        self,
        company: CompanyConfig,
        target: Target,
        wave: list[list[RecordEvent]],
        by_event: dict[str, BusMessage],
    ) -> None:
        """Post chunks that share no record, up to the target's concurrency at once.

        A ledger's minute limit is only reached when calls overlap: at one call at a
        time, a call that takes longer than 60/calls_per_minute seconds (a Xero write of
        50 invoices often does) leaves the budget unused. The company's call limiter
        still bounds the calls in flight.
        """
        parallel = min(len(wave), max(1, target.limits.concurrency), self._chunk_workers)
        if parallel == 1:
            for chunk in wave:
                self._post_chunk_safely(company, target, chunk, by_event)
            return
        # threads of this company's own: a company waiting on its ledger holds no other's
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="poster-chunk")
        with pool:
            futures = [
                pool.submit(self._post_chunk_safely, company, target, chunk, by_event)
                for chunk in wave
            ]
            errors = [f.exception() for f in futures]  # waits for every chunk
        for error in errors:
            if error is not None:
                raise error

    def _post_chunk_safely(
        self,
        company: CompanyConfig,
        target: Target,
        chunk: list[RecordEvent],
        by_event: dict[str, BusMessage],
    ) -> None:
        """Post a chunk; bisect it when a plugin raises, to dead-letter only the poison."""
        try:
            with request_context(company.key, target.name, events=chunk):
                self._post_chunk_with_retries(company, target, chunk)
        except _Poison as poison:
            cause = poison.__cause__ or poison
            if len(chunk) == 1:
                event = chunk[0]
                log.exception(
                    "target %s raised on %s %s",
                    target.name,
                    event.record_type,
                    event.source_id,
                    exc_info=cause,
                )
                self.dead_letter(by_event[event.event_id], cause, event)
                self._finish(
                    company,
                    [
                        (
                            event,
                            failed(
                                event,
                                "INTERNAL_ERROR",
                                f"the {target.name} plugin failed: {type(cause).__name__}: {cause}",
                            ),
                        )
                    ],
                )
                return
            half = len(chunk) // 2
            self._post_chunk_safely(company, target, chunk[:half], by_event)
            self._post_chunk_safely(company, target, chunk[half:], by_event)

    def _post_chunk_with_retries(
        self, company: CompanyConfig, target: Target, chunk: list[RecordEvent]
    ) -> None:
        key = (company.key, target.name)
        for attempt, delay in enumerate((*self.retry_delays, None)):
            # another chunk of the company may have met its ledger's outage or daily limit
            if self._parked_while_paused(key, chunk):
                return
            try:
                self._post_chunk(company, target, chunk)
                self._outage_since.pop(key, None)
                return
            except (RemoteUnavailable, RateLimited) as exc:
                if delay is None and self._wait_out(key, chunk, exc, attempt + 1):
                    return
                if delay is None:
                    self._finish(
                        company,
                        [
                            (
                                e,
                                failed(
                                    e, "LEDGER_UNAVAILABLE", f"{exc} (after {attempt + 1} tries)"
                                ),
                            )
                            for e in chunk
                        ],
                    )
                    return
                log.warning("%s for %s: %s; retrying in %ss", target.name, company.key, exc, delay)
                time.sleep(delay)
            except AuthError as exc:
                self.pool.forget(company, target)
                connect = f"wisesync {target.name} connect --company {company.key}"
                replay = f"`wisesync replay --failed --company {company.key}`"
                text = (
                    f"{exc}, then {replay}"
                    if connect in str(exc)  # the plugin already said how to reconnect
                    else f"{exc}. The {target.name} connection of company {company.key} is "
                    f"expired or revoked: run `{connect}`, then {replay}"
                )
                self._finish(company, [(e, failed(e, "AUTH_TOKEN_INVALID", text)) for e in chunk])
                return
            except ConfigError as exc:
                self.pool.forget(company, target)
                self._finish(
                    company, [(e, failed(e, "COMPANY_CONFIG_INVALID", str(exc))) for e in chunk]
                )
                return
            except DailyLimitReached as exc:
                until = exc.reset_at or datetime.now(UTC) + timedelta(hours=1)
                text = (
                    f"{target.name} daily API limit reached for {company.key}; "
                    f"posting resumes at {until:%Y-%m-%d %H:%M} UTC"
                )
                self._paused[key] = (until, "DAILY_LIMIT_REACHED", text)
                self.park(chunk, *self._paused[key])
                return

    def _parked_while_paused(self, key: Key, events: list[RecordEvent]) -> bool:
        """Park ``events`` (True) when ``key``'s company is paused for a daily limit or an
        outage; False when it may post."""
        paused = self._paused.get(key)
        if paused is None or paused[0] <= datetime.now(UTC):
            return False
        self.park(events, *paused)
        return True

    def _wait_out(self, key: Key, chunk: list[RecordEvent], exc: Exception, tries: int) -> bool:
        """The ledger of ``key`` failed ``chunk`` through every retry: park it and pause the
        company while the outage is younger than ``outage_wait_s`` (True), else False: the
        caller fails the records. Each pause is as long as the outage lasted so far (so
        they double), at least :data:`OUTAGE_FIRST_RETRY_S` and at most ``outage_retry_s``:
        chunks failing at once (posted in parallel) get the same pause, not longer ones."""
        now = time.monotonic()
        since = self._outage_since.setdefault(key, now)
        left = self.outage_wait_s - (now - since)
        if left <= 0:
            self._outage_since.pop(key, None)  # the next failure starts a new wait
            return False
        pause = min(self.outage_retry_s, max(OUTAGE_FIRST_RETRY_S, now - since), left)
        until = datetime.now(UTC) + timedelta(seconds=pause)
        waited = round((now - since) / 60)
        text = (
            f"{key[1]} is not answering for {key[0]} ({exc}; {tries} tries"
            + (f", waiting for {waited} min" if waited else "")
            + f"); trying again at {until:%H:%M:%S} UTC"
        )
        log.warning("%s; %d record(s) wait", text, len(chunk))
        self._paused[key] = (until, "LEDGER_OUTAGE_WAITING", text)
        self.park(chunk, *self._paused[key])
        return True

    def _post_chunk(self, company: CompanyConfig, target: Target, chunk: list[RecordEvent]) -> None:
        """One chunk through journal, reconcile, validate, claim, post, record, emit."""
        entries = self.journal.read(chunk)
        done: list[tuple[RecordEvent, PostingResult]] = []
        reconcile: list[RecordEvent] = []
        candidates: list[RecordEvent] = []
        for event in chunk:
            entry = entries.get(event.identity)
            repeat = self._repeated_failure(event, entry)
            if repeat is not None:
                done.append((event, repeat))
            elif entry is None or (
                entry.state == FAILED and entry.record_event_id != event.event_id
            ):
                candidates.append(event)
            elif (
                entry.record_event_id == event.event_id
                and entry.state in (POSTED, FAILED)
                and entry.last_result
            ):
                self._reemit(entry.last_result)
            elif entry.state == POSTED:
                done.append((event, self._already_posted(event, entry)))
            else:  # claimed: a crash between claim and record, or an uncertain failure
                reconcile.append(event)
        if reconcile or candidates:
            ctx = self.pool.context(company, target)
            calls_before = ctx.limiter.thread_calls()
            if reconcile:
                reconcile = self._set_aside_in_flight(company, target, reconcile)
            found = self._reconcile(target, ctx, reconcile) if reconcile else {}
            for event in reconcile:
                if event.source_id in found:
                    done.append((event, found[event.source_id]))
                else:
                    candidates.append(event)
            to_post, warnings = [], {}
            for event in candidates:
                msgs = self._validate(target, ctx, event)
                if has_errors(msgs):
                    done.append((event, result_for(event, Status.FAILED, msgs)))
                else:
                    to_post.append(event)
                    warnings[event.event_id] = msgs
            claimed = self.journal.claim(to_post)
            if claimed:
                with self._stats_lock:
                    self._claimed_here.update(claimed)
                self._crash_point("after_claim")
            lost = [e for e in to_post if e.identity not in claimed]
            if lost:  # another poster posted them meanwhile
                now_posted = self.journal.read(lost)
                done.extend((e, self._already_posted(e, now_posted[e.identity])) for e in lost)
            to_post = [e for e in to_post if e.identity in claimed]
            posted = self._post(target, ctx, to_post, warnings) if to_post else []
            if posted:
                self._crash_point("after_post")
            done.extend(posted)
            calls = ctx.limiter.thread_calls() - calls_before
            _share_calls([r for _, r in done if r.status is Status.POSTED], calls)
            if self.metrics is not None and calls:
                self.metrics.api_call(company.key, target.name, calls)
        with self._stats_lock:
            self.stats.batches += 1
        self._finish(company, done)

    def _repeated_failure(self, event: RecordEvent, entry: Any) -> PostingResult | None:
        """The stored failure of ``event``'s record when another copy of it, with the same
        content and of the same run, already failed (a redelivery): answered again, no
        ledger call. None when the record must go through the journal as usual."""
        if (
            entry is None
            or entry.state != FAILED
            or entry.record_event_id == event.event_id
            or entry.content_hash != event.content_hash
            or not entry.last_result
        ):
            return None
        stored = self.codec.decode(entry.last_result)
        if not isinstance(stored, PostingResult) or stored.run_id != event.run_id:
            return None
        with self._stats_lock:
            self.stats.reemitted += 1
        return replace(
            stored,
            record_event_id=event.event_id,
            result_id=new_id(),
            attempt=event.attempt,
            api_calls=0,
            finished_at=utcnow(),
        )

    def _set_aside_in_flight(
        self, company: CompanyConfig, target: Target, events: list[RecordEvent]
    ) -> list[RecordEvent]:
        """Of the ``claimed`` ``events``, those a write made under their claim can no longer
        reach the ledger after (:meth:`_reconcile` then sees everything a dead or fenced poster
        sent). Claims of another poster (a dead predecessor) younger than ``in_flight_s`` are
        set aside in ``parked_records`` until then and published again (:meth:`release_parked`):
        they do not hold up the company's other records, and their offsets are committed
        meanwhile. This poster's own young claims (a retried or bisected chunk) are waited out
        here, so the chunk is answered in this very handling."""
        in_flight_s = (
            self.in_flight_s if self.in_flight_s is not None else target.limits.in_flight_s
        )
        young = self.journal.in_flight(events, in_flight_s)
        if not young:
            return events
        with self._stats_lock:
            ours = [e for e in events if e.identity in young and e.identity in self._claimed_here]
        if ours:
            # claimed by this poster moments ago (a retry, a bisected chunk): its own write
            # may still land; waiting here keeps the chunk's answer in this handling
            wait = self.journal.in_flight_wait(ours, in_flight_s)
            log.warning(
                "%s: a write of %d record(s) of %s may still be on its way to %s; looking "
                "them up in %.1f s",
                target.name,
                len(ours),
                company.key,
                target.name,
                wait,
            )
            time.sleep(wait)
        own = {e.event_id for e in ours}
        later = [e for e in events if e.identity in young and e.event_id not in own]
        if not later:
            return events
        until = max(young[e.identity] for e in later)
        log.warning(
            "%s: %d record(s) of %s were claimed less than %.0f s ago and a write may still be "
            "on its way to %s; looking them up after %s UTC, posting the others now",
            target.name,
            len(later),
            company.key,
            in_flight_s,
            target.name,
            f"{until:%H:%M:%S}",
        )
        self._set_aside(later, young)
        aside = {e.event_id for e in later}
        return [e for e in events if e.event_id not in aside]

    def _set_aside(self, events: list[RecordEvent], until: dict[tuple, datetime]) -> None:
        """Store ``events`` in ``parked_records`` until their time (no result: they are
        answered when posted)."""
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO parked_records (company, target, not_before, reason, event) "
                "VALUES (%s,%s,%s,%s,%s)",
                [
                    (e.company, e.target, until[e.identity], IN_FLIGHT, self.codec.encode(e))
                    for e in events
                ],
            )
        with self._stats_lock:
            self.stats.set_aside += len(events)

    def _reconcile(
        self, target: Target, ctx: TargetContext, events: list[RecordEvent]
    ) -> dict[str, PostingResult]:
        try:
            existing = target.find_existing(events, ctx)
        except (AuthError, RemoteUnavailable, RateLimited, DailyLimitReached):
            raise
        except Exception as exc:
            raise _Poison from exc
        by_id = {e.source_id: e for e in events}
        found = {}
        for source_id, outcome in existing.items():
            event = by_id.get(source_id)
            if event is None or outcome.status is not Status.POSTED:
                continue
            with self._stats_lock:
                self.stats.reconciled += 1
            note = message(
                "ALREADY_IN_LEDGER",
                f"{target.name} already has this document "
                f"({outcome.ledger_number or outcome.ledger_id}); linked, not re-posted",
            )
            found[source_id] = result_for(
                event, Status.POSTED, merge_messages(outcome.messages, [note]), outcome=outcome
            )
        return found

    def _validate(self, target: Target, ctx: TargetContext, event: RecordEvent) -> list[Message]:
        try:
            return _dedupe_codes(target.validate(event, ctx), event.source_messages)
        except (AuthError, RemoteUnavailable, RateLimited, DailyLimitReached):
            raise
        except Exception as exc:
            raise _Poison from exc

    def _post(
        self,
        target: Target,
        ctx: TargetContext,
        events: list[RecordEvent],
        warnings: dict[str, list[Message]],
    ) -> list[tuple[RecordEvent, PostingResult]]:
        try:
            # every call is fenced: it stamps the claims, or stops when the lock is lost
            with ctx.limiter.before_each_call(lambda: self.journal.stamp_claims(events)):
                if self.metrics is not None:
                    with self.metrics.time_posting(target.name):
                        outcomes = target.post(events, ctx)
                else:
                    outcomes = target.post(events, ctx)
        except (AuthError, RemoteUnavailable, RateLimited, DailyLimitReached, PostingLockLost):
            raise
        except Exception as exc:
            raise _Poison from exc
        if len(outcomes) != len(events):
            raise _Poison from RuntimeError(
                f"{target.name}.post returned {len(outcomes)} outcomes for {len(events)} records"
            )
        results = []
        for event, outcome in zip(events, outcomes, strict=True):
            msgs = _dedupe_codes(outcome.messages, warnings.get(event.event_id, []))
            status = outcome.status
            if status is Status.POSTED and has_errors(msgs):
                msgs = [m for m in msgs if m.severity is not Severity.ERROR] or msgs
            results.append((event, result_for(event, status, msgs, outcome=outcome)))
        return results

    def _already_posted(self, event: RecordEvent, entry: Any) -> PostingResult:
        msgs: list[Message] = []
        if entry.content_hash != event.content_hash:
            msgs.append(
                message(
                    "SOURCE_CHANGED_AFTER_POST",
                    f"{event.record_type} {event.document_number or event.source_id} changed in "
                    f"{event.source} after it was posted as {entry.ledger_number or entry.ledger_id}",
                )
            )
        result = result_for(event, Status.SKIPPED_ALREADY_POSTED, msgs)
        result.ledger_id, result.ledger_number = entry.ledger_id, entry.ledger_number
        result.ledger_total = entry.ledger_total
        return result

    def _crash_point(self, point: str) -> None:
        """Test hook: die here, as ``kill -9`` would, when ``WISESYNC_CRASH_AT`` names
        ``point`` and this is its n-th passage (see :data:`CRASH_ENV`)."""
        if self._crash_at is None or self._crash_at[0] != point:
            return
        with self._crash_lock:
            self._crash_seen += 1
            if self._crash_seen >= self._crash_at[1]:
                os.write(2, f"{CRASH_ENV}: exiting at {point}\n".encode())
                os._exit(137)

    # --- output --------------------------------------------------------------------

    def _finish(
        self, company: CompanyConfig, done: list[tuple[RecordEvent, PostingResult]]
    ) -> None:
        """Record outcomes in the journal, then emit the results."""
        encoded = [(event, result, self.codec.encode(result)) for event, result in done]
        self.journal.record(encoded)
        with self._stats_lock:
            self._claimed_here.difference_update(event.identity for event, _ in done)
        if encoded:
            self._crash_point("after_record")
        for _, result, data in encoded:
            self._emit(result, data)

    def _emit(self, result: PostingResult, data: bytes) -> None:
        with self._stats_lock:
            self.stats.count(result)
        if self.metrics is not None:
            self.metrics.record_result(result)
        self._producer.send(
            self.topics.results, result.company.encode(), data, self.codec.headers(result)
        )

    def _reemit(self, data: bytes) -> None:
        with self._stats_lock:
            self.stats.reemitted += 1
        result = self.codec.decode(data)
        self._producer.send(
            self.topics.results, result.company.encode(), data, self.codec.headers(result)
        )

    def dead_letter(
        self, msg: BusMessage, exc: BaseException, event: RecordEvent | None = None
    ) -> None:
        """Send ``msg`` to the dead-letter topic with what went wrong."""
        with self._stats_lock:
            self.stats.dead_letters += 1
        letter = DeadLetter(
            original_topic=msg.topic,
            original_partition=msg.partition,
            original_offset=msg.offset,
            original_key=msg.key,
            original_value=msg.value,
            error_class=type(exc).__name__,
            error_text=str(exc)[:2000],
            consumer_group=self.group,
            company=event.company
            if event
            else (msg.key.decode(errors="replace") if msg.key else None),
            record_event_id=event.event_id if event else None,
        )
        self._producer.send(
            self.topics.dlq, msg.key, self.codec.encode(letter), self.codec.headers(letter)
        )

    # --- parking (daily limits) ----------------------------------------------------------

    def park(self, events: list[RecordEvent], until: datetime, code: str, text: str) -> None:
        """Store ``events`` until ``until``; emit ``held`` results saying why (``code``:
        DAILY_LIMIT_REACHED or LEDGER_OUTAGE_WAITING, ``text`` its message)."""
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO parked_records (company, target, not_before, reason, event) "
                "VALUES (%s,%s,%s,%s,%s)",
                [(e.company, e.target, until, code, self.codec.encode(e)) for e in events],
            )
        with self._stats_lock:
            self.stats.parked += len(events)
        for event in events:
            result = result_for(event, Status.HELD, [message(code, text)])
            self._emit(result, self.codec.encode(result))

    def release_parked(self, *, every_s: float = 5.0) -> int:
        """Re-publish parked records whose time has come. Returns how many."""
        now = time.monotonic()
        if now - self._last_release < every_s:
            return 0
        self._last_release = now
        with self.db.connection() as conn:
            rows = conn.execute(
                """DELETE FROM parked_records WHERE id IN (
                       SELECT id FROM parked_records WHERE not_before <= now()
                       AND reason <> %s ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
                   RETURNING company, target, event, reason""",
                (QUEUED,),
            ).fetchall()
            for company, target, event, reason in rows:
                if reason != IN_FLIGHT:  # a daily limit's or an outage's parking ended
                    self._paused.pop((company, target), None)
                self._producer.send(
                    self.topics.records,
                    company.encode(),
                    bytes(event),
                    route_headers(company, target),
                )
            self._producer.flush()
        return len(rows)


class MisroutedRecord(EventDecodeError):
    """A record event whose routing headers name another (company, target) than its body:
    a producer's bug. It is posted for neither; the dead letter keeps both."""

    def __init__(self, text: str, event: RecordEvent):
        super().__init__(text)
        self.event = event


def _by_record_type(events: list[RecordEvent]) -> list[RecordEvent]:
    """``events`` grouped by record type (types in order of first appearance, records in
    their order within a type), so chunks hold one type: a ledger that writes invoices and
    credit notes through different endpoints needs one call per chunk, not two."""
    rank: dict[Any, int] = {}
    for event in events:
        rank.setdefault(event.record_type, len(rank))
    return sorted(events, key=lambda e: rank[e.record_type])


def _waves(events: list[RecordEvent], size: int) -> list[list[list[RecordEvent]]]:
    """Split into chunks of at most ``size`` records of one type, in waves: a record seen
    twice goes to a later wave, so the chunks of one wave never share a record and may be
    posted at the same time, and a later copy of a record is posted after the earlier."""
    waves: list[list[list[RecordEvent]]] = []
    pending = events
    while pending:
        seen: set[tuple] = set()
        now, later = [], []
        for event in pending:
            (later if event.identity in seen else now).append(event)
            seen.add(event.identity)
        chunks: list[list[RecordEvent]] = []
        for event in _by_record_type(now):
            if (
                not chunks
                or len(chunks[-1]) == size
                or chunks[-1][0].record_type != event.record_type
            ):
                chunks.append([])
            chunks[-1].append(event)
        waves.append(chunks)
        pending = later
    return waves


def _dedupe_codes(first: list[Message], second: list[Message]) -> list[Message]:
    """Messages of ``first``, then those of ``second`` whose (code, line) is new."""
    seen = {(m.code, m.line) for m in first}
    return merge_messages(first, [m for m in second if (m.code, m.line) not in seen])


def _share_calls(results: list[PostingResult], calls: int) -> None:
    """Spread a chunk's API calls over the results it posted."""
    if not results or calls <= 0:
        return
    base, extra = divmod(calls, len(results))
    for i, result in enumerate(results):
        result.api_calls = base + (1 if i < extra else 0)
