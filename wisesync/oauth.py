"""OAuth2 for ledger plugins: client credentials, authorization code with PKCE, rotating
refresh tokens over the core :class:`~wisesync.store.tokens.TokenStore`, and the local
callback receiver that ``wisesync <ledger> connect`` waits on.

The protocol pieces come from oauthlib (RFC 6749 request bodies, RFC 7636 PKCE verifier and
challenge); the transport is :class:`wisesync.http.ApiClient` (retries, typed errors, no
secret in an exception) and the storage is the token store, which renews under a row lock
so two processes never spend one rotating refresh token. requests-oauthlib's session is not
used: it brings its own transport and token storage, and refreshes without that lock.

A plugin builds a :class:`TokenEndpoint` (its token and revocation URLs and app
credentials) and an :class:`OAuthSession` per company::

    endpoint = TokenEndpoint(token_url, client_id=..., client_secret=..., system="Ledger identity")
    session = OAuthSession(
        endpoint, store, company="acme", provider="ledger", grant="authorization_code",
        scopes="accounting offline_access", reconnect="`wisesync ledger connect --company acme`",
    )
    session.access_token()          # renewed when it expires within ``margin`` seconds

A refused renewal (``invalid_grant``: revoked, expired, a refresh token already spent)
raises :class:`~wisesync.errors.AuthError` naming the reconnect command.
"""

from __future__ import annotations

import base64
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient, WebApplicationClient

from wisesync.errors import AuthError, RemoteError
from wisesync.http import ApiClient, RetryPolicy
from wisesync.store.tokens import OAuthToken, TokenStore, token_store

GRANTS = ("authorization_code", "client_credentials")
S = TypeVar("S")
T = TypeVar("T")
REFRESH_MARGIN = 60.0
_AUTH_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client")


class TokenEndpoint(ApiClient):
    """An OAuth2 token endpoint (and revocation endpoint) with HTTP Basic client auth."""

    system = "identity"

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        revocation_url: str | None = None,
        system: str | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ):
        super().__init__(token_url, retry=retry or RetryPolicy(attempts=3), session=session)
        if system:
            self.system = system
        self.token_url = token_url
        self.revocation_url = revocation_url
        self.client_id = client_id
        pair = f"{client_id}:{client_secret}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode()

    def parse_error(self, response: requests.Response, body: Any) -> RemoteError:
        """RFC 6749 section 5.2 errors; a refused grant or client is an AuthError."""
        if isinstance(body, dict) and body.get("error"):
            error = str(body["error"])
            text = str(body.get("error_description") or error)
            cls = AuthError if error in _AUTH_ERRORS else RemoteError
            return cls(self.system, response.status_code, text, code=error)
        if response.status_code in (401, 403):
            detail = body.get("Detail") if isinstance(body, dict) else None
            return AuthError(self.system, response.status_code, detail or "unauthorised")
        return RemoteError(self.system, response.status_code, response.reason or "error")

    def _form(self, url: str, body: str, *, retry_safe: bool) -> Any:
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self.request("POST", url, data=body, headers=headers, safe_to_retry=retry_safe).body

    def token(self, form: dict[str, str] | str, *, retry_safe: bool) -> dict[str, Any]:
        """POST the token endpoint; the decoded token response.

        ``retry_safe``: whether a lost response may be retried (a refresh may, within a
        provider's grace period; an authorization code may not: it is single use).
        """
        body = form if isinstance(form, str) else urlencode(form)
        decoded = self._form(self.token_url, body, retry_safe=retry_safe)
        if not isinstance(decoded, dict):
            raise RemoteError(self.system, 200, "the token response is not JSON")
        return decoded

    def client_credentials(self, scopes: str, previous: OAuthToken | None = None) -> OAuthToken:
        """A token for the client-credentials grant (``previous``'s data carried over)."""
        body = BackendApplicationClient(self.client_id).prepare_request_body(scope=scopes or None)
        return OAuthToken.from_response(self.token(body, retry_safe=True), previous=previous)

    def refresh(self, current: OAuthToken) -> OAuthToken:
        """Spend ``current``'s refresh token for a new token set (the new refresh token too)."""
        body = WebApplicationClient(self.client_id).prepare_refresh_body(
            refresh_token=current.refresh_token
        )
        return OAuthToken.from_response(self.token(body, retry_safe=True), previous=current)

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (and the consent it belongs to), when the provider can."""
        if self.revocation_url:
            self._form(self.revocation_url, urlencode({"token": refresh_token}), retry_safe=True)


class OAuthSession:
    """Access tokens for one company's connection, renewed through the token store.

    ``system`` names the ledger in errors (default: the endpoint's).
    ``grant`` ``client_credentials``: no refresh token; a new access token is requested
    when the stored one expires. ``authorization_code``: ``<ledger> connect`` stored the
    first token set; each refresh rotates the refresh token, saved in the same transaction.
    """

    def __init__(
        self,
        endpoint: TokenEndpoint,
        store: TokenStore,
        *,
        company: str,
        provider: str,
        grant: str,
        scopes: str,
        reconnect: str,
        system: str | None = None,
        margin: float = REFRESH_MARGIN,
    ):
        self.endpoint = endpoint
        self.system = system or endpoint.system
        self.store = store
        self.company = company
        self.provider = provider
        self.grant = grant
        self.scopes = scopes
        self.reconnect = reconnect
        self.margin = margin
        self._token: OAuthToken | None = None
        self._lock = threading.Lock()
        self.renewals = 0

    @property
    def custom(self) -> bool:
        """A client-credentials connection (no user consent, no refresh token)."""
        return self.grant == "client_credentials"

    def token(self) -> OAuthToken:
        """A token valid for at least ``margin`` seconds (renewed when needed)."""
        with self._lock:
            current = self._token
            if current is not None and not current.expires_within(self.margin):
                return current
            self._token = self._renew(stale=None)
            return self._token

    def access_token(self) -> str:
        """The bearer token to send."""
        return self.token().access_token

    def renew_after_401(self, sent: str) -> bool:
        """The API said 401 to ``sent``: renew it (unless another caller already did)."""
        with self._lock:
            self._token = self._renew(stale=sent or None)
            return True

    def _renew(self, stale: str | None) -> OAuthToken:
        try:
            return self.store.refresh(
                self.company,
                self.provider,
                self._refresher,
                margin=self.margin,
                stale_access_token=stale,
                create=self.custom,
            )
        except AuthError as exc:
            if self.reconnect in str(exc):
                raise
            raise AuthError(
                exc.system,
                exc.status,
                f"{exc.detail}; reconnect it: {self.reconnect}",
                code=exc.code,
            ) from None

    def _refresher(self, current: OAuthToken | None) -> OAuthToken:
        self.renewals += 1
        if self.custom:
            return self.endpoint.client_credentials(self.scopes, current)
        if current is None or not current.refresh_token:
            raise AuthError(
                self.system,
                401,
                f"company {self.company} has no {self.system} refresh token; "
                f"reconnect it: {self.reconnect}",
            )
        return self.endpoint.refresh(current)


class Sessions(Generic[S, T]):
    """One OAuth session per company over one token store, for a ledger plugin's target,
    payments source and CLI.

    ``load(company)`` gives the company's validated settings ``T``; ``build(company,
    settings, store)`` makes its session ``S`` (an :class:`OAuthSession`). A session is
    kept while the company's settings stay the same, so its in-memory token is reused;
    :meth:`forget` drops it (after a reconnect, a replay). The store is Postgres when the
    runtime has a database, else memory.
    """

    def __init__(
        self,
        runtime: Any,
        load: Callable[[Any], T],
        build: Callable[[Any, T, TokenStore], S],
        store: TokenStore | None = None,
    ):
        self.runtime = runtime
        self._load = load
        self._build = build
        self._store = store
        self._sessions: dict[str, tuple[T, S]] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> TokenStore:
        """The token store: Postgres when the runtime has a database, else memory."""
        with self._lock:
            if self._store is None:
                self._store = token_store(self.runtime.db)
            return self._store

    def auth(self, company: Any) -> S:
        """The company's OAuth session (created on first use, again when its settings change)."""
        settings = self._load(company)
        store = self.store
        with self._lock:
            kept = self._sessions.get(company.key)
            if kept is None or kept[0] != settings:
                kept = (settings, self._build(company, settings, store))
                self._sessions[company.key] = kept
            return kept[1]

    def forget(self, company: str) -> None:
        """Drop the company's session and its in-memory token."""
        with self._lock:
            self._sessions.pop(company, None)

    def client_kwargs(self, company: Any, limiter: Any) -> tuple[S, dict[str, Any]]:
        """The company's session and the keyword arguments every ledger API client built
        on it takes: ``token`` and ``renew`` from the session, ``company``, ``limiter``
        and ``clock`` (the limiter's, else the runtime's)."""
        auth = self.auth(company)
        return auth, {
            "token": auth.access_token,  # type: ignore[attr-defined]
            "renew": auth.renew_after_401,  # type: ignore[attr-defined]
            "company": company.key,
            "limiter": limiter,
            "clock": limiter.clock if limiter is not None else self.runtime.clock,
        }


def app_credentials(runtime: Any, settings: Any, section: str) -> dict[str, str]:
    """``client_id`` and ``client_secret`` for a :class:`TokenEndpoint`: the secrets the
    settings' ``client_id_env`` and ``client_secret_env`` name, read through the runtime
    (a missing one is reported as ``<section>.client_id_env``)."""
    return {
        "client_id": runtime.secret(settings.client_id_env, key=f"{section}.client_id_env"),
        "client_secret": runtime.secret(
            settings.client_secret_env, key=f"{section}.client_secret_env"
        ),
    }


# --- the authorization-code flow (``wisesync <ledger> connect``) --------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    """An authorization request: the URL to open, and what the callback must match."""

    url: str
    state: str
    verifier: str
    redirect_uri: str


def consent_request(
    authorize_url: str, client_id: str, redirect_uri: str, scopes: str, **extra: str
) -> Consent:
    """The authorize URL with ``state`` and a PKCE S256 challenge (RFC 7636).

    The URL is encoded here rather than by oauthlib, which refuses the plain-http URL of a
    local sandbox.
    """
    client = WebApplicationClient(client_id)
    verifier = client.create_code_verifier(64)
    state = secrets.token_urlsafe(24)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "state": state,
        "code_challenge": client.create_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
        **extra,
    }
    return Consent(f"{authorize_url}?{urlencode(query)}", state, verifier, redirect_uri)


def exchange_code(endpoint: TokenEndpoint, consent: Consent, code: str) -> OAuthToken:
    """Trade the callback's ``code`` for the first token set (never retried: single use)."""
    body = WebApplicationClient(endpoint.client_id).prepare_request_body(
        code=code,
        redirect_uri=consent.redirect_uri,
        code_verifier=consent.verifier,
        include_client_id=False,
    )
    token = OAuthToken.from_response(endpoint.token(body, retry_safe=False))
    if not token.refresh_token:
        raise AuthError(
            endpoint.system,
            400,
            "no refresh token came back: the app must request the offline_access scope",
        )
    return token


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self.send_response(404)
            self.end_headers()
            return
        self.server.params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        ok = "code" in self.server.params
        ledger = self.server.ledger
        text = (
            f"wisesync is connected to {ledger}. You can close this window."
            if ok
            else f"{ledger} said: {html.escape(self.server.params.get('error', 'no code'))}"
        )
        payload = f"<html><body><p>{text}</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _CallbackServer(HTTPServer):
    params: dict[str, str] | None = None
    ledger = "the ledger"


class ConsentError(Exception):
    """The consent did not complete (timeout, state mismatch, refusal); the text says why."""


class CallbackReceiver:
    """The redirect target on ``http://127.0.0.1:<port>/callback`` (``port`` 0: any free one).

    Use as a context manager: ``with CallbackReceiver(8765, "MyBooks") as rx: rx.wait(...)``.
    """

    def __init__(self, port: int, ledger: str):
        self._server = _CallbackServer(("127.0.0.1", port), _Callback)
        self._server.ledger = ledger
        self.ledger = ledger

    @property
    def redirect_uri(self) -> str:
        """The URI to register with the app and send in the authorization request."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    @property
    def params(self) -> dict[str, str]:
        """Every query parameter of the callback, once it came (a ledger's extras beside
        ``code``, e.g. Intuit's ``realmId``); empty before."""
        return dict(self._server.params or {})

    def wait(self, consent: Consent, open_url: Callable[[str], Any], timeout: float) -> str:
        """Open the consent URL and wait for the redirect; the authorization code."""
        threading.Thread(target=open_url, args=(consent.url,), daemon=True).start()
        deadline = time.monotonic() + timeout
        self._server.timeout = 0.5
        while self._server.params is None:
            if time.monotonic() > deadline:
                raise ConsentError(
                    f"no answer from {self.ledger} within {timeout:.0f} s; try again"
                )
            self._server.handle_request()
        params = self._server.params
        if params.get("state") != consent.state:
            raise ConsentError("the callback's state does not match; try again")
        if "code" not in params:
            raise ConsentError(
                f"{self.ledger} refused the consent: {params.get('error', 'unknown')}"
            )
        return params["code"]

    def close(self) -> None:
        """Free the port."""
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
