"""ConnectWise as the target of PAYMENT records: ledger payments applied to CW invoices.

A payment from the ledger names the invoice by number (Wise-Sync matches only on
the exact invoice number). It is applied with ``POST
/finance/invoices/{id}/payments`` carrying the ledger payment id as the CW
payment's ``transactionId``: that id is how a repeated payment event, or a retry
after a lost response, is recognised: the invoice's payments are read and a
payment with the same transaction id means it is already applied. A reversed
payment deletes the applied one (``DELETE /finance/invoices/{id}/payments/{pid}``).

Errors a person can act on: INVOICE_NOT_FOUND (no CW invoice with that number),
PAYMENT_EXCEEDS_BALANCE (more than is owed), LEDGER_VALIDATION (ConnectWise
refused it, e.g. a credit memo), RECORD_INVALID (the event lacks what is needed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from wisesync.config import CompanyConfig, ConfigProblem
from wisesync.errors import RemoteError
from wisesync.events.models import PostOutcome, RecordEvent, RecordType, Status
from wisesync.http import ResponseLost
from wisesync.messages import Message, message
from wisesync.money import fmt, round_money
from wisesync.protocols import Target, TargetContext
from wisesync.ratelimit import CallLimiter, TargetLimits
from wisesync_connectwise import settings
from wisesync_connectwise.client import (
    LIMITS,
    ConnectWiseClient,
    ConnectWiseError,
    client_for,
)
from wisesync_connectwise.conditions import in_
from wisesync_connectwise.fields import dec, text

log = logging.getLogger(__name__)

INVOICES = "/finance/invoices"
#: The CW payment field that carries the ledger payment id.
MARKER = "transactionId"
POST_ATTEMPTS = 3


@dataclass(slots=True)
class _Invoice:
    id: int
    number: str
    balance: Decimal
    paid: Decimal


class ConnectWisePayments(Target):
    """Applies ledger payments to ConnectWise invoices, each exactly once."""

    name: ClassVar[str] = "connectwise"
    record_types: ClassVar[frozenset[RecordType]] = frozenset({RecordType.PAYMENT})
    limits: ClassVar[TargetLimits] = LIMITS

    def check_company(self, company: CompanyConfig) -> list[ConfigProblem]:
        """Validate ``[companies.connectwise]`` (shared with the source)."""
        return settings.check(company)

    def prepare(self, company: CompanyConfig, limiter: CallLimiter) -> TargetContext:
        """Connect (checking the credentials with one call); no reference data to load."""
        client = client_for(self.runtime, company, limiter=limiter)
        client.get("/system/info")  # raises ConnectWiseAuthError on bad credentials
        return TargetContext(company=company, limiter=limiter, reference=client)

    def validate(self, record: RecordEvent, ctx: TargetContext) -> list[Message]:
        """The event must name an invoice, a positive amount and a ledger payment id."""
        p = record.payment
        if p is None:
            return [message("RECORD_INVALID", "the payment event carries no payment")]
        problems = []
        if not text(p.invoice_number):
            problems.append(message("RECORD_INVALID", "the ledger payment names no invoice number"))
        if not text(p.ledger_payment_id):
            problems.append(message("RECORD_INVALID", "the ledger payment has no id"))
        if p.amount is None or p.amount <= 0:
            problems.append(
                message("RECORD_INVALID", f"payment amount {fmt(p.amount)} is not positive")
            )
        return problems

    def find_existing(
        self, records: list[RecordEvent], ctx: TargetContext
    ) -> dict[str, PostOutcome]:
        """Payments already applied (or, for reversals, already gone) in ConnectWise."""
        client: ConnectWiseClient = ctx.reference
        invoices = self._invoices(client, records)
        found: dict[str, PostOutcome] = {}
        for record in records:
            p = record.payment
            inv = invoices.get(p.invoice_number) if p else None
            if p is None or inv is None:
                continue
            applied = self._applied(client, inv, p.ledger_payment_id)
            if applied is not None and not p.reversed:
                found[record.source_id] = self._posted(record, inv, applied)
            elif applied is None and p.reversed:
                found[record.source_id] = PostOutcome(
                    record.source_id, Status.POSTED, ledger_number=inv.number
                )
        return found

    def post(self, records: list[RecordEvent], ctx: TargetContext) -> list[PostOutcome]:
        """Apply (or reverse) each payment once; one outcome per record, in order."""
        client: ConnectWiseClient = ctx.reference
        invoices = self._invoices(client, records)
        outcomes = []
        for record in records:
            try:
                outcomes.append(self._post_one(client, record, invoices))
            except ResponseLost as exc:
                outcomes.append(self._failed(record, "LEDGER_UNAVAILABLE", str(exc)))
            except RemoteError as exc:
                if exc.status in (401, 403):
                    raise
                outcomes.append(self._failed(record, "LEDGER_VALIDATION", str(exc)))
        return outcomes

    # --- one payment ----------------------------------------------------------------

    def _post_one(
        self, client: ConnectWiseClient, record: RecordEvent, invoices: dict[str, _Invoice]
    ) -> PostOutcome:
        problems = self.validate(record, None)  # type: ignore[arg-type]
        if problems:
            return PostOutcome(record.source_id, Status.FAILED, messages=problems)
        p = record.payment
        assert p is not None
        inv = invoices.get(p.invoice_number)
        if inv is None:
            return self._failed(
                record,
                "INVOICE_NOT_FOUND",
                f"ConnectWise has no invoice numbered {p.invoice_number!r}",
            )
        applied = self._applied(client, inv, p.ledger_payment_id)
        if p.reversed:
            if applied is not None:
                client.delete(f"{INVOICES}/{inv.id}/payments/{applied['id']}")
                inv.balance += dec(applied.get("amount"))
            return PostOutcome(
                record.source_id,
                Status.POSTED,
                ledger_id=None if applied is None else str(applied["id"]),
                ledger_number=inv.number,
                ledger_total=dec(applied.get("amount")) if applied else Decimal(0),
            )
        if applied is not None:
            outcome = self._posted(record, inv, applied)
            outcome.messages.append(
                message(
                    "ALREADY_IN_LEDGER",
                    f"payment {p.ledger_payment_id} was already applied to invoice {inv.number}",
                )
            )
            return outcome
        amount = round_money(p.amount)
        if amount > inv.balance:
            return self._failed(
                record,
                "PAYMENT_EXCEEDS_BALANCE",
                f"payment {fmt(amount)} is more than the {fmt(inv.balance)} owed on invoice "
                f"{inv.number}",
            )
        body = {
            "type": "Payment",
            "invoice": {"id": inv.id},
            "amount": amount,
            "paymentDate": f"{p.date.isoformat()}T00:00:00Z",
            MARKER: p.ledger_payment_id,
        }
        path = f"{INVOICES}/{inv.id}/payments"
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                response = client.post_json(path, body)
            except ResponseLost:
                applied = self._applied(client, inv, p.ledger_payment_id, fresh=True)
                if applied is not None:
                    break
                if attempt == POST_ATTEMPTS:
                    raise
                continue
            except ConnectWiseError as exc:
                if exc.field == "amount" and "exceed" in str(exc).lower():
                    return self._failed(record, "PAYMENT_EXCEEDS_BALANCE", str(exc))
                raise
            applied = response.body if isinstance(response.body, dict) else {}
            break
        inv.balance -= amount
        inv.paid += amount
        return self._posted(record, inv, applied or {})

    # --- look-ups -------------------------------------------------------------------

    def _invoices(
        self, client: ConnectWiseClient, records: list[RecordEvent]
    ) -> dict[str, _Invoice]:
        """The CW invoices the records name, by number (one call per 200 numbers)."""
        numbers = sorted(
            {
                r.payment.invoice_number
                for r in records
                if r.payment and text(r.payment.invoice_number)
            }
        )
        found: dict[str, _Invoice] = {}
        for start in range(0, len(numbers), 200):
            chunk = numbers[start : start + 200]
            for inv in client.get_all(INVOICES, conditions=in_("invoiceNumber", chunk)):
                number = inv.get("invoiceNumber")
                if number in chunk:
                    found[number] = _Invoice(
                        id=int(inv["id"]),
                        number=number,
                        balance=dec(inv.get("balance")),
                        paid=dec(inv.get("payments")),
                    )
        return found

    def _applied(
        self,
        client: ConnectWiseClient,
        inv: _Invoice,
        ledger_payment_id: str,
        *,
        fresh: bool = False,
    ) -> dict[str, Any] | None:
        """The CW payment on ``inv`` carrying ``ledger_payment_id``, if any.

        Skips the call when the invoice showed no payments at all (unless ``fresh``).
        """
        if inv.paid == 0 and not fresh:
            return None
        for payment in client.get_all(f"{INVOICES}/{inv.id}/payments"):
            if str(payment.get(MARKER) or "") == str(ledger_payment_id):
                return payment
        return None

    @staticmethod
    def _posted(record: RecordEvent, inv: _Invoice, applied: dict[str, Any]) -> PostOutcome:
        return PostOutcome(
            record.source_id,
            Status.POSTED,
            ledger_id=str(applied["id"]) if applied.get("id") is not None else None,
            ledger_number=inv.number,
            ledger_total=dec(applied.get("amount")) if applied.get("amount") is not None else None,
        )

    @staticmethod
    def _failed(record: RecordEvent, code: str, detail: str) -> PostOutcome:
        return PostOutcome(record.source_id, Status.FAILED, messages=[message(code, detail)])
