"""Building an authenticated Xero client for a company (shared by the target, the
payments source and the CLI)."""

from __future__ import annotations

import threading

from wisesync.config import CompanyConfig
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync.store.tokens import TokenStore, token_store
from wisesync_xero import settings as xero_settings
from wisesync_xero.client import IdentityClient, XeroClient
from wisesync_xero.oauth import XeroAuth
from wisesync_xero.settings import XeroSettings


def identity_client(runtime: PluginRuntime, settings: XeroSettings) -> IdentityClient:
    """The token-endpoint client with the company's app credentials."""
    return IdentityClient(
        settings.token_url,
        client_id=runtime.secret(settings.client_id_env, key="xero.client_id_env"),
        client_secret=runtime.secret(settings.client_secret_env, key="xero.client_secret_env"),
        revocation_url=settings.revocation_url,
        connections_url=settings.connections_url,
    )


class Connections:
    """One :class:`XeroAuth` per company (its in-memory token), one token store."""

    def __init__(self, runtime: PluginRuntime, store: TokenStore | None = None):
        self.runtime = runtime
        self._store = store
        self._auth: dict[str, XeroAuth] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> TokenStore:
        """The token store: Postgres when the runtime has a database, else memory."""
        with self._lock:
            if self._store is None:
                self._store = token_store(self.runtime.db)
            return self._store

    def auth(self, company: CompanyConfig) -> XeroAuth:
        """The company's OAuth state (created on first use)."""
        settings = xero_settings.load(company)
        store = self.store
        with self._lock:
            auth = self._auth.get(company.key)
            if auth is None or auth.settings != settings:
                auth = XeroAuth(
                    settings, company.key, store, identity_client(self.runtime, settings)
                )
                self._auth[company.key] = auth
            return auth

    def forget(self, company: str) -> None:
        """Drop the company's in-memory token (after a reconnect, a replay)."""
        with self._lock:
            self._auth.pop(company, None)

    def client(self, company: CompanyConfig, *, limiter: CallLimiter | None) -> XeroClient:
        """An Accounting API client for ``company`` whose calls go through ``limiter``.

        Raises AuthError when the company has no usable connection.
        """
        auth = self.auth(company)
        return XeroClient(
            auth.settings.base_url,
            token=auth.access_token,
            renew=auth.renew_after_401,
            tenant_id=auth.tenant_id,
            company=company.key,
            limiter=limiter,
            clock=limiter.clock if limiter is not None else self.runtime.clock,
        )
