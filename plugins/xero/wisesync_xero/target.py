"""The Xero target: ConnectWise invoices, credit memos, expenses and procurement into Xero.

``prepare`` connects (OAuth, see :mod:`wisesync_xero.oauth`) and loads the tenant's
reference data, cached per tenant for ``reference_ttl``; ``validate`` checks a record
against it without any call; ``post`` sends a batch (:mod:`wisesync_xero.post`);
``find_existing`` looks documents up by number for crash reconciliation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.events.models import PostOutcome, RecordEvent, RecordType
from wisesync.messages import Message
from wisesync.preflight import Check, try_session
from wisesync.protocols import PluginRuntime, Target, TargetContext
from wisesync.ratelimit import CallLimiter
from wisesync_xero import settings as xero_settings
from wisesync_xero.connection import Connections
from wisesync_xero.contacts import ContactBook
from wisesync_xero.limits import LIMITS
from wisesync_xero.mapping import Plan, plan
from wisesync_xero.post import find_plans, post_plans
from wisesync_xero.reference import ReferenceData, load_reference
from wisesync_xero.settings import XeroSettings


@dataclass(slots=True)
class XeroContext(TargetContext):
    """The prepared state of one company: the API client, settings, reference data
    (``reference``) and the contact book."""

    client: Any = None
    settings: XeroSettings | None = None
    contacts: ContactBook = field(default_factory=ContactBook)


@dataclass(slots=True)
class _TenantCache:
    reference: ReferenceData
    contacts: ContactBook


class XeroTarget(Target[XeroContext]):
    """Posts to one Xero organisation per company."""

    name: ClassVar[str] = "xero"
    record_types: ClassVar[frozenset[RecordType]] = frozenset(
        {RecordType.INVOICE, RecordType.CREDIT_MEMO, RecordType.EXPENSE, RecordType.PROCUREMENT}
    )
    limits = LIMITS
    uses_token_store: ClassVar[bool] = True  # OAuth tokens: WISESYNC_SECRET_KEY
    #: Xero drops a refresh token unused for 60 days (developer docs, "Refresh tokens")
    refresh_token_lifetime = timedelta(days=60)

    def __init__(self, runtime: PluginRuntime):
        super().__init__(runtime)
        self.connections = Connections(runtime)
        self._cache: dict[tuple[str, str | None], _TenantCache] = {}
        self._lock = threading.Lock()

    def check_online(self, company: CompanyConfig) -> list[Check]:
        """``config check --online``: the stored connection (refreshed when due) reads one
        resource."""
        return try_session(f"{company.key}: Xero", self.connections, company, _organisation)

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.xero]`` (no I/O)."""
        return xero_settings.check(company)

    def prepare(self, company: CompanyConfig, limiter: CallLimiter) -> XeroContext:
        """Connect and load (or reuse, within ``reference_ttl``) the tenant's reference data.

        Raises :class:`~wisesync.errors.AuthError` when the connection is missing,
        expired or revoked.
        """
        settings = xero_settings.load(company)
        client = self.connections.client(company, limiter=limiter)
        now = limiter.clock.now()
        key = (company.key, client.tenant_id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or now - cached.reference.loaded_at >= settings.reference_ttl:
            reference = load_reference(client.get_json, now)
            cached = _TenantCache(reference, cached.contacts if cached else ContactBook())
            with self._lock:
                self._cache[key] = cached
        return XeroContext(
            company=company,
            limiter=limiter,
            reference=cached.reference,
            prepared_at=datetime.now(UTC),
            client=client,
            settings=settings,
            contacts=cached.contacts,
        )

    def connect(self, company: CompanyConfig) -> None:
        """An access token for ``company`` in the token store (Xero's token endpoint is
        not counted against the API limits)."""
        self.connections.auth(company).access_token()

    def invalidate(self, company: CompanyConfig) -> None:
        """Reload accounts, tax rates, items and tracking on the next prepare (a replay
        after a fix in Xero) and re-read the stored token (a reconnect); the contact book
        is kept."""
        with self._lock:
            for key, cached in list(self._cache.items()):
                if key[0] == company.key:
                    cached.reference.loaded_at = float("-inf")
        self.connections.forget(company.key)

    def _plan(self, record: RecordEvent, ctx: XeroContext) -> Plan:
        assert ctx.settings is not None
        return plan(
            record,
            ctx.reference,
            ctx.company.options,
            ctx.settings.tracking,
            ctx.settings.approval,
        )

    def validate(self, record: RecordEvent, ctx: XeroContext) -> list[Message]:
        """Every error and warning the record earns, computed from cached data (no call)."""
        return self._plan(record, ctx).messages

    def find_existing(self, records: list[RecordEvent], ctx: XeroContext) -> dict[str, PostOutcome]:
        """Documents wisesync wrote to Xero for ``records``, by source id: same type, number,
        date and the reference we sent (:mod:`wisesync_xero.recognise`), never compared by
        contact, which may have been renamed or merged since.

        ACCREC invoices by ``InvoiceNumbers=``, bills by number (their UI "Reference"),
        credit notes by ``CreditNoteNumber``; one GET per 40 numbers.
        """
        return find_plans(ctx, [self._plan(r, ctx) for r in records])

    def post(self, records: list[RecordEvent], ctx: XeroContext) -> list[PostOutcome]:
        """Post a batch; one outcome per record, in order (see :mod:`wisesync_xero.post`)."""
        plans = [self._plan(r, ctx) for r in records]
        return post_plans(ctx, plans, ctx.limiter.clock.now())


def _organisation(client: Any) -> str:
    """``config check --online``'s read: the organisation, then the tenant it answered for."""
    client.get_json("/Organisation")
    return f"tenant {client.tenant_id}"
