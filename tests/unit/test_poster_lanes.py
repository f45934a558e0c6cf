"""Lanes (one worker per company, bounded memory, spill) and the offsets a poster may commit."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from wisesync.pipeline.lanes import Lanes, OffsetTracker
from wisesync.transport.base import Message, TopicPartition

TP = TopicPartition("records", 0)


def _msg(offset: int, partition: int = 0) -> Message:
    return Message("records", partition, offset, b"k", b"v", [], 0)


def test_a_partition_is_committed_up_to_its_oldest_record_in_hand() -> None:
    tracker = OffsetTracker()
    msgs = [_msg(n) for n in range(5)]
    tracker.polled(msgs)
    assert tracker.committable() == {TP: 0}
    tracker.answered([msgs[1], msgs[2]])
    tracker.settle(tracker.take_answered())
    assert tracker.committable() == {TP: 0}, "offset 0 is still in hand"
    tracker.settle([msgs[0]])  # stored in the backlog
    assert tracker.committable() == {TP: 3}
    tracker.committed({TP: 3})
    tracker.settle(msgs[3:])
    assert tracker.committable() == {TP: 5}
    tracker.committed({TP: 5})
    assert tracker.committable() == {}
    tracker.polled([_msg(5, partition=1)])
    tracker.forget({TopicPartition("records", 1)})
    assert tracker.committable() == {}


class Ledgers:
    """A post function whose keys can be held until released; records the order posted."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = defaultdict(threading.Event)
        self.posted: dict[str, list[int]] = defaultdict(list)
        self.backlog: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.lock = threading.Lock()

    def post(self, key: tuple[str, str], items: list[int]) -> None:
        assert self.gates[key[0]].wait(10)
        with self.lock:
            self.posted[key[0]].extend(items)

    def load(self, key: tuple[str, str], limit: int) -> list[int]:
        with self.lock:
            taken, self.backlog[key] = self.backlog[key][:limit], self.backlog[key][limit:]
        return taken


def test_a_held_company_delays_no_other_and_spills_what_does_not_fit() -> None:
    ledgers = Ledgers()
    lanes = Lanes(ledgers.post, ledgers.load, lane_records=4, max_in_hand=6)
    ledgers.gates["two"].set()
    stalled, healthy = ("one", "xero"), ("two", "xero")
    spilled = []
    for n in range(0, 12, 2):  # one's records first, then two's, in groups of two
        for key, base in ((stalled, 0), (healthy, 100)):
            group = [base + n, base + n + 1]
            if not lanes.offer(key, group):
                ledgers.backlog[key].extend(group)
                spilled.append(key[0])
                lanes.spilled(key)
    # two's lane went on while one's held its first batch; one's later records spilled
    deadline = threading.Event()
    while len(ledgers.posted["two"]) < 12 and not deadline.wait(0.01):
        pass
    assert ledgers.posted["two"] == list(range(100, 112))
    assert ledgers.posted["one"] == [] and "one" in spilled
    assert lanes.in_hand <= 6
    ledgers.gates["one"].set()
    assert lanes.wait_idle(10)
    assert ledgers.posted["one"] == list(range(12)), "in order: memory first, then backlog"
    assert lanes.in_hand == 0 and not lanes.active() and not lanes.errors


def test_a_failed_lane_keeps_its_error_and_the_others_finish() -> None:
    done = []

    def post(key: tuple[str, str], items: list[int]) -> None:
        if key[0] == "bad":
            raise RuntimeError("lost Postgres")
        done.extend(items)

    lanes = Lanes(post, lambda key, limit: [], max_lanes=1)
    lanes.offer(("bad", "xero"), [1])
    lanes.offer(("good", "xero"), [2])
    assert lanes.wait_idle(10)
    assert done == [2] and [str(e) for e in lanes.errors] == ["lost Postgres"]
    assert lanes.in_hand == 0


def test_with_more_companies_than_workers_the_lanes_take_turns() -> None:
    """One worker, two companies with three and two batches: a lane gives its worker up
    after each batch while another waits, so neither waits for the other's whole backlog."""
    ledgers = Ledgers()
    post, order = _recording(ledgers)
    lanes = Lanes(post, ledgers.load, max_lanes=1, lane_records=2, max_in_hand=100)
    first, second = ("one", "xero"), ("two", "xero")
    for key, records in ((first, range(1, 7)), (second, range(101, 105))):
        for n in range(0, len(records), 2):
            group = list(records[n : n + 2])
            if not lanes.offer(key, group):
                ledgers.backlog[key].extend(group)
                lanes.spilled(key)
    ledgers.gates["one"].set()
    ledgers.gates["two"].set()
    assert lanes.wait_idle(10)
    assert order == [1, 2, 101, 102, 3, 4, 103, 104, 5, 6]
    assert lanes.in_hand == 0


def test_a_turn_is_at_most_turn_records_while_other_lanes_wait() -> None:
    """Records in memory are posted in turns too: a lane holding several groups posts
    ``turn_records`` of them while another lane waits, not all it holds."""
    ledgers = Ledgers()
    post, order = _recording(ledgers)
    lanes = Lanes(post, ledgers.load, max_lanes=1, lane_records=10, turn_records=2)
    first, second = ("one", "xero"), ("two", "xero")
    assert lanes.offer(first, [1, 2])  # its worker starts and holds at the gate
    for key, group in ((first, [3, 4]), (first, [5, 6]), (second, [101, 102])):
        assert lanes.offer(key, group)
    assert lanes.offer(second, [103, 104])
    ledgers.gates["one"].set()
    ledgers.gates["two"].set()
    assert lanes.wait_idle(10)
    assert order == [1, 2, 101, 102, 3, 4, 103, 104, 5, 6]


def test_release_idle_forgets_only_lanes_with_nothing_in_memory_and_no_worker() -> None:
    """A company whose partition moved away: its lane is let go while only its backlog is
    left (so the new holder posts it), never while it posts or holds records."""
    ledgers = Ledgers()
    lanes = Lanes(ledgers.post, ledgers.load, max_lanes=1)
    running, in_memory, backlog_only = ("one", "xero"), ("two", "xero"), ("three", "xero")
    assert lanes.offer(running, [1])  # its worker starts and holds at the gate
    assert lanes.offer(in_memory, [2])  # waits for the worker, records in memory
    ledgers.backlog[backlog_only].append(3)
    lanes.spilled(backlog_only)  # waits for the worker, records in the backlog only
    released = lanes.release_idle([running, in_memory, backlog_only, ("four", "xero")])
    assert released == {backlog_only}
    assert lanes.active() == {running, in_memory}
    for gate in ("one", "two", "three"):
        ledgers.gates[gate].set()
    assert lanes.wait_idle(10)
    assert ledgers.posted["one"] == [1] and ledgers.posted["two"] == [2]
    assert ledgers.posted["three"] == [], "its backlog is left to the poster it moved to"
    assert not lanes.active() and lanes.in_hand == 0


def _recording(ledgers: Ledgers) -> tuple[Callable[[tuple[str, str], list[int]], None], list[int]]:
    """A post function through ``ledgers`` and the list of records in the order posted."""
    order: list[int] = []

    def post(key: tuple[str, str], items: list[int]) -> None:
        ledgers.post(key, items)
        order.extend(items)

    return post, order
