"""Building an authenticated Xero client for a company (shared by the target, the
payments source and the CLI)."""

from __future__ import annotations

from wisesync.config import CompanyConfig
from wisesync.oauth import Sessions
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync.store.tokens import TokenStore
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


class Connections(Sessions[XeroAuth, XeroSettings]):
    """One :class:`XeroAuth` per company (its in-memory token), one token store."""

    def __init__(self, runtime: PluginRuntime, store: TokenStore | None = None):
        super().__init__(
            runtime,
            xero_settings.load,
            lambda company, settings, tokens: XeroAuth(
                settings, company.key, tokens, identity_client(runtime, settings)
            ),
            store,
        )

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
