"""The target conformance suite: what every target plugin must do, run against its sandbox.

A target plugin (a ledger, or ConnectWise as the target of payments) proves the
contract of :class:`wisesync.protocols.Target` with a :class:`TargetHarness` bound to a
freshly started sandbox, and a test class made by :func:`get_target_test_class` (in the
manner of the Meltano SDK's ``get_target_test_class``)::

    from wisesync.testing.conformance import TargetHarness, get_target_test_class

    class LedgerHarness(TargetHarness):
        ...                                   # start the sandbox, build records

    TestLedgerTarget = get_target_test_class(LedgerHarness)

A ledger whose sandbox is built on the sandbox kit (:mod:`wisesync.testing.sandbox`)
starts from :class:`SandboxHarness`, which does the sandbox's part (calls counted, faults
armed, the server stopped) and takes the records from a
:class:`~wisesync.testing.records.RecordBuilder`.

A ledger's harness gets its error and warning cases from the shared record builders
(:class:`wisesync.testing.records.RecordBuilder`, one scenario per message code). Sources
are checked the same way: :class:`SourceHarness` and :func:`get_source_test_class` (see
:mod:`wisesync.testing.source_conformance`).

The suite checks, through the plugin's public protocol only:

* declarations: name, record types, limits (batch size, concurrency);
* posting: one outcome per record, in order, each ``posted`` record holding a
  ledger id and existing exactly once in the ledger; a full batch of
  ``limits.batch_size``; a mixed batch keeps order;
* validation: each error case the harness names fails ``validate`` with exactly
  that code, without an API call; each post-time error case fails ``post`` with its
  code; each warning case posts with its warning;
* rate limiting: 429s injected by the sandbox are waited out (never a result);
  every call goes through the context's limiter;
* idempotent retry: a write whose response is lost is retried and the ledger still
  holds one document per record;
* crash reconciliation: after a post whose outcome was lost, a new target instance
  finds every posted record with ``find_existing`` (same ledger ids) and reports
  nothing for records that were never posted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wisesync.events.models import PostOutcome, RecordEvent, Status
from wisesync.messages import Severity
from wisesync.protocols import Target, TargetContext
from wisesync.ratelimit import CallLimiter
from wisesync.testing.records import WARNING_SCENARIOS, RecordBuilder
from wisesync.testing.sandbox import Fault


class TargetHarness(ABC):
    """What a plugin provides to run :class:`TargetConformance` against its sandbox.

    Records returned by the builders must be new to the ledger each time they are
    called (fresh document numbers), so tests never collide.
    """

    #: The target under test (one instance, as the poster keeps one per process).
    target: Target

    @abstractmethod
    def context(self, target: Target | None = None) -> TargetContext:
        """A prepared context (``target.prepare`` with a limiter of the target's limits)."""

    @abstractmethod
    def valid_records(self, count: int) -> list[RecordEvent]:
        """``count`` records that validate and post cleanly (no warnings)."""

    @abstractmethod
    def error_cases(self) -> dict[str, RecordEvent]:
        """Error code -> a record ``validate`` must refuse with exactly that code."""

    @abstractmethod
    def warning_cases(self) -> dict[str, RecordEvent]:
        """Warning code -> a record that posts and carries that warning."""

    def post_error_cases(self) -> dict[str, RecordEvent]:
        """Error code -> a record that validates but ``post`` must fail with that code
        (only the ledger can tell, e.g. an unknown invoice). Default: none."""
        return {}

    @abstractmethod
    def documents_for(self, record: RecordEvent) -> int:
        """How many documents the ledger holds for ``record`` (by number/reference)."""

    @abstractmethod
    def ledger_calls(self) -> int:
        """API calls the sandbox has served so far (token endpoints excluded)."""

    @abstractmethod
    def inject_rate_limit(self, count: int, retry_after: float) -> None:
        """Make the sandbox answer the next ``count`` API calls with 429 + Retry-After."""

    @abstractmethod
    def inject_lost_response(self) -> None:
        """Make the sandbox apply the next posting write, then drop the connection."""

    def new_target(self) -> Target:
        """A new instance of the target (as after a restart). Default: same class, runtime."""
        return type(self.target)(self.target.runtime)

    def check(self) -> None:  # noqa: B027 - optional hook
        """Extra assertions after every test (e.g. no request failed the API spec)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop the sandbox."""


class SandboxHarness(TargetHarness):
    """A :class:`TargetHarness` over a sandbox-kit server for ledger plugins.

    The subclass's ``__init__`` starts the sandbox and sets ``server`` (it has ``app``
    and ``stop()``), ``app``, ``company``, ``target`` and ``records``; the class
    attributes say which request paths (regular expressions) are the ledger API calls
    (``api_path``), which ones a rate limit is injected on (``throttled_path``, default
    ``api_path``) and which write loses its response (``lost_write``: method, path).
    """

    api_path: str
    throttled_path: str = ""
    lost_write: tuple[str, str]
    server: Any
    app: Any
    company: Any
    records: RecordBuilder

    def context(self, target: Target | None = None) -> TargetContext:
        target = target or self.target
        return target.prepare(self.company, CallLimiter(target.limits))

    def valid_records(self, count: int) -> list[RecordEvent]:
        return self.records.valid(count)

    def error_cases(self) -> dict[str, RecordEvent]:
        return self.records.error_cases()

    def warning_cases(self) -> dict[str, RecordEvent]:
        return self.records.warning_cases()

    def ledger_calls(self) -> int:
        return self.app.calls(path=self.api_path)

    def inject_rate_limit(self, count: int, retry_after: float) -> None:
        path = self.throttled_path or self.api_path
        self.app.faults.arm(
            Fault(kind="rate_limit", count=count, retry_after=retry_after, path=path)
        )

    def inject_lost_response(self) -> None:
        method, path = self.lost_write
        self.app.faults.arm(Fault(kind="lose_response", method=method, path=path))

    def close(self) -> None:
        self.server.stop()


def _assert_posted(outcome: PostOutcome, record: RecordEvent) -> None:
    assert outcome.source_id == record.source_id
    assert outcome.status is Status.POSTED, (record.source_id, outcome.messages)
    assert outcome.ledger_id, f"{record.source_id}: posted without a ledger id"
    assert not any(m.severity is Severity.ERROR for m in outcome.messages), outcome.messages


class TargetConformance:
    """The suite. Subclass it and provide a ``harness`` fixture (see the module docstring)."""

    @pytest.fixture
    def harness(self) -> Iterator[TargetHarness]:  # pragma: no cover - provided by plugins
        """Override in the plugin's test class."""
        raise NotImplementedError("provide a `harness` fixture returning a TargetHarness")

    @pytest.fixture(autouse=True)
    def _harness_check(self, harness: TargetHarness) -> Iterator[None]:
        yield
        harness.check()

    # --- declarations -----------------------------------------------------------------

    def test_declares_name_types_and_limits(self, harness: TargetHarness) -> None:
        """A lower-case name, record types it supports, sane limits."""
        target = harness.target
        assert target.name and target.name == target.name.lower()
        assert target.record_types
        assert all(target.supports(t) for t in target.record_types)
        assert target.limits.batch_size >= 1
        assert target.limits.concurrency >= 1

    # --- posting ----------------------------------------------------------------------

    def test_posts_one_outcome_per_record_in_order(self, harness: TargetHarness) -> None:
        """Each record gets its outcome, in order, and exactly one ledger document."""
        records = harness.valid_records(3)
        ctx = harness.context()
        outcomes = harness.target.post(records, ctx)
        assert [o.source_id for o in outcomes] == [r.source_id for r in records]
        for outcome, record in zip(outcomes, records, strict=True):
            _assert_posted(outcome, record)
            assert harness.documents_for(record) == 1
        assert len({o.ledger_id for o in outcomes}) == len(records)

    def test_posts_a_full_batch(self, harness: TargetHarness) -> None:
        """A batch of ``limits.batch_size`` records posts whole."""
        size = harness.target.limits.batch_size
        records = harness.valid_records(size)
        outcomes = harness.target.post(records, harness.context())
        assert len(outcomes) == size
        for outcome, record in zip(outcomes, records, strict=True):
            _assert_posted(outcome, record)
        assert all(harness.documents_for(r) == 1 for r in records)

    def test_every_call_goes_through_the_limiter(self, harness: TargetHarness) -> None:
        """The context's limiter counts every call the ledger served."""
        before = harness.ledger_calls()
        ctx = harness.context()
        harness.target.post(harness.valid_records(2), ctx)
        assert ctx.limiter.calls == harness.ledger_calls() - before

    # --- validation -------------------------------------------------------------------

    def test_error_cases_fail_validation_with_their_code(self, harness: TargetHarness) -> None:
        """Each error case fails ``validate`` with its code, without any call."""
        ctx = harness.context()
        cases = harness.error_cases()
        assert cases, "the harness names no error cases"
        calls = ctx.limiter.calls
        wrong = {}
        for code, record in cases.items():
            messages = harness.target.validate(record, ctx)
            errors = {m.code for m in messages if m.severity is Severity.ERROR}
            if code not in errors:
                wrong[code] = messages
        assert not wrong, f"validate missed: {wrong}"
        assert ctx.limiter.calls == calls, "validate must not call the ledger"

    def test_post_refuses_what_validate_refuses(self, harness: TargetHarness) -> None:
        """``post`` fails invalid records itself (nothing reaches the ledger) and posts the rest."""
        cases = harness.error_cases()
        ctx = harness.context()
        good = harness.valid_records(1)
        batch = [*cases.values(), *good]
        outcomes = harness.target.post(batch, ctx)
        assert [o.source_id for o in outcomes] == [r.source_id for r in batch]
        for (code, record), outcome in zip(cases.items(), outcomes, strict=False):
            assert outcome.status is Status.FAILED, (code, outcome)
            assert code in {m.code for m in outcome.messages}, (code, outcome.messages)
            assert harness.documents_for(record) == 0
        _assert_posted(outcomes[-1], good[0])

    def test_post_error_cases_fail_with_their_code(self, harness: TargetHarness) -> None:
        """What only the ledger can refuse fails at ``post`` with its code; the rest of
        the batch posts."""
        cases = harness.post_error_cases()
        good = harness.valid_records(1)
        batch = [*cases.values(), *good]
        outcomes = harness.target.post(batch, harness.context())
        for (code, record), outcome in zip(cases.items(), outcomes, strict=False):
            assert outcome.status is Status.FAILED, (code, outcome)
            assert code in {m.code for m in outcome.messages}, (code, outcome.messages)
            assert harness.documents_for(record) == 0
        _assert_posted(outcomes[-1], good[0])

    def test_warning_cases_post_with_their_warning(self, harness: TargetHarness) -> None:
        """Each warning case posts and its outcome carries the warning."""
        cases = harness.warning_cases()
        ctx = harness.context()
        records = list(cases.values())
        outcomes = harness.target.post(records, ctx)
        for (code, record), outcome in zip(cases.items(), outcomes, strict=True):
            _assert_posted(outcome, record)
            warnings = {m.code for m in outcome.messages if m.severity is Severity.WARNING}
            assert code in warnings, (code, outcome.messages)
            validated = {m.code for m in harness.target.validate(record, ctx)}
            assert code in validated or code not in _KNOWABLE_BEFORE_POSTING

    # --- rate limits ------------------------------------------------------------------

    def test_rate_limited_calls_are_waited_out(self, harness: TargetHarness) -> None:
        """Injected 429s are waited out; no result mentions them."""
        records = harness.valid_records(2)
        ctx = harness.context()
        harness.inject_rate_limit(2, 0.05)
        outcomes = harness.target.post(records, ctx)
        for outcome, record in zip(outcomes, records, strict=True):
            _assert_posted(outcome, record)
            assert not any("429" in m.text for m in outcome.messages)
            assert harness.documents_for(record) == 1

    # --- idempotency and reconciliation ------------------------------------------------

    def test_lost_response_is_retried_without_duplicates(self, harness: TargetHarness) -> None:
        """A write whose answer was lost is retried; one document per record."""
        records = harness.valid_records(3)
        ctx = harness.context()
        harness.inject_lost_response()
        outcomes = harness.target.post(records, ctx)
        for outcome, record in zip(outcomes, records, strict=True):
            _assert_posted(outcome, record)
            assert harness.documents_for(record) == 1

    def test_find_existing_reconciles_after_a_crash(self, harness: TargetHarness) -> None:
        """A new instance finds what was posted (same ids) and nothing else."""
        posted = harness.valid_records(3)
        never = harness.valid_records(2)
        outcomes = harness.target.post(posted, harness.context())
        ids = {o.source_id: o.ledger_id for o in outcomes}
        # the process died before recording the outcomes: a new instance reconciles
        fresh = harness.new_target()
        found = fresh.find_existing([*posted, *never], harness.context(fresh))
        assert set(found) == {r.source_id for r in posted}
        for record in posted:
            outcome = found[record.source_id]
            assert outcome.status is Status.POSTED
            assert outcome.ledger_id == ids[record.source_id]
        assert all(harness.documents_for(r) == 1 for r in posted)
        assert all(harness.documents_for(r) == 0 for r in never)


#: Warnings a target can know from the record and its reference data alone (the rest,
#: such as a ledger's own warnings, appear only in the post outcome).
_KNOWABLE_BEFORE_POSTING = frozenset(WARNING_SCENARIOS)


def harness_test_class(base: type, harness: Callable[[], Any], title: str) -> type:
    """``base`` with a ``harness`` fixture that builds ``harness()`` per test and closes it."""

    def fixture(self: object) -> Iterator[Any]:
        built = harness()
        try:
            yield built
        finally:
            built.close()

    fixture.__doc__ = "A fresh harness per test, closed after it."
    return type(title, (base,), {"harness": pytest.fixture(fixture), "__doc__": title})


def get_target_test_class(
    harness: Callable[[], TargetHarness], *, name: str | None = None
) -> type[TargetConformance]:
    """A ready test class running :class:`TargetConformance` against ``harness()``.

    ``harness`` builds a fresh harness (a started sandbox) for each test; it is closed
    after the test. Bind the result to a ``Test...`` name in a test module so pytest
    collects it.
    """
    title = name or f"Test{getattr(harness, '__name__', 'Ledger').removesuffix('Harness')}Target"
    return harness_test_class(TargetConformance, harness, title)
