"""OAuth2 for Xero: custom connections (client credentials) and standard apps
(authorization code with rotating refresh tokens), on the core kit :mod:`wisesync.oauth`.

:class:`XeroAuth` hands the client a valid access token. Tokens live in the core token
store (encrypted, one row per company), which renews them under a row lock so two
processes never spend one refresh token:

* ``client_credentials``: no refresh token; a new access token is simply requested
  when the stored one expires (every 30 minutes);
* ``authorization_code``: ``wisesync xero connect`` stores the first token set; each
  refresh returns a new refresh token, saved in the same transaction.

A refused renewal (``invalid_grant``: revoked, expired after 60 days unused, or a
refresh token already spent) raises :class:`~wisesync.errors.AuthError` naming the
reconnect command; the poster fails the company's records with AUTH_TOKEN_INVALID.
"""

from __future__ import annotations

from typing import Any

from wisesync.oauth import REFRESH_MARGIN, OAuthSession, TokenEndpoint
from wisesync.store.tokens import TokenStore
from wisesync_xero.client import reconnect_command
from wisesync_xero.settings import XeroSettings

PROVIDER = "xero"


class XeroAuth(OAuthSession):
    """Access tokens for one company's Xero connection."""

    def __init__(
        self,
        settings: XeroSettings,
        company: str,
        store: TokenStore,
        identity: TokenEndpoint,
        *,
        margin: float = REFRESH_MARGIN,
    ):
        super().__init__(
            identity,
            store,
            company=company,
            provider=PROVIDER,
            grant=settings.grant,
            scopes=client_credentials_scopes(settings.scopes),
            reconnect=reconnect_command(company),
            system="Xero",
            margin=margin,
        )
        self.settings = settings
        self.identity = identity

    @property
    def tenant_id(self) -> str | None:
        """The tenant to address: the configured one, else the one chosen at connect
        time; None for custom connections (Xero needs no header then)."""
        if self.settings.tenant_id:
            return self.settings.tenant_id
        if self.custom:
            return None
        return self.token().data.get("tenant_id")


def client_credentials_scopes(scopes: str) -> str:
    """Client-credentials tokens carry no OpenID or offline scopes."""
    return " ".join(
        s for s in scopes.split() if s not in ("openid", "profile", "email", "offline_access")
    )


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
