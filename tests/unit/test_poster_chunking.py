"""How the poster cuts a company's records into chunks, and what concurrent chunks share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from wisesync.config import AppConfig, CompanyConfig
from wisesync.events.models import RecordType
from wisesync.pipeline.poster import _by_record_type, _waves
from wisesync.pipeline.targets import TargetPool
from wisesync.protocols import PluginRuntime, Target, TargetContext
from wisesync.ratelimit import CallLimiter, TargetLimits


@dataclass
class Rec:
    """The two attributes chunking looks at."""

    record_type: RecordType
    source_id: str

    @property
    def identity(self) -> tuple[str, str]:
        return (str(self.record_type), self.source_id)


INV, CR = RecordType.INVOICE, RecordType.CREDIT_MEMO


def test_records_are_grouped_by_type_in_order_of_first_appearance_and_kept_in_order() -> None:
    events = [Rec(CR, "c1"), Rec(INV, "i1"), Rec(CR, "c2"), Rec(INV, "i2"), Rec(INV, "i3")]
    assert [e.source_id for e in _by_record_type(events)] == ["c1", "c2", "i1", "i2", "i3"]


def test_chunks_hold_one_type_so_a_mixed_poll_needs_one_write_per_chunk() -> None:
    events = [Rec(CR if i % 20 == 0 else INV, str(i)) for i in range(200)]  # 10 credits
    (wave,) = _waves(events, 50)
    assert [len(c) for c in wave] == [10, 50, 50, 50, 40]  # credits first: record 0 is one
    assert all(len({e.record_type for e in chunk}) == 1 for chunk in wave)


def test_a_record_seen_twice_goes_to_a_later_wave_so_a_wave_never_shares_a_record() -> None:
    events = [Rec(INV, "a"), Rec(INV, "b"), Rec(INV, "a"), Rec(INV, "c"), Rec(INV, "a")]
    waves = _waves(events, 2)
    assert [[[e.source_id for e in c] for c in w] for w in waves] == [
        [["a", "b"], ["c"]],
        [["a"]],
        [["a"]],
    ]
    for wave in waves:
        ids = [e.identity for chunk in wave for e in chunk]
        assert len(ids) == len(set(ids))


def test_each_thread_counts_its_own_calls_on_a_shared_limiter() -> None:
    limiter = CallLimiter(TargetLimits(concurrency=4))
    counts: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def work(name: str, n: int) -> None:
        barrier.wait()
        before = limiter.thread_calls()
        for _ in range(n):
            with limiter.call():
                time.sleep(0.001)
        counts[name] = limiter.thread_calls() - before

    threads = [threading.Thread(target=work, args=(n, k)) for n, k in (("a", 3), ("b", 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"a": 3, "b": 7} and limiter.calls == 10


class SlowTarget(Target):
    """Counts prepare() calls; each takes a while (reference data over the network)."""

    name: ClassVar[str] = "slow"
    record_types: ClassVar[frozenset[RecordType]] = frozenset({INV})
    prepared = 0

    def prepare(self, company: CompanyConfig, limiter: CallLimiter) -> TargetContext:
        type(self).prepared += 1
        time.sleep(0.05)
        return TargetContext(company=company, limiter=limiter)

    def validate(self, record: Any, ctx: TargetContext) -> list:
        return []

    def find_existing(self, records: list, ctx: TargetContext) -> dict:
        return {}

    def post(self, records: list, ctx: TargetContext) -> list:
        return []


def test_chunks_of_one_company_posted_at_once_share_one_preparation() -> None:
    company = CompanyConfig(key="acme", name="Acme", ledger="slow")
    pool = TargetPool(registry=None, runtime=PluginRuntime(config=AppConfig()))  # type: ignore[arg-type]
    target = SlowTarget(pool.runtime)
    contexts = []
    threads = [
        threading.Thread(target=lambda: contexts.append(pool.context(company, target)))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert SlowTarget.prepared == 1
    assert len({id(c) for c in contexts}) == 1 and contexts[0].limiter is pool.limiter(
        "acme", target
    )


class Trickle:
    """A consumer whose records arrive in bursts of ``size`` every ``gap_s`` (a sync being
    extracted and published while the poster polls)."""

    def __init__(self, bursts: int, size: int, gap_s: float):
        self.due = [time.monotonic() + i * gap_s for i in range(bursts)]
        self.size = size

    def poll(self, timeout_s: float, max_records: int) -> list[object]:
        deadline = time.monotonic() + timeout_s
        while self.due and self.due[0] > time.monotonic():
            if self.due[0] > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return []
            time.sleep(self.due[0] - time.monotonic())
        if not self.due:
            time.sleep(timeout_s)
            return []
        self.due.pop(0)
        return [object()] * min(self.size, max_records)

    def commit_messages(self, messages: list[object]) -> None:
        self.committed = len(messages)

    def assignment(self) -> set[object]:
        return set()


class NoTransport:
    def producer(self) -> Any:
        return self


def _poster(consumer: Trickle, **options: Any) -> tuple[Any, list[int]]:
    from wisesync.pipeline.poster import Poster

    poster = Poster(
        config=AppConfig(),
        registry=None,
        db=None,
        transport=NoTransport(),
        **options,  # type: ignore[arg-type]
    )
    polls: list[int] = []
    poster._consumer = consumer
    poster.dispatch = lambda messages: polls.append(len(messages))  # type: ignore[method-assign]
    poster.release_parked = lambda **_: 0  # type: ignore[method-assign]
    poster.adopt_backlogs = lambda **_: 0  # type: ignore[method-assign]
    poster.commit = lambda: None  # type: ignore[method-assign]
    poster._producer = type("P", (), {"flush": lambda self: None})()
    return poster, polls


def test_a_poll_keeps_filling_while_records_keep_arriving() -> None:
    poster, polls = _poster(Trickle(bursts=40, size=10, gap_s=0.03), linger_s=0.1)
    poster.poll_once(1.0)
    # a fixed 0.1 s linger would stop after about 4 bursts; records kept coming for 1.2 s,
    # so the poll filled for max_linger_s (1 s)
    assert 200 <= polls[0] <= 380


def test_a_poll_stops_at_max_records_and_a_lone_record_waits_only_linger_s() -> None:
    poster, polls = _poster(Trickle(bursts=100, size=50, gap_s=0.001), max_records=300)
    poster.poll_once(1.0)
    assert polls == [300]
    poster, polls = _poster(Trickle(bursts=1, size=1, gap_s=0.0), linger_s=0.1)
    started = time.monotonic()
    poster.poll_once(1.0)
    assert polls == [1] and time.monotonic() - started < 0.5
