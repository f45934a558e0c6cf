"""The source conformance suite: what every source plugin must do, run against its sandbox.

A source (ConnectWise for documents, a ledger for payments) proves the contract of
:class:`wisesync.protocols.Source` with a :class:`SourceHarness` bound to a freshly
started sandbox holding unposted records, and a test class made by
:func:`get_source_test_class`::

    TestConnectWiseSource = get_source_test_class(ConnectWiseHarness)

The suite checks, through the plugin's public protocol only:

* declarations: a lower-case name and the record types it produces;
* extraction: sealed records (content hash set) of the requested types only, for the
  company, from this source, each source id once; Decimal money; a second extraction
  with nothing changed yields the same ids and hashes; ``source_ids`` narrows it;
* acknowledgement: one outcome per result, in order; acknowledged records are not
  extracted again; acknowledging the same results again is harmless (idempotent).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from wisesync.config import CompanyConfig
from wisesync.events.models import RecordEvent, RecordType
from wisesync.protocols import Source
from wisesync.testing.conformance import harness_test_class
from wisesync.testing.records import posting_result


class SourceHarness(ABC):
    """What a plugin provides to run :class:`SourceConformance` against its sandbox."""

    #: The source under test and the company it reads.
    source: Source
    company: CompanyConfig

    @abstractmethod
    def record_types(self) -> list[RecordType]:
        """The record types the sandbox holds unposted records of (at least one each)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop the sandbox."""


def _records(harness: SourceHarness, types: list[RecordType], **kw: object) -> list[RecordEvent]:
    return [
        r
        for r in harness.source.extract(harness.company, types, **kw)  # type: ignore[arg-type]
        if isinstance(r, RecordEvent)
    ]


class SourceConformance:
    """The suite. Use :func:`get_source_test_class`, or subclass it with a ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> Iterator[SourceHarness]:  # pragma: no cover - provided by plugins
        """Override in the plugin's test class."""
        raise NotImplementedError("provide a `harness` fixture returning a SourceHarness")

    def test_declares_name_and_record_types(self, harness: SourceHarness) -> None:
        """A lower-case name and the record types it produces."""
        source = harness.source
        assert source.name and source.name == source.name.lower()
        assert set(harness.record_types()) <= set(source.record_types)

    def test_extracts_sealed_records_of_the_requested_types(self, harness: SourceHarness) -> None:
        """Each type alone yields only that type; records are sealed, for this company."""
        for record_type in harness.record_types():
            records = _records(harness, [record_type])
            assert records, f"the sandbox holds no {record_type.value}"
            for r in records:
                assert r.record_type is record_type
                assert r.source == harness.source.name and r.company == harness.company.key
                assert r.target and r.content_hash, r.source_id
                money = [m for ln in r.lines for m in (ln.line_amount, ln.tax_amount)]
                if r.totals is not None:
                    money += [r.totals.subtotal, r.totals.tax, r.totals.total]
                assert all(isinstance(m, Decimal) for m in money), r.source_id
            ids = [r.source_id for r in records]
            assert len(ids) == len(set(ids)), "a source id was yielded twice"

    def test_extraction_is_repeatable_and_narrows_to_source_ids(
        self, harness: SourceHarness
    ) -> None:
        """Nothing changed: same ids and hashes; ``source_ids`` yields only those."""
        types = harness.record_types()
        first = {r.source_id: r.content_hash for r in _records(harness, types)}
        again = {r.source_id: r.content_hash for r in _records(harness, types)}
        assert first == again
        wanted = sorted(first)[:2]
        narrowed = _records(harness, types, source_ids=wanted)
        assert sorted(r.source_id for r in narrowed) == wanted

    def test_acknowledged_records_are_not_extracted_again(self, harness: SourceHarness) -> None:
        """One outcome per result in order; acknowledged records leave; a repeat is harmless."""
        types = harness.record_types()
        records = _records(harness, types)[:3]
        results = [posting_result(r) for r in records]
        outcomes = harness.source.acknowledge(harness.company, results)
        assert [o.source_id for o in outcomes] == [r.source_id for r in records]
        assert all(o.acknowledged for o in outcomes), outcomes
        left = {r.source_id for r in _records(harness, types)}
        assert not left & {r.source_id for r in records}
        repeated = harness.source.acknowledge(harness.company, results)
        assert [o.source_id for o in repeated] == [r.source_id for r in records]
        assert all(o.error is None or o.acknowledged for o in repeated), repeated

    def test_acknowledge_each_settles_every_result_once(self, harness: SourceHarness) -> None:
        """The streaming form (what the acknowledger calls) gives one acknowledged outcome
        per result, and a repeat of it is harmless."""
        types = harness.record_types()
        records = _records(harness, types)[:3]
        results = [posting_result(r) for r in records]
        for _ in range(2):
            outcomes = list(harness.source.acknowledge_each(harness.company, results))
            assert sorted(o.result_id for o in outcomes) == sorted(r.result_id for r in results)
            assert all(o.acknowledged for o in outcomes), outcomes
        left = {r.source_id for r in _records(harness, types)}
        assert not left & {r.source_id for r in records}


def get_source_test_class(
    harness: Callable[[], SourceHarness], *, name: str | None = None
) -> type[SourceConformance]:
    """A ready test class running :class:`SourceConformance` against ``harness()``."""
    title = name or f"Test{getattr(harness, '__name__', 'Source').removesuffix('Harness')}Source"
    return harness_test_class(SourceConformance, harness, title)
