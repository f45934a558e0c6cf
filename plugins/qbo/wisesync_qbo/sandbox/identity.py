"""Intuit's OAuth2 server for the QBO sandbox, on the shared kit
(:class:`wisesync.testing.oauth.OAuthServer`).

Intuit's endpoints: authorize ``/connect/oauth2`` (the redirect carries ``realmId``),
token ``/oauth2/v1/tokens/bearer``, revoke ``/oauth2/v1/tokens/revoke``, and the OpenID
discovery document ``/.well-known/openid_configuration`` that intuit-oauth's
``AuthClient`` reads when constructed. Access tokens last one hour, refresh tokens 100
days and rotate on every refresh. A refused API call is HTTP 401 with QBO's lower-case
``fault`` body, code 3200.
"""

from __future__ import annotations

from typing import Any

from wisesync.ratelimit import Clock
from wisesync.testing.oauth import AccessToken, OAuthServer

SCOPE = "com.intuit.quickbooks.accounting"
SCOPES = f"{SCOPE} com.intuit.quickbooks.payment openid profile email phone address"
AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
DISCOVERY_PATH = "/.well-known/openid_configuration"
ACCESS_TTL = 3600
REFRESH_TTL = 100 * 86400


class IntuitOAuth(OAuthServer):
    """The sandbox's Intuit identity: Intuit's scopes, lifetimes and error bodies."""

    consent_title = "Connect to QuickBooks?"
    authorize_path = AUTHORIZE_PATH

    def __init__(self, clock: Clock, *, refresh_grace: float = 0.0, auto_consent: bool = True):
        super().__init__(
            clock,
            refresh_grace=refresh_grace,
            auto_consent=auto_consent,
            allowed_scopes=SCOPES,
            default_scopes=SCOPE,
            refresh_scope=SCOPE,
            access_ttl=ACCESS_TTL,
            refresh_ttl=REFRESH_TTL,
        )

    def problem(self, status: int, title: str, detail: str) -> dict[str, Any]:
        """QBO's 401 body: lower-case ``fault``, code 3200 (qbo.md section 7)."""
        return {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": detail,
                        "code": "3200",
                        "element": None,
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(self.clock.now() * 1000),
            "status": None,
            "cdcresponse": [],
        }

    def expired_detail(self, token: AccessToken) -> str:
        return "Token expired"


def discovery(base: str) -> dict[str, Any]:
    """The OpenID discovery document, every endpoint on ``base``."""
    return {
        "issuer": "https://oauth.platform.intuit.com/op/v1",
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "userinfo_endpoint": base + "/v1/openid_connect/userinfo",
        "revocation_endpoint": base + REVOKE_PATH,
        "jwks_uri": base + "/op/v1/jwks",
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES.split(),
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }
