"""OAuth2 for QuickBooks Online and the authenticated client of a company, on the core kit
(:mod:`wisesync.oauth`), shared by the target, the payments source and the CLI.

Intuit issues one-hour access tokens and 100-day refresh tokens that rotate: every
refresh may return a new refresh token, which the token store saves in the same
transaction under the company's row lock, so two processes never spend one refresh
token (qbo.md section 7). The realm id comes from the consent redirect and is kept
in the stored token's data (``realm_id``) unless the settings name one.

A refused renewal (``invalid_grant``: revoked, expired after 100 days unused, or a
refresh token already spent) raises :class:`~wisesync.errors.AuthError` naming
``wisesync qbo connect --company KEY``; the poster fails the company's records with
AUTH_TOKEN_INVALID.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wisesync.company import CompanyConfig
from wisesync.errors import AuthError
from wisesync.oauth import REFRESH_MARGIN, OAuthSession, Sessions, TokenEndpoint, app_credentials
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter
from wisesync.store.tokens import OAuthToken, TokenStore
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.client import QboClient, reconnect_command
from wisesync_qbo.settings import SCOPES, QboSettings

PROVIDER = "qbo"


def token_endpoint(runtime: PluginRuntime, settings: QboSettings) -> TokenEndpoint:
    """Intuit's token endpoint with the company's app credentials."""
    return TokenEndpoint(
        settings.token_url,
        **app_credentials(runtime, settings, "qbo"),
        revocation_url=settings.revocation_url,
        system="Intuit identity",
    )


class QboAuth(OAuthSession):
    """Access tokens for one company's QuickBooks connection.

    ``bootstrap``: a refresh token obtained elsewhere (``refresh_token_env``, e.g. from
    Intuit's OAuth Playground): when the store has no connection for the company yet, it
    is spent once to create the stored token set, which rotates from then on.
    """

    def __init__(
        self,
        settings: QboSettings,
        company: str,
        store: TokenStore,
        endpoint: TokenEndpoint,
        *,
        margin: float = REFRESH_MARGIN,
        bootstrap: str | None = None,
    ):
        super().__init__(
            endpoint,
            store,
            company=company,
            provider=PROVIDER,
            grant="authorization_code",
            scopes=SCOPES,
            reconnect=reconnect_command(company),
            system="QuickBooks Online",
            margin=margin,
        )
        self.settings = settings
        self._bootstrap = bootstrap

    @property
    def custom(self) -> bool:
        """With a bootstrap refresh token the store may create the first token set."""
        return self._bootstrap is not None

    def _refresher(self, current: OAuthToken | None) -> OAuthToken:
        self.renewals += 1
        if current is None and self._bootstrap:
            seed = OAuthToken("", datetime.now(UTC), refresh_token=self._bootstrap)
            return self.endpoint.refresh(seed.with_data(realm_id=self.settings.realm_id))
        if current is None or not current.refresh_token:
            raise AuthError(
                self.system,
                401,
                f"company {self.company} has no QuickBooks connection; reconnect it: "
                f"{self.reconnect}",
            )
        return self.endpoint.refresh(current)

    @property
    def realm_id(self) -> str:
        """The company id: the configured one, else the one the consent redirect gave."""
        realm = self.settings.realm_id or self.token().data.get("realm_id")
        if not realm:
            raise AuthError(
                self.system,
                401,
                f"company {self.company} has no QuickBooks company (realmId); reconnect it: "
                f"{self.reconnect}",
            )
        return str(realm)


class Connections(Sessions[QboAuth, QboSettings]):
    """One :class:`QboAuth` per company (its in-memory token), one token store."""

    def __init__(self, runtime: PluginRuntime, store: TokenStore | None = None):
        super().__init__(runtime, qbo_settings.load, self._session, store)

    def _session(self, company: CompanyConfig, settings: QboSettings, store: TokenStore) -> QboAuth:
        bootstrap = (
            self.runtime.secret(settings.refresh_token_env, key="qbo.refresh_token_env")
            if settings.refresh_token_env
            else None
        )
        return QboAuth(
            settings,
            company.key,
            store,
            token_endpoint(self.runtime, settings),
            bootstrap=bootstrap,
        )

    def client(
        self,
        company: CompanyConfig,
        *,
        limiter: CallLimiter | None,
        batch_limiter: CallLimiter | None = None,
    ) -> QboClient:
        """An Accounting API client for ``company`` whose calls go through ``limiter``
        (and its ``/batch`` calls through ``batch_limiter`` too).

        Raises AuthError when the company has no usable connection.
        """
        auth, common = self.client_kwargs(company, limiter)
        return QboClient(
            auth.settings.base_url,
            realm_id=auth.realm_id,
            throttle_wait=auth.settings.throttle_wait,
            batch_limiter=batch_limiter,
            **common,
        )
