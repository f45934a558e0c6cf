"""Xero identity simulated: token endpoint, authorize, connections, revocation.

* ``client_credentials`` (custom connections): one organisation per client id; the access
  token needs no ``xero-tenant-id`` header; no refresh token.
* ``authorization_code``: ``/identity/connect/authorize`` redirects to the redirect URI with
  a one-time code (``auto_consent``, default on) or shows a consent page whose "Allow" link
  does; the code is exchanged at ``/connect/token`` (PKCE ``code_challenge`` S256/plain is
  verified when sent). ``offline_access`` yields a refresh token.
* ``refresh_token`` rotation: every refresh returns a new refresh token and retires the old
  one. Reusing a retired one gives ``400 {"error": "invalid_grant"}``. Xero allows a 30
  minute grace period to retry a refresh whose response was lost; ``refresh_grace`` (seconds,
  default 0 = strict single use) turns it on: within it, the old token returns the same new
  token set, as long as that set's refresh token has not been used yet.
* Access tokens live 1800 s on the injectable clock.

Errors: token endpoint ``{"error": "invalid_grant" | "invalid_client" | ...}``; API 401/403
as Xero's problem objects (``Title``/``Status``/``Detail``/``Instance``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from wisesync.ratelimit import Clock

ACCESS_TTL = 1800
REFRESH_TTL = 60 * 86400
CODE_TTL = 300
DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)
#: every scope an app registration may ask for: the broad ones the spec lists, their
#: ``.read`` variants and the granular ones Xero requires of apps created from March 2026
ALLOWED_SCOPES = " ".join(
    [
        "openid profile email offline_access",
        *(
            f"{s} {s}.read"
            for s in (
                "accounting.transactions",
                "accounting.contacts",
                "accounting.settings",
                "accounting.invoices",
                "accounting.payments",
                "accounting.banktransactions",
                "accounting.manualjournals",
            )
        ),
    ]
)
#: API resource -> scopes that grant writing it (reading also accepts the ``.read`` forms)
RESOURCE_SCOPES = {
    "invoices": ("accounting.transactions", "accounting.invoices"),
    "creditnotes": ("accounting.transactions", "accounting.invoices"),
    "items": ("accounting.settings", "accounting.invoices"),
    "payments": ("accounting.transactions", "accounting.payments"),
    "contacts": ("accounting.contacts",),
    "accounts": ("accounting.settings",),
    "taxrates": ("accounting.settings",),
    "trackingcategories": ("accounting.settings",),
    "organisation": ("accounting.settings",),
    "currencies": ("accounting.settings",),
    "manualjournals": ("accounting.transactions", "accounting.manualjournals"),
}


def scope_allows(scopes: frozenset[str], resource: str, method: str) -> bool:
    """Whether a token with ``scopes`` may call ``method`` on ``resource`` (lower case)."""
    needed = RESOURCE_SCOPES.get(resource)
    if needed is None:
        return True
    accepted = set(needed)
    if method == "GET":
        accepted |= {f"{s}.read" for s in needed}
    return bool(accepted & scopes)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """Xero's problem-details body for 401/403 (and the sandbox's 429)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def _pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
    return verifier == challenge


class AuthFailure(Exception):
    """An API call that must be refused: ``status`` and Xero's body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("Detail", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


class TokenFailure(Exception):
    """A token-endpoint error: ``{"error": code}`` with HTTP 400 (401 for client auth)."""

    def __init__(self, error: str, description: str | None = None, status: int = 400):
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error}
        if description:
            self.body["error_description"] = description


@dataclass
class Grant:
    """One user consent (or one custom connection): its tenants and token chain."""

    grant_id: str
    client_id: str
    tenants: list[str]
    scopes: frozenset[str]
    custom: bool = False
    revoked_tenants: set[str] = field(default_factory=set)
    revoked: bool = False
    auth_event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class AccessToken:
    """An issued access token."""

    value: str
    grant: Grant
    expires_at: float


@dataclass
class RefreshToken:
    """An issued refresh token; ``used_at``/``successor`` once rotated."""

    value: str
    grant: Grant
    issued_at: float
    used_at: float | None = None
    successor: dict[str, Any] | None = None  # the token response it produced


@dataclass
class Client:
    """An app registration."""

    client_id: str
    client_secret: str
    tenant_id: str | None = None  # set for a custom connection
    redirect_uris: tuple[str, ...] = ()
    scopes: str = ALLOWED_SCOPES


class Identity:
    """All identity state; thread-safe."""

    def __init__(self, clock: Clock, *, refresh_grace: float = 0.0, auto_consent: bool = True):
        self.clock = clock
        self.refresh_grace = refresh_grace
        self.auto_consent = auto_consent
        self.access_ttl = ACCESS_TTL
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.grants: list[Grant] = []
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, tuple[Grant, str, float, str, str]] = {}
        self.tenant_names: dict[str, str] = {}
        self.token_requests = 0

    # -- registration ---------------------------------------------------------------------

    def register_client(
        self, tenant_id: str | None = None, redirect_uris: tuple[str, ...] = ()
    ) -> Client:
        """A new app: a custom connection when ``tenant_id`` is given, else a web app."""
        client = Client(
            client_id=secrets.token_hex(16).upper(),
            client_secret=secrets.token_urlsafe(36),
            tenant_id=tenant_id,
            redirect_uris=redirect_uris,
        )
        with self._lock:
            self.clients[client.client_id] = client
        return client

    # -- token endpoint -------------------------------------------------------------------

    def _client(self, form: dict[str, str], headers: dict[str, str]) -> Client:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode()
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise TokenFailure("invalid_client") from exc
        client = self.clients.get(client_id or "")
        if client is None:
            raise TokenFailure("invalid_client")
        # public clients using PKCE send no secret; a wrong secret is always refused
        if secret != client.client_secret and (secret or not form.get("code_verifier")):
            raise TokenFailure("invalid_client")
        return client

    def token(self, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        """Handle a POST to ``/connect/token``; raises :class:`TokenFailure`."""
        with self._lock:
            self.token_requests += 1
            client = self._client(form, headers)
            grant_type = form.get("grant_type", "")
            if grant_type == "client_credentials":
                return self._client_credentials(client, form)
            if grant_type == "authorization_code":
                return self._authorization_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh(client, form)
            raise TokenFailure("unsupported_grant_type")

    def _scopes(self, requested: str | None, allowed: str) -> frozenset[str]:
        allowed_set = set(allowed.split())
        wanted = set((requested or DEFAULT_SCOPES).split())
        unknown = wanted - allowed_set
        if unknown:
            raise TokenFailure("invalid_scope")
        return frozenset(wanted)

    def _client_credentials(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        if client.tenant_id is None:
            raise TokenFailure("unauthorized_client")
        grant = next((g for g in self.grants if g.custom and g.client_id == client.client_id), None)
        if grant is None:
            grant = Grant(
                str(uuid.uuid4()), client.client_id, [client.tenant_id], frozenset(), custom=True
            )
            self.grants.append(grant)
        if grant.revoked or client.tenant_id in grant.revoked_tenants:
            raise TokenFailure("invalid_client")
        grant.scopes = self._scopes(form.get("scope"), client.scopes)
        return self._issue(grant, refresh=False)

    def _authorization_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        code = form.get("code", "")
        entry = self.codes.pop(code, None)
        if entry is None:
            raise TokenFailure("invalid_grant")
        grant, redirect_uri, expires, challenge, method = entry
        if (
            grant.client_id != client.client_id
            or expires < self.clock.now()
            or (form.get("redirect_uri") or redirect_uri) != redirect_uri
        ):
            raise TokenFailure("invalid_grant")
        if challenge and not _pkce_ok(form.get("code_verifier", ""), challenge, method):
            raise TokenFailure("invalid_grant", "invalid code_verifier")
        return self._issue(grant, refresh="offline_access" in grant.scopes)

    def _refresh(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        token = self.refresh.get(form.get("refresh_token", ""))
        now = self.clock.now()
        if token is None or token.grant.client_id != client.client_id:
            raise TokenFailure("invalid_grant")
        grant = token.grant
        if grant.revoked or not self._live_tenants(grant):
            raise TokenFailure("invalid_grant")
        if token.issued_at + REFRESH_TTL < now:
            raise TokenFailure("invalid_grant")
        if token.used_at is not None:
            successor = token.successor or {}
            next_token = self.refresh.get(successor.get("refresh_token", ""))
            within_grace = self.refresh_grace > 0 and now - token.used_at <= self.refresh_grace
            if within_grace and next_token is not None and next_token.used_at is None:
                return dict(successor)
            raise TokenFailure("invalid_grant")
        issued = self._issue(grant, refresh=True)
        token.used_at = now
        token.successor = issued
        return issued

    def _issue(self, grant: Grant, *, refresh: bool) -> dict[str, Any]:
        now = self.clock.now()
        value = secrets.token_urlsafe(48)
        self.access[value] = AccessToken(value, grant, now + self.access_ttl)
        body: dict[str, Any] = {
            "access_token": value,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "openid" in grant.scopes:
            body["id_token"] = secrets.token_urlsafe(32)
        if refresh:
            rt = secrets.token_urlsafe(32)
            self.refresh[rt] = RefreshToken(rt, grant, now)
            body["refresh_token"] = rt
        return body

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, query: dict[str, str], *, consent: bool) -> tuple[int, dict[str, str], str]:
        """``/identity/connect/authorize``: (status, headers, html body)."""
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or client.tenant_id is not None:
            return 400, {"Content-Type": "text/html"}, "<h1>Error: unauthorized_client</h1>"
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            return 400, {"Content-Type": "text/html"}, "<h1>Error: invalid redirect_uri</h1>"
        if query.get("response_type") != "code":
            return self._redirect(redirect_uri, {"error": "unsupported_response_type"}, query)
        try:
            scopes = self._scopes(query.get("scope"), client.scopes)
        except TokenFailure:
            return self._redirect(redirect_uri, {"error": "invalid_scope"}, query)
        if not (consent or self.auto_consent):
            allow = "?" + urlencode({**query, "consent": "allow"})
            page = (
                "<html><body><h1>Allow access to your Xero organisations?</h1>"
                f'<a id="allow" href="/identity/connect/authorize{allow}">Allow access</a>'
                "</body></html>"
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        with self._lock:
            grant = Grant(str(uuid.uuid4()), client.client_id, list(self.tenant_names), scopes)
            self.grants.append(grant)
            code = secrets.token_urlsafe(24)
            self.codes[code] = (
                grant,
                redirect_uri,
                self.clock.now() + CODE_TTL,
                query.get("code_challenge", ""),
                query.get("code_challenge_method", "plain"),
            )
        return self._redirect(redirect_uri, {"code": code}, query)

    @staticmethod
    def _redirect(
        uri: str, params: dict[str, str], query: dict[str, str]
    ) -> tuple[int, dict[str, str], str]:
        if query.get("state"):
            params = {**params, "state": query["state"]}
        parts = urlsplit(uri)
        merged = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(merged), ""))
        return 302, {"Location": location, "Content-Type": "text/html"}, ""

    # -- API authentication ---------------------------------------------------------------

    def _live_tenants(self, grant: Grant) -> list[str]:
        return [t for t in grant.tenants if t not in grant.revoked_tenants]

    def authenticate(self, headers: dict[str, str]) -> AccessToken:
        """The access token of a request; raises :class:`AuthFailure` (401)."""
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise AuthFailure(401, problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        with self._lock:
            token = self.access.get(auth[7:].strip())
            if token is None:
                raise AuthFailure(401, problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
            if token.expires_at <= self.clock.now():
                expired_at = self._wall(token.expires_at).strftime("%m/%d/%Y %H:%M:%S")
                raise AuthFailure(
                    401,
                    problem(401, "Unauthorized", f"TokenExpired: token expired at {expired_at}"),
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if token.grant.revoked:
                raise AuthFailure(401, problem(401, "Unauthorized", "AuthorizationUnsuccessful"))
            return token

    def tenant_for(self, token: AccessToken, tenant_header: str | None) -> str:
        """The tenant a call addresses; raises 403 (unknown tenant) / 401 (disconnected)."""
        grant = token.grant
        wanted = (tenant_header or "").strip().lower()
        if not wanted:
            if grant.custom:
                return grant.tenants[0]
            raise AuthFailure(403, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        if wanted not in grant.tenants:
            raise AuthFailure(403, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        if wanted in grant.revoked_tenants:
            raise AuthFailure(401, problem(401, "Unauthorized", "AuthorizationUnsuccessful"))
        return wanted

    def _wall(self, clock_value: float) -> datetime:
        # expiry shown in UTC wall time; the sandbox sets ``wall`` for the mapping
        wall = getattr(self, "wall", None)
        if wall is None:
            return datetime.now(UTC)
        delta = clock_value - self.clock.now()
        return datetime.fromtimestamp(wall.utcnow().replace(tzinfo=UTC).timestamp() + delta, UTC)

    # -- connections / revocation ---------------------------------------------------------

    def connections(self, token: AccessToken) -> list[dict[str, Any]]:
        """``GET /connections`` for a token's grant."""
        grant = token.grant
        stamp = grant.created.strftime("%Y-%m-%dT%H:%M:%S.%f0")
        return [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, grant.grant_id + tenant)),
                "authEventId": grant.auth_event_id,
                "tenantId": tenant,
                "tenantType": "ORGANISATION",
                "tenantName": self.tenant_names.get(tenant, ""),
                "createdDateUtc": stamp,
                "updatedDateUtc": stamp,
            }
            for tenant in self._live_tenants(grant)
        ]

    def disconnect(self, token: AccessToken, connection_id: str) -> bool:
        """``DELETE /connections/{id}``: drop one tenant from the token's grant."""
        with self._lock:
            for conn in self.connections(token):
                if conn["id"] == connection_id.lower():
                    token.grant.revoked_tenants.add(conn["tenantId"])
                    return True
        return False

    def revoke_tenant(self, tenant_id: str) -> None:
        """Disconnect ``tenant_id`` from every grant (a user removing the app in Xero)."""
        with self._lock:
            for grant in self.grants:
                if tenant_id in grant.tenants:
                    grant.revoked_tenants.add(tenant_id)

    def reconnect_tenant(self, tenant_id: str) -> None:
        """Undo :meth:`revoke_tenant` for custom connections (tests of recovery)."""
        with self._lock:
            for grant in self.grants:
                if grant.custom:
                    grant.revoked_tenants.discard(tenant_id)

    def revoke_token(self, token_value: str) -> None:
        """``POST /connect/revocation``: revoke a refresh token and its grant."""
        with self._lock:
            token = self.refresh.get(token_value)
            if token is not None:
                token.grant.revoked = True

    def expire_access_tokens(self) -> int:
        """Make every issued access token expired now; returns how many."""
        with self._lock:
            now = self.clock.now()
            for token in self.access.values():
                token.expires_at = min(token.expires_at, now)
            return len(self.access)
