"""``/Payments`` of the Xero sandbox: list, get, create (single or batch) and delete (the
rules are in :mod:`.payments`), with the test helpers that apply and reverse payments as a
Xero user would (a mixin of :class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

from . import payments as pay
from . import replies
from .state import Org, public

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class PaymentRoutes(_Base):
    """Payments for :class:`XeroSandbox`."""

    def _payments(self: XeroSandbox, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        with self.lock:
            return self._paged(
                request,
                "Payments",
                self._org.payments.values(),
                "PaymentID",
                lambda p, _: public(p),
            )

    def _payment_get(self: XeroSandbox, request: Request) -> Response:
        payment = self._org.payments.get(request.params["id"].lower())
        return self._ok("Payments", [public(payment)]) if payment else self.error_response(404, "")

    def _payments_write(self: XeroSandbox, request: Request, *, single: bool) -> Response:
        body, bad = self._body(request, "/Payments")
        if bad:
            return bad
        return self._write_batch(
            request,
            "Payments",
            [body] if single else (body.get("Payments") or []),
            self._payment_write,
            marker="HasValidationErrors",
            summarize=single or replies.summarize(request),
        )

    def _payment_write(
        self: XeroSandbox, org: Org, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        out = pay.check_payment(org, raw)
        if not out.ok or out.doc is None:
            return replies.refused(raw, out.errors, flagged=True), False
        payment = pay.store_payment(org, out.doc)
        return {**public(payment), "StatusAttributeString": "OK"}, True

    def _payment_delete(self: XeroSandbox, request: Request) -> Response:
        body, bad = self._body(request, "/Payments/{PaymentID}")
        if bad:
            return bad
        with self.lock:
            org = self._org
            payment = org.payments.get(request.params["id"].lower())
            if payment is None:
                return self.error_response(404, "")
            if (body.get("Status") or "").upper() != "DELETED":
                errors = ["Payments can only be updated to DELETED"]  # unconfirmed
            else:
                errors = pay.delete_payment(org, payment)
            if errors:
                return replies.invalid(public(payment), errors)
            return self._ok("Payments", [public(payment)])

    def payments(self: XeroSandbox, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every payment (including DELETED ones), oldest first."""
        with self.lock:
            return [
                public(p)
                for p in sorted(self.org(tenant).payments.values(), key=lambda p: p["_seq"])
            ]

    def apply_payment(
        self: XeroSandbox,
        invoice_number: str,
        amount: Decimal | str,
        date: str | None = None,
        *,
        account_code: str = "090",
        reference: str = "",
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """Apply a payment as a Xero user would (seeds the payments-source tests).

        Raises ``ValueError`` with Xero's message when a rule refuses it.
        """
        raw: dict[str, Any] = {
            "Invoice": {"InvoiceNumber": invoice_number},
            "Account": {"Code": account_code},
            "Amount": Decimal(str(amount)),
            "Reference": reference,
        }
        if date:
            raw["Date"] = date
        with self.lock:
            org = self.org(tenant)
            out = pay.check_payment(org, raw)
            if not out.ok or out.doc is None:
                raise ValueError("; ".join(out.errors))
            return public(pay.store_payment(org, out.doc))

    def delete_payment(
        self: XeroSandbox, payment_id: str, *, tenant: str | None = None
    ) -> dict[str, Any]:
        """Reverse a payment as a Xero user would (``Status: DELETED``)."""
        with self.lock:
            org = self.org(tenant)
            payment = org.payments[payment_id.lower()]
            errors = pay.delete_payment(org, payment)
            if errors:
                raise ValueError("; ".join(errors))
            return public(payment)
