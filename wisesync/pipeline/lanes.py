"""Per-company lanes: each company's records are posted by its own worker, in order.

The poster's consumer loop never waits for a company. It hands each (company, target)
group of a poll to that key's :class:`Lane` and goes on polling; the lane's worker
thread posts the group (and whatever queued up meanwhile, as one batch, so chunks stay
full) while other lanes post theirs. A company waiting on its ledger's limits, or on a
slow or failing ledger, keeps only its own worker waiting.

Memory is bounded: a lane holds at most ``lane_records`` records and all lanes together at
most ``max_in_hand``. A group that does not fit is *spilled*: the caller stores it durably
(:mod:`wisesync.pipeline.backlog`) and calls :meth:`Lanes.spilled`; from then on the lane's
new records are spilled too, so they keep their order, and its worker, once its memory
queue is empty, loads the spilled records from the store in batches (``load``) until none
are left. At most ``max_lanes`` workers run at once (each holds its company's posting
lock session while it posts); a lane with work waits for a free worker in arrival order,
and while any lane waits, a worker posts at most ``turn_records`` (a turn), then gives its
place up and queues its lane again behind the others: with more companies than workers
every company moves at the same pace, and none waits for another's whole backlog to drain.

:class:`OffsetTracker` says which consumer offsets may be committed: per partition, up to
the oldest message still in a lane (not journaled and answered yet).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wisesync.transport.base import Message, TopicPartition

log = logging.getLogger(__name__)

Key = tuple[str, str]

#: Records a lane loads from its backlog even when the memory budget is spent (so every
#: lane makes progress; bounded by ``max_lanes`` x this).
MIN_LOAD = 100
#: Most records a lane posts in one turn while other lanes wait for a worker (two Xero
#: chunks): companies take turns in steps this small, so they finish together.
TURN_RECORDS = 100


@dataclass(slots=True)
class Lane:
    """One (company, target)'s queue of groups (oldest first) and its spill state."""

    key: Key
    groups: deque[list[Any]] = field(default_factory=deque)
    #: records queued or being posted by the worker
    records: int = 0
    #: records of this key wait in the durable backlog (newer than every queued group)
    spilled: bool = False
    #: bumped by every spill, so a worker that found the backlog empty knows it still is
    spills: int = 0
    running: bool = False


class Lanes:
    """The lanes of one poster and their worker threads. Thread-safe.

    Args:
        post: ``post(key, items)`` posts a batch of a key's items (the worker's job); an
            exception stops the lane: its items stay unanswered (their offsets are not
            committed) and the error is kept in :attr:`errors`.
        load: ``load(key, limit)`` -> up to ``limit`` spilled items of ``key``, oldest
            first ([] when none are left).
        max_lanes: workers running at once.
        lane_records: most records one lane holds in memory.
        max_in_hand: most records all lanes hold in memory.
        turn_records: most records a lane posts in a turn while other lanes wait.
    """

    def __init__(
        self,
        post: Callable[[Key, list[Any]], None],
        load: Callable[[Key, int], list[Any]],
        *,
        max_lanes: int = 32,
        lane_records: int = 2000,
        max_in_hand: int = 6000,
        turn_records: int = TURN_RECORDS,
    ):
        self._post = post
        self._load = load
        self.max_lanes = max(1, max_lanes)
        self.lane_records = max(1, lane_records)
        self.max_in_hand = max(self.lane_records, max_in_hand)
        self.turn_records = max(1, turn_records)
        self._lanes: dict[Key, Lane] = {}
        self._waiting: deque[Key] = deque()
        self._running = 0
        self._in_hand = 0
        self._stopping = False
        self._cond = threading.Condition()
        self.errors: list[BaseException] = []

    # --- the consumer loop's side -------------------------------------------------------

    def fits(self, key: Key, records: int) -> bool:
        """Whether :meth:`offer` would take ``records`` more of ``key`` now (no: the lane has
        spilled records, or memory is full), so a caller can spill without decoding them."""
        with self._cond:
            return self._fits(self._lanes.get(key), records)

    def _fits(self, lane: Lane | None, records: int) -> bool:
        if lane is not None and lane.spilled:
            return False
        queued = lane.records if lane is not None else 0
        if queued:
            return (
                queued + records <= self.lane_records
                and self._in_hand + records <= self.max_in_hand
            )
        return not self._in_hand or self._in_hand + records <= self.max_in_hand

    def offer(self, key: Key, items: list[Any]) -> bool:
        """Queue ``items`` on ``key``'s lane. False when they do not fit (the lane has spilled
        records, or memory is full): the caller stores them and calls :meth:`spilled`."""
        with self._cond:
            lane = self._lanes.get(key)
            if not self._fits(lane, len(items)):
                return False
            lane = lane or self._lanes.setdefault(key, Lane(key))
            lane.groups.append(items)
            lane.records += len(items)
            self._in_hand += len(items)
            self._schedule(lane)
            return True

    def spilled(self, key: Key) -> None:
        """Records of ``key`` were stored in the backlog: its worker loads them after what
        it holds (also for a backlog left by an earlier poster)."""
        with self._cond:
            lane = self._lanes.setdefault(key, Lane(key))
            lane.spilled = True
            lane.spills += 1
            self._schedule(lane)

    @property
    def in_hand(self) -> int:
        """Records held in memory by all lanes."""
        return self._in_hand

    def active(self) -> set[Key]:
        """Keys with a lane (queued, spilled or posting)."""
        with self._cond:
            return set(self._lanes)

    def release_idle(self, keys: Iterable[Key]) -> set[Key]:
        """Forget the lanes of ``keys`` that hold nothing in memory and have no running
        worker (their records are all in the backlog); returns the keys forgotten. The
        poster calls it for companies whose partitions moved to another poster, so their
        backlogs go to that poster now rather than when their turn next comes here."""
        released: set[Key] = set()
        with self._cond:
            for key in keys:
                lane = self._lanes.get(key)
                if lane is None or lane.running or lane.groups or lane.records:
                    continue
                del self._lanes[key]
                if key in self._waiting:
                    self._waiting.remove(key)
                released.add(key)
        return released

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no worker runs and nothing is queued; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running and not self._waiting, timeout_s)

    def stop(self, timeout_s: float | None = None) -> None:
        """Let every running worker finish the batch in hand, start nothing more, wait."""
        with self._cond:
            self._stopping = True
            self._waiting.clear()
            self._cond.wait_for(lambda: not self._running, timeout_s)

    # --- workers ------------------------------------------------------------------------

    def _schedule(self, lane: Lane) -> None:
        """Start ``lane``'s worker, or queue it for a free one. Caller holds the lock."""
        if lane.running or lane.key in self._waiting or self._stopping:
            return
        if self._running >= self.max_lanes:
            self._waiting.append(lane.key)
            return
        lane.running = True
        self._running += 1
        name = f"poster-{lane.key[0]}"
        threading.Thread(target=self._work, args=(lane,), name=name, daemon=True).start()

    def _next_batch(self, lane: Lane) -> tuple[list[Any] | None, int]:
        """The queued groups to post next, as one batch (None: load the backlog), and the
        spill count seen. Caller holds the lock."""
        if not lane.groups:
            return None, lane.spills
        most = self._batch_records()
        batch = list(lane.groups.popleft())
        while lane.groups and len(batch) + len(lane.groups[0]) <= most:
            batch.extend(lane.groups.popleft())
        return batch, lane.spills

    def _batch_records(self) -> int:
        """Most records of a batch: a turn's while other lanes wait. Caller holds the lock."""
        return min(self.lane_records, self.turn_records) if self._waiting else self.lane_records

    def _work(self, lane: Lane) -> None:
        try:
            while True:
                with self._cond:
                    if self._stopping or (not lane.groups and not lane.spilled):
                        return
                    batch, spills = self._next_batch(lane)
                    if batch is None:  # the backlog: as much as the memory budget allows
                        most = self._batch_records()
                        reserved = max(
                            min(most, self.max_in_hand - self._in_hand), min(most, MIN_LOAD)
                        )
                        lane.records += reserved
                        self._in_hand += reserved
                if batch is None:
                    try:
                        batch = self._load(lane.key, reserved)
                    finally:
                        with self._cond:
                            lane.records -= reserved - len(batch or ())
                            self._in_hand -= reserved - len(batch or ())
                    if not batch:
                        with self._cond:
                            if lane.spills == spills:
                                lane.spilled = False
                        continue
                try:
                    self._post(lane.key, batch)
                finally:
                    with self._cond:
                        lane.records -= len(batch)
                        self._in_hand -= len(batch)
                with self._cond:
                    if self._waiting:  # other lanes wait for a worker: take turns
                        return
        except BaseException as exc:  # the poster raises it from its loop, after waiting
            log.debug("lane %s stopped", lane.key, exc_info=True)
            with self._cond:
                self.errors.append(exc)
                self._in_hand -= lane.records
                lane.records = 0
                lane.groups.clear()
        finally:
            with self._cond:
                lane.running = False
                self._running -= 1
                done = not lane.groups and not lane.spilled
                if done:
                    self._lanes.pop(lane.key, None)
                while self._waiting and self._running < self.max_lanes and not self._stopping:
                    waiting = self._lanes.get(self._waiting.popleft())
                    if waiting is not None and not waiting.running:
                        self._schedule(waiting)
                if not done and not self._stopping and not self.errors:
                    self._schedule(lane)  # a free worker, or behind the lanes that waited
                self._cond.notify_all()


class OffsetTracker:
    """The consumer offsets a poster may commit: per partition, the oldest message not yet
    answered (journaled, result sent), or one past the newest polled. Thread-safe.

    The consumer loop registers what it polled (:meth:`polled`); lanes report what they
    answered (:meth:`answered`); before committing, the loop takes those answers
    (:meth:`take_answered`), flushes the producer (their results are stored by then), and
    settles them (:meth:`settle`), then commits :meth:`committable`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._answered: list[Message] = []

    def polled(self, messages: Iterable[Message]) -> None:
        """Messages the loop took from the consumer, not answered yet."""
        with self._lock:
            for m in messages:
                self._pending.setdefault(m.tp, set()).add(m.offset)
                self._next[m.tp] = max(self._next.get(m.tp, 0), m.offset + 1)

    def answered(self, messages: Iterable[Message]) -> None:
        """Messages whose outcome is journaled and result sent (not flushed yet)."""
        with self._lock:
            self._answered.extend(messages)

    def take_answered(self) -> list[Message]:
        """The messages answered since the last call."""
        with self._lock:
            taken, self._answered = self._answered, []
        return taken

    def settle(self, messages: Iterable[Message]) -> None:
        """Messages that are durable: journaled and flushed, or stored in the backlog."""
        with self._lock:
            for m in messages:
                pending = self._pending.get(m.tp)
                if pending is not None:
                    pending.discard(m.offset)

    def committable(self) -> dict[TopicPartition, int]:
        """The offsets to commit now (only partitions whose offset moved)."""
        with self._lock:
            out = {}
            for tp, nxt in self._next.items():
                pending = self._pending.get(tp)
                offset = min(pending) if pending else nxt
                if offset > self._committed.get(tp, -1):
                    out[tp] = offset
            return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Offsets the consumer committed."""
        with self._lock:
            self._committed.update(offsets)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop partitions this member lost (a rebalance refused their commit): their new
        owner resumes from the group's last commit, and the journal answers what this
        member still posts of them."""
        with self._lock:
            for tp in tps:
                self._pending.pop(tp, None)
                self._next.pop(tp, None)
                self._committed.pop(tp, None)

    def pending(self) -> int:
        """Messages polled and not settled."""
        with self._lock:
            return sum(len(p) for p in self._pending.values())
