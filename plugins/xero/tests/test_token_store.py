"""The core OAuth token store and plugin state on a real Postgres (migration 0003)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.fernet import Fernet
from xero_testkit import company, runtime

from wisesync.errors import AuthError, ConfigError
from wisesync.store.state import PostgresPluginState
from wisesync.store.tokens import (
    SECRET_KEY_ENV,
    Cipher,
    OAuthToken,
    PostgresTokenStore,
    TokenMissing,
)
from wisesync_xero.connect_cli import connect_company
from wisesync_xero.connection import Connections
from wisesync_xero.sandbox import start_sandbox

pytestmark = pytest.mark.postgres


@pytest.fixture
def dsn(migrated_dsn):
    return migrated_dsn


def token(access="at-1", refresh="rt-1", minutes=30, **data):
    return OAuthToken(
        access_token=access,
        refresh_token=refresh,
        expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
        data=data,
    )


def test_tokens_are_encrypted_at_rest(dsn):
    store = PostgresTokenStore(dsn)
    store.save("acme", "xero", token("secret-access", "secret-refresh", tenant_id="t1"))
    with psycopg.connect(dsn) as conn:
        raw, status = conn.execute("SELECT token, status FROM oauth_tokens").fetchone()
    assert b"secret-access" not in bytes(raw) and b"secret-refresh" not in bytes(raw)
    assert status == "active"
    row = store.get("acme", "xero")
    assert row.token.access_token == "secret-access"
    assert row.token.data == {"tenant_id": "t1"}
    assert "secret" not in repr(row.token)


def test_key_rotation_and_wrong_key(dsn, monkeypatch):
    old = Fernet.generate_key().decode()
    PostgresTokenStore(dsn, Cipher(old)).save("acme", "xero", token())
    rotated = PostgresTokenStore(dsn, Cipher(f"{Fernet.generate_key().decode()},{old}"))
    assert rotated.get("acme", "xero").token.access_token == "at-1"
    with pytest.raises(ConfigError) as info:
        PostgresTokenStore(dsn, Cipher(Fernet.generate_key().decode())).get("acme", "xero")
    assert SECRET_KEY_ENV in str(info.value)
    monkeypatch.delenv(SECRET_KEY_ENV)
    with pytest.raises(ConfigError):
        Cipher()
    with pytest.raises(ConfigError):
        Cipher("not-a-key")


def test_valid_token_is_not_refreshed(dsn):
    store = PostgresTokenStore(dsn)
    store.save("acme", "xero", token())
    calls = []
    got = store.refresh("acme", "xero", lambda t: calls.append(t) or token("x"))
    assert got.access_token == "at-1" and calls == []


def test_stale_token_after_a_401_is_renewed_only_if_still_current(dsn):
    store = PostgresTokenStore(dsn)
    store.save("acme", "xero", token("current"))
    renewed = store.refresh(
        "acme", "xero", lambda t: token("new", "rt-2"), stale_access_token="old"
    )
    assert renewed.access_token == "current"  # someone already renewed the one that failed
    renewed = store.refresh(
        "acme", "xero", lambda t: token("new", "rt-2"), stale_access_token="current"
    )
    assert renewed.access_token == "new"
    assert store.get("acme", "xero").version == 2


def test_two_concurrent_refreshers_spend_the_refresh_token_once(dsn):
    PostgresTokenStore(dsn).save("acme", "xero", token(minutes=-1))
    spent: list[str] = []
    barrier = threading.Barrier(2)

    def refresher(current):
        spent.append(current.refresh_token)
        time.sleep(0.3)  # the provider is slow; the other process waits on the row lock
        return token(f"at-{len(spent) + 1}", f"rt-{len(spent) + 1}")

    results = {}

    def worker(name):
        store = PostgresTokenStore(dsn)  # its own connections: like another process
        barrier.wait()
        results[name] = store.refresh("acme", "xero", refresher).access_token

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spent == ["rt-1"]
    assert results["a"] == results["b"] == "at-2"


def test_refusal_marks_the_connection_invalid(dsn):
    store = PostgresTokenStore(dsn)
    store.save("acme", "xero", token(minutes=-1))

    def refuse(current):
        raise AuthError("Xero identity", 400, "invalid_grant")

    with pytest.raises(AuthError):
        store.refresh("acme", "xero", refuse)
    row = store.get("acme", "xero")
    assert row.status == "invalid" and "invalid_grant" in row.reason
    calls = []
    with pytest.raises(AuthError) as info:
        store.refresh("acme", "xero", lambda t: calls.append(t) or token())
    assert calls == [] and "invalid" in str(info.value)
    store.save("acme", "xero", token("fresh"))  # reconnect
    assert store.refresh("acme", "xero", refuse).access_token == "fresh"


def test_missing_row_and_create(dsn):
    store = PostgresTokenStore(dsn)
    with pytest.raises(TokenMissing):
        store.refresh("acme", "xero", lambda t: token())
    made = []
    barrier = threading.Barrier(3)

    def creator():
        barrier.wait()
        PostgresTokenStore(dsn).refresh(
            "acme", "qbo", lambda t: made.append(t) or time.sleep(0.2) or token("cc"), create=True
        )

    threads = [threading.Thread(target=creator) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [None]
    assert store.get("acme", "qbo").token.access_token == "cc"


def test_two_processes_refresh_a_real_xero_connection_once(dsn):
    """Two posters share one Xero consent; its refresh token is strictly single-use."""
    srv = start_sandbox(seed=11)
    try:
        comp = company(srv, grant="authorization_code")
        rt = runtime(srv, (comp,), web_app=True)
        connect_company(
            rt,
            comp,
            PostgresTokenStore(dsn),
            port=0,
            open_url=lambda url: __import__("requests").get(url, timeout=10),
            echo=lambda s: None,
        )
        srv.app.expire_tokens()
        # force both to believe their token expired
        auths = [Connections(rt, PostgresTokenStore(dsn)).auth(comp) for _ in range(2)]
        before = srv.app.identity.token_requests
        barrier = threading.Barrier(2)
        tokens = {}

        def worker(i):
            barrier.wait()
            tokens[i] = auths[i].renew_after_401(
                auths[i].store.current("acme", "xero").access_token
            )
            tokens[i] = auths[i].access_token()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert srv.app.identity.token_requests == before + 1
        assert tokens[0] == tokens[1]
        assert PostgresTokenStore(dsn).get("acme", "xero").status == "active"
    finally:
        srv.stop()


def test_plugin_state(dsn):
    a = PostgresPluginState(dsn, "xero")
    b = PostgresPluginState(dsn, "qbo")
    assert a.get("acme", "wm") is None and a.get("acme", "wm", "d") == "d"
    a.set("acme", "wm", "1")
    a.set("acme", "wm", "2")
    b.set("acme", "wm", "other")
    assert a.get("acme", "wm") == "2" and b.get("acme", "wm") == "other"
    assert a.get("beta", "wm") is None
    a.delete("acme", "wm")
    assert a.get("acme", "wm") is None and b.get("acme", "wm") == "other"
