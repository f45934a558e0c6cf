"""Xero identity simulated: token endpoint, authorize, connections, revocation.

The OAuth2 server itself is the shared sandbox kit (:class:`wisesync.testing.oauth.OAuthServer`);
this module adds Xero's scopes, problem bodies, expired-token text and ``/connections``.

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

import uuid
from datetime import UTC, datetime
from typing import Any

from wisesync.ratelimit import Clock
from wisesync.testing.oauth import AccessToken, AuthFailure, OAuthServer
from wisesync.testing.oauth import TokenFailure as TokenFailure  # re-exported for the app

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


class Identity(OAuthServer):
    """Xero's identity service: the shared OAuth2 server with Xero's bodies and tenants."""

    consent_title = "Allow access to your Xero organisations?"
    authorize_path = "/identity/connect/authorize"

    def __init__(self, clock: Clock, *, refresh_grace: float = 0.0, auto_consent: bool = True):
        super().__init__(
            clock,
            refresh_grace=refresh_grace,
            auto_consent=auto_consent,
            allowed_scopes=ALLOWED_SCOPES,
            default_scopes=DEFAULT_SCOPES,
        )

    def problem(self, status: int, title: str, detail: str) -> dict[str, Any]:
        """Xero's problem-details body."""
        return problem(status, title, detail)

    def expired_detail(self, token: AccessToken) -> str:
        """Xero's text, with the expiry in UTC wall time."""
        expired_at = self._wall(token.expires_at).strftime("%m/%d/%Y %H:%M:%S")
        return f"TokenExpired: token expired at {expired_at}"

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

    # -- connections ----------------------------------------------------------------------

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
            for tenant in grant.live_tenants()
        ]

    def disconnect(self, token: AccessToken, connection_id: str) -> bool:
        """``DELETE /connections/{id}``: drop one tenant from the token's grant."""
        with self._lock:
            for conn in self.connections(token):
                if conn["id"] == connection_id.lower():
                    token.grant.revoked_tenants.add(conn["tenantId"])
                    return True
        return False
