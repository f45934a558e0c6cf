"""Connections: client credentials, the authorization-code consent with rotating refresh
tokens, expiry, revocation -> AuthError naming the reconnect command."""

from __future__ import annotations

import click
import pytest
import requests
from xero_testkit import company, limiter, line, record, runtime

from wisesync.errors import AuthError
from wisesync.events.models import Status
from wisesync.store.tokens import MemoryTokenStore
from wisesync_xero.connect_cli import connect_company
from wisesync_xero.connection import Connections
from wisesync_xero.oauth import PROVIDER
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.settings import Approval, check, load
from wisesync_xero.target import XeroTarget


@pytest.fixture
def server():
    srv = start_sandbox(seed=5, contacts=5)
    yield srv
    assert srv.app.spec_violations == []
    srv.stop()


def _target(rt, store):
    target = XeroTarget(rt)
    target.connections = Connections(rt, store)
    return target


def _follow(url: str) -> None:
    """The browser: follow Xero's redirect to the local callback."""
    requests.get(url, timeout=10)


def connect(server, store, *, tenant=None, **settings):
    comp = company(server, grant="authorization_code", **settings)
    rt = runtime(server, (comp,), web_app=True)
    lines: list[str] = []
    chosen = connect_company(
        rt, comp, store, tenant=tenant, port=0, open_url=_follow, echo=lines.append, timeout=20
    )
    return comp, rt, chosen, lines


# --- client credentials (custom connection) ------------------------------------------


def test_custom_connection_gets_and_renews_its_token(server):
    app = server.app
    comp = company(server)
    store = MemoryTokenStore()
    target = _target(runtime(server, (comp,)), store)
    ctx = target.prepare(comp, limiter())
    assert store.get("acme", PROVIDER).token.refresh_token is None
    first = store.get("acme", PROVIDER).token.access_token
    app.expire_tokens()  # 30 minutes later
    (out,) = target.post([record(line())], ctx)
    assert out.status is Status.POSTED
    assert store.get("acme", PROVIDER).token.access_token != first
    assert app.calls(path="/connect/token") == 2
    assert "xero-tenant-id" not in {k.lower() for k in ctx.client.auth_headers()}


def test_revoked_custom_connection_stops_the_company_with_reconnect_hint(server):
    comp = company(server)
    target = _target(runtime(server, (comp,)), MemoryTokenStore())
    ctx = target.prepare(comp, limiter())
    server.app.revoke()
    server.app.expire_tokens()
    with pytest.raises(AuthError) as info:
        target.post([record(line())], ctx)
    assert "wisesync xero connect --company acme" in str(info.value)
    assert server.app.documents_count() == 0


def test_wrong_client_secret_is_an_auth_error(server):
    comp = company(server)
    rt = runtime(server, (comp,))
    rt.environ["XERO_CLIENT_SECRET"] = "wrong"
    with pytest.raises(AuthError) as info:
        _target(rt, MemoryTokenStore()).prepare(comp, limiter())
    assert "invalid_client" in str(info.value)
    assert rt.environ["XERO_CLIENT_SECRET"] not in str(info.value)


# --- authorization code ----------------------------------------------------------------


def test_consent_stores_the_token_and_tenant_then_posts(server):
    store = MemoryTokenStore()
    comp, rt, chosen, lines = connect(server, store)
    assert chosen["tenantId"] == server.app.tenant_id
    saved = store.get("acme", PROVIDER).token
    assert saved.refresh_token and saved.data["tenant_id"] == server.app.tenant_id
    assert any("/identity/connect/authorize?" in text for text in lines)
    assert "code_challenge_method=S256" in lines[1]
    target = _target(rt, store)
    (out,) = target.post([record(line())], target.prepare(comp, limiter()))
    assert out.status is Status.POSTED


def test_expired_access_token_is_refreshed_and_the_refresh_token_rotates(server):
    app = server.app
    store = MemoryTokenStore()
    comp, rt, _, _ = connect(server, store)
    target = _target(rt, store)
    ctx = target.prepare(comp, limiter())
    old = store.get("acme", PROVIDER).token
    app.expire_tokens()
    (out,) = target.post([record(line())], ctx)
    assert out.status is Status.POSTED
    new = store.get("acme", PROVIDER).token
    assert new.refresh_token != old.refresh_token
    assert new.data["tenant_id"] == old.data["tenant_id"]
    # the spent refresh token is dead: Xero rotates on every use
    spent = requests.post(
        f"{server.url}/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": old.refresh_token},
        auth=(app.client_id, app.client_secret),
        timeout=5,
    )
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


def test_proactive_refresh_before_expiry(server):
    store = MemoryTokenStore()
    comp, rt, _, _ = connect(server, store)
    target = _target(rt, store)
    auth = target.connections.auth(comp)
    auth.margin = 1801  # every token looks about to expire
    target.prepare(comp, limiter())
    assert auth.renewals >= 1
    assert server.app.calls(path=r"^/api\.xro/") == 6  # the reference GETs, no 401


def test_revoked_consent_is_auth_token_invalid_and_stays_invalid(server):
    app = server.app
    store = MemoryTokenStore()
    comp, rt, _, _ = connect(server, store)
    target = _target(rt, store)
    ctx = target.prepare(comp, limiter())
    app.revoke()
    with pytest.raises(AuthError) as info:
        target.post([record(line())], ctx)
    assert "wisesync xero connect --company acme" in str(info.value)
    row = store.get("acme", PROVIDER)
    assert row.status == "invalid" and "invalid_grant" in (row.reason or "")
    requests_before = app.identity.token_requests
    with pytest.raises(AuthError):
        _target(rt, store).prepare(comp, limiter())
    assert app.identity.token_requests == requests_before  # no refresh token spent again


def test_no_connection_yet_names_the_connect_command(server):
    comp = company(server, grant="authorization_code")
    rt = runtime(server, (comp,), web_app=True)
    with pytest.raises(AuthError) as info:
        _target(rt, MemoryTokenStore()).prepare(comp, limiter())
    assert "wisesync xero connect --company acme" in str(info.value)


def test_several_organisations_need_a_tenant_choice():
    srv = start_sandbox(seed=6, tenants=["Alpha Pty", "Beta Pty"])
    try:
        with pytest.raises(click.ClickException) as info:
            connect(srv, MemoryTokenStore())
        assert "Alpha Pty" in info.value.message and "--tenant" in info.value.message
        store = MemoryTokenStore()
        _, _, chosen, _ = connect(srv, store, tenant="beta pty")
        assert chosen["tenantName"] == "Beta Pty"
        assert store.get("acme", PROVIDER).token.data["tenant_name"] == "Beta Pty"
        with pytest.raises(click.ClickException):
            connect(srv, MemoryTokenStore(), tenant="Gamma")
    finally:
        srv.stop()


def test_configured_tenant_id_is_used(server):
    _, _, chosen, _ = connect(server, MemoryTokenStore(), tenant_id=server.app.tenant_id)
    assert chosen["tenantId"] == server.app.tenant_id


# --- settings ------------------------------------------------------------------------------


def test_check_company_reports_each_bad_setting():
    comp = company(
        None,
        grant="password",
        base_url="ftp://x",
        tracking={"region": "R"},
        redirect_port="80",
        bogus=1,
        invoice_status="SENT",
        mark_sent="yes",
    )
    comp.settings["xero"].pop("client_secret_env")
    keys = {p.key for p in check(comp)}
    assert keys == {
        "xero.grant",
        "xero.base_url",
        "xero.tracking",
        "xero.redirect_port",
        "xero.bogus",
        "xero.client_secret_env",
        "xero.invoice_status",
        "xero.mark_sent",
    }
    assert check(company(None)) == []
    fine = company(None, invoice_status="draft", bill_status="DRAFT", mark_sent=True)
    assert check(fine) == []
    assert load(fine).approval == Approval("DRAFT", "DRAFT", True)
    assert load(company(None)).approval == Approval()  # approved, not marked sent
    missing = company(None)
    missing.settings.pop("xero")
    assert [p.key for p in check(missing)] == ["xero"]


def test_a_secret_pasted_into_client_secret_env_is_refused_and_not_echoed():
    pasted = "Xs3cr3t/Value+pasted=="
    comp = company(None)
    comp.settings["xero"]["client_secret_env"] = pasted
    problems = check(comp)
    assert [p.key for p in problems] == ["xero.client_secret_env"]
    assert pasted not in str(problems[0])


def test_connect_stores_a_token_without_an_api_call_and_prepare_reuses_it(server):
    """What an interactive Sync All asks for as it starts: the token, fetched from the
    identity service (no API limit counts it), found in the store by whoever posts."""
    app = server.app
    comp = company(server)
    store = MemoryTokenStore()
    _target(runtime(server, (comp,)), store).connect(comp)
    assert store.get("acme", PROVIDER).token.access_token
    assert app.calls(path=r"^/api\.xro/") == 0
    tokens = app.calls(path=r"/connect/token")
    assert tokens == 1
    _target(runtime(server, (comp,)), store).prepare(comp, limiter())
    assert app.calls(path=r"/connect/token") == tokens  # the poster's instance reused it
