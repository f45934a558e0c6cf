"""The QuickBooks Online target: ConnectWise invoices, credit memos, expenses, procurement
and inventory journals into one QBO company per wisesync company.

``prepare`` connects (OAuth, see :mod:`wisesync_qbo.connection`) and loads the realm's
reference data, cached per realm for ``reference_ttl``; ``validate`` checks a record
against it without any call; ``post`` sends a batch through ``/batch``
(:mod:`wisesync_qbo.post`); ``find_existing`` looks documents up by DocNumber for crash
reconciliation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.events.models import PostOutcome, RecordEvent, RecordType
from wisesync.messages import Message
from wisesync.preflight import Check, try_session
from wisesync.protocols import PluginRuntime, Target, TargetContext
from wisesync.ratelimit import CallLimiter
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.client import read_lists
from wisesync_qbo.connection import Connections
from wisesync_qbo.contacts import PARTIES, PartyBook, fill
from wisesync_qbo.limits import BATCH_LIMITS, LIMITS
from wisesync_qbo.mapping import Plan, plan
from wisesync_qbo.post import find_plans, post_plans
from wisesync_qbo.reference import ENTITIES, ReferenceData, parse
from wisesync_qbo.settings import QboSettings


@dataclass(slots=True)
class QboContext(TargetContext):
    """The prepared state of one company: client, settings, reference data and parties."""

    client: Any = None
    settings: QboSettings | None = None
    parties: PartyBook = field(default_factory=PartyBook)
    #: the plans ``validate`` made, for ``post`` to take (the poster validates a record
    #: just before posting it): event id -> (record, plan), the latest few only
    plans: dict[str, tuple[RecordEvent, Plan]] = field(default_factory=dict)


@dataclass(slots=True)
class _RealmCache:
    reference: ReferenceData
    parties: PartyBook


class QboTarget(Target[QboContext]):
    """Posts to one QuickBooks Online company per wisesync company."""

    name: ClassVar[str] = "qbo"
    record_types: ClassVar[frozenset[RecordType]] = frozenset(
        {RecordType.INVOICE, RecordType.CREDIT_MEMO, RecordType.EXPENSE, RecordType.PROCUREMENT}
    )
    limits = LIMITS
    uses_token_store: ClassVar[bool] = True  # OAuth tokens: WISESYNC_SECRET_KEY

    def __init__(self, runtime: PluginRuntime):
        super().__init__(runtime)
        self.connections = Connections(runtime)
        self._cache: dict[tuple[str, str], _RealmCache] = {}
        self._batch_windows: dict[str, CallLimiter] = {}
        self._lock = threading.Lock()

    def check_online(self, company: CompanyConfig) -> list[Check]:
        """``config check --online``: the stored connection (refreshed when due) reads one
        resource."""
        return try_session(
            f"{company.key}: QuickBooks Online", self.connections, company, _company_info
        )

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.qbo]`` (no I/O)."""
        return qbo_settings.check(company)

    def prepare(self, company: CompanyConfig, limiter: CallLimiter) -> QboContext:
        """Connect and load (or reuse, within ``reference_ttl``) the realm's reference data.

        Raises :class:`~wisesync.errors.AuthError` when the connection is missing,
        expired or revoked.
        """
        settings = qbo_settings.load(company)
        with self._lock:  # one window of batch requests per company, as QBO keeps per realm
            window = self._batch_windows.setdefault(
                company.key, CallLimiter(BATCH_LIMITS, limiter.clock, system="qbo batch")
            )
        client = self.connections.client(company, limiter=limiter, batch_limiter=window)
        now = limiter.clock.now()
        key = (company.key, client.realm_id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or now - cached.reference.loaded_at >= settings.reference_ttl:
            parties = cached.parties if cached else PartyBook()
            # customers and vendors due too: their queries ride in the same batch call
            with_parties = now - parties.loaded_at >= settings.customers_ttl
            lists = ENTITIES + (PARTIES if with_parties else ())
            rows = read_lists(client, lists, first_page_only=PARTIES)
            if with_parties:
                fill(parties, rows, now)
            cached = _RealmCache(parse(rows, now), parties)
            with self._lock:
                self._cache[key] = cached
        return QboContext(
            company=company,
            limiter=limiter,
            reference=cached.reference,
            prepared_at=datetime.now(UTC),
            client=client,
            settings=settings,
            parties=cached.parties,
        )

    def connect(self, company: CompanyConfig) -> None:
        """An access token for ``company`` in the token store (QBO's token endpoint is
        not counted against the API limits)."""
        self.connections.auth(company).access_token()

    def invalidate(self, company: CompanyConfig) -> None:
        """Reload the reference data and customers on the next prepare (a replay after a
        fix in QuickBooks) and re-read the stored token (a reconnect)."""
        with self._lock:
            for key, cached in list(self._cache.items()):
                if key[0] == company.key:
                    cached.reference.loaded_at = float("-inf")
                    cached.parties.loaded_at = float("-inf")
        self.connections.forget(company.key)

    def _plan(self, record: RecordEvent, ctx: QboContext) -> Plan:
        assert ctx.settings is not None
        return plan(record, ctx.reference, ctx.company.options, ctx.settings.tracking)

    def validate(self, record: RecordEvent, ctx: QboContext) -> list[Message]:
        """Every error and warning the record earns, from cached data (no call)."""
        made = self._plan(record, ctx)
        ctx.plans[record.event_id] = (record, made)
        while len(ctx.plans) > 2 * self.limits.batch_size:
            ctx.plans.pop(next(iter(ctx.plans)))
        return list(made.messages)

    def _planned(self, record: RecordEvent, ctx: QboContext) -> Plan:
        """The plan ``validate`` made for this very record, else a new one."""
        kept = ctx.plans.pop(record.event_id, None)
        return kept[1] if kept is not None and kept[0] is record else self._plan(record, ctx)

    def find_existing(self, records: list[RecordEvent], ctx: QboContext) -> dict[str, PostOutcome]:
        """Documents QBO has for ``records`` (same entity and DocNumber, written by wisesync
        for the record), by source id; one batch of queries per 30 groups."""
        return find_plans(ctx, [self._plan(r, ctx) for r in records])

    def post(self, records: list[RecordEvent], ctx: QboContext) -> list[PostOutcome]:
        """Post a batch; one outcome per record, in order (see :mod:`wisesync_qbo.post`)."""
        plans = [self._planned(r, ctx) for r in records]
        return post_plans(ctx, plans, ctx.limiter.clock.now())


def _company_info(client: Any) -> str:
    """``config check --online``'s read: the company's CompanyInfo, then its realm."""
    client.query("SELECT * FROM CompanyInfo")
    return f"realm {client.realm_id}"
