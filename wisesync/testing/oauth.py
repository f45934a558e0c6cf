"""A sandbox OAuth2 authorization server, shared by every ledger sandbox.

:class:`OAuthServer` keeps the state of an RFC 6749 server in memory, on the sandbox's
injectable clock (:class:`wisesync.ratelimit.Clock`, a
:class:`~wisesync.testing.clock.ManualClock` in tests):

* ``client_credentials``: a client registered for one tenant gets access tokens and
  no refresh token;
* ``authorization_code``: :meth:`OAuthServer.authorize` redirects to the redirect URI
  with a one-time code (``auto_consent``, default on) or shows a consent page whose
  "Allow" link does; the code is exchanged at the token endpoint, PKCE
  ``code_challenge`` (S256 or plain) verified when sent; ``offline_access`` (or
  ``refresh_scope``) yields a refresh token;
* refresh rotation: every refresh returns a new refresh token and retires the old one;
  reusing a retired one is ``invalid_grant``. ``refresh_grace`` seconds (0 = strict
  single use) let a refresh whose answer was lost be repeated: the old token returns
  the same new set while that set's refresh token is unused;
* expiry of access tokens (``access_ttl``), refresh tokens (``refresh_ttl``) and codes;
* revocation of a refresh token (and its grant) or of a tenant;
* planted prefixes (:func:`planted_secrets`): every client secret, token and code a server
  issues can start with a marker, so a test can search everything for it (the canary test).

A ledger's sandbox subclasses it for what its API adds: the error bodies of its API
(:meth:`OAuthServer.problem`), the text of an expired-token error, tenant listings.
Token-endpoint errors raise :class:`TokenFailure` (``{"error": code}``), API
authentication errors :class:`AuthFailure` (status, body, headers).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from wisesync.ratelimit import Clock

ACCESS_TTL = 1800
REFRESH_TTL = 60 * 86400
CODE_TTL = 300
#: what an OAuthServer issues: the kinds :func:`planted_secrets` can prefix
SECRET_KINDS = ("client_secret", "access_token", "refresh_token", "id_token", "code")
_PLANTED: ContextVar[dict[str, str] | None] = ContextVar("wisesync_planted_secrets", default=None)


@contextmanager
def planted_secrets(**prefixes: str) -> Iterator[None]:
    """Servers created in the block start every secret they issue of a kind named here
    (:data:`SECRET_KINDS`) with its prefix, for as long as they live.

    >>> with planted_secrets(access_token="CANARY1x"):          # doctest: +SKIP
    ...     server = start_sandbox()   # its access tokens are "CANARY1x..." from now on
    """
    unknown = set(prefixes) - set(SECRET_KINDS)
    if unknown:
        raise ValueError(f"unknown secret kinds {sorted(unknown)}; known: {SECRET_KINDS}")
    token = _PLANTED.set(dict(prefixes))
    try:
        yield
    finally:
        _PLANTED.reset(token)


def pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    """Whether ``verifier`` matches a PKCE ``challenge`` sent with ``method`` (S256/plain)."""
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
    return verifier == challenge


class AuthFailure(Exception):
    """An API call that must be refused: ``status``, the API's body and headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("Detail") or body.get("message") or "")
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
    """One user consent (or one client-credentials connection): its tenants and tokens."""

    grant_id: str
    client_id: str
    tenants: list[str]
    scopes: frozenset[str]
    custom: bool = False
    revoked_tenants: set[str] = field(default_factory=set)
    revoked: bool = False
    auth_event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def live_tenants(self) -> list[str]:
        """The tenants not revoked."""
        return [t for t in self.tenants if t not in self.revoked_tenants]


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
    """An app registration; ``tenant_id`` set for a client-credentials connection."""

    client_id: str
    client_secret: str
    tenant_id: str | None = None
    redirect_uris: tuple[str, ...] = ()
    scopes: str = ""


class OAuthServer:
    """All authorization-server state; thread-safe.

    Args:
        clock: the sandbox clock (expiry and grace periods).
        refresh_grace: seconds a rotated refresh token may be repeated (0: never).
        auto_consent: the authorize endpoint consents at once (else a consent page).
        allowed_scopes: every scope a client may ask for (space separated).
        default_scopes: the scopes of a request that names none.
        refresh_scope: the scope that earns a refresh token with an authorization code.
    """

    #: the heading of the consent page, and the path its "Allow" link goes to
    consent_title = "Allow access?"
    authorize_path = "/authorize"

    def __init__(
        self,
        clock: Clock,
        *,
        refresh_grace: float = 0.0,
        auto_consent: bool = True,
        allowed_scopes: str = "",
        default_scopes: str = "",
        refresh_scope: str = "offline_access",
        access_ttl: float = ACCESS_TTL,
        refresh_ttl: float = REFRESH_TTL,
    ):
        self.clock = clock
        self.refresh_grace = refresh_grace
        self.auto_consent = auto_consent
        self.allowed_scopes = allowed_scopes
        self.default_scopes = default_scopes
        self.refresh_scope = refresh_scope
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.grants: list[Grant] = []
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, tuple[Grant, str, float, str, str]] = {}
        self.tenant_names: dict[str, str] = {}
        self.token_requests = 0
        #: kind -> what every secret of that kind starts with (see :func:`planted_secrets`)
        self.secret_prefixes: dict[str, str] = dict(_PLANTED.get() or {})

    def new_secret(self, kind: str, nbytes: int) -> str:
        """A fresh random secret of ``kind`` (:data:`SECRET_KINDS`), with its planted prefix."""
        return self.secret_prefixes.get(kind, "") + secrets.token_urlsafe(nbytes)

    # -- for subclasses -------------------------------------------------------------------

    def problem(self, status: int, title: str, detail: str) -> dict[str, Any]:
        """The API's error body for a refused call; override per API."""
        return {"message": detail, "title": title, "status": status}

    def expired_detail(self, token: AccessToken) -> str:
        """The error text for an expired access token; override per API."""
        return "TokenExpired"

    # -- registration ---------------------------------------------------------------------

    def register_client(
        self, tenant_id: str | None = None, redirect_uris: tuple[str, ...] = ()
    ) -> Client:
        """A new app: a client-credentials connection when ``tenant_id`` is given."""
        client = Client(
            client_id=secrets.token_hex(16).upper(),
            client_secret=self.new_secret("client_secret", 36),
            tenant_id=tenant_id,
            redirect_uris=redirect_uris,
            scopes=self.allowed_scopes,
        )
        with self._lock:
            self.clients[client.client_id] = client
        return client

    # -- token endpoint -------------------------------------------------------------------

    def client(self, form: dict[str, str], headers: dict[str, str]) -> Client:
        """The authenticated client of a token request (Basic header or form fields)."""
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

    _client = client  # the name sandboxes used before the kit

    def token(self, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        """Handle a POST to the token endpoint; raises :class:`TokenFailure`."""
        with self._lock:
            self.token_requests += 1
            client = self.client(form, headers)
            grant_type = form.get("grant_type", "")
            if grant_type == "client_credentials":
                return self._client_credentials(client, form)
            if grant_type == "authorization_code":
                return self._authorization_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh(client, form)
            raise TokenFailure("unsupported_grant_type")

    def _scopes(self, requested: str | None, allowed: str) -> frozenset[str]:
        wanted = set((requested or self.default_scopes).split())
        if wanted - set(allowed.split()):
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
        entry = self.codes.pop(form.get("code", ""), None)
        if entry is None:
            raise TokenFailure("invalid_grant")
        grant, redirect_uri, expires, challenge, method = entry
        if (
            grant.client_id != client.client_id
            or expires < self.clock.now()
            or (form.get("redirect_uri") or redirect_uri) != redirect_uri
        ):
            raise TokenFailure("invalid_grant")
        if challenge and not pkce_ok(form.get("code_verifier", ""), challenge, method):
            raise TokenFailure("invalid_grant", "invalid code_verifier")
        return self._issue(grant, refresh=self.refresh_scope in grant.scopes)

    def _refresh(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        token = self.refresh.get(form.get("refresh_token", ""))
        now = self.clock.now()
        if token is None or token.grant.client_id != client.client_id:
            raise TokenFailure("invalid_grant")
        grant = token.grant
        if grant.revoked or not grant.live_tenants():
            raise TokenFailure("invalid_grant")
        if token.issued_at + self.refresh_ttl < now:
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
        value = self.new_secret("access_token", 48)
        self.access[value] = AccessToken(value, grant, now + self.access_ttl)
        body: dict[str, Any] = {
            "access_token": value,
            "expires_in": int(self.access_ttl),
            "token_type": "Bearer",
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "openid" in grant.scopes:
            body["id_token"] = self.new_secret("id_token", 32)
        if refresh:
            rt = self.new_secret("refresh_token", 32)
            self.refresh[rt] = RefreshToken(rt, grant, now)
            body["refresh_token"] = rt
        return body

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, query: dict[str, str], *, consent: bool) -> tuple[int, dict[str, str], str]:
        """The authorize endpoint: (status, headers, html body)."""
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
                f"<html><body><h1>{self.consent_title}</h1>"
                f'<a id="allow" href="{self.authorize_path}{allow}">Allow access</a>'
                "</body></html>"
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        with self._lock:
            grant = Grant(str(uuid.uuid4()), client.client_id, list(self.tenant_names), scopes)
            self.grants.append(grant)
            code = self.new_secret("code", 24)
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

    def authenticate(self, headers: dict[str, str]) -> AccessToken:
        """The access token of a request; raises :class:`AuthFailure` (401)."""
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise AuthFailure(401, self.problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        with self._lock:
            token = self.access.get(auth[7:].strip())
            if token is None:
                raise AuthFailure(
                    401, self.problem(401, "Unauthorized", "AuthenticationUnsuccessful")
                )
            if token.expires_at <= self.clock.now():
                raise AuthFailure(
                    401,
                    self.problem(401, "Unauthorized", self.expired_detail(token)),
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if token.grant.revoked:
                raise AuthFailure(
                    401, self.problem(401, "Unauthorized", "AuthorizationUnsuccessful")
                )
            return token

    # -- revocation -----------------------------------------------------------------------

    def revoke_tenant(self, tenant_id: str) -> None:
        """Disconnect ``tenant_id`` from every grant (a user removing the app)."""
        with self._lock:
            for grant in self.grants:
                if tenant_id in grant.tenants:
                    grant.revoked_tenants.add(tenant_id)

    def reconnect_tenant(self, tenant_id: str) -> None:
        """Undo :meth:`revoke_tenant` for client-credentials connections (recovery tests)."""
        with self._lock:
            for grant in self.grants:
                if grant.custom:
                    grant.revoked_tenants.discard(tenant_id)

    def revoke_token(self, token_value: str) -> None:
        """The revocation endpoint: revoke a refresh token and its grant."""
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
