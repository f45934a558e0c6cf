"""HTTP clients for Xero: the Accounting API (:class:`XeroClient`) and the identity
service's token endpoint (:class:`IdentityClient`).

Both subclass :class:`wisesync.http.ApiClient` (retries, Retry-After, typed errors,
secrets kept out of exceptions). Accounting calls go through the poster's
:class:`~wisesync.ratelimit.CallLimiter`; identity calls do not count against the
Accounting API limits and go straight out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from wisesync.errors import AuthError, DailyLimitReached, RemoteError
from wisesync.http import ApiClient, ApiResponse, RetryPolicy
from wisesync.oauth import TokenEndpoint
from wisesync.ratelimit import CallLimiter, Clock
from wisesync_xero.limits import LimitState, daily_reset

API_PREFIX = "/api.xro/2.0"


def reconnect_command(company: str) -> str:
    """The command that reconnects ``company`` to Xero."""
    return f"`wisesync xero connect --company {company}`"


def reconnect_hint(company: str) -> str:
    """What a person does about an expired or revoked Xero connection."""
    return f"reconnect it: {reconnect_command(company)}"


def validation_messages(body: Any) -> list[str]:
    """Every ``ValidationErrors[].Message`` in a Xero 400 body (all elements)."""
    out: list[str] = []
    if not isinstance(body, dict):
        return out
    for element in body.get("Elements") or []:
        for err in element.get("ValidationErrors") or []:
            if err.get("Message"):
                out.append(str(err["Message"]))
    return out


class XeroClient(ApiClient):
    """The Accounting API of one tenant.

    Args:
        base_url: ``https://api.xero.com`` (or a sandbox URL); the client adds ``/api.xro/2.0``.
        token: returns a valid access token (called before every attempt).
        renew: called with the access token a 401 came back with; renews it and
            returns True, or raises :class:`~wisesync.errors.AuthError`.
        tenant_id: sent as ``xero-tenant-id`` (None for custom connections).
        company: the wisesync company, named in auth errors.
    """

    system = "Xero"
    idempotency_header = "Idempotency-Key"

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str],
        renew: Callable[[str], bool],
        tenant_id: str | None,
        company: str,
        limiter: CallLimiter | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ):
        super().__init__(base_url, limiter=limiter, retry=retry, clock=clock, session=session)
        self._token = token
        self._renew = renew
        self.tenant_id = tenant_id
        self.company = company
        self.limit_state = LimitState()
        self._sent_token: str | None = None

    def auth_headers(self) -> dict[str, str]:
        self._sent_token = self._token()
        headers = {"Authorization": f"Bearer {self._sent_token}"}
        if self.tenant_id:
            headers["xero-tenant-id"] = self.tenant_id
        return headers

    def refresh_auth(self) -> bool:
        return self._renew(self._sent_token or "")

    def on_response(self, response: requests.Response) -> None:
        self.limit_state.update(response.headers)
        reset = daily_reset(response.status_code, response.headers)
        if reset is not None:
            raise DailyLimitReached(self.system, reset)

    def parse_error(self, response: requests.Response, body: Any) -> RemoteError:
        status = response.status_code
        if status in (401, 403):
            detail = body.get("Detail") if isinstance(body, dict) else None
            return AuthError(
                self.system,
                status,
                f"{detail or response.reason or 'unauthorised'}: the Xero connection of company "
                f"{self.company} is expired, revoked or lacks access; {reconnect_hint(self.company)}",
            )
        if isinstance(body, dict) and body.get("Type"):
            texts = validation_messages(body)
            message = str(body.get("Message") or body.get("Detail") or body["Type"])
            if texts:
                message = f"{message}: {'; '.join(texts[:5])}"
            return RemoteError(self.system, status, message, code=str(body["Type"]), body=body)
        if isinstance(body, dict) and (body.get("Detail") or body.get("Title")):
            return RemoteError(self.system, status, str(body.get("Detail") or body.get("Title")))
        return RemoteError(self.system, status, response.reason or "error")

    # --- accounting helpers ---------------------------------------------------------

    def api(self, method: str, path: str, **kw: Any) -> ApiResponse:
        """A call to ``/api.xro/2.0`` + ``path``."""
        return self.request(method, API_PREFIX + path, **kw)

    def get_json(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """GET ``/api.xro/2.0`` + ``path`` and return the decoded body."""
        return self.api("GET", path, params=params, **kw).body


class IdentityClient(TokenEndpoint):
    """``identity.xero.com``: token, revocation (the core :class:`~wisesync.oauth.TokenEndpoint`);
    and ``GET /connections`` on the API host."""

    system = "Xero identity"

    def __init__(self, token_url: str, *, connections_url: str | None = None, **kw: Any):
        super().__init__(token_url, **kw)
        self.connections_url = connections_url

    def connections(self, access_token: str) -> list[dict[str, Any]]:
        """``GET /connections``: the tenants an access token may address."""
        assert self.connections_url
        body = self.request(
            "GET", self.connections_url, headers={"Authorization": f"Bearer {access_token}"}
        ).body
        return body if isinstance(body, list) else []
