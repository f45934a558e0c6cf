"""The sandbox kits every plugin sandbox shares: manual clock, window limiter, OAuth2 server."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wisesync.testing.clock import ManualClock
from wisesync.testing.oauth import AuthFailure, OAuthServer, TokenFailure
from wisesync.testing.ratelimit import WindowLimiter

SCOPES = "openid offline_access ledger"


def test_manual_clock_advances_on_sleep_and_records_it(manual_clock: ManualClock) -> None:
    manual_clock.sleep(2.5)
    manual_clock.sleep(0)
    manual_clock.advance(1)
    assert manual_clock.now() == 3.5
    assert manual_clock.sleeps == [2.5] and manual_clock.slept == 2.5


def test_window_limiter_refuses_the_call_over_the_limit_until_the_window_moves() -> None:
    clock = ManualClock()
    limiter = WindowLimiter(2, 60.0, clock)
    assert limiter.check("a") is None and limiter.check("a") is None
    clock.advance(20)
    assert limiter.check("a") == 40.0  # the first call leaves the window at 60
    assert limiter.check("b") is None  # windows are per key
    assert limiter.remaining("a") == 0
    clock.advance(40)
    assert limiter.check("a") is None  # refused calls were not counted


def _server(clock: ManualClock, grace: float = 0.0) -> tuple[OAuthServer, str]:
    server = OAuthServer(clock, refresh_grace=grace, allowed_scopes=SCOPES, default_scopes=SCOPES)
    server.tenant_names["t-1"] = "Demo"
    client = server.register_client(redirect_uris=("http://127.0.0.1/cb",))
    return server, client.client_id


def _consent(server: OAuthServer, client_id: str, verifier: str) -> dict:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    status, headers, _ = server.authorize(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1/cb",
            "state": "s1",
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        },
        consent=False,
    )
    assert status == 302 and "state=s1" in headers["Location"]
    code = headers["Location"].split("code=")[1].split("&")[0]
    secret = server.clients[client_id].client_secret
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    return server.token(
        {**form, "client_id": client_id, "client_secret": secret, "redirect_uri": ""}, {}
    )


def _refresh(server: OAuthServer, client_id: str, token: str) -> dict:
    secret = server.clients[client_id].client_secret
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return server.token({**form, "client_id": client_id, "client_secret": secret}, {})


def test_pkce_is_verified() -> None:
    server, client_id = _server(ManualClock())
    status, _, _ = server.authorize(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1/cb",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
        consent=True,
    )
    assert status == 302
    form = {
        "grant_type": "authorization_code",
        "code": next(iter(server.codes)),
        "code_verifier": "wrong",
        "client_id": client_id,
        "client_secret": server.clients[client_id].client_secret,
    }
    with pytest.raises(TokenFailure) as info:
        server.token(form, {})
    assert info.value.body["error"] == "invalid_grant"


def test_refresh_rotates_and_a_spent_token_is_refused_outside_the_grace_period() -> None:
    clock = ManualClock()
    server, client_id = _server(clock, grace=1800)
    first = _consent(server, client_id, "v" * 50)
    second = _refresh(server, client_id, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    clock.advance(60)
    assert _refresh(server, client_id, first["refresh_token"]) == second  # lost answer replayed
    clock.advance(1800)
    with pytest.raises(TokenFailure):
        _refresh(server, client_id, first["refresh_token"])


def test_access_tokens_expire_and_revocation_ends_the_grant() -> None:
    clock = ManualClock()
    server, client_id = _server(clock)
    tokens = _consent(server, client_id, "w" * 50)
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert server.authenticate(bearer).grant.tenants == ["t-1"]
    clock.advance(server.access_ttl)
    with pytest.raises(AuthFailure) as info:
        server.authenticate(bearer)
    assert info.value.status == 401 and "WWW-Authenticate" in info.value.headers
    server.revoke_token(tokens["refresh_token"])
    with pytest.raises(TokenFailure):
        _refresh(server, client_id, tokens["refresh_token"])
