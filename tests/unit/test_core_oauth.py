"""The OAuth2 kit (wisesync.oauth) against the sandbox OAuth2 server kit, with no ledger."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
import requests

from wisesync.errors import AuthError
from wisesync.oauth import (
    CallbackReceiver,
    OAuthSession,
    TokenEndpoint,
    consent_request,
    exchange_code,
)
from wisesync.store.tokens import MemoryTokenStore
from wisesync.testing.clock import ManualClock
from wisesync.testing.oauth import OAuthServer, TokenFailure
from wisesync.testing.sandbox import Request, Response, SandboxApp, SandboxServer

SCOPES = "offline_access ledger"


class IdentityApp(SandboxApp):
    """A token endpoint and an authorize endpoint over the shared OAuth2 server."""

    def __init__(self, clock: ManualClock):
        super().__init__()
        self.oauth = OAuthServer(clock, allowed_scopes=SCOPES, default_scopes=SCOPES)
        self.oauth.tenant_names["t-1"] = "Demo"
        self.route("POST", "/token", self._token)
        self.route("GET", "/authorize", self._authorize)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        try:
            return Response(200, self.oauth.token(form, request.headers))
        except TokenFailure as failure:
            return Response(failure.status, failure.body)

    def _authorize(self, request: Request) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        status, headers, page = self.oauth.authorize(query, consent=True)
        return Response(status, page, headers)


@pytest.fixture
def identity(manual_clock: ManualClock) -> Iterator[tuple[IdentityApp, SandboxServer]]:
    app = IdentityApp(manual_clock)
    with SandboxServer(app) as server:
        yield app, server


def _endpoint(server: SandboxServer, client) -> TokenEndpoint:  # type: ignore[no-untyped-def]
    return TokenEndpoint(
        f"{server.url}/token",
        client_id=client.client_id,
        client_secret=client.client_secret,
        system="Ledger identity",
    )


def _session(endpoint: TokenEndpoint, store: MemoryTokenStore, grant: str) -> OAuthSession:
    return OAuthSession(
        endpoint,
        store,
        company="acme",
        provider="ledger",
        grant=grant,
        scopes="ledger",
        reconnect="`wisesync ledger connect --company acme`",
        system="Ledger",
    )


def test_client_credentials_are_renewed_when_the_token_expires(identity, manual_clock) -> None:  # type: ignore[no-untyped-def]
    app, server = identity
    store = MemoryTokenStore()
    session = _session(
        _endpoint(server, app.oauth.register_client(tenant_id="t-1")), store, "client_credentials"
    )
    first = session.access_token()
    assert session.access_token() == first and session.renewals == 1
    manual_clock.advance(app.oauth.access_ttl)
    assert session.renew_after_401(first) and session.access_token() != first


def test_consent_with_pkce_then_rotating_refresh_then_reconnect_hint(identity) -> None:  # type: ignore[no-untyped-def]
    app, server = identity
    client = app.oauth.register_client()
    endpoint = _endpoint(server, client)
    with CallbackReceiver(0, "Ledger") as rx:
        consent = consent_request(
            f"{server.url}/authorize", client.client_id, rx.redirect_uri, SCOPES
        )
        assert "code_challenge_method=S256" in consent.url
        code = rx.wait(consent, lambda url: requests.get(url, timeout=10), timeout=20)
    store = MemoryTokenStore()
    store.save("acme", "ledger", exchange_code(endpoint, consent, code))
    session = _session(endpoint, store, "authorization_code")
    spent = store.current("acme", "ledger").refresh_token
    session.renew_after_401(session.access_token())
    assert store.current("acme", "ledger").refresh_token != spent  # rotated and saved
    app.oauth.revoke_token(store.current("acme", "ledger").refresh_token)
    with pytest.raises(AuthError) as info:
        session.renew_after_401(session.access_token())
    assert "wisesync ledger connect --company acme" in str(info.value)
    assert client.client_secret not in str(info.value)
