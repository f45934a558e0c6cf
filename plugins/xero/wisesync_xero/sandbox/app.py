"""The Xero Accounting API simulator: :class:`XeroSandbox`.

Serves ``/api.xro/2.0/...`` (Invoices, CreditNotes, Contacts, Accounts, TaxRates,
TrackingCategories, Items, Payments, Organisation, Currencies, ManualJournals),
``/connections`` and the
identity endpoints (``/connect/token``, ``/connect/revocation``,
``/identity/connect/authorize``) on one port.

Order of checks for an API call, as Xero does it: authentication (401), tenant (403),
rate limits (429; refused calls are not counted), then idempotency replay, then the
request body against the official spec (400 ``PostDataInvalidException``, also recorded in
``spec_violations``), then business rules (400 ``ValidationException`` or, with
``summarizeErrors=false``, 200 with per-element ``ValidationErrors``).

This module holds the class, its dispatch (authentication, limits, idempotency) and the
routing table; the handlers and test helpers are mixins, one per resource:
:mod:`.identity_routes` (tenants, credentials, token and connections),
:mod:`.reference_routes` (organisation, accounts, tax rates, tracking, items),
:mod:`.contact_routes`, :mod:`.document_routes` (invoices, credit notes, allocations),
:mod:`.payment_routes`, :mod:`.ledger_routes` (currencies, manual journals) and
:mod:`.control_routes` (``/__sandbox/xero/``), on the plumbing of :mod:`.handling`.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync.ratelimit import Clock
from wisesync.testing.sandbox import Request, Response, SandboxApp

from . import seed, spec
from .contact_routes import ContactRoutes
from .control_routes import ControlRoutes
from .document_routes import DocumentRoutes
from .handling import Handling
from .identity_routes import Credentials, IdentityRoutes
from .ledger_routes import LedgerRoutes
from .limits import Limits, RateLimiter
from .oauth import AuthFailure, Identity, problem, scope_allows
from .payment_routes import PaymentRoutes
from .reference_routes import ReferenceRoutes
from .rules import CREDIT_NOTE, INVOICE
from .state import Org, WallClock
from .switches import RuleSwitches

API = "/api.xro/2.0"
MAX_BODY = 3_500_000  # "A single POST ... has a size limit of 3.5MB"
IDEMPOTENCY_TTL = 360.0  # six minutes, the value third-party notes quote for Xero
_WRITE = ("PUT", "POST")


@dataclass
class _Stored:
    fingerprint: str
    expires: float
    done: threading.Event = field(default_factory=threading.Event)
    response: Response | None = None


class XeroSandbox(
    IdentityRoutes,
    ReferenceRoutes,
    ContactRoutes,
    DocumentRoutes,
    PaymentRoutes,
    LedgerRoutes,
    ControlRoutes,
    Handling,
    SandboxApp,
):
    """A stateful Xero: organisations, OAuth, rate limits, idempotency, faults.

    Args:
        seed: makes ids and seeded data deterministic.
        clock: ``now()``/``sleep()`` (``wisesync.ratelimit.Clock``, ``ScaledClock`` or
            :class:`~wisesync_xero.sandbox.state.ManualClock`); drives token expiry, rate
            windows, idempotency windows and document timestamps.
        limits: per-tenant rate limits (default Xero's 60/min, 5,000/day, 5 concurrent).
        contacts: pre-existing contacts in the first organisation (count or list).
        tenants: number of organisations (or a list of names).
        refresh_grace: seconds a rotated refresh token may still be retried (Xero: 1800;
            default 0 = strictly single use).
        auto_consent: the authorize endpoint redirects at once with a code.
        strict_spec: reject unknown elements (see ``spec.py``).
        tax_tolerance: how far a sent line ``TaxAmount`` may differ from Xero's.
        switches: which rules are on and the documented limits (:class:`RuleSwitches`;
            the unconfirmed rules can be switched off).
        currencies: the currencies every organisation has added besides its base
            currency (default USD and NZD); more per organisation with
            :meth:`enable_currency` or ``PUT /Currencies``.
    """

    system = "xero"

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        limits: Limits | None = None,
        contacts: int | Iterable[dict[str, Any] | str] | None = None,
        tenants: int | Iterable[str] = 1,
        refresh_grace: float = 0.0,
        auto_consent: bool = True,
        strict_spec: bool = True,
        tax_tolerance: Decimal = Decimal("0.01"),
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        switches: RuleSwitches | None = None,
        currencies: Iterable[str] = seed.SEED_CURRENCIES,
    ) -> None:
        super().__init__()
        self.switches = switches or RuleSwitches()
        self.currencies = tuple(currencies)
        self.seed = seed
        self.clock = clock or Clock()
        self.wall = WallClock(self.clock)
        self.identity = Identity(self.clock, refresh_grace=refresh_grace, auto_consent=auto_consent)
        self.identity.wall = self.wall  # type: ignore[attr-defined]
        self.limiter = RateLimiter(self.clock, limits)
        self.strict_spec = strict_spec
        self.tax_tolerance = tax_tolerance
        self.idempotency_ttl = idempotency_ttl
        self.rate_limited = 0
        self.spec_violations: list[spec.SpecViolation] = []
        self.orgs: dict[str, Org] = {}
        self._rng = random.Random(seed)
        self._ctx = threading.local()
        self._idem: dict[tuple[str, str], _Stored] = {}
        self._idem_lock = threading.Lock()
        self.idempotent_replays = 0
        self.app_client = self.identity.register_client()
        self._custom: dict[str, Credentials] = {}
        names = (
            [f"Org {n}" for n in range(1, tenants + 1)]
            if isinstance(tenants, int)
            else list(tenants)
        )
        if names and names[0] == "Org 1":
            names[0] = "Wisesync Demo MSP"
        self._contacts_option = contacts
        for index, name in enumerate(names):
            self.add_tenant(name, contacts=contacts if index == 0 else None)
        self._routes_setup()
        spec.fast_validator("Invoices", strict_spec)  # load the spec now, not on the first call

    def error_response(self, status: int, message: str) -> Response:
        """Xero-shaped bodies for injected faults and unknown routes."""
        if status == 404:
            return Response(
                404, problem(404, "Not Found", "The resource you're looking for cannot be found")
            )
        if status == 405:
            return Response(405, problem(405, "Method Not Allowed", message))
        if status == 429:
            return Response(
                429, problem(429, "Too Many Requests", message), {"X-Rate-Limit-Problem": "minute"}
            )
        if status >= 500:
            return Response(
                status,
                problem(
                    status,
                    "An error occurred",
                    "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status.",
                ),
            )
        return Response(status, problem(status, "Error", message))

    def dispatch(self, request: Request) -> Response:
        """Authenticate and rate-limit API calls, then run faults and the handler."""
        path = request.path
        lower = path.lower()
        self._ctx.token, self._ctx.org = None, None
        if lower.startswith("/__sandbox/xero/"):
            return self._xero_control(request, lower[len("/__sandbox/xero/") :].strip("/"))
        if lower.startswith("/__sandbox/") or not (
            lower.startswith(API.lower() + "/")
            or lower.rstrip("/") in ("/connections",)
            or lower.startswith("/connections/")
        ):
            return super().dispatch(request)
        try:
            token = self.identity.authenticate(request.headers)
            tenant = None
            if lower.startswith(API.lower()):
                tenant = self.identity.tenant_for(token, request.header("xero-tenant-id"))
                resource = lower[len(API) + 1 :].split("/", 1)[0]
                if not scope_allows(token.grant.scopes, resource, request.method):
                    detail = "AuthorizationUnsuccessful"
                    raise AuthFailure(401, problem(401, "Unauthorized", detail))
        except AuthFailure as failure:
            return Response(failure.status, failure.body, dict(failure.headers))
        if tenant is None:
            self._ctx.token, self._ctx.org = token, None
            return super().dispatch(request)
        admission = self.limiter.admit(tenant)
        if admission.problem:
            with self.lock:
                self.rate_limited += 1
            headers = {**admission.headers, "X-Rate-Limit-Problem": admission.problem}
            return Response(
                429,
                problem(429, "Too Many Requests", f"Rate limit exceeded: {admission.problem}"),
                headers,
            )
        self._ctx.token, self._ctx.org = token, self.orgs[tenant]
        if len(request.body) > MAX_BODY:
            self.limiter.release(tenant)
            body = problem(413, "Request Entity Too Large", "The request body exceeds 3.5MB")
            return Response(413, body, dict(admission.headers))
        try:
            response = super().dispatch(request)
        finally:
            self.limiter.release(tenant)
        if response.status == 429:
            with self.lock:
                self.rate_limited += 1
            response.headers.setdefault("X-Rate-Limit-Problem", "minute")
        for name, value in admission.headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Xero-Correlation-Id", str(uuid.uuid4()))
        return response

    def handle(self, request: Request) -> Response:
        """Route, replaying stored answers for a repeated ``Idempotency-Key``."""
        key = request.header("idempotency-key")
        org = getattr(self._ctx, "org", None)
        if not key or request.method not in _WRITE or org is None:
            return super().handle(request)
        if len(key) > 128:
            return Response(
                400, problem(400, "Bad Request", "Idempotency-Key must be 128 characters or fewer")
            )
        fingerprint = hashlib.sha256(
            b"\0".join(
                [
                    request.method.encode(),
                    request.path.lower().encode(),
                    repr(sorted(request.query.items())).encode(),
                    request.body,
                ]
            )
        ).hexdigest()
        now = self.clock.now()
        with self._idem_lock:
            for stale in [k for k, v in self._idem.items() if v.expires <= now and v.done.is_set()]:
                del self._idem[stale]
            stored = self._idem.get((org.tenant_id, key))
            mine = stored is None
            if mine:
                stored = self._idem[(org.tenant_id, key)] = _Stored(
                    fingerprint, now + self.idempotency_ttl
                )
        assert stored is not None
        if not mine:
            if stored.fingerprint != fingerprint:
                return Response(
                    400,
                    problem(
                        400,
                        "Bad Request",
                        "The Idempotency-Key has already been used for a different request",
                    ),
                )
            stored.done.wait(60)
            if stored.response is None:
                return self.error_response(503, "retry")
            with self.lock:
                self.idempotent_replays += 1
            return Response(
                stored.response.status, stored.response.body, dict(stored.response.headers)
            )
        try:
            response = super().handle(request)
        except Exception:
            with self._idem_lock:
                self._idem.pop((org.tenant_id, key), None)
            stored.done.set()
            raise
        if response.status >= 500:
            with self._idem_lock:
                self._idem.pop((org.tenant_id, key), None)
        else:
            stored.response = Response(response.status, response.encode(), dict(response.headers))
        stored.done.set()
        return response

    def reset(self) -> None:
        """Forget faults, the request log, counters and rate windows (not the organisations)."""
        super().reset()
        self.limiter.reset()
        with self.lock:
            self.rate_limited = 0
            self.idempotent_replays = 0
            self.spec_violations.clear()
        with self._idem_lock:
            self._idem.clear()

    def _routes_setup(self) -> None:
        r = self.route
        # identity
        r("POST", "/connect/token", self._token)
        r("POST", "/connect/revocation", self._revocation)
        r("GET", "/identity/connect/authorize", self._authorize)
        r("GET", "/connect/authorize", self._authorize)
        r("GET", "/connections", self._connections)
        r("DELETE", "/connections/{id}", self._disconnect)
        # accounting
        r("GET", API + "/Organisation", self._organisation)
        self._ledger_routes(API)
        r("GET", API + "/Accounts", self._accounts)
        r("PUT", API + "/Accounts", self._account_create)
        r("GET", API + "/Accounts/{id}", self._account_get)
        r("POST", API + "/Accounts/{id}", self._account_update)
        r("GET", API + "/TaxRates", self._tax_rates)
        r("GET", API + "/TrackingCategories", self._tracking)
        r("GET", API + "/TrackingCategories/{id}", self._tracking_get)
        r("GET", API + "/Items", self._items)
        r("GET", API + "/Items/{id}", self._item_get)
        r("PUT", API + "/Items", lambda q: self._items_write(q, create_only=True))
        r("POST", API + "/Items", lambda q: self._items_write(q, create_only=False))
        r("PUT", API + "/TrackingCategories/{id}/Options", self._tracking_option_create)
        r("GET", API + "/Contacts", self._contacts)
        r(
            "PUT",
            API + "/Contacts",
            lambda q: self._contacts_write(q, create_only=True, template="/Contacts"),
        )
        r(
            "POST",
            API + "/Contacts",
            lambda q: self._contacts_write(q, create_only=False, template="/Contacts"),
        )
        r("GET", API + "/Contacts/{id}", self._contact_get)
        r(
            "POST",
            API + "/Contacts/{id}",
            lambda q: self._contacts_write(q, create_only=False, template="/Contacts/{ContactID}"),
        )
        for kind, base in ((INVOICE, "/Invoices"), (CREDIT_NOTE, "/CreditNotes")):
            single = base + ("/{InvoiceID}" if kind is INVOICE else "/{CreditNoteID}")
            r("GET", API + base, lambda q, k=kind: self._docs_get(q, k))
            r(
                "PUT",
                API + base,
                lambda q, k=kind, t=base: self._docs_write(q, k, create_only=True, template=t),
            )
            r(
                "POST",
                API + base,
                lambda q, k=kind, t=base: self._docs_write(q, k, create_only=False, template=t),
            )
            r("GET", API + base + "/{id}", lambda q, k=kind: self._doc_get(q, k))
            r(
                "POST",
                API + base + "/{id}",
                lambda q, k=kind, t=single: self._docs_write(q, k, create_only=False, template=t),
            )
        r("PUT", API + "/CreditNotes/{id}/Allocations", self._allocate)
        r("GET", API + "/Payments", self._payments)
        r("PUT", API + "/Payments", lambda q: self._payments_write(q, single=False))
        r("POST", API + "/Payments", lambda q: self._payments_write(q, single=True))
        r("GET", API + "/Payments/{id}", self._payment_get)
        r("POST", API + "/Payments/{id}", self._payment_delete)

    def calls(self, method: str | None = None, path: str | None = None) -> int:
        """Requests served, optionally by method and path regex (e.g. ``path="Invoices"``)."""
        return super().calls(method, path)
