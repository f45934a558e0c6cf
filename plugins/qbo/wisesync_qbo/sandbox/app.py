"""The QuickBooks Online Accounting API simulator: :class:`QboSandbox`.

Serves Intuit's paths on one port: ``/v3/company/{realmId}/{entity}`` (create, update,
``?operation=delete``, ``?operation=void``), ``/{entity}/{id}`` (read), ``/query`` (GET
``?query=`` or POST ``application/text``), ``/batch``, ``/cdc``, ``/companyinfo/{id}``,
``/preferences``; and the identity endpoints of :mod:`.identity`.

Order of checks for an API call, as QBO answers: authentication (401, lower-case
``fault`` code 3200), the realm (403), throttling (429 with QBO's XML body, code 3001;
refused calls are not counted), ``requestid`` replay (the same response again), then
the business rules of :mod:`.rules` (400 with ``Fault.Error[]``). ``minorversion``
below 75 is served as 75, as QBO does since August 2025.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from wisesync.ratelimit import Clock
from wisesync.testing.oauth import AuthFailure, Grant, TokenFailure
from wisesync.testing.ratelimit import WindowLimiter
from wisesync.testing.sandbox import Request, Response, SandboxApp

from . import query as q
from . import rules
from .identity import (
    AUTHORIZE_PATH,
    DISCOVERY_PATH,
    REVOKE_PATH,
    SCOPE,
    TOKEN_PATH,
    IntuitOAuth,
    discovery,
)
from .seed import SEED_CURRENCIES, seed_default
from .state import ENTITIES, TRANSACTIONS, Company, WallClock

API = "/v3/company"
MIN_MINOR_VERSION = 75
BATCH_MAX = 30  # "maximum number of payloads in a single BatchItemRequest is 30"
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36  # "requestid on batch: at most 36 chars, and then each bId ... 10"
BID_MAX = 10
#: writable through the API here (the rest are read-only to the sandbox's clients)
WRITABLE = frozenset(
    {"Customer", "Vendor", "Employee", "Item", "Account", "Term", "Class", "Department"}
    | set(TRANSACTIONS)
)
THROTTLE_BODY = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
    '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; '
    "errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  "
    "Try again later</Detail></Error></Fault></IntuitResponse>"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """QBO's throttles per realm (qbo.md section 5)."""

    per_minute: int = 500
    per_second: int = 10
    batch_per_minute: int = 40


@dataclass
class _Stored:
    done: threading.Event = field(default_factory=threading.Event)
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The sandbox's one Intuit app."""

    client_id: str
    client_secret: str


class QboSandbox(SandboxApp):
    """A stateful QuickBooks Online: companies, OAuth, throttles, requestid, faults.

    Args:
        seed: makes seeded data deterministic.
        clock: drives token expiry, throttle windows and timestamps (a ManualClock in tests).
        limits: per-realm throttles (:class:`Limits`).
        customers: pre-existing customers of the first company (count -> ``C00001``... or names).
        country: the first company's country (default ``AU``, the scenario's MSP: a tax
            code per line; ``US``: automated sales tax, line codes TAX/NON).
        multicurrency: the first company's MultiCurrencyEnabled; when on, the company has
            also added the scenario's currencies (USD and NZD, ``seed.SEED_CURRENCIES``).
        batch_replay: a batch repeated with the same ``requestid`` gets the first answer
            again (single-entity replay is documented; batch replay is unconfirmed, a
            user reported 6000: set False to refuse it that way).
        refresh_grace: seconds a rotated refresh token may be repeated (0: never).
        batch_sees_own_creates: an item of a batch may refer to an entity another item of
            the same batch created (False, the default: refused with 2500, as QBO's batch
            reference says items are independent; QBO's exact answer is unconfirmed).
    """

    system = "qbo"

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        limits: Limits | None = None,
        customers: int | list[str | dict[str, Any]] | None = None,
        country: str = "AU",
        multicurrency: bool = False,
        batch_replay: bool = True,
        refresh_grace: float = 0.0,
        auto_consent: bool = True,
        batch_sees_own_creates: bool = False,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.clock = clock or Clock()
        self.wall = WallClock(self.clock)
        self.identity = IntuitOAuth(
            self.clock, refresh_grace=refresh_grace, auto_consent=auto_consent
        )
        self.limits = limits or Limits()
        self._minute = WindowLimiter(self.limits.per_minute, 60.0, self.clock)
        self._second = WindowLimiter(self.limits.per_second, 1.0, self.clock)
        self._batch = WindowLimiter(self.limits.batch_per_minute, 60.0, self.clock)
        self.batch_replay = batch_replay
        self.batch_sees_own_creates = batch_sees_own_creates
        self.companies: dict[str, Company] = {}
        self._rng = random.Random(seed)
        self._replays: dict[tuple[str, str], _Stored] = {}
        self._replay_lock = threading.Lock()
        self.requestid_replays = 0
        self.rate_limited = 0
        #: batch requests that write, by the entity of their first operation
        self.batch_writes: Counter[str] = Counter()
        self.minor_versions: set[int] = set()
        self.write_faults: list[tuple[str, str | None, int]] = []
        self.editing: set[tuple[str, str]] = set()
        client = self.identity.register_client()
        self.app = AppCredentials(client.client_id, client.client_secret)
        self.add_company("Wisesync Demo MSP", customers=customers, country=country)
        self.company().multicurrency = multicurrency
        if multicurrency:
            self.company().currencies.update(SEED_CURRENCIES)
        self._routes_setup()

    # -- companies and tokens ------------------------------------------------------------

    def add_company(
        self,
        name: str,
        *,
        customers: int | list[str | dict[str, Any]] | None = None,
        country: str = "AU",
    ) -> str:
        """Add a seeded company; returns its realm id (a numeric string, like QBO's)."""
        realm = str(9130350000000000000 + self._rng.randrange(10**12))
        currency = {"US": "USD", "AU": "AUD", "CA": "CAD", "GB": "GBP", "NZ": "NZD"}.get(
            country, "USD"
        )
        company = Company(
            realm_id=realm,
            name=name,
            wall=self.wall,
            country=country,
            home_currency=currency,
            currencies={currency},
        )
        seed_default(company, customers)
        with self.lock:
            self.companies[realm] = company
        self.identity.tenant_names[realm] = name
        return realm

    @property
    def realm_id(self) -> str:
        """The first company's realm id."""
        return next(iter(self.companies))

    def company(self, realm: str | None = None) -> Company:
        """A company's state (the first by default)."""
        return self.companies[realm or self.realm_id]

    def issue_tokens(self, realm: str | None = None) -> dict[str, Any]:
        """Tokens for the app on ``realm`` as if the user had consented (tests, demo):
        ``access_token``, ``refresh_token``, ``expires_in``, ``x_refresh_token_expires_in``."""
        realm = realm or self.realm_id
        with self.lock:
            grant = Grant(str(uuid.uuid4()), self.app.client_id, [realm], frozenset({SCOPE}))
            self.identity.grants.append(grant)
            body = self.identity._issue(grant, refresh=True)
        return self._intuit_token(body)

    def _intuit_token(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "x_refresh_token_expires_in": int(self.identity.refresh_ttl)}

    def expire_tokens(self) -> int:
        """Expire every access token now (the next call is 401 until a refresh)."""
        return self.identity.expire_access_tokens()

    def revoke(self, realm: str | None = None) -> None:
        """The user disconnects the app: calls 401, refresh ``invalid_grant``."""
        self.identity.revoke_tenant(realm or self.realm_id)

    def reconnect(self, realm: str | None = None) -> None:
        """Undo :meth:`revoke` for grants made before (a user reconnecting)."""
        realm = realm or self.realm_id
        with self.lock:
            for grant in self.identity.grants:
                grant.revoked_tenants.discard(realm)

    # -- test controls -------------------------------------------------------------------

    def fail_next(self, code: str, entity: str | None = None, count: int = 1) -> None:
        """The next ``count`` writes (of ``entity``, or any) fail with QBO error ``code``
        (``"5010"``: someone else saved the entity first, so its SyncToken moves on;
        ``"6000"``, ``"6210"``...)."""
        with self.lock:
            self.write_faults.append((code, entity, count))

    def keep_editing(self, entity: str, entity_id: str) -> None:
        """Another QBO user keeps saving the entity: every update of it sent from now on
        finds its SyncToken moved on (5010), however often it is read again, until
        :meth:`stop_editing` (the Sync Token Issue of the demo)."""
        with self.lock:
            self.editing.add((entity, str(entity_id)))

    def stop_editing(self) -> None:
        """The other user finished: updates go through again."""
        with self.lock:
            self.editing.clear()

    def set_active(self, entity: str, name: str, active: bool, realm: str | None = None) -> None:
        """Make the Account (by AcctNum or Name), Item, Customer... ``name`` (in)active."""
        company = self.company(realm)
        with self.lock:
            row = self._named(company, entity, name)
            row["Active"] = active
            company.replace(entity, row)

    def touch(self, entity: str, entity_id: str, realm: str | None = None) -> dict[str, Any]:
        """Another user saves the entity: its SyncToken moves on."""
        company = self.company(realm)
        with self.lock:
            row = company.get(entity, entity_id)
            if row is None:
                raise KeyError(f"no {entity} {entity_id}")
            return company.replace(entity, row)

    def add(self, entity: str, body: dict[str, Any], realm: str | None = None) -> dict[str, Any]:
        """Store an entity directly (no rules): a seed for a test."""
        with self.lock:
            return self.company(realm).insert(entity, body)

    def receive_payment(
        self, doc_number: str, amount: Decimal, realm: str | None = None
    ) -> dict[str, Any]:
        """A customer pays ``amount`` on invoice ``doc_number`` (a Payment linked to it)."""
        company = self.company(realm)
        with self.lock:
            invoice = company.find("Invoice", DocNumber=doc_number)
            if invoice is None:
                raise KeyError(f"no invoice {doc_number}")
            body = {
                "CustomerRef": invoice["CustomerRef"],
                "TotalAmt": amount,
                "Line": [
                    {
                        "Amount": amount,
                        "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                    }
                ],
            }
            status, payload = self.apply(company, "Payment", "create", body)
        if status != 200:
            raise ValueError(f"payment refused: {payload}")
        return payload["Payment"]  # type: ignore[index,call-overload]

    def pay_bill(
        self,
        doc_number: str,
        amount: Decimal,
        pay_type: str = "Check",
        realm: str | None = None,
    ) -> dict[str, Any]:
        """The QBO user pays ``amount`` of bill ``doc_number`` from the company's first bank
        account (``pay_type`` Check) or credit card account (CreditCard): a BillPayment
        linked to it."""
        company = self.company(realm)
        kind = {"Check": "Bank", "CreditCard": "Credit Card"}[pay_type]
        with self.lock:
            bill = company.find("Bill", DocNumber=doc_number)
            if bill is None:
                raise KeyError(f"no bill {doc_number}")
            account = company.find("Account", AccountType=kind)
            if account is None:
                raise KeyError(f"no {kind} account to pay from")
            detail = (
                {"CheckPayment": {"BankAccountRef": {"value": account["Id"]}}}
                if pay_type == "Check"
                else {"CreditCardPayment": {"CCAccountRef": {"value": account["Id"]}}}
            )
            body = {
                "VendorRef": bill["VendorRef"],
                "PayType": pay_type,
                **detail,
                "TotalAmt": amount,
                "Line": [
                    {"Amount": amount, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}
                ],
            }
            status, payload = self.apply(company, "BillPayment", "create", body)
        if status != 200:
            raise ValueError(f"bill payment refused: {payload}")
        return payload["BillPayment"]  # type: ignore[index,call-overload]

    def delete_payment(
        self, payment_id: str, realm: str | None = None, entity: str = "Payment"
    ) -> None:
        """The QBO user deletes a payment (``entity`` BillPayment: a bill payment); change
        data capture reports it deleted."""
        company = self.company(realm)
        with self.lock:
            row = company.get(entity, payment_id)
            if row is None:
                raise KeyError(f"no {entity} {payment_id}")
            status, payload = self.apply(
                company, entity, "delete", {"Id": row["Id"], "SyncToken": row["SyncToken"]}
            )
        if status != 200:
            raise ValueError(f"delete refused: {payload}")

    def documents(self, entity: str, realm: str | None = None) -> list[dict[str, Any]]:
        """Every stored ``entity`` (Invoice, Bill...), oldest first (copies)."""
        with self.lock:
            return copy.deepcopy(self.company(realm).all(entity))

    @staticmethod
    def _named(company: Company, entity: str, name: str) -> dict[str, Any]:
        for row in company.all(entity):
            if name in (row.get("AcctNum"), row.get("Name"), row.get("DisplayName"), row["Id"]):
                return row
        raise KeyError(f"no {entity} named {name!r}")

    def connection_settings(self, company: str, url: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The ``[companies.qbo]`` table and secrets that connect ``company`` here."""
        prefix = "".join(c if c.isalnum() else "_" for c in company.upper())
        settings = {
            "client_id_env": f"{prefix}_QBO_CLIENT_ID",
            "client_secret_env": f"{prefix}_QBO_CLIENT_SECRET",
            "refresh_token_env": f"{prefix}_QBO_REFRESH_TOKEN",
            "realm_id": self.realm_id,
            "base_url": url,
            "oauth_url": url,
            "authorize_url": url + AUTHORIZE_PATH,
            "throttle_wait": "2s",  # the sandbox's windows free within a second
        }
        env = {
            f"{prefix}_QBO_CLIENT_ID": self.app.client_id,
            f"{prefix}_QBO_CLIENT_SECRET": self.app.client_secret,
            # as if copied from Intuit's OAuth Playground: the company starts connected
            f"{prefix}_QBO_REFRESH_TOKEN": self.issue_tokens()["refresh_token"],
        }
        return settings, env

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.write_faults.clear()
            self.editing.clear()
        self._minute.reset()
        self._second.reset()
        self._batch.reset()

    def fault_path(self, request: Request) -> str:
        """Faults tell a batch that writes (it carries a ``requestid``) from one of queries,
        and what it writes: they see its path as ``.../batch/write/{Entity}`` (the entity of
        its first operation, e.g. ``Invoice`` or ``Customer``) or ``.../batch/read``; other
        paths as they are."""
        if not request.path.lower().endswith("/batch"):
            return request.path
        if not request.arg("requestid"):
            return request.path + "/read"
        try:
            items = (request.json() or {}).get("BatchItemRequest") or [{}]
        except ValueError:
            items = [{}]
        entity = next((k for k in items[0] if self._entity(k)), "")
        return f"{request.path}/write/{entity}"

    def dispatch(self, request: Request) -> Response:
        """As the base class does; counts the batches that write in :attr:`batch_writes`
        (by the entity of their first operation, answered or not)."""
        path = self.fault_path(request)
        if "/batch/write/" in path:
            with self._replay_lock:
                self.batch_writes[path.rsplit("/", 1)[1]] += 1
        return super().dispatch(request)

    # -- routes --------------------------------------------------------------------------

    def _routes_setup(self) -> None:
        self.route("GET", DISCOVERY_PATH, self._discovery)
        self.route("GET", AUTHORIZE_PATH, self._authorize)
        self.route("POST", TOKEN_PATH, self._token)
        self.route("POST", REVOKE_PATH, self._revoke)
        self.route("GET", API + "/{realm}/query", self._api(self._query))
        self.route("POST", API + "/{realm}/query", self._api(self._query))
        self.route("POST", API + "/{realm}/batch", self._api(self._batch_call))
        self.route("GET", API + "/{realm}/cdc", self._api(self._cdc))
        self.route("GET", API + "/{realm}/{entity}/{id}", self._api(self._read))
        self.route("GET", API + "/{realm}/{entity}", self._api(self._read_singleton))
        self.route("POST", API + "/{realm}/{entity}", self._api(self._write))

    def error_response(self, status: int, message: str) -> Response:
        """QBO's bodies for injected faults and unknown routes (429: the XML body)."""
        if status == 429:
            return self._throttled()
        type_ = "SystemFault" if status >= 500 else "ValidationFault"
        code = {404: "2030", 405: "2010"}.get(status, "10000")
        return self._fault(status, [rules.error(code, message, message)], type_)

    def _fault(
        self, status: int, errors: list[dict[str, str]], type_: str = "ValidationFault"
    ) -> Response:
        return Response(status, {"Fault": rules.fault(errors, type_), "time": self.wall.stamp()})

    def _throttled(self) -> Response:
        self.rate_limited += 1
        body = THROTTLE_BODY.format(time=self.wall.stamp())
        return Response(429, body, {"Content-Type": "application/xml"})

    def _ok(self, body: dict[str, Any]) -> Response:
        return Response(200, {**body, "time": self.wall.stamp()})

    # -- identity ------------------------------------------------------------------------

    def _discovery(self, request: Request) -> Response:
        return Response(200, discovery(f"http://{request.header('host', '127.0.0.1')}"))

    def _authorize(self, request: Request) -> Response:
        params = {k: v[0] for k, v in request.query.items()}
        status, headers, page = self.identity.authorize(
            params, consent=params.get("consent") == "allow"
        )
        if "Location" in headers and "code=" in headers["Location"]:
            headers["Location"] += f"&realmId={self.realm_id}"
        return Response(status, page, headers)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        try:
            body = self.identity.token(form, request.headers)
        except TokenFailure as exc:
            return Response(exc.status, exc.body)
        return Response(200, self._intuit_token(body))

    def _revoke(self, request: Request) -> Response:
        body = request.json() or {}
        self.identity.revoke_token(str(body.get("token", "")))
        return Response(200, "")

    # -- API pipeline --------------------------------------------------------------------

    def _api(self, handler: Any) -> Any:
        def call(request: Request) -> Response:
            try:
                token = self.identity.authenticate(request.headers)
            except AuthFailure as exc:
                return Response(exc.status, exc.body, exc.headers)
            realm = request.params["realm"]
            if realm in token.grant.revoked_tenants:  # the user disconnected the app
                body = self.identity.problem(401, "Unauthorized", "Token revoked")
                return Response(401, body)
            if realm not in self.companies or realm not in token.grant.live_tenants():
                return self._fault(
                    403,
                    [rules.error("120", "Authorization Failure", "Authorization Failure")],
                    "AuthorizationFault",
                )
            if not self._admit(realm, batch=request.path.lower().endswith("/batch")):
                return self._throttled()
            minor = request.arg("minorversion")
            if minor and minor.isdigit():
                self.minor_versions.add(max(int(minor), MIN_MINOR_VERSION))
            request_id = request.arg("requestid")
            if request_id is None or request.method != "POST" or handler == self._query:
                return self._locked(handler, request)
            too_long = self._request_id_problem(request, request_id)
            if too_long:
                return self._fault(
                    400,
                    [
                        rules.error(
                            "2050",
                            "String length is either shorter or longer than supported by "
                            "specification",
                            too_long,
                            "requestid",
                        )
                    ],
                )
            return self._replayable(realm, request_id, handler, request)

        return call

    @staticmethod
    def _request_id_problem(request: Request, request_id: str) -> str:
        """The length rules of a requestid: 50 characters; on a batch 36, and then each
        bId at most 10 (qbo.md section 4; QBO's exact error for a breach is unconfirmed,
        a 2050 length error here)."""
        batch = request.path.lower().endswith("/batch")
        limit = BATCH_REQUEST_ID_MAX if batch else REQUEST_ID_MAX
        if len(request_id) > limit:
            return f"requestid: Max:{limit} supplied length:{len(request_id)}"
        if batch:
            try:
                items = (request.json() or {}).get("BatchItemRequest") or []
            except ValueError:
                return ""
            long = [str(i.get("bId")) for i in items if len(str(i.get("bId") or "")) > BID_MAX]
            if long:
                return f"bId: Max:{BID_MAX} when a requestid is sent; too long: {long[0]}"
        return ""

    def _admit(self, realm: str, *, batch: bool) -> bool:
        limiters = [self._minute, self._second] + ([self._batch] if batch else [])
        with self._replay_lock:
            if any(lim.remaining(realm) <= 0 for lim in limiters):
                return False
            for lim in limiters:
                lim.check(realm)
        return True

    def _locked(self, handler: Any, request: Request) -> Response:
        with self.lock:
            return handler(request, self.companies[request.params["realm"]])

    def _replayable(self, realm: str, request_id: str, handler: Any, request: Request) -> Response:
        key = (realm, request_id)
        with self._replay_lock:
            stored = self._replays.get(key)
            first = stored is None
            if first:
                stored = self._replays[key] = _Stored()
        assert stored is not None
        if not first:
            stored.done.wait(30)
            if request.path.lower().endswith("/batch") and not self.batch_replay:
                return self._fault(
                    400,
                    [
                        rules.error(
                            "6000",
                            "A business validation error has occurred while processing your "
                            "request",
                            "Business Validation Error: Duplicate request id",
                        )
                    ],
                )
            self.requestid_replays += 1
            return stored.response or self.error_response(500, "request in flight")
        try:
            stored.response = self._locked(handler, request)
        finally:
            stored.done.set()
        return stored.response

    # -- handlers ------------------------------------------------------------------------

    def _entity(self, segment: str) -> str | None:
        return ENTITIES.get(segment.lower())

    def _read(self, request: Request, company: Company) -> Response:
        entity = self._entity(request.params["entity"])
        if entity == "CompanyInfo":
            return self._ok({"CompanyInfo": company.company_info()})
        row = company.get(entity, request.params["id"]) if entity else None
        if row is None:
            return self._fault(
                400,
                [
                    rules.error(
                        "610",
                        "Object Not Found",
                        "Object Not Found : Something "
                        "you're trying to use has been made inactive or was deleted.",
                    )
                ],
            )
        return self._ok({entity: row})

    def _read_singleton(self, request: Request, company: Company) -> Response:
        entity = self._entity(request.params["entity"])
        if entity == "Preferences":
            return self._ok({"Preferences": company.preferences()})
        if entity == "CompanyInfo":
            return self._ok({"CompanyInfo": company.company_info()})
        return self.error_response(405, f"Method GET not allowed on {request.params['entity']}")

    def _query(self, request: Request, company: Company) -> Response:
        text = request.arg("query")
        if text is None and request.body:
            text = request.body.decode()
        try:
            return self._ok({"QueryResponse": self.run_query(company, text or "")})
        except q.QueryError as exc:
            return self._fault(400, [rules.error(exc.code, exc.message, exc.detail)])

    def run_query(self, company: Company, text: str) -> dict[str, Any]:
        """A ``QueryResponse`` for ``text``; raises :class:`~.query.QueryError`."""
        parsed = q.parse(text)
        entity = self._entity(parsed.entity)
        if entity is None:
            raise q.invalid(f"Entity {parsed.entity} is not supported")
        if entity == "CompanyInfo":
            rows = [company.company_info()]
        elif entity == "Preferences":
            rows = [company.preferences()]
        else:
            rows = company.all(entity)
        page, total = q.run(parsed, rows)
        if parsed.count:
            return {"totalCount": total}
        if not page:
            return {}
        return {entity: copy.deepcopy(page), "startPosition": parsed.start, "maxResults": len(page)}

    def _write(self, request: Request, company: Company) -> Response:
        entity = self._entity(request.params["entity"])
        if entity is None or entity not in WRITABLE:
            return self.error_response(
                405, f"Operation not supported on {request.params['entity']}"
            )
        try:
            body = request.json() or {}
        except ValueError:
            return self._fault(
                400,
                [
                    rules.error(
                        "2010",
                        "Request has invalid or unsupported property",
                        "Request body is not valid JSON",
                    )
                ],
            )
        operation = (request.arg("operation") or ("update" if body.get("Id") else "create")).lower()
        options = (request.arg("include") or "").lower()
        status, payload = self.apply(company, entity, operation, body, options)
        if status != 200:
            return self._fault(status, payload)  # type: ignore[arg-type]
        return self._ok(payload)  # type: ignore[arg-type]

    def apply(
        self, company: Company, entity: str, operation: str, body: dict[str, Any], options: str = ""
    ) -> tuple[int, dict[str, Any] | list[dict[str, str]]]:
        """One write: (200, ``{Entity: row}``) or (400, Errors). Caller holds the lock."""
        injected = self._injected(entity)
        if injected:
            stale = company.get(entity, body.get("Id")) if injected["code"] == "5010" else None
            if stale is not None:  # "someone else saved it first": its SyncToken moves on
                company.replace(entity, stale)
            return 400, [injected]
        if operation == "update" and (entity, str(body.get("Id"))) in self.editing:
            edited = company.get(entity, body.get("Id"))
            if edited is not None:  # saved by the other user just before this update
                return 400, [rules.stale(company.replace(entity, edited))]
        existing = None
        if operation in ("update", "delete", "void"):
            existing = company.get(entity, body.get("Id"))
            if existing is None:
                return 400, [
                    rules.error(
                        "610",
                        "Object Not Found",
                        "Object Not Found : Another user has deleted this transaction.",
                    )
                ]
            if str(body.get("SyncToken")) != str(existing.get("SyncToken")):
                return 400, [rules.stale(existing)]
        if operation == "delete":
            assert existing is not None
            company.delete(entity, existing["Id"])
            if entity in ("Payment", "BillPayment"):
                self._rebalance(company, existing)
            return 200, {entity: {"Id": existing["Id"], "status": "Deleted", "domain": "QBO"}}
        if operation == "void":
            return 200, {entity: self._void(company, entity, existing)}  # type: ignore[arg-type]
        if operation not in ("create", "update"):
            return 400, [
                rules.error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"operation={operation} is not supported",
                )
            ]
        if existing is not None:
            merged = (
                copy.deepcopy(existing)
                if body.get("sparse") is True
                else {k: existing[k] for k in ("Id", "MetaData", "domain") if k in existing}
            )
            merged.update({k: v for k, v in body.items() if k != "sparse"})
            merged["SyncToken"] = existing["SyncToken"]
            body = merged
        errors = rules.check_write(
            company,
            entity,
            body,
            existing=existing,
            allow_duplicate="allowduplicatedocnum" in options,
        )
        if errors:
            return 400, errors
        if entity == "Term":
            body["Type"] = rules.term_type(body)
        row = company.replace(entity, body) if existing else company.insert(entity, body)
        rules.compute(company, entity, row)
        if entity in ("Payment", "BillPayment"):
            self._rebalance(company, row)
        return 200, {entity: copy.deepcopy(row)}

    def _injected(self, entity: str) -> dict[str, str] | None:
        for index, (code, only, count) in enumerate(self.write_faults):
            if only is None or only == entity:
                if count <= 1:
                    self.write_faults.pop(index)
                else:
                    self.write_faults[index] = (code, only, count - 1)
                if code == "5010":
                    return rules.stale({})
                return rules.error(code, f"Injected error {code}", f"Injected error {code}")
        return None

    def _void(self, company: Company, entity: str, row: dict[str, Any]) -> dict[str, Any]:
        for line in row.get("Line") or []:
            line["Amount"] = Decimal("0")
        row["TotalAmt"] = Decimal("0")
        row["Balance"] = Decimal("0")
        row["PrivateNote"] = "Voided"
        return copy.deepcopy(company.replace(entity, row))

    def _rebalance(self, company: Company, payment: dict[str, Any]) -> None:
        for line in payment.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                doc = company.get(str(link.get("TxnType")), link.get("TxnId"))
                if doc is not None:
                    rules.compute(company, str(link["TxnType"]), doc)

    def _batch_call(self, request: Request, company: Company) -> Response:
        body = request.json() or {}
        items = body.get("BatchItemRequest") or []
        if len(items) > BATCH_MAX:
            # code 1040 per a vendor's error list; QBO's exact status for it is unconfirmed
            return self._fault(
                400,
                [
                    rules.error(
                        "1040",
                        "Batch size exceeds allowed limit",
                        f"Batch size {len(items)} exceeds the maximum of {BATCH_MAX}",
                    )
                ],
            )
        created: set[tuple[str, str]] = set()
        out = [self._batch_item(company, item, created) for item in items]
        return self._ok({"BatchItemResponse": out})

    def _batch_item(
        self, company: Company, item: dict[str, Any], created: set[tuple[str, str]]
    ) -> dict[str, Any]:
        bid = item.get("bId")
        if "Query" in item:
            try:
                return {"bId": bid, "QueryResponse": self.run_query(company, str(item["Query"]))}
            except q.QueryError as exc:
                return {
                    "bId": bid,
                    "Fault": rules.fault([rules.error(exc.code, exc.message, exc.detail)]),
                }
        keys = [k for k in item if self._entity(k) and k not in ("bId",)]
        entity = self._entity(keys[0]) if keys else None
        if entity is None or entity not in WRITABLE:
            return {
                "bId": bid,
                "Fault": rules.fault(
                    [
                        rules.error(
                            "2010",
                            "Request has invalid or unsupported property",
                            "No supported entity",
                        )
                    ]
                ),
            }
        options = str(item.get("optionsData") or "").lower()
        operation = str(item.get("operation") or "create").lower()
        if operation == "update" and "void" in options:
            operation = "void"
        body = item[keys[0]]
        own = None if self.batch_sees_own_creates else rules.same_batch_reference(body, created)
        if own is not None:
            return {"bId": bid, "Fault": rules.fault([own])}
        status, payload = self.apply(company, entity, operation, body, options)
        if status != 200:
            return {"bId": bid, "Fault": rules.fault(payload)}  # type: ignore[arg-type]
        if operation == "create":
            created.add((entity, str(payload[entity]["Id"])))  # type: ignore[index,call-overload]
        return {"bId": bid, **payload}  # type: ignore[dict-item]

    def _cdc(self, request: Request, company: Company) -> Response:
        names = [self._entity(n.strip()) for n in (request.arg("entities") or "").split(",")]
        since = request.arg("changedSince") or ""
        responses = []
        for entity in filter(None, names):
            cond = q.Condition("MetaData.LastUpdatedTime", ">=", since)
            changed = company.all(entity) + list(company.deleted.get(entity, {}).values())
            rows = [r for r in changed if not since or q.matches(r, cond)]
            responses.append({entity: copy.deepcopy(rows)} if rows else {})
        return self._ok({"CDCResponse": [{"QueryResponse": responses}]})
