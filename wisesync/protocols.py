"""The small protocols the core calls: :class:`Source` and :class:`Target`.

Plugins hand these classes to the core through the registration hooks in
:mod:`wisesync.hookspecs`. The core instantiates each class once per process
with a :class:`PluginRuntime` and calls the methods below; a plugin never
reaches into the pipeline, the journal or the transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from wisesync.events.models import PostingResult, PostOutcome, RecordEvent, RecordType
from wisesync.messages import Message
from wisesync.ratelimit import CallLimiter, Clock, TargetLimits

if TYPE_CHECKING:
    from wisesync.config import AppConfig, CompanyConfig, ConfigProblem
    from wisesync.preflight import Check
    from wisesync.store.posted import JournalEntry


@dataclass(slots=True)
class Held:
    """A record the source saw but will not publish (e.g. a billing-status hold)."""

    record_type: RecordType
    source_id: str
    code: str
    text: str
    document_number: str | None = None


@dataclass(slots=True)
class AckOutcome:
    """The source's answer for one acknowledged result."""

    result_id: str
    source_id: str
    acknowledged: bool
    batch_id: str | None = None
    error: str | None = None


@dataclass(slots=True)
class PluginRuntime:
    """What the core lends every plugin instance.

    Attributes:
        config: the whole validated configuration.
        db: a :class:`wisesync.store.db.Database` (psycopg pool), or None when a
            command runs without a store (``config check``).
        clock: time source, scaled in simulations.
        environ: where secret references (``*_env`` settings) are resolved.
    """

    config: AppConfig
    db: Any = None
    clock: Clock = field(default_factory=Clock)
    environ: dict[str, str] | None = None

    def secret(self, env_name: str, *, key: str) -> str:
        """The value of the environment variable a setting ``key`` names.

        Raises ConfigError naming ``key`` (never the value) when unset.
        """
        import os

        from wisesync.errors import ConfigError
        from wisesync.fields import is_env_name

        if not is_env_name(env_name):  # most likely the secret itself: never echo it
            raise ConfigError(
                "expected the NAME of an environment variable, not the secret itself",
                key=key,
                hint="name a variable such as ACME_SECRET and export it",
            )
        env = self.environ if self.environ is not None else os.environ
        value = env.get(env_name)
        if not value:
            raise ConfigError(
                f"environment variable {env_name} is not set",
                key=key,
                hint=f"export {env_name}=... before starting wisesync",
            )
        return value

    def posted(
        self,
        company: str,
        target: str,
        *,
        ledger_ids: Collection[str] | None = None,
        source_ids: Collection[str] | None = None,
    ) -> list[JournalEntry]:
        """Read-only journal API: the records of ``company`` wisesync posted to ``target``
        (source id, ledger id and number), narrowed to the ``ledger_ids`` (any case) or
        ``source_ids`` given. Empty without a store."""
        from wisesync.store.posted import posted_entries

        return posted_entries(
            self.db, company, target, ledger_ids=ledger_ids, source_ids=source_ids
        )


@dataclass(slots=True)
class TargetContext:
    """Per-company state a target builds in :meth:`Target.prepare` and gets back
    on every call: the company, the call limiter the poster enforces, and the
    target's own cached reference data (chart of accounts, tax rates, items,
    contacts, tracking)."""

    company: CompanyConfig
    limiter: CallLimiter
    reference: Any = None
    prepared_at: datetime | None = None


class Preflight:
    """What ``wisesync config check`` asks every source and target (both inherit this).

    Class attributes:
        uses_token_store: the plugin keeps OAuth tokens in the encrypted token store, so a
            start needs ``WISESYNC_SECRET_KEY`` (the core checks it once).
    """

    name: ClassVar[str]
    uses_token_store: ClassVar[bool] = False
    runtime: PluginRuntime

    def check_ready(self, company: CompanyConfig) -> list[ConfigProblem]:
        """What a start would need beyond well-formed settings (no I/O), keys relative to
        the company. Default: every environment variable a ``*_env`` setting of the
        plugin's section names is set (:func:`wisesync.preflight.env_problems`)."""
        from wisesync.preflight import env_problems

        return env_problems(self.name, company.section(self.name), self.runtime.environ)

    def check_online(self, company: CompanyConfig) -> list[Check]:
        """``config check --online``: try the company's connection (one cheap read) and say
        :class:`~wisesync.preflight.Check` ok or why not, never a secret. Default: nothing
        to try (a plugin without a remote end)."""
        return []


class Source(Preflight, ABC):
    """Where records come from (ConnectWise for documents; a ledger for payments).

    Class attributes:
        name: the plugin name records carry in ``source`` (``"connectwise"``).
        record_types: the record types :meth:`extract` can produce.
    """

    name: ClassVar[str]
    record_types: ClassVar[frozenset[RecordType]]

    def __init__(self, runtime: PluginRuntime):
        self.runtime = runtime

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate this plugin's settings section of ``company``; no I/O. Default: none."""
        return []

    @abstractmethod
    def extract(
        self,
        company: CompanyConfig,
        record_types: Collection[RecordType],
        since: datetime | None = None,
        source_ids: Collection[str] | None = None,
    ) -> Iterator[RecordEvent | Held]:
        """Yield every unposted record of ``record_types`` for ``company``.

        Yields sealed :class:`RecordEvent` objects (``target`` set, content hash
        computed) and :class:`Held` for records deliberately not published. With
        ``source_ids`` only those records are looked at (replay); a requested id
        that is no longer unposted is simply not yielded.
        """

    @abstractmethod
    def acknowledge(self, company: CompanyConfig, results: list[PostingResult]) -> list[AckOutcome]:
        """Mark posted results as posted at the source; one outcome per result.

        Must be idempotent: a retry after a lost response never acknowledges twice.
        """

    def acknowledge_each(
        self, company: CompanyConfig, results: list[PostingResult]
    ) -> Iterator[AckOutcome]:
        """:meth:`acknowledge`, yielding each outcome as soon as it is settled.

        The acknowledger records outcomes as they come, so a process killed in the middle
        of a long call (one ConnectWise batch per record is one POST each) keeps what was
        already acknowledged instead of redoing the whole call's bookkeeping. Override it
        when the source settles results one by one; the default yields :meth:`acknowledge`'s
        list at the end. Outcomes may come in any order; a result with no outcome counts as
        not acknowledged.
        """
        yield from self.acknowledge(company, results)


#: the context type a target's :meth:`Target.prepare` returns and its other methods get back
C = TypeVar("C", bound=TargetContext)


class Target(Preflight, ABC, Generic[C]):
    """Where records are posted (a ledger; ConnectWise for payments).

    Generic over its context: ``class MyTarget(Target[MyContext])`` gets back, in
    ``validate``, ``find_existing`` and ``post``, the very context its ``prepare``
    returned, typed as such (no downcast). ``Target`` alone means ``Target[TargetContext]``.

    Class attributes:
        name: the plugin name records carry in ``target`` (``"xero"``).
        record_types: the record types it accepts.
        limits: its API limits, enforced by the poster through the context's limiter.
        refresh_token_lifetime: how long the ledger keeps an unused OAuth refresh token
            (None: no such expiry); the notifier warns before a connection lapses.
    """

    name: ClassVar[str]
    record_types: ClassVar[frozenset[RecordType]]
    limits: ClassVar[TargetLimits] = TargetLimits()
    refresh_token_lifetime: ClassVar[timedelta | None] = None

    def __init__(self, runtime: PluginRuntime):
        self.runtime = runtime

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate this plugin's settings section of ``company``; no I/O. Default: none."""
        return []

    def connect(self, company: CompanyConfig) -> None:
        """Make ``company``'s ledger credentials ready (an access token in the token store)
        without a call the ledger's API limits count.

        An interactive Sync All calls it as it starts, while it is still finding out
        whether a daemon or the command itself will post, so the token is not fetched on
        the way to the first posted record. Raises AuthError like :meth:`prepare`; the
        caller only logs it (the posting meets and reports it). Default: nothing to do.
        """

    @abstractmethod
    def prepare(self, company: CompanyConfig, limiter: CallLimiter) -> C:
        """Connect and load (or refresh from cache) the reference data for ``company``.

        Raises :class:`wisesync.errors.AuthError` when the connection is invalid.
        """

    @abstractmethod
    def validate(self, record: RecordEvent, ctx: C) -> list[Message]:
        """Check one record against the reference data before any posting call.

        Returns messages; any error-severity message keeps the record from being posted.
        """

    @abstractmethod
    def find_existing(self, records: list[RecordEvent], ctx: C) -> dict[str, PostOutcome]:
        """Look records up in the ledger (by document number / reference).

        Used to reconcile journal rows left ``claimed`` by a crash. Returns outcomes
        (status ``posted``) keyed by source id for the records that exist; absent
        records are left out.
        """

    @abstractmethod
    def post(self, records: list[RecordEvent], ctx: C) -> list[PostOutcome]:
        """Post a batch (at most ``limits.batch_size``) and return one outcome per record,
        in the same order. Must send a ledger-side idempotency key derived from the
        batch content, so a retry of the same batch is not applied twice."""

    def invalidate(self, company: CompanyConfig) -> None:
        """Forget what :meth:`prepare` cached for ``company`` (reference data, clients).

        Called before a replay (the user fixed something at the ledger) and after an
        authentication failure (they may have reconnected). Default: nothing cached.
        """

    def supports(self, record_type: RecordType) -> bool:
        """True when this target accepts ``record_type``."""
        return record_type in self.record_types


def outcomes_by_id(outcomes: Iterable[PostOutcome]) -> dict[str, PostOutcome]:
    """Index outcomes by source id."""
    return {o.source_id: o for o in outcomes}
