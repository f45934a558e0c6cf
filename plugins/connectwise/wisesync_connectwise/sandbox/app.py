"""The ConnectWise PSA REST simulator: routes, auth, rate limiting, and the helpers tests use.

Base path ``/v4_6_release/apis/3.0`` (:data:`API_BASE`). Every request needs

* ``Authorization: Basic base64("<companyId>+<publicKey>:<privateKey>")``;
  missing -> ``401 {"code": "ConnectWiseApi", "message": "UserNotAuthenticated"}``,
  wrong -> ``401 {"code": "Unauthorized", "message": "Incorrect public/private key"}``;
* ``clientId: <GUID>``; missing -> ``401 {"code": "Unauthorized", "message":
  "A clientId header is required ..."}`` (CW requires it since 2019; the exact
  body is UNCONFIRMED), a different id -> 401 ``Invalid clientId``;
* optionally ``Accept: application/vnd.connectwise.com+json; version=2025.8``
  (no version means latest). Responses carry ``api-current-version``.

``GET /login/companyinfo/{companyId}`` (codebase discovery) needs no auth.

Payments (connectwise.md section 6): ``POST /finance/invoices/{id}/payments``
with an ``InvoicePayment`` body (``type``, ``amount``, ``paymentDate``, optional
``paymentAccount``, ``glBatchID`` and the sandbox's ``transactionId``) -> 201
and the payment. The sandbox adds one guard real ConnectWise does not document:
a ``transactionId`` already applied to that invoice is not applied again; the
stored payment comes back with **200**. An amount above the balance is
``400 InvalidObject`` with ``errors[0].field == "amount"``; payments to a credit
memo or zero invoice are refused the same way. ``DELETE .../payments/{id}``
(204) removes one (a ledger reversal). Balance = total - payments.

Rate limiting (``rate_limit`` calls per second, off by default) answers 429
with an integer ``Retry-After``. Faults come from the base :class:`Faults`
(``lose_response`` commits first, so a lost batch or payment POST is applied).
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wisesync.ratelimit import Clock
from wisesync.testing.ratelimit import WindowLimiter
from wisesync.testing.sandbox import Request, Response, SandboxApp

from . import listing, schema
from . import seed as seed_module
from .conditions import parse_instant
from .errors import STATUS_CODES, ApiError, bad_request, body, field_error, invalid, not_found
from .state import Expense, GLAccount, Invoice, Procurement, State, now_iso
from .views import Views, encode_json

API_BASE = "/v4_6_release/apis/3.0"
API_VERSION = "2025.8"
SERVER_VERSION = "v2025.1.10333"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client needs: ``companyId+publicKey:privateKey`` and the ``clientId`` header."""

    company_id: str = "wisesync_demo"
    public_key: str = "SandboxPublicKey"
    private_key: str = "SandboxPrivateKey"
    client_id: str = "6b3d7f0e-5a51-4a8e-9d1c-0c0ffee0cafe"

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        raw = f"{self.company_id}+{self.public_key}:{self.private_key}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def headers(self) -> dict[str, str]:
        """Every header a request needs (auth, clientId, versioned Accept)."""
        return {
            "Authorization": self.authorization(),
            "clientId": self.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={API_VERSION}",
        }


def _ids(value: Any) -> list[int]:
    """An ``id = value`` condition's id, or none when the value is not an integer."""
    try:
        number = int(value)
    except (TypeError, ValueError, ArithmeticError):
        return []
    return [number] if number == value or str(number) == str(value) else []


def _hit(table: dict[str, int], key: str) -> list[int]:
    """``[table[key]]`` or ``[]``."""
    found = table.get(key)
    return [] if found is None else [found]


def _int(value: str, resource: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise not_found(resource, value) from None


class ConnectWiseSandbox(SandboxApp):
    """A stateful ConnectWise PSA tenant behind the real REST paths.

    ``seed`` and the counts (``records`` in all, or ``invoices``, ``expenses``,
    ``procurement``, ``customers``; and ``cases``) pick the data (:mod:`.seed`; no
    counts -> the :func:`~.seed.demo` preset). ``validate_schema`` (default on) checks
    every body against ConnectWise's published models (:mod:`.schema`) and records
    what breaks them in :attr:`schema_violations`. ``max_page_size`` lowers the 1,000 cap to force
    many pages; ``rate_limit`` (calls/second) turns on 429s;
    ``single_payment_per_invoice`` emulates the one-payment-per-invoice rule
    some integrators report; ``clock`` (default: real time) drives the rate-limit window.
    """

    system = "connectwise"

    def connection_settings(self, company: str, url: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The ``[companies.connectwise]`` table and secret variables that reach this sandbox."""
        from wisesync_connectwise.settings import sandbox_connection

        return sandbox_connection(company, url, self.credentials)

    def __init__(
        self,
        seed: int | None = 0,
        *,
        credentials: Credentials | None = None,
        records: int | None = None,
        invoices: int | None = None,
        expenses: int | None = None,
        procurement: int | None = None,
        customers: int | None = None,
        cases: bool = True,
        max_page_size: int = listing.MAX_PAGE_SIZE,
        rate_limit: float | None = None,
        single_payment_per_invoice: bool = False,
        latency: float = 0.0,
        validate_schema: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock or Clock()
        #: check every body against the published schema (see :mod:`.schema`)
        self.validate_schema = validate_schema
        self.scheme = "http"  # "https" when served over TLS (start_sandbox sets it)
        self.schema_violations: list[schema.SchemaViolation] = []
        self.seed = 0 if seed is None else int(seed)
        self.credentials = credentials or Credentials()
        self.max_page_size = max(1, int(max_page_size))
        self.rate_limit = rate_limit
        self.single_payment_per_invoice = single_payment_per_invoice
        self._limiter = WindowLimiter(rate_limit, clock=self.clock) if rate_limit else None
        self._counts: dict[str, int | None] = {
            **(seed_module.split_records(records) if records is not None else {}),
        }
        for key, value in (
            ("invoices", invoices),
            ("expenses", expenses),
            ("procurement", procurement),
            ("customers", customers),
        ):
            if value is not None or key not in self._counts:
                self._counts[key] = value
        self._cases = cases
        self.latency = latency
        self.faults.latency = latency
        self.state = self._build()
        self.views = Views(self.state)
        self._routes_table()

    def _build(self) -> State:
        counts = {k: v for k, v in self._counts.items() if v is not None}
        if not counts and self._cases:
            return seed_module.demo(self.seed)
        return seed_module.generate(self.seed, cases=self._cases, **counts)

    # --- plumbing -------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        """CW's ``ErrorResponseMessage`` for injected faults and unknown routes."""
        return Response(status, body(STATUS_CODES.get(status, "ConnectWiseApi"), message))

    def handle(self, request: Request) -> Response:
        """Rate limit, authenticate, route; ApiErrors become CW error bodies."""
        try:
            if self._limiter is not None:
                wait = self._limiter.check()
                if wait is not None:
                    raise ApiError(
                        429,
                        "TooManyRequests",
                        "Request volume exceeds capacity limits. Retry after the number of "
                        "seconds in the Retry-After header.",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    )
            if self.scheme != "http":  # the Link headers' scheme (see listing._url)
                request.headers["x-forwarded-proto"] = self.scheme
            if not request.path.lower().startswith("/login/companyinfo/"):
                self._authenticate(request)
            self._check_request(request)
            with self.lock:
                response = super().handle(request)
            self._check_response(request, response)
        except ApiError as exc:
            response = exc.response()
        response.headers.setdefault("api-current-version", API_VERSION)
        response.headers.setdefault("x-cw-request-id", uuid.uuid4().hex)
        response.headers.setdefault("x-server-name", "sandbox")
        return response

    # --- published shapes (see :mod:`.schema`) ---------------------------------------

    def _api_path(self, request: Request) -> str | None:
        path = request.path
        if path.lower().startswith(API_BASE.lower()):
            return path[len(API_BASE) :] or "/"
        return None

    def _check_request(self, request: Request) -> None:
        """Refuse (400 InvalidObject) and record a request body the schema rejects."""
        path = self._api_path(request)
        if not self.validate_schema or path is None or not request.body:
            return
        try:
            body = json.loads(request.body)
        except ValueError:
            return  # the handler answers malformed JSON itself
        errors = schema.errors("request", request.method, path, body)
        if not errors:
            return
        messages = sorted(schema.describe(e) for e in errors)
        self.schema_violations.append(
            schema.SchemaViolation("request", request.method, request.path, tuple(messages))
        )
        for error in errors:
            if error.validator == "maxLength":  # ConnectWise's own code for this one
                name = "/".join(str(p) for p in error.absolute_path)
                raise ApiError(
                    400,
                    "MaxLengthField",
                    f"The field {name} must be a string with a maximum length of "
                    f"{error.validator_value}.",
                )
        raise ApiError(
            400,
            "InvalidObject",
            "The request body does not match the published model.",
            [field_error("InvalidField", m, "request", m.split(":", 1)[0]) for m in messages[:20]],
        )

    def _check_response(self, request: Request, response: Response) -> None:
        """Record a successful response body the schema rejects (the sandbox's own bug)."""
        path = self._api_path(request)
        if not self.validate_schema or path is None or not 200 <= response.status < 300:
            return
        if response.body is None or not schema.covered(request.method, path):
            return
        raw = response.encode()
        messages = schema.check("response", request.method, path, json.loads(raw))
        if messages:
            self.schema_violations.append(
                schema.SchemaViolation("response", request.method, request.path, tuple(messages))
            )

    def _control(self, request: Request) -> Response:
        """``GET /__sandbox/schema-violations`` lists the bodies that broke the published
        models (for a sandbox run in another process); the rest is the base control API."""
        if request.path.strip("/").lower() == "__sandbox/second-phase":
            return Response(200, {"released": self.second_phase()})
        if request.path.strip("/").lower() == "__sandbox/schema-violations":
            return Response(
                200,
                [
                    {
                        "direction": v.direction,
                        "method": v.method,
                        "path": v.path,
                        "messages": list(v.messages),
                    }
                    for v in self.schema_violations
                ],
            )
        return super()._control(request)

    def assert_published_shapes(self) -> None:
        """Raise AssertionError naming every body, sent or served since the last
        :meth:`reset`, that broke ConnectWise's published models (a test's teardown hook)."""
        violations = list(self.schema_violations)
        if violations:
            raise AssertionError(
                f"{len(violations)} bodies break the published ConnectWise schema:\n"
                + "\n".join(str(v) for v in violations[:20])
            )

    def _authenticate(self, request: Request) -> None:
        header = request.header("authorization") or ""
        if not header.lower().startswith("basic "):
            raise ApiError(401, "ConnectWiseApi", "UserNotAuthenticated")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "ConnectWiseApi", "UserNotAuthenticated") from None
        user, _, private = decoded.partition(":")
        company, _, public = user.partition("+")
        c = self.credentials
        if (company.lower(), public, private) != (
            c.company_id.lower(),
            c.public_key,
            c.private_key,
        ):
            raise ApiError(401, "Unauthorized", "Incorrect public/private key")
        client_id = request.header("clientid")
        if not client_id:
            raise ApiError(
                401,
                "Unauthorized",
                "A clientId header is required. See https://developer.connectwise.com/ClientID",
            )
        if client_id.strip().lower() != c.client_id.lower():
            raise ApiError(401, "Unauthorized", "Invalid clientId")

    def _json(self, request: Request) -> Any:
        try:
            return request.json()
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None

    def _get(self, pattern: str, handler: Callable[[Request], Response]) -> None:
        self.route("GET", API_BASE + pattern, handler)

    def _collection(
        self,
        path: str,
        what: str,
        rows: Callable[[], list[dict[str, Any]]],
        one: Callable[[int], dict[str, Any] | None],
        cached: bool = False,
        index: dict[str, Callable[[Any], Iterable[Any]]] | None = None,
    ) -> None:
        """``GET path``, ``GET path/count`` and ``GET path/{id}``.

        ``cached``: the rows come from the views cache, so pages can be written
        from their pre-encoded JSON. ``index``: field -> function from a value to
        the matching rows, used when ``conditions`` is one ``field = v`` or
        ``field in (...)`` (so a look-up by batch identifier or invoice number
        does not scan thousands of rows).
        """
        lookup = self._lookup(index, one) if index else None
        self._get(path + "/count", lambda r: listing.count(r, rows, what, lookup))

        def get_page(request: Request) -> Response:
            encode = self.views.encoded if cached else None
            return listing.page(
                request,
                rows,
                what,
                max_page_size=self.max_page_size,
                encode=encode,
                lookup=lookup,
            )

        self._get(path, get_page)

        def get_one(request: Request) -> Response:
            ident = _int(request.params["id"], what)
            found = one(ident)
            if found is None:
                raise not_found(what, ident)
            fields = request.arg("fields")
            if fields:
                found = listing.project(found, [f.strip() for f in fields.split(",")])
            return Response(200, found)

        self._get(path + "/{id}", get_one)

    @staticmethod
    def _lookup(
        index: dict[str, Callable[[Any], Iterable[Any]]], one: Callable[[int], Any]
    ) -> listing.Lookup:
        """Turn ``field -> value -> ids`` functions into a :data:`listing.Lookup`."""
        fields = {k.lower(): fn for k, fn in index.items()}

        def lookup(field: str, values: list[Any]) -> list[dict[str, Any]] | None:
            fn = fields.get(field)
            if fn is None:
                return None
            ids = dict.fromkeys(i for v in values for i in fn(v))
            return [row for row in (one(i) for i in ids) if row is not None]

        return lookup

    # --- routes ---------------------------------------------------------------------

    def _routes_table(self) -> None:
        s, v = self.state_ref, self.views_ref
        self.route("GET", "/login/companyinfo/{company}", self._company_info)
        self._get("/system/info", self._system_info)

        self._collection(
            "/finance/accounting/unpostedinvoices",
            "unpostedInvoice",
            lambda: [v().unposted_invoice(i) for i in s().unposted_invoices()],
            lambda ident: self._one_unposted_invoice(ident),
            index={
                "id": _ids,
                "invoiceNumber": lambda value: [
                    s().invoices[i].gl_ar_id for i in _hit(s().invoice_numbers, str(value))
                ],
            },
            cached=True,
        )
        self._get("/finance/accounting/unpostedinvoices/{id}/taxableLevels", self._taxable_levels)
        self._collection(
            "/finance/accounting/unpostedexpenses",
            "unpostedExpense",
            lambda: [v().unposted_expense(e) for e in s().unposted_expenses()],
            lambda ident: (
                v().unposted_expense(e)
                if (e := s().expenses.get(ident)) and e.batch_id is None
                else None
            ),
            cached=True,
        )
        self._collection(
            "/finance/accounting/unpostedprocurement",
            "unpostedProcurement",
            lambda: [v().unposted_procurement(p) for p in s().unposted_procurement()],
            lambda ident: (
                v().unposted_procurement(p)
                if (p := s().procurement.get(ident)) and p.batch_id is None
                else None
            ),
            cached=True,
        )
        self._collection(
            "/finance/accounting/unpostedpayments",
            "unpostedPayments",
            lambda: [],
            lambda ident: None,
        )
        self.route("POST", API_BASE + "/finance/accounting/export", self._export)

        self._get("/finance/accounting/batches/{id}/entries/count", self._batch_entries_count)
        self._get("/finance/accounting/batches/{id}/entries", self._batch_entries)
        self.route("POST", API_BASE + "/finance/accounting/batches/{id}/export", self._batch_export)
        self._collection(
            "/finance/accounting/batches",
            "accountingBatch",
            lambda: [v().batch(b) for b in s().batches.values()],
            lambda ident: v().batch(b) if (b := s().batches.get(ident)) else None,
            index={
                "id": _ids,
                "batchIdentifier": lambda value: _hit(s().batch_identifiers, str(value).casefold()),
            },
        )
        self.route("POST", API_BASE + "/finance/accounting/batches", self._create_batch)
        self.route("DELETE", API_BASE + "/finance/accounting/batches/{id}", self._delete_batch)

        self._collection(
            "/finance/glAccounts",
            "glAccount",
            lambda: [v().gl_account(a) for a in s().gl_accounts.values()],
            lambda ident: v().gl_account(a) if (a := s().gl_accounts.get(ident)) else None,
        )
        self.route("PATCH", API_BASE + "/finance/glAccounts/{id}", self._patch_gl_account)
        self._collection(
            "/finance/glCaptions",
            "glCaption",
            lambda: [v().gl_caption()] if s().caption else [],
            lambda ident: v().gl_caption() if s().caption and s().caption.id == ident else None,
        )
        self._collection(
            "/finance/billingTerms",
            "billingTerm",
            lambda: [v().billing_term(i) for i in s().terms],
            lambda ident: v().billing_term(ident) if ident in s().terms else None,
        )
        self._collection(
            "/finance/billingStatuses",
            "billingStatus",
            lambda: [v().billing_status(i) for i in s().statuses],
            lambda ident: v().billing_status(ident) if ident in s().statuses else None,
        )
        self._get("/finance/taxCodes/{id}/taxCodeXRefs", self._tax_xrefs)
        self._collection(
            "/finance/taxCodes",
            "taxCode",
            lambda: [v().tax_code(i) for i in s().tax_codes],
            lambda ident: v().tax_code(ident) if ident in s().tax_codes else None,
        )
        self._collection(
            "/company/companies",
            "company",
            lambda: [v().company(c) for c in sorted(s().companies.values(), key=lambda c: c.id)],
            lambda ident: v().company(c) if (c := s().companies.get(ident)) else None,
            index={"id": _ids},
            cached=True,
        )
        self._collection(
            "/company/contacts",
            "contact",
            lambda: [v().contact(c) for c in s().contacts.values()],
            lambda ident: v().contact(c) if (c := s().contacts.get(ident)) else None,
            index={"id": _ids},
            cached=True,
        )
        self._get("/finance/invoices/{id}/payments/count", self._payments_count)
        self._get("/finance/invoices/{id}/payments/{pid}", self._payment)
        self.route(
            "DELETE", API_BASE + "/finance/invoices/{id}/payments/{pid}", self._delete_payment
        )
        self._get("/finance/invoices/{id}/payments", self._payments)
        self.route("POST", API_BASE + "/finance/invoices/{id}/payments", self._add_payment)
        self._collection(
            "/finance/invoices",
            "invoice",
            lambda: [v().invoice(i) for i in s().invoices.values()],
            lambda ident: v().invoice(i) if (i := s().invoices.get(ident)) else None,
            index={
                "id": _ids,
                "invoiceNumber": lambda value: _hit(s().invoice_numbers, str(value)),
            },
            cached=True,
        )
        self.route("PATCH", API_BASE + "/finance/invoices/{id}", self._patch_invoice)
        self._collection(
            "/system/members",
            "member",
            lambda: [self._member(m) for m in s().members],
            lambda ident: self._member(ident) if ident in s().members else None,
        )

    def state_ref(self) -> State:
        """The current state (replaced by :meth:`reset`)."""
        return self.state

    def views_ref(self) -> Views:
        """The current views (replaced by :meth:`reset`)."""
        return self.views

    # --- handlers -------------------------------------------------------------------

    def _company_info(self, request: Request) -> Response:
        if request.params["company"].lower() != self.credentials.company_id.lower():
            return Response(404, body("NotFound", "Cannot route. Codebase/company is invalid"))
        return Response(
            200,
            {
                "CompanyName": "WiseSync Demo MSP Pty Ltd",
                "Codebase": "v4_6_release/",
                "VersionCode": "v2025.1",
                "VersionNumber": SERVER_VERSION,
                "CompanyID": self.credentials.company_id,
                "IsCloud": False,
                "SiteUrl": request.header("host") or "127.0.0.1",
            },
        )

    def _system_info(self, request: Request) -> Response:
        return Response(
            200,
            {
                "version": SERVER_VERSION,
                "isCloud": False,
                "serverTimeZone": "UTC",
                "cloudRegion": None,
                "licenseBits": [{"name": "GLInterface", "activeFlag": True}],
            },
        )

    def _member(self, ident: int) -> dict[str, Any]:
        m = self.state.members[ident]
        return {
            "id": m.id,
            "identifier": m.identifier,
            "firstName": m.first_name,
            "lastName": m.last_name,
            "officeEmail": m.email,
            "vendorNumber": m.vendor_number,
            "inactiveFlag": False,
            "_info": {"lastUpdated": "2025-01-01T00:00:00Z"},
        }

    def _one_unposted_invoice(self, ident: int) -> dict[str, Any] | None:
        owner = self.state.gl_index.get(ident)
        if owner is None or owner[0] != "invoice":
            return None
        inv = self.state.invoices[owner[1]]
        if inv.gl_ar_id != ident or not self.state.in_accounting_interface("invoice", inv.id):
            return None
        return self.views.unposted_invoice(inv)

    def _taxable_levels(self, request: Request) -> Response:
        ident = _int(request.params["id"], "unpostedInvoice")
        row = self._one_unposted_invoice(ident)
        if row is None:
            raise not_found("unpostedInvoice", ident)
        return Response(
            200,
            [
                {
                    "id": ident * 10 + 1,
                    "taxLevel": 1,
                    "taxCodeXref": row.get("stateTaxXref"),
                    "taxAmount": row["salesTaxAmount"],
                }
            ],
        )

    def _tax_xrefs(self, request: Request) -> Response:
        ident = _int(request.params["id"], "taxCode")
        if ident not in self.state.tax_codes:
            raise not_found("taxCode", ident)
        return listing.page(
            request,
            self.views.tax_code_xrefs(ident),
            "taxCodeXRef",
            max_page_size=self.max_page_size,
        )

    # --- export and batches ---------------------------------------------------------

    def _export(self, request: Request) -> Response:
        req = self._json(request) or {}
        if not isinstance(req, dict):
            raise bad_request("The request body must be an ExportAccountingBatchRequest object.")
        identifier = req.get("batchIdentifier")
        if identifier is not None and len(str(identifier)) > 50:
            raise ApiError(
                400,
                "MaxLengthField",
                "The field batchIdentifier must be a string with a maximum length of 50.",
            )
        if not (
            req.get("exportInvoicesFlag")
            or req.get("exportExpensesFlag")
            or req.get("exportProductsFlag")
        ):
            raise invalid(
                "exportAccountingBatchRequest",
                "exportInvoicesFlag",
                "InvalidField",
                "Batch export must include invoices, expenses, or products (procurement)",
            )
        thru = None
        if req.get("thruDate"):
            thru = parse_instant(str(req["thruDate"]))
            if thru is None:
                raise invalid(
                    "exportAccountingBatchRequest",
                    "thruDate",
                    "InvalidField",
                    f"thruDate {req['thruDate']!r} is not a date",
                )
        location = req.get("locationId") or None
        s = self.state
        wanted: dict[str, set[str]] = {}
        for key in (
            "includedInvoiceIds",
            "excludedInvoiceIds",
            "includedExpenseIds",
            "excludedExpenseIds",
            "includedProductIds",
            "excludedProductIds",
        ):
            value = req.get(key)
            if value:
                if not isinstance(value, list):
                    raise invalid(
                        "exportAccountingBatchRequest",
                        key,
                        "InvalidField",
                        f"{key} must be an array",
                    )
                wanted[key] = {str(i) for i in value}

        def keep(
            rec: Invoice | Expense | Procurement, ids: Iterable[Any], flag: str, inc: str, exc: str
        ) -> bool:
            if not req.get(flag):
                return False
            keys = {str(i) for i in ids}
            if inc in wanted and not keys & wanted[inc]:
                return False
            if exc in wanted and keys & wanted[exc]:
                return False
            if location is not None and rec.location_id != location:
                return False
            when = datetime(rec.date.year, rec.date.month, rec.date.day, tzinfo=UTC)
            return thru is None or when <= thru

        invoices = [
            i
            for i in s.unposted_invoices()
            if keep(
                i,
                (i.id, i.gl_ar_id),
                "exportInvoicesFlag",
                "includedInvoiceIds",
                "excludedInvoiceIds",
            )
        ]
        expenses = [
            e
            for e in s.unposted_expenses()
            if keep(
                e,
                (e.id, e.detail_id),
                "exportExpensesFlag",
                "includedExpenseIds",
                "excludedExpenseIds",
            )
        ]
        products = [
            p
            for p in s.unposted_procurement()
            if keep(
                p,
                (p.id, p.unposted_product_id),
                "exportProductsFlag",
                "includedProductIds",
                "excludedProductIds",
            )
        ]
        settings = {
            k: req.get(k)
            for k in (
                "batchIdentifier",
                "thruDate",
                "locationId",
                "summarizeInvoices",
                "exportInvoicesFlag",
                "exportExpensesFlag",
                "exportProductsFlag",
            )
        }
        return Response(200, self.glexport_bytes(invoices, expenses, products, settings))

    def _glexport_parts(
        self,
        invoices: list[Invoice],
        expenses: list[Expense],
        products: list[Procurement],
    ) -> dict[str, list[dict[str, Any]]]:
        v = self.views
        customers = list(dict.fromkeys(i.company_id for i in invoices))
        vendors = list(dict.fromkeys(p.vendor_id for p in products if p.vendor_id is not None))
        members = list(dict.fromkeys(e.member_id for e in expenses))
        bills: dict[tuple[int, Any], list[Expense]] = {}
        for e in expenses:
            if e.as_bill:
                bills.setdefault(v.bill_key(e), []).append(e)
        return {
            "vendors": [v.vendor(c) for c in vendors] + [v.member_vendor(m) for m in members],
            "customers": [v.export_customer(c) for c in customers],
            "transactions": [v.export_transaction(i) for i in invoices],
            "expenses": [v.export_expense(e) for e in expenses if not e.as_bill],
            "expenseBills": [v.expense_bill(group) for group in bills.values()],
            "purchaseTransactions": [
                v.export_procurement(p) for p in products if p.kind == "Purchase"
            ],
            "adjustmentTransactions": [
                v.export_procurement(p) for p in products if p.kind == "Adjustment"
            ],
            "inventoryTransfers": [
                v.export_procurement(p) for p in products if p.kind == "Transfer"
            ],
        }

    def glexport(
        self,
        invoices: list[Invoice],
        expenses: list[Expense],
        products: list[Procurement],
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        """A ``GLExport`` of the given records (customers/vendors deduplicated, in order)."""
        return {"exportSettings": settings, **self._glexport_parts(invoices, expenses, products)}

    def glexport_bytes(
        self,
        invoices: list[Invoice],
        expenses: list[Expense],
        products: list[Procurement],
        settings: dict[str, Any],
    ) -> bytes:
        """:meth:`glexport` as JSON, joined from each record's pre-encoded JSON."""
        encoded = self.views.encoded
        out = [b'{"exportSettings":', encode_json(settings)]
        for key, rows in self._glexport_parts(invoices, expenses, products).items():
            out.append(b',"' + key.encode() + b'":[')
            out.append(b",".join(encoded(row) for row in rows))
            out.append(b"]")
        out.append(b"}")
        return b"".join(out)

    def _batch_records(self, batch_id: int) -> tuple[Any, list[Any], list[Any], list[Any]]:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            raise not_found("accountingBatch", batch_id)
        recs: dict[str, list[Any]] = {"invoice": [], "expense": [], "procurement": []}
        for kind, rec_id in batch.records:
            recs[kind].append(self.state.record(kind, rec_id))
        return batch, recs["invoice"], recs["expense"], recs["procurement"]

    def _create_batch(self, request: Request) -> Response:
        req = self._json(request)
        if not isinstance(req, dict):
            raise bad_request("The request body must be a CreateAccountingBatchRequest object.")
        batch = self.state.create_batch(req)
        _, invoices, expenses, products = self._batch_records(batch.id)
        settings = {
            "batchId": batch.id,
            "batchIdentifier": batch.identifier,
            "exportInvoicesFlag": batch.export_invoices,
            "exportExpensesFlag": batch.export_expenses,
            "exportProductsFlag": batch.export_products,
        }
        return Response(201, self.glexport_bytes(invoices, expenses, products, settings))

    def _batch_export(self, request: Request) -> Response:
        batch, invoices, expenses, products = self._batch_records(
            _int(request.params["id"], "accountingBatch")
        )
        settings = {"batchId": batch.id, "batchIdentifier": batch.identifier}
        return Response(200, self.glexport_bytes(invoices, expenses, products, settings))

    def _delete_batch(self, request: Request) -> Response:
        self.state.delete_batch(_int(request.params["id"], "accountingBatch"))
        return Response(204)

    def _batch_entries(self, request: Request) -> Response:
        batch, *_ = self._batch_records(_int(request.params["id"], "accountingBatch"))
        return listing.page(
            request, self.views.batch_entries(batch), "batchEntry", max_page_size=self.max_page_size
        )

    def _batch_entries_count(self, request: Request) -> Response:
        batch, *_ = self._batch_records(_int(request.params["id"], "accountingBatch"))
        return listing.count(request, self.views.batch_entries(batch), "batchEntry")

    def _patch_gl_account(self, request: Request) -> Response:
        account = self.state.patch_gl_account(
            _int(request.params["id"], "glAccount"), self._json(request)
        )
        return Response(200, self.views.gl_account(account))

    # --- payments -------------------------------------------------------------------

    def _invoice(self, request: Request) -> Invoice:
        ident = _int(request.params["id"], "invoice")
        inv = self.state.invoices.get(ident)
        if inv is None:
            raise not_found("invoice", ident)
        return inv

    def _payment_rows(self, inv: Invoice) -> list[dict[str, Any]]:
        return [self.views.payment(self.state.payments[p]) for p in inv.payment_ids]

    def _payments(self, request: Request) -> Response:
        rows = self._payment_rows(self._invoice(request))
        return listing.page(request, rows, "invoicePayment", max_page_size=self.max_page_size)

    def _payments_count(self, request: Request) -> Response:
        return listing.count(request, self._payment_rows(self._invoice(request)), "invoicePayment")

    def _payment(self, request: Request) -> Response:
        inv = self._invoice(request)
        pid = _int(request.params["pid"], "invoicePayment")
        if pid not in inv.payment_ids:
            raise not_found("invoicePayment", pid)
        return Response(200, self.views.payment(self.state.payments[pid]))

    def _add_payment(self, request: Request) -> Response:
        inv = self._invoice(request)
        req = self._json(request)
        if not isinstance(req, dict):
            raise bad_request("The request body must be an InvoicePayment object.")
        payment, created = self.state.add_payment(
            inv.id, req, single_payment=self.single_payment_per_invoice
        )
        return Response(201 if created else 200, self.views.payment(payment))

    def _patch_invoice(self, request: Request) -> Response:
        """PATCH an invoice: only ``status`` (``status/id`` or ``status/name``) can change."""
        inv = self._invoice(request)
        ops = self._json(request)
        if not isinstance(ops, list) or not ops:
            raise bad_request("PATCH body must be a non-empty array of PatchOperations.")
        for op in ops:
            path = str(op.get("path", "") if isinstance(op, dict) else "").strip("/").lower()
            value = op.get("value") if isinstance(op, dict) else None
            if path in ("status", "status/id", "status/name"):
                if isinstance(value, dict):
                    value = value.get("id", value.get("name"))
                status = next(
                    (
                        s
                        for s in self.state.statuses.values()
                        if str(value).lower() in (str(s.id), s.name.lower())
                    ),
                    None,
                )
                if status is None:
                    raise invalid(
                        "invoice", "status", "NotFound", f"Billing status {value} not found"
                    )
                inv.status_id = status.id
                inv.rev += 1
                inv.updated = now_iso()
            else:
                raise invalid(
                    "invoice",
                    path or "path",
                    "InvalidField",
                    f"The sandbox can only patch an invoice's status, not {path!r}",
                )
        return Response(200, self.views.invoice(inv))

    def _delete_payment(self, request: Request) -> Response:
        inv = self._invoice(request)
        self.state.delete_payment(inv.id, _int(request.params["pid"], "invoicePayment"))
        return Response(204)

    # --- helpers for tests, benchmarks and the demo ----------------------------------

    def reset(self) -> None:
        """Forget faults and the log and rebuild the seeded tenant."""
        super().reset()
        self.schema_violations.clear()
        self.faults.latency = self.latency
        if self.rate_limit:
            self._limiter = WindowLimiter(self.rate_limit, clock=self.clock)
        with self.lock:
            self.state = self._build()
            self.views = Views(self.state)

    def warm(self) -> None:
        """Build and encode every record's JSON now, so the first extraction is as fast as the rest.

        The cyclic garbage collector is paused meanwhile: the cache is hundreds of
        thousands of long-lived dicts, and rescanning them costs a third of the time.
        """
        paused = gc.isenabled()
        gc.disable()
        try:
            self._warm()
        finally:
            if paused:
                gc.enable()

    def _warm(self) -> None:
        with self.lock:
            s, v = self.state, self.views
            for inv in s.invoices.values():
                v.encoded(v.unposted_invoice(inv))
                v.encoded(v.export_transaction(inv))
                v.encoded(v.invoice(inv))
            for exp in s.expenses.values():
                v.encoded(v.unposted_expense(exp))
                v.encoded(v.export_expense(exp))
            for proc in s.procurement.values():
                v.encoded(v.unposted_procurement(proc))
                v.encoded(v.export_procurement(proc))
            for company in s.companies.values():
                v.encoded(v.company(company))
                if "Client" in company.types:
                    v.encoded(v.export_customer(company.id))
                if company.is_vendor:
                    v.encoded(v.vendor(company.id))
            for contact in s.contacts.values():
                v.encoded(v.contact(contact))

    def unposted_counts(self) -> dict[str, int]:
        """Unposted records per wisesync record type (invoice, credit_memo, expense, procurement)."""
        with self.lock:
            invoices = self.state.unposted_invoices()
            memos = sum(1 for i in invoices if i.type == "CreditMemo")
            return {
                "invoice": len(invoices) - memos,
                "credit_memo": memos,
                "expense": len(self.state.unposted_expenses()),
                "procurement": len(self.state.unposted_procurement()),
            }

    def case(self, name: str) -> str:
        """The invoice number (or expense/procurement id) of a seeded case, e.g. ``"gst99"``."""
        return self.state.cases[name]

    @property
    def cases(self) -> dict[str, str]:
        """Every seeded case: name -> invoice number or record id."""
        return dict(self.state.cases)

    def invoice_by_number(self, number: str | int) -> dict[str, Any] | None:
        """The ``/finance/invoices`` JSON of invoice ``number`` (payments, balance, glBatch)."""
        with self.lock:
            ident = self.state.invoice_numbers.get(str(number))
            return None if ident is None else self.views.invoice(self.state.invoices[ident])

    def unposted_invoice(self, number: str | int) -> dict[str, Any] | None:
        """The ``UnpostedInvoice`` row of invoice ``number``, None when posted or held."""
        with self.lock:
            ident = self.state.invoice_numbers.get(str(number))
            if ident is None or not self.state.in_accounting_interface("invoice", ident):
                return None
            return self.views.unposted_invoice(self.state.invoices[ident])

    def payments(self, number: str | int) -> list[dict[str, Any]]:
        """The payments applied to invoice ``number``."""
        with self.lock:
            ident = self.state.invoice_numbers[str(number)]
            return self._payment_rows(self.state.invoices[ident])

    def batches(self) -> list[dict[str, Any]]:
        """Every accounting batch, as ``AccountingBatch`` JSON plus its record/GL ids."""
        with self.lock:
            out = []
            for b in self.state.batches.values():
                row = dict(self.views.batch(b))  # a copy: the cached view is served as is
                row["records"] = [{"kind": k, "id": i} for k, i in b.records]
                row["glEntryIds"] = list(b.gl_ids)
                out.append(row)
            return out

    def set_invoice_status(self, number: str | int, status: str) -> None:
        """Move an invoice to billing status ``status`` (e.g. release "Finance Hold" -> "Closed")."""
        with self.lock:
            inv = self.state.invoices[self.state.invoice_numbers[str(number)]]
            inv.status_id = next(
                s.id for s in self.state.statuses.values() if s.name.lower() == status.lower()
            )
            inv.rev += 1

    def second_phase(self) -> list[str]:
        """Apply the seed's phase two (cases.toml): what happens in ConnectWise after a first
        sync. A customer's details change (address, phone, tax number, billing e-mail) and
        it is invoiced again; returns the new invoices' case names (``cases`` has their
        numbers). ``POST /__sandbox/second-phase`` does the same."""
        with self.lock:
            return seed_module.phase_two(self.state)

    def gl_mapping(self, key: str | int) -> GLAccount:
        """A GL mapping by id or seed name (``"labor"``, ``"unmapped"``, ``"no_npid"`` ...)."""
        ident = key if isinstance(key, int) else self.state.mapping_ids[key]
        return self.state.gl_accounts[ident]

    def fix_mapping(
        self,
        key: str | int,
        *,
        account: str | None = None,
        location: str | None = None,
        department: str | None = None,
        non_product_id: str | None = None,
    ) -> dict[str, Any]:
        """Change a GL mapping's segments (None leaves one as is); returns the GLAccount JSON."""
        ops = [
            {"op": "replace", "path": f"segment{n}", "value": value}
            for n, value in ((1, account), (2, location), (3, department), (4, non_product_id))
            if value is not None
        ]
        with self.lock:
            mapping = self.gl_mapping(key)
            return self.views.gl_account(self.state.patch_gl_account(mapping.id, ops))

    def add_gl_mapping(
        self,
        gl_type: str,
        mapped_record: str,
        account: str,
        *,
        location: str = "",
        department: str = "",
        non_product_id: str = "",
        name: str | None = None,
    ) -> int:
        """Add a GL mapping row; returns its id (also registered under ``name``)."""
        with self.lock:
            s = self.state
            ident = max(s.gl_accounts, default=0) + 1
            s.gl_accounts[ident] = GLAccount(
                id=ident,
                gl_type=gl_type,
                mapped_type=(2, "Work Role"),
                mapped_record=(100 + ident, mapped_record),
                segments=[account, location, department, non_product_id] + [""] * 6,
                description=mapped_record,
            )
            if name:
                s.mapping_ids[name] = ident
            s.touch_reference()
            return ident

    def remap_invoice_lines(self, number: str | int, key: str | int) -> None:
        """Point every non-product line of an invoice at another GL mapping (a GL Reload)."""
        with self.lock:
            inv = self.state.invoices[self.state.invoice_numbers[str(number)]]
            target = self.gl_mapping(key).id
            for line in inv.lines:
                if line.item_id is None:
                    line.gl_account_id = target
            inv.rev += 1
