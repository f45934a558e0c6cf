"""Building an authenticated Xero client for a company (shared by the target, the
payments source and the CLI)."""

from __future__ import annotations

from wisesync.config import CompanyConfig
from wisesync.oauth import Sessions, app_credentials
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
        **app_credentials(runtime, settings, "xero"),
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
        auth, common = self.client_kwargs(company, limiter)
        return XeroClient(auth.settings.base_url, tenant_id=auth.tenant_id, **common)
