"""OAuth2 for Xero: custom connections (client credentials) and standard apps
(authorization code with rotating refresh tokens).

:class:`XeroAuth` hands the client a valid access token. Tokens live in the core
token store (:mod:`wisesync.store.tokens`, encrypted, one row per company), which
renews them under a row lock so two processes never spend one refresh token:

* ``client_credentials``: no refresh token; a new access token is simply requested
  when the stored one expires (every 30 minutes);
* ``authorization_code``: ``wisesync xero connect`` stores the first token set; each
  refresh returns a new refresh token, saved in the same transaction.

A refused renewal (``invalid_grant``: revoked, expired after 60 days unused, or a
refresh token already spent) raises :class:`~wisesync.errors.AuthError` naming the
reconnect command; the poster fails the company's records with AUTH_TOKEN_INVALID.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wisesync.errors import AuthError
from wisesync.store.tokens import OAuthToken, TokenStore
from wisesync_xero.client import IdentityClient, reconnect_hint
from wisesync_xero.settings import XeroSettings

PROVIDER = "xero"
REFRESH_MARGIN = 60.0


class XeroAuth:
    """Access tokens for one company's Xero connection."""

    def __init__(
        self,
        settings: XeroSettings,
        company: str,
        store: TokenStore,
        identity: IdentityClient,
        *,
        margin: float = REFRESH_MARGIN,
    ):
        self.settings = settings
        self.company = company
        self.store = store
        self.identity = identity
        self.margin = margin
        self._token: OAuthToken | None = None
        self._lock = threading.Lock()
        self.renewals = 0

    @property
    def custom(self) -> bool:
        """A custom connection (client credentials)."""
        return self.settings.grant == "client_credentials"

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
        """Xero said 401 to ``sent``: renew it (unless another caller already did)."""
        with self._lock:
            self._token = self._renew(stale=sent or None)
            return True

    @property
    def tenant_id(self) -> str | None:
        """The tenant to address: the configured one, else the one chosen at connect
        time; None for custom connections (Xero needs no header then)."""
        if self.settings.tenant_id:
            return self.settings.tenant_id
        if self.custom:
            return None
        return self.token().data.get("tenant_id")

    def _renew(self, stale: str | None) -> OAuthToken:
        try:
            return self.store.refresh(
                self.company,
                PROVIDER,
                self._refresher,
                margin=self.margin,
                stale_access_token=stale,
                create=self.custom,
            )
        except AuthError as exc:
            if "wisesync xero connect" in str(exc):
                raise
            raise AuthError(
                "Xero",
                exc.status,
                f"{exc.detail}; {reconnect_hint(self.company)}",
                code=exc.code,
            ) from None

    def _refresher(self, current: OAuthToken | None) -> OAuthToken:
        self.renewals += 1
        if self.custom:
            body = self.identity.token(
                {
                    "grant_type": "client_credentials",
                    "scope": client_credentials_scopes(self.settings.scopes),
                },
                retry_safe=True,
            )
            return OAuthToken.from_response(body, previous=current)
        if current is None or not current.refresh_token:
            raise AuthError(
                "Xero",
                401,
                f"company {self.company} has no Xero refresh token; {reconnect_hint(self.company)}",
            )
        body = self.identity.token(
            {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
            retry_safe=True,
        )
        return OAuthToken.from_response(body, previous=current)


def client_credentials_scopes(scopes: str) -> str:
    """Client-credentials tokens carry no OpenID or offline scopes."""
    return " ".join(
        s for s in scopes.split() if s not in ("openid", "profile", "email", "offline_access")
    )


# --- the authorization-code flow (``wisesync xero connect``) ----------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    """An authorization request: the URL to open, and what the callback must match."""

    url: str
    state: str
    verifier: str
    redirect_uri: str


def consent_request(settings: XeroSettings, client_id: str, redirect_uri: str) -> Consent:
    """Build the authorize URL (with ``state`` and a PKCE S256 challenge)."""
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": settings.scopes,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return Consent(f"{settings.authorize_url}?{query}", state, verifier, redirect_uri)


def exchange_code(identity: IdentityClient, consent: Consent, code: str) -> OAuthToken:
    """Trade the callback's ``code`` for the first token set."""
    body = identity.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": consent.redirect_uri,
            "code_verifier": consent.verifier,
        },
        retry_safe=False,
    )
    token = OAuthToken.from_response(body)
    if not token.refresh_token:
        raise AuthError(
            "Xero identity",
            400,
            "Xero returned no refresh token: the app must request the offline_access scope",
        )
    return token


def choose_tenant(connections: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    """The connection for ``wanted`` (a tenant id or name), or the only one; None when
    several organisations were authorised and none was named."""
    orgs = [c for c in connections if c.get("tenantType", "ORGANISATION") == "ORGANISATION"]
    if wanted:
        folded = wanted.casefold()
        return next(
            (
                c
                for c in orgs
                if str(c.get("tenantId", "")).casefold() == folded
                or str(c.get("tenantName", "")).casefold() == folded
            ),
            None,
        )
    return orgs[0] if len(orgs) == 1 else None
