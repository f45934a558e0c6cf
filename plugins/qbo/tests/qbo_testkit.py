"""Shared builders for the QBO plugin tests: companies, runtimes and a connected target
wired to a running sandbox."""

from __future__ import annotations

from typing import Any

from wisesync.config import AppConfig, CompanyConfig, CompanyOptions
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync.store.tokens import MemoryTokenStore, OAuthToken, TokenStore
from wisesync.testing.records import ledger_company, seed_vocabulary
from wisesync_qbo.connection import PROVIDER, Connections
from wisesync_qbo.limits import LIMITS
from wisesync_qbo.target import QboTarget

#: The QBO sandbox seed as the shared record builders see it.
VOCABULARY = seed_vocabulary("qbo")


def company(
    server: Any, *, key: str = "acme", options: CompanyOptions | None = None, **qbo: Any
) -> CompanyConfig:
    """A company posting to ``server`` (a running QBO sandbox)."""
    section, _ = server.connection_settings(key)
    section.pop("refresh_token_env")  # the tests store their connection themselves
    section = {
        **section,
        "client_id_env": "QBO_CLIENT_ID",
        "client_secret_env": "QBO_CLIENT_SECRET",
        **qbo,
    }
    return ledger_company("qbo", section, key=key, options=options)


def runtime(server: Any, companies: tuple[CompanyConfig, ...], *, db: Any = None) -> PluginRuntime:
    """A runtime whose environment holds the sandbox app's credentials."""
    app = server.app.app
    return PluginRuntime(
        config=AppConfig(companies=companies),
        db=db,
        environ={"QBO_CLIENT_ID": app.client_id, "QBO_CLIENT_SECRET": app.client_secret},
    )


def connect(server: Any, store: TokenStore, key: str = "acme") -> OAuthToken:
    """Store a token for ``key`` as ``wisesync qbo connect`` would (consent skipped)."""
    body = server.app.issue_tokens()
    token = OAuthToken.from_response(body).with_data(realm_id=server.app.realm_id)
    store.save(key, PROVIDER, token)
    return token


def target(
    server: Any, companies: tuple[CompanyConfig, ...], store: TokenStore | None = None
) -> QboTarget:
    """A QboTarget whose token store holds a connection for every company."""
    store = store or MemoryTokenStore()
    for c in companies:
        if store.get(c.key, PROVIDER) is None:
            connect(server, store, c.key)
    built = QboTarget(runtime(server, companies))
    built.connections = Connections(built.runtime, store)
    return built


def limiter() -> CallLimiter:
    """A limiter with QBO's declared limits."""
    return CallLimiter(LIMITS)
