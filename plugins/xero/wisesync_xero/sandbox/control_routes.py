"""The Xero sandbox's control API under ``/__sandbox/xero/``, for a sandbox run in another
process: its state, and the test helpers as POSTs (a mixin of
:class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class ControlRoutes(_Base):
    """The ``/__sandbox/xero/`` control API for :class:`XeroSandbox`."""

    def describe(self: XeroSandbox) -> dict[str, Any]:
        """Credentials, tenants and counters (``GET /__sandbox/xero/state``)."""
        with self.lock:
            return {
                "web_app": {"client_id": self.client_id, "client_secret": self.client_secret},
                "tenants": [
                    {
                        "tenant_id": tenant_id,
                        "name": org.name,
                        "client_id": self._custom[tenant_id].client_id,
                        "client_secret": self._custom[tenant_id].client_secret,
                        "documents": len(org.invoices) + len(org.credit_notes),
                        "manual_journals": len(org.manual_journals),
                        "currencies": sorted(org.currencies),
                        "payments": len(org.payments),
                        "contacts": len(org.contacts),
                    }
                    for tenant_id, org in self.orgs.items()
                ],
                "rate_limited": self.rate_limited,
                "idempotent_replays": self.idempotent_replays,
                "spec_violations": [
                    {"method": v.method, "path": v.path, "schema": v.schema, "messages": v.messages}
                    for v in self.spec_violations
                ],
            }

    def _xero_control(self: XeroSandbox, request: Request, what: str) -> Response:
        try:
            args = (request.json() or {}) if request.body else {}
        except ValueError:
            return Response(400, {"message": "control body must be JSON"})
        tenant = args.get("tenant")
        try:
            if what == "state" and request.method == "GET":
                return Response(200, self.describe())
            if what == "invoices" and request.method == "GET":
                return Response(200, self.invoices(tenant=request.arg("tenant")))
            if request.method != "POST":
                return Response(405, {"message": f"{request.method} not allowed"})
            if what == "accounts":
                return Response(
                    200,
                    self.create_account(
                        args["code"],
                        args["name"],
                        args.get("type", "REVENUE"),
                        tax_type=args.get("tax_type", "OUTPUT"),
                        tenant=tenant,
                    ),
                )
            if what == "tracking-options":
                option = self.create_tracking_option(
                    args["category"], args["option"], tenant=tenant
                )
                return Response(200, option)
            if what == "currencies":
                self.enable_currency(args["code"], tenant=tenant)
                return Response(204)
            if what == "archive-account":
                self.archive_account(args["code"], tenant=tenant)
                return Response(204)
            if what == "revoke":
                self.revoke(tenant)
                return Response(204)
            if what == "reconnect":
                self.reconnect(tenant)
                return Response(204)
            if what == "expire-tokens":
                return Response(200, {"expired": self.expire_tokens()})
            if what == "payments":
                payment = self.apply_payment(
                    args["invoice_number"], args["amount"], args.get("date"), tenant=tenant
                )
                return Response(200, payment)
            if what == "delete-payment":
                return Response(200, self.delete_payment(args["payment_id"], tenant=tenant))
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": f"{type(exc).__name__}: {exc}"})
        return Response(404, {"message": f"unknown control {what!r}"})
