"""What every ledger's payments source shares: payments applied in a ledger, read since a
watermark, become PAYMENT records for the target that applies them (ConnectWise).

* :class:`LedgerPaymentsSource` -- the base of a ledger plugin's payments source: one call
  limiter per company (the ledger's declared limits), the company's client through the
  plugin's connections, the watermark (``plugin_state``: company, plugin name,
  ``payments_watermark``) read here and moved only by :meth:`acknowledge`, to the newest
  update the target accepted, so a crash re-reads rather than skips (the posting journal
  makes the re-read harmless);
* :func:`payment_event` -- the sealed PAYMENT record of one payment (or of its reversal),
  carrying its update time in ``source_batch_ids`` (``updated:<iso>``) for the watermark.

A plugin says how its ledger writes times (:meth:`LedgerPaymentsSource.parse_time`) and
what its payments look like; the rest is here, once.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from wisesync.config import CompanyConfig
from wisesync.documents import advance_watermark
from wisesync.events.models import Contact, Payment, PostingResult, RecordEvent, RecordType
from wisesync.protocols import AckOutcome, PluginRuntime, Source
from wisesync.ratelimit import CallLimiter, TargetLimits
from wisesync.store.state import PluginState, plugin_state

#: the plugin state key of a company's payments watermark
WATERMARK_KEY = "payments_watermark"
#: the suffix of a reversal's source id (``<payment id>:reversed``)
REVERSED_SUFFIX = ":reversed"


def payment_event(
    company: CompanyConfig,
    *,
    source: str,
    source_id: str,
    ledger_payment_id: str,
    invoice_number: str,
    amount: Decimal,
    paid_on: date,
    updated: datetime | None,
    reversed_: bool = False,
    reference: str | None = None,
    currency: str | None = None,
    account: str | None = None,
    contact: Contact | None = None,
    attributes: dict[str, str] | None = None,
    target: str | None = None,
) -> RecordEvent:
    """The sealed PAYMENT record of a ledger payment applied to invoice ``invoice_number``
    (``reversed_``: the payment was deleted in the ledger, so it is taken back).

    ``target`` defaults to the company's payments target; ``updated`` (the ledger's last
    update of the payment) rides in ``source_batch_ids`` for :meth:`LedgerPaymentsSource.
    acknowledge`.
    """
    return RecordEvent(
        company=company.key,
        source=source,
        target=target or company.target_for(RecordType.PAYMENT),
        record_type=RecordType.PAYMENT,
        source_id=source_id,
        document_number=invoice_number,
        reference=reference or None,
        date=paid_on,
        currency=currency or None,
        contact=contact,
        payment=Payment(
            ledger_payment_id=ledger_payment_id,
            invoice_number=invoice_number,
            amount=amount,
            date=paid_on,
            account=account or None,
            reversed=reversed_,
        ),
        source_batch_ids=[f"updated:{updated.isoformat()}"] if updated else [],
        attributes=dict(attributes or {}),
    ).seal()


class LedgerPaymentsSource(Source):
    """The shared half of a ledger's payments source (PAYMENT records for ConnectWise).

    A subclass sets ``name`` (its plugin), ``limits`` (its ledger's
    :class:`~wisesync.ratelimit.TargetLimits`), ``connections_class`` (its plugin's
    connections: ``connections_class(runtime).client(company, limiter=...)`` returns the
    ledger's API client), :meth:`parse_time`, ``check_company`` and ``extract``.

    Args:
        state: where the watermark is kept (default: the store's plugin state).
        connections: the ledger connections (default: ``connections_class(runtime)``).
    """

    record_types: ClassVar[frozenset[RecordType]] = frozenset({RecordType.PAYMENT})
    #: the ledger's call limits, enforced per company on the source's calls
    limits: ClassVar[TargetLimits]
    #: the plugin's connections, built with the runtime when none is given
    connections_class: ClassVar[Any]

    def __init__(
        self,
        runtime: PluginRuntime,
        *,
        state: PluginState | None = None,
        connections: Any = None,
    ):
        super().__init__(runtime)
        self.connections = connections or self.connections_class(runtime)
        self.state = state or plugin_state(runtime.db, self.name)
        self._limiters: dict[str, CallLimiter] = {}
        self._lock = threading.Lock()

    @staticmethod
    def parse_time(value: Any) -> datetime | None:
        """A ledger time (as the ledger writes it, or ISO text) -> aware UTC datetime; None
        when it is not one."""
        raise NotImplementedError

    def client(self, company: CompanyConfig) -> Any:
        """The ledger client of ``company``, its calls under the company's limiter."""
        with self._lock:
            limiter = self._limiters.get(company.key)
            if limiter is None:
                limiter = self._limiters[company.key] = CallLimiter(
                    self.limits, self.runtime.clock, system=self.name
                )
        return self.connections.client(company, limiter=limiter)

    def watermark(self, company: str) -> datetime | None:
        """The stored watermark of ``company`` (None: never acknowledged)."""
        return self.parse_time(self.state.get(company, WATERMARK_KEY))

    def acknowledge(self, company: CompanyConfig, results: list[PostingResult]) -> list[AckOutcome]:
        """Advance the watermark to the newest payment the target accepted.

        Idempotent: the watermark only moves forward.
        """
        return advance_watermark(self.state, company.key, WATERMARK_KEY, results, self.parse_time)
