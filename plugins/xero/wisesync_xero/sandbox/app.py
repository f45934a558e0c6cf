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
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from wisesync import money
from wisesync.ratelimit import Clock
from wisesync.testing.sandbox import Request, Response, SandboxApp

from . import payments as pay
from . import query, rules, seed, spec
from .ledger_routes import LedgerRoutes
from .limits import Limits, RateLimiter
from .oauth import AuthFailure, Identity, TokenFailure, problem, scope_allows
from .rules import CREDIT_NOTE, INVOICE, DocKind
from .state import NIL_UUID, Org, WallClock, ms_date, public
from .switches import RuleSwitches
from .where import QueryError

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


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client needs to call the sandbox as one organisation."""

    client_id: str
    client_secret: str
    tenant_id: str


def _error_validation(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def _post_data_invalid(message: str) -> dict[str, Any]:
    return {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}


def _query_parse(message: str) -> dict[str, Any]:
    return {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}


def _messages(messages: Iterable[str]) -> list[dict[str, str]]:
    """``ValidationErrors``/``Warnings`` as Xero lists them."""
    return [{"Message": m} for m in messages]


def _invalid(element: dict[str, Any], errors: Iterable[str]) -> Response:
    """400 ``ValidationException`` for one refused element (a single-object write)."""
    return Response(400, _error_validation([{**element, "ValidationErrors": _messages(errors)}]))


def _refused(
    raw: dict[str, Any], errors: Iterable[str], *, flagged: bool = False
) -> dict[str, Any]:
    """A batch element echoed back as refused; ``flagged`` adds ``HasValidationErrors``
    (Contacts and Payments answer with it, Items and Allocations do not)."""
    element = {**raw}
    if flagged:
        element["HasValidationErrors"] = True
    element["StatusAttributeString"] = "ERROR"
    element["ValidationErrors"] = _messages(errors)
    return element


def _summarize(request: Request) -> bool:
    """``summarizeErrors`` (default true): one 400 for a batch with any refused element."""
    return (request.arg("summarizeErrors") or "true").lower() != "false"


class XeroSandbox(LedgerRoutes, SandboxApp):
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

    # -- tenants and credentials -----------------------------------------------------------

    def add_tenant(self, name: str, *, contacts: Any = None) -> str:
        """Add a seeded organisation; returns its tenant id."""
        tenant_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        org = Org(
            tenant_id=tenant_id,
            name=name,
            rng=random.Random(f"{self.seed}:{tenant_id}"),
            wall=self.wall,
            short_code=f"!sbx{len(self.orgs) + 1:02d}",
        )
        org.numbers_case_insensitive = self.switches.numbers_case_insensitive
        seed.seed_default(org, contacts, self.currencies)
        with self.lock:
            self.orgs[tenant_id] = org
        self.identity.tenant_names[tenant_id] = name
        client = self.identity.register_client(tenant_id=tenant_id)
        self._custom[tenant_id] = Credentials(client.client_id, client.client_secret, tenant_id)
        return tenant_id

    @property
    def tenant_id(self) -> str:
        """The first organisation's tenant id."""
        return next(iter(self.orgs))

    def org(self, tenant: str | None = None) -> Org:
        """An organisation's state (the first by default)."""
        return self.orgs[tenant or self.tenant_id]

    def credentials(self, tenant: str | None = None) -> Credentials:
        """Custom-connection credentials (``client_credentials`` grant) for one organisation."""
        return self._custom[tenant or self.tenant_id]

    def connection_settings(
        self, company: str, url: str, tenant: str | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A custom connection to one organisation: the ``[companies.xero]`` table and
        the environment variables holding its client id and secret."""
        creds = self.credentials(tenant)
        prefix = f"WISESYNC_SANDBOX_{company.upper().replace('-', '_')}_XERO"
        section = {
            "grant": "client_credentials",
            "client_id_env": f"{prefix}_CLIENT_ID",
            "client_secret_env": f"{prefix}_CLIENT_SECRET",
            "tenant_id": creds.tenant_id,
            "base_url": url,
            "identity_url": url,
        }
        environ = {
            f"{prefix}_CLIENT_ID": creds.client_id,
            f"{prefix}_CLIENT_SECRET": creds.client_secret,
        }
        return section, environ

    @property
    def client_id(self) -> str:
        """The web app's client id (authorization-code flow; consent covers every tenant)."""
        return self.app_client.client_id

    @property
    def client_secret(self) -> str:
        """The web app's client secret."""
        return self.app_client.client_secret

    def revoke(self, tenant: str | None = None) -> None:
        """Disconnect an organisation: API calls 401, refresh ``invalid_grant``."""
        self.identity.revoke_tenant(tenant or self.tenant_id)

    def reconnect(self, tenant: str | None = None) -> None:
        """Re-authorise a revoked custom connection."""
        self.identity.reconnect_tenant(tenant or self.tenant_id)

    def expire_tokens(self) -> int:
        """Expire every issued access token now (refresh tokens stay valid)."""
        return self.identity.expire_access_tokens()

    # -- dispatch: auth, limits, idempotency ------------------------------------------------

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

    # -- plumbing for handlers --------------------------------------------------------------

    @property
    def _org(self) -> Org:
        return self._ctx.org

    def _stamp(self) -> str:
        return ms_date(self.wall.utcnow())

    def _ok(self, key: str, items: list[dict[str, Any]], **extra: Any) -> Response:
        return Response(200, query.envelope(key, items, self._stamp(), **extra))

    def _body(self, request: Request, template: str) -> tuple[Any, Response | None]:
        """Parse and spec-validate the body; on failure the 400 to return."""
        schema = spec.schema_for(request.method, template) or ""
        try:
            body = request.json()
        except ValueError as exc:
            self._violate(request, schema, (f"Invalid JSON: {exc}",))
            return None, Response(400, _post_data_invalid(f"JSON for post data was invalid, {exc}"))
        messages = spec.check(schema, body, strict=self.strict_spec) if schema else []
        if body is None:
            messages = ["(body): a request body is required"]
        if messages:
            self._violate(request, schema, tuple(messages))
            return None, Response(400, _post_data_invalid("; ".join(messages[:5])))
        return body, None

    def _violate(self, request: Request, schema: str, messages: tuple[str, ...]) -> None:
        with self.lock:
            self.spec_violations.append(
                spec.SpecViolation(request.method, request.path, schema, messages)
            )

    def _list_args(self, request: Request) -> Response | None:
        try:
            query.where_arg(request)
            query.if_modified_since(request)
        except QueryError as exc:
            return Response(400, _query_parse(str(exc)))
        return None

    def _filter(self, request: Request, docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        predicate = query.where_arg(request)
        since = query.if_modified_since(request)
        out = []
        for doc in docs:
            if since is not None and doc.get("_updated") is not None and doc["_updated"] <= since:
                continue
            if predicate(doc):
                out.append(doc)
        return out

    def _paged(
        self,
        request: Request,
        key: str,
        docs: Iterable[dict[str, Any]],
        id_field: str,
        view: Callable[[dict[str, Any], bool], dict[str, Any]],
    ) -> Response:
        """Filter, order (oldest change first by default) and page a list; ``view`` renders
        one element and is told whether a page was asked for. Call it holding the lock."""
        found = query.order(
            self._filter(request, docs),
            request.arg("order"),
            lambda d: (d["_updated"], d[id_field]),
        )
        try:
            found, pagination = query.page(request, found)
        except QueryError as exc:
            return Response(400, _query_parse(str(exc)))
        paged = pagination is not None
        return self._ok(key, [view(d, paged) for d in found], pagination=pagination)

    def _write_batch(
        self,
        request: Request,
        key: str,
        elements: Iterable[dict[str, Any]],
        write: Callable[[Org, dict[str, Any]], tuple[dict[str, Any], bool]],
        *,
        marker: str,
        summarize: bool | None = None,
    ) -> Response:
        """Write each element under the lock (``write`` answers the element and whether it
        was accepted). With ``summarizeErrors`` on (see :func:`_summarize`), any refusal
        answers 400 listing the elements that carry ``marker``; otherwise 200 with all."""
        results: list[dict[str, Any]] = []
        failed = False
        with self.lock:
            org = self._org
            for raw in elements:
                element, ok = write(org, raw)
                failed = failed or not ok
                results.append(element)
        if failed and (_summarize(request) if summarize is None else summarize):
            return Response(400, _error_validation([r for r in results if r.get(marker)]))
        return self._ok(key, results)

    def _write_body(
        self,
        request: Request,
        template: str,
        write: Callable[[Org, dict[str, Any]], tuple[dict[str, Any], bool]],
    ) -> Response:
        """Parse and spec-check a ``{"<Key>": [...]}`` body (the key is the template's
        last segment), then :meth:`_write_batch` its elements, flagged by
        ``ValidationErrors``."""
        body, bad = self._body(request, template)
        if bad:
            return bad
        key = template.strip("/")
        return self._write_batch(
            request, key, body.get(key) or [], write, marker="ValidationErrors"
        )

    # -- routes -----------------------------------------------------------------------------

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

    # -- identity handlers ------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        try:
            return Response(
                200, self.identity.token(form, request.headers), {"Cache-Control": "no-store"}
            )
        except TokenFailure as failure:
            return Response(failure.status, failure.body)

    def _revocation(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        try:
            self.identity._client(form, request.headers)
        except TokenFailure as failure:
            return Response(failure.status, failure.body)
        self.identity.revoke_token(form.get("token", ""))
        return Response(200, b"")

    def _authorize(self, request: Request) -> Response:
        params = {k: v[0] for k, v in request.query.items()}
        status, headers, page = self.identity.authorize(
            params, consent=params.get("consent") == "allow"
        )
        return Response(status, page, headers)

    def _connections(self, request: Request) -> Response:
        return Response(200, self.identity.connections(self._ctx.token))

    def _disconnect(self, request: Request) -> Response:
        if self.identity.disconnect(self._ctx.token, request.params["id"]):
            return Response(204)
        return self.error_response(404, "connection not found")

    # -- settings ---------------------------------------------------------------------------

    def _organisation(self, request: Request) -> Response:
        return self._ok("Organisations", [dict(self._org.organisation)])

    def _simple_list(
        self, request: Request, key: str, docs: Iterable[dict[str, Any]], default_order: Any
    ) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        with self.lock:
            found = query.order(self._filter(request, docs), request.arg("order"), default_order)
            return self._ok(key, [public(d) for d in found])

    def _accounts(self, request: Request) -> Response:
        return self._simple_list(
            request, "Accounts", self._org.accounts.values(), lambda a: a["Name"].casefold()
        )

    def _account_get(self, request: Request) -> Response:
        acc = self._org.accounts.get(request.params["id"].lower())
        return self._ok("Accounts", [public(acc)]) if acc else self.error_response(404, "")

    def _account_errors(
        self, org: Org, raw: dict[str, Any], existing: dict[str, Any] | None
    ) -> list[str]:
        errors = []
        code = (raw.get("Code") or (existing or {}).get("Code") or "").strip()
        name = (raw.get("Name") or (existing or {}).get("Name") or "").strip()
        type_ = raw.get("Type") or (existing or {}).get("Type")
        if not code:
            errors.append("Please enter a Code.")
        elif len(code) > 10:
            errors.append("Account Code is too long. Maximum of 10 characters allowed")
        elif any(
            a is not existing and a["Code"].upper() == code.upper() for a in org.accounts.values()
        ):
            errors.append("Please enter a unique Code.")
        if not name:
            errors.append("Please enter a Name.")
        elif any(
            a is not existing and a["Name"].casefold() == name.casefold()
            for a in org.accounts.values()
        ):
            errors.append("Please enter a unique Name.")
        if type_ not in seed.ACCOUNT_TYPES:
            errors.append("Please select an Account Type.")
        tax = raw.get("TaxType")
        if tax and tax.upper() not in org.tax_rates:
            errors.append(rules.TAX_INVALID.format(tax=tax))
        return errors

    def _account_create(self, request: Request) -> Response:
        raw, bad = self._body(request, "/Accounts")
        if bad:
            return bad
        with self.lock:
            org = self._org
            errors = self._account_errors(org, raw, None)
            if errors:
                return _invalid(raw, errors)
            acc = seed.add_account(
                org,
                raw["Code"].strip(),
                raw["Name"].strip(),
                raw["Type"],
                tax_type=raw.get("TaxType") or "NONE",
                enable_payments=bool(raw.get("EnablePaymentsToAccount")),
            )
            for key in ("Description", "BankAccountNumber", "ShowInExpenseClaims"):
                if key in raw:
                    acc[key] = raw[key]
            return self._ok("Accounts", [public(acc)])

    def _account_update(self, request: Request) -> Response:
        body, bad = self._body(request, "/Accounts/{AccountID}")
        if bad:
            return bad
        with self.lock:
            org = self._org
            acc = org.accounts.get(request.params["id"].lower())
            if acc is None:
                return self.error_response(404, "")
            raw = (body.get("Accounts") or [{}])[0]
            errors = self._account_errors(org, raw, acc)
            if raw.get("Status") == "ARCHIVED" and acc.get("SystemAccount"):
                errors.append("System accounts cannot be archived.")
            if errors:
                return _invalid(raw, errors)
            for key in (
                "Code",
                "Name",
                "Type",
                "TaxType",
                "Description",
                "Status",
                "EnablePaymentsToAccount",
                "ShowInExpenseClaims",
            ):
                if key in raw:
                    acc[key] = raw[key]
            org.stamp(acc)
            return self._ok("Accounts", [public(acc)])

    def _tax_rates(self, request: Request) -> Response:
        return self._simple_list(
            request, "TaxRates", self._org.tax_rates.values(), lambda t: t["Name"].casefold()
        )

    def _tracking_view(self, cat: dict[str, Any], archived: bool) -> dict[str, Any]:
        out = public(cat)
        out["Options"] = [dict(o) for o in cat["Options"] if archived or o["Status"] == "ACTIVE"]
        return out

    def _tracking(self, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        archived = (request.arg("includeArchived") or "").lower() == "true"
        with self.lock:
            cats = [c for c in self._org.tracking.values() if archived or c["Status"] == "ACTIVE"]
            cats = query.order(
                self._filter(request, cats), request.arg("order"), lambda c: c["Name"].casefold()
            )
            return self._ok("TrackingCategories", [self._tracking_view(c, archived) for c in cats])

    def _tracking_get(self, request: Request) -> Response:
        cat = self._org.tracking.get(request.params["id"].lower())
        return (
            self._ok("TrackingCategories", [self._tracking_view(cat, True)])
            if cat
            else self.error_response(404, "")
        )

    def _items(self, request: Request) -> Response:
        return self._simple_list(
            request, "Items", self._org.items.values(), lambda i: i["Code"].casefold()
        )

    def _item_get(self, request: Request) -> Response:
        key = request.params["id"]
        item = self._org.items.get(key.lower()) or self._org.item_by_code(key)
        return self._ok("Items", [public(item)]) if item else self.error_response(404, "")

    def _item_errors(
        self, org: Org, raw: dict[str, Any], existing: dict[str, Any] | None
    ) -> list[str]:
        errors = []
        code = (raw.get("Code") or "").strip()
        if not code:
            errors.append("Item Code must be specified")  # unconfirmed
        elif len(code) > 30:
            errors.append("Item Code must not exceed 30 characters")  # unconfirmed
        elif existing is None and org.item_by_code(code) is not None:
            errors.append(f"Item code '{code}' already exists")  # unconfirmed
        if len(raw.get("Name") or "") > 50:
            errors.append("Item Name must not exceed 50 characters")  # unconfirmed
        for key in ("SalesDetails", "PurchaseDetails"):
            details = raw.get(key) or {}
            account_code = details.get("AccountCode")
            if account_code:
                account = org.account_by_code(account_code)
                if account is None:
                    errors.append(rules.ACCOUNT_INVALID.format(code=account_code))
                elif account["Status"] != "ACTIVE":
                    errors.append(rules.ACCOUNT_ARCHIVED.format(code=account_code))
            tax = details.get("TaxType")
            if tax and tax.upper() not in org.tax_rates:
                errors.append(rules.TAX_INVALID.format(tax=tax))
        return errors

    def _items_write(self, request: Request, *, create_only: bool) -> Response:
        return self._write_body(
            request,
            "/Items",
            lambda org, raw: self._item_write(org, raw, create_only=create_only),
        )

    def _item_write(
        self, org: Org, raw: dict[str, Any], *, create_only: bool
    ) -> tuple[dict[str, Any], bool]:
        existing = None
        if raw.get("ItemID"):
            existing = org.items.get(str(raw["ItemID"]).lower())
        elif not create_only and raw.get("Code"):
            existing = org.item_by_code(raw["Code"])
        errors = self._item_errors(org, raw, existing)
        if errors:
            return _refused(raw, errors), False
        if existing is None:
            existing = {"ItemID": org.new_id(), "IsTrackedAsInventory": False}
            org.items[existing["ItemID"]] = existing
        for key in (
            "Code",
            "Name",
            "Description",
            "PurchaseDescription",
            "IsSold",
            "IsPurchased",
        ):
            if key in raw:
                existing[key] = raw[key]
        for key in ("SalesDetails", "PurchaseDetails"):
            if key in raw:
                existing[key] = {**existing.get(key, {}), **raw[key]}
        existing.setdefault("Name", existing["Code"])
        org.stamp(existing)
        return {**public(existing), "StatusAttributeString": "OK"}, True

    def _tracking_option_create(self, request: Request) -> Response:
        body, bad = self._body(request, "/TrackingCategories/{TrackingCategoryID}/Options")
        if bad:
            return bad
        with self.lock:
            org = self._org
            cat = org.tracking.get(request.params["id"].lower())
            if cat is None:
                return self.error_response(404, "")
            name = (body.get("Name") or "").strip()
            errors = []
            if not name:
                errors.append("Tracking option name must be specified")  # unconfirmed
            elif any(o["Name"].casefold() == name.casefold() for o in cat["Options"]):
                errors.append(
                    "For each specified tracking option the name must be unique."
                )  # unconf.
            if errors:
                return _invalid(body, errors)
            option = seed.add_tracking_option(org, cat, name)
            return self._ok("Options", [dict(option)])

    # -- contacts ---------------------------------------------------------------------------

    def _contact_view(self, doc: dict[str, Any]) -> dict[str, Any]:
        return public(doc)

    def _contacts(self, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        ids = query.csv_arg(request, "IDs")
        archived = (request.arg("includeArchived") or "").lower() == "true"
        term = (request.arg("searchTerm") or "").casefold()
        with self.lock:
            docs = [
                c
                for c in self._org.contacts.values()
                if (archived or c["ContactStatus"] != "ARCHIVED" or ids)
                and (ids is None or c["ContactID"] in ids)
                and (
                    not term
                    or any(
                        term in (c.get(f) or "").casefold()
                        for f in (
                            "Name",
                            "FirstName",
                            "LastName",
                            "ContactNumber",
                            "CompanyNumber",
                            "EmailAddress",
                        )
                    )
                )
            ]
            return self._paged(
                request, "Contacts", docs, "ContactID", lambda c, _: self._contact_view(c)
            )

    def _contact_get(self, request: Request) -> Response:
        key = request.params["id"]
        with self.lock:
            org = self._org
            doc = (
                org.contacts.get(key.lower())
                if _looks_like_uuid(key)
                else org.contact_by_number(key)
            )
            if doc is None:
                return self.error_response(404, "")
            return self._ok("Contacts", [self._contact_view(doc)])

    def _contacts_write(self, request: Request, *, create_only: bool, template: str) -> Response:
        body, bad = self._body(request, template)
        if bad:
            return bad
        path_id = request.params.get("id")
        return self._write_batch(
            request,
            "Contacts",
            body.get("Contacts") or [],
            lambda org, raw: self._contact_write(
                org, dict(raw), create_only=create_only, path_id=path_id
            ),
            marker="HasValidationErrors",
        )

    def _contact_write(
        self, org: Org, raw: dict[str, Any], *, create_only: bool, path_id: str | None
    ) -> tuple[dict[str, Any], bool]:
        if path_id:
            raw.setdefault("ContactID", path_id)
        existing = None
        errors: list[str] = []
        if not create_only:
            existing = rules.find_contact(org, raw)
            if raw.get("ContactID") and existing is None:
                errors.append(rules.CONTACT_NOT_FOUND.format(id=raw["ContactID"]))
        elif raw.get("ContactID"):
            errors.append(rules.CONTACT_NOT_FOUND.format(id=raw["ContactID"]))
        errors += rules.check_contact(org, raw, existing, [])
        if errors:
            return _refused(raw, errors, flagged=True), False
        if existing is None:
            doc = rules.new_contact(org, raw)
            org.put_contact(doc)
        else:
            doc = existing
            rules.apply_contact_fields(doc, raw)
            org.stamp(doc)
            org.reindex_contacts()
        return {**self._contact_view(doc), "StatusAttributeString": "OK"}, True

    # -- invoices and credit notes ------------------------------------------------------------

    def _render(
        self, org: Org, doc: dict[str, Any], kind: DocKind, *, unitdp4: bool, lines: bool = True
    ) -> dict[str, Any]:
        out = public(doc)
        contact = org.contacts.get(doc.get("_contact_id") or "")
        if contact is not None:
            out["Contact"] = rules.contact_summary(contact)
        out["Payments"] = [pay.payment_summary(org.payments[p]) for p in doc.get("_payments", [])]
        if lines:
            rendered = []
            for line in doc["LineItems"]:
                copy = {k: v for k, v in line.items() if k != "ValidationErrors"}
                copy["UnitAmount"] = line["UnitAmount"].quantize(
                    Decimal("0.0001") if unitdp4 else Decimal("0.01")
                )
                rendered.append(copy)
            out["LineItems"] = rendered
        else:
            out.pop("LineItems", None)
        return out

    def _find_doc(self, org: Org, kind: DocKind, key: str) -> dict[str, Any] | None:
        store = org.invoices if kind is INVOICE else org.credit_notes
        if _looks_like_uuid(key):
            return store.get(key.lower())
        if kind is INVOICE:
            return org.invoice_by_number(key)
        return org.credit_note_by_number(key)

    def _doc_get(self, request: Request, kind: DocKind) -> Response:
        unitdp4 = request.arg("unitdp") == "4"
        with self.lock:
            org = self._org
            doc = self._find_doc(org, kind, request.params["id"])
            if doc is None:
                return self.error_response(404, "")
            key = "Invoices" if kind is INVOICE else "CreditNotes"
            return self._ok(key, [self._render(org, doc, kind, unitdp4=unitdp4)])

    def _docs_get(self, request: Request, kind: DocKind) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        unitdp4 = request.arg("unitdp") == "4"
        summary_only = (request.arg("summaryOnly") or "").lower() == "true"
        ids = query.csv_arg(request, "IDs")
        numbers = query.csv_arg(
            request, "InvoiceNumbers" if kind is INVOICE else "CreditNoteNumbers"
        )
        contact_ids = query.csv_arg(request, "ContactIDs")
        statuses = query.csv_arg(request, "Statuses")
        term = (request.arg("searchTerm") or "").casefold()
        by_app = (request.arg("createdByMyApp") or "").lower() == "true"
        key = "Invoices" if kind is INVOICE else "CreditNotes"
        with self.lock:
            org = self._org
            store = org.invoices if kind is INVOICE else org.credit_notes
            docs = [
                d
                for d in store.values()
                if (ids is None or d[kind.id_field] in ids)
                and (numbers is None or (d.get(kind.number_field) or "").casefold() in numbers)
                and (contact_ids is None or (d.get("_contact_id") or "") in contact_ids)
                and (statuses is None or d["Status"].lower() in statuses)
                and (not by_app or d.get("_by_app", True))
                and (
                    not term
                    or term in (d.get(kind.number_field) or "").casefold()
                    or term in (d.get("Reference") or "").casefold()
                )
            ]
            return self._paged(
                request,
                key,
                docs,
                kind.id_field,
                lambda d, paged: self._render(
                    org, d, kind, unitdp4=unitdp4, lines=paged and not summary_only
                ),
            )

    def _docs_write(
        self, request: Request, kind: DocKind, *, create_only: bool, template: str
    ) -> Response:
        body, bad = self._body(request, template)
        if bad:
            return bad
        key = "Invoices" if kind is INVOICE else "CreditNotes"
        unitdp4 = request.arg("unitdp") == "4"
        path_id = request.params.get("id")
        return self._write_batch(
            request,
            key,
            body.get(key) or [],
            lambda org, raw: self._write_one(
                org, kind, dict(raw), create_only=create_only, unitdp4=unitdp4, path_id=path_id
            ),
            marker="HasErrors",
        )

    def _write_one(
        self,
        org: Org,
        kind: DocKind,
        raw: dict[str, Any],
        *,
        create_only: bool,
        unitdp4: bool,
        path_id: str | None,
        by_app: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        existing = None
        pre_errors: list[str] = []
        store = org.invoices if kind is INVOICE else org.credit_notes
        wanted_id = raw.get(kind.id_field) or path_id
        if wanted_id:
            existing = self._find_doc(org, kind, str(wanted_id))
            if existing is None:
                pre_errors.append(f"{kind.name} {wanted_id} could not be found")  # unconfirmed
            elif create_only:
                pre_errors.append(
                    f"{kind.name} {wanted_id} already exists. Use POST to update"
                )  # unconfirmed
                existing = None
        elif not create_only and raw.get(kind.number_field):
            found = self._find_doc(org, kind, raw[kind.number_field])
            if (
                found is not None
                and found["Type"] in ("ACCREC", "ACCRECCREDIT")
                and (raw.get("Type") in (None, found["Type"]))
            ):
                existing = found
        out = rules.check_document(
            org,
            raw,
            kind,
            unitdp4=unitdp4,
            existing=existing,
            pending_contacts=[],
            batch_numbers=set(),
            tax_tolerance=self.tax_tolerance,
            switches=self.switches,
        )
        out.errors[:0] = pre_errors
        if not out.ok or out.doc is None:
            echo = public(out.doc) if out.doc else dict(raw)
            echo.update(
                {
                    kind.id_field: NIL_UUID,
                    "HasErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": _messages(out.errors),
                }
            )
            if out.warnings:
                echo["Warnings"] = _messages(out.warnings)
            return echo, False
        doc = out.doc
        if out.new_contact is not None:
            org.put_contact(out.new_contact)
        contact = org.contacts.get(doc["_contact_id"] or "")
        if contact is not None:
            flag = "IsCustomer" if doc["Type"] in rules.SALES_TYPES else "IsSupplier"
            if not contact.get(flag):
                contact[flag] = True
                org.stamp(contact)
        index = org.invoice_numbers if kind is INVOICE else org.credit_note_numbers
        if existing is not None:
            old_number = org.number_key(existing.get(kind.number_field) or "")
            if index.get(old_number) == existing[kind.id_field]:
                del index[old_number]
            doc[kind.id_field] = existing[kind.id_field]
            doc["_seq"] = existing["_seq"]
            doc["_payments"] = existing.get("_payments", [])
            doc["_allocated"] = existing.get("_allocated", Decimal(0))
            doc["AmountCredited"] = existing.get("AmountCredited", Decimal(0))
            doc["Allocations"] = existing.get("Allocations", [])
            if existing.get("FullyPaidOnDate"):
                doc["FullyPaidOnDate"] = existing["FullyPaidOnDate"]
            doc["_by_app"] = existing.get("_by_app", True)
        else:
            doc[kind.id_field] = org.new_id()
            doc["_seq"] = org.next_seq()
            doc["_by_app"] = by_app
        if not doc.get(kind.number_field) and doc["Type"] in ("ACCREC", "ACCRECCREDIT"):
            doc[kind.number_field] = org.next_number(
                "invoice" if kind is INVOICE else "credit_note"
            )
            doc["_raw"][kind.number_field] = doc[kind.number_field]
        if doc["Type"] in ("ACCREC", "ACCRECCREDIT") and doc[kind.number_field]:
            index[org.number_key(doc[kind.number_field])] = doc[kind.id_field]
        paid = sum((org.payments[p]["Amount"] for p in doc.get("_payments", [])), Decimal(0))
        rules.finalize_amounts(doc, kind, paid=paid)
        org.stamp(doc)
        store[doc[kind.id_field]] = doc
        element = self._render(org, doc, kind, unitdp4=unitdp4)
        element["StatusAttributeString"] = "WARNING" if out.warnings else "OK"
        if out.warnings:
            element["Warnings"] = _messages(out.warnings)
        return element, True

    def _allocate(self, request: Request) -> Response:
        body, bad = self._body(request, "/CreditNotes/{CreditNoteID}/Allocations")
        if bad:
            return bad
        with self.lock:
            org = self._org
            note = self._find_doc(org, CREDIT_NOTE, request.params["id"])
            if note is None:
                return self.error_response(404, "")
            return self._write_batch(
                request,
                "Allocations",
                body.get("Allocations") or [],
                lambda org, raw: self._allocation_write(org, note, raw),
                marker="ValidationErrors",
            )

    def _allocation_write(
        self, org: Org, note: dict[str, Any], raw: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        errors = []
        invoice_ref = raw.get("Invoice") or {}
        invoice = None
        if invoice_ref.get("InvoiceID"):
            invoice = org.invoices.get(str(invoice_ref["InvoiceID"]).lower())
        elif invoice_ref.get("InvoiceNumber"):
            invoice = org.invoice_by_number(invoice_ref["InvoiceNumber"])
        amount = Decimal(raw.get("Amount") or 0)
        if note["Status"] != "AUTHORISED":
            errors.append("Credit note must be AUTHORISED to be allocated")  # unconfirmed
        if invoice is None:
            errors.append(rules.PAYMENT_DOCUMENT)
        elif invoice["Status"] != "AUTHORISED":
            errors.append(rules.PAYMENT_STATUS)
        elif (
            amount <= 0 or amount > invoice["AmountDue"] or amount > note.get("RemainingCredit", 0)
        ):
            errors.append("The amount allocated exceeds the amount outstanding")  # unconfirmed
        if errors:
            return _refused(raw, errors), False
        assert invoice is not None
        allocation = {
            "AllocationID": org.new_id(),
            "Amount": amount,
            "Date": raw.get("Date"),
            "Invoice": {
                "InvoiceID": invoice["InvoiceID"],
                "InvoiceNumber": invoice["InvoiceNumber"],
            },
            "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
            "IsDeleted": False,
        }
        note["_allocated"] = note.get("_allocated", Decimal(0)) + amount
        note.setdefault("Allocations", []).append(allocation)
        invoice["AmountCredited"] = invoice.get("AmountCredited", Decimal(0)) + amount
        pay.refresh_document(org, "credit_note", note["CreditNoteID"])
        pay.refresh_document(org, "invoice", invoice["InvoiceID"])
        return {**allocation, "StatusAttributeString": "OK"}, True

    # -- payments ---------------------------------------------------------------------------

    def _payments(self, request: Request) -> Response:
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

    def _payment_get(self, request: Request) -> Response:
        payment = self._org.payments.get(request.params["id"].lower())
        return self._ok("Payments", [public(payment)]) if payment else self.error_response(404, "")

    def _payments_write(self, request: Request, *, single: bool) -> Response:
        body, bad = self._body(request, "/Payments")
        if bad:
            return bad
        return self._write_batch(
            request,
            "Payments",
            [body] if single else (body.get("Payments") or []),
            self._payment_write,
            marker="HasValidationErrors",
            summarize=single or _summarize(request),
        )

    def _payment_write(self, org: Org, raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        out = pay.check_payment(org, raw)
        if not out.ok or out.doc is None:
            return _refused(raw, out.errors, flagged=True), False
        payment = pay.store_payment(org, out.doc)
        return {**public(payment), "StatusAttributeString": "OK"}, True

    def _payment_delete(self, request: Request) -> Response:
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
                return _invalid(public(payment), errors)
            return self._ok("Payments", [public(payment)])

    # -- control API (for a sandbox run in another process) ----------------------------------

    def describe(self) -> dict[str, Any]:
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

    def _xero_control(self, request: Request, what: str) -> Response:
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

    # -- test helpers -----------------------------------------------------------------------

    def create_account(
        self,
        code: str,
        name: str,
        type_: str = "REVENUE",
        *,
        tax_type: str = "OUTPUT",
        tenant: str | None = None,
        status: str = "ACTIVE",
        enable_payments: bool = False,
    ) -> dict[str, Any]:
        """Add an account (the demo uses it to fix a LEDGER_ACCOUNT_MISSING error)."""
        with self.lock:
            org = self.org(tenant)
            existing = org.account_by_code(code)
            if existing is not None:
                existing.update(
                    {"Name": name, "Type": type_, "TaxType": tax_type, "Status": status}
                )
                org.stamp(existing)
                return public(existing)
            return public(
                seed.add_account(
                    org,
                    code,
                    name,
                    type_,
                    tax_type=tax_type,
                    status=status,
                    enable_payments=enable_payments,
                )
            )

    def create_tracking_option(
        self, category: str, option: str, *, tenant: str | None = None
    ) -> dict[str, Any]:
        """Add an ACTIVE option to a tracking category (fixes a TRACKING_MISSING case)."""
        with self.lock:
            org = self.org(tenant)
            cat = org.tracking_by_name(category)
            if cat is None:
                raise KeyError(category)
            return dict(seed.add_tracking_option(org, cat, option))

    def archive_account(self, code: str, *, tenant: str | None = None) -> None:
        """Archive an account by code."""
        with self.lock:
            org = self.org(tenant)
            acc = org.account_by_code(code)
            if acc is None:
                raise KeyError(code)
            acc["Status"] = "ARCHIVED"
            org.stamp(acc)

    def add_contacts(
        self, contacts: int | Iterable[dict[str, Any] | str], *, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        """Add pre-existing contacts (a count gives ``C00001``... numbers)."""
        with self.lock:
            return [public(c) for c in seed.seed_contacts(self.org(tenant), contacts)]

    def contacts(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every contact, oldest first."""
        with self.lock:
            return [
                public(c)
                for c in sorted(self.org(tenant).contacts.values(), key=lambda c: c["_seq"])
            ]

    def invoices(
        self, *, tenant: str | None = None, type_: str | None = None
    ) -> list[dict[str, Any]]:
        """Every invoice (as GET with line items would show it), oldest first."""
        with self.lock:
            org = self.org(tenant)
            docs = sorted(org.invoices.values(), key=lambda d: d["_seq"])
            return [
                self._render(org, d, INVOICE, unitdp4=True)
                for d in docs
                if type_ is None or d["Type"] == type_
            ]

    def create_invoice(
        self, element: dict[str, Any], *, unitdp4: bool = False, tenant: str | None = None
    ) -> dict[str, Any]:
        """Create an invoice as a Xero user would (not "created by my app").

        ``element`` is an ``Invoices`` element as the API takes it; the same rules apply
        and a refusal raises ``ValueError`` with Xero's messages.
        """
        return self._create_direct(INVOICE, element, unitdp4=unitdp4, tenant=tenant)

    def create_credit_note(
        self, element: dict[str, Any], *, unitdp4: bool = False, tenant: str | None = None
    ) -> dict[str, Any]:
        """Create a credit note as a Xero user would (see :meth:`create_invoice`)."""
        return self._create_direct(CREDIT_NOTE, element, unitdp4=unitdp4, tenant=tenant)

    def _create_direct(
        self, kind: DocKind, element: dict[str, Any], *, unitdp4: bool, tenant: str | None
    ) -> dict[str, Any]:
        body = money.loads(money.dumps(element))  # the same types the API would see
        with self.lock:
            out, ok = self._write_one(
                self.org(tenant),
                kind,
                body,
                create_only=True,
                unitdp4=unitdp4,
                path_id=None,
                by_app=False,
            )
        if not ok:
            raise ValueError("; ".join(e["Message"] for e in out["ValidationErrors"]))
        return out

    def credit_notes(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every credit note, oldest first."""
        with self.lock:
            org = self.org(tenant)
            return [
                self._render(org, d, CREDIT_NOTE, unitdp4=True)
                for d in sorted(org.credit_notes.values(), key=lambda d: d["_seq"])
            ]

    def invoice_by_number(self, number: str, *, tenant: str | None = None) -> dict[str, Any] | None:
        """The invoice numbered ``number`` (newest if ACCPAY numbers repeat), or None."""
        with self.lock:
            org = self.org(tenant)
            doc = org.invoice_by_number(number)
            return self._render(org, doc, INVOICE, unitdp4=True) if doc else None

    def credit_note_by_number(
        self, number: str, *, tenant: str | None = None
    ) -> dict[str, Any] | None:
        """The credit note numbered ``number``, or None."""
        with self.lock:
            org = self.org(tenant)
            doc = org.credit_note_by_number(number)
            return self._render(org, doc, CREDIT_NOTE, unitdp4=True) if doc else None

    def documents_count(self, *, tenant: str | None = None) -> int:
        """Invoices, credit notes and manual journals stored (any status): the
        double-posting detector."""
        with self.lock:
            org = self.org(tenant)
            return len(org.invoices) + len(org.credit_notes) + len(org.manual_journals)

    def payments(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every payment (including DELETED ones), oldest first."""
        with self.lock:
            return [
                public(p)
                for p in sorted(self.org(tenant).payments.values(), key=lambda p: p["_seq"])
            ]

    def apply_payment(
        self,
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

    def delete_payment(self, payment_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        """Reverse a payment as a Xero user would (``Status: DELETED``)."""
        with self.lock:
            org = self.org(tenant)
            payment = org.payments[payment_id.lower()]
            errors = pay.delete_payment(org, payment)
            if errors:
                raise ValueError("; ".join(errors))
            return public(payment)

    def calls(self, method: str | None = None, path: str | None = None) -> int:
        """Requests served, optionally by method and path regex (e.g. ``path="Invoices"``)."""
        return super().calls(method, path)


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
