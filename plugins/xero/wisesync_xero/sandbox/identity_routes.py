"""Organisations (tenants) of the Xero sandbox, their credentials and connections, and the
identity endpoints ``/connect/token``, ``/connect/revocation``,
``/identity/connect/authorize`` and ``/connections`` (a mixin of
:class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from wisesync.testing.sandbox import Request, Response

from . import seed
from .oauth import TokenFailure
from .state import Org


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client needs to call the sandbox as one organisation."""

    client_id: str
    client_secret: str
    tenant_id: str


if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class IdentityRoutes(_Base):
    """Tenants, credentials, connections and identity for :class:`XeroSandbox`."""

    def add_tenant(self: XeroSandbox, name: str, *, contacts: Any = None) -> str:
        """Add a seeded organisation; returns its tenant id."""
        tenant_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        org = Org(
            tenant_id=tenant_id,
            name=name,
            rng=random.Random(f"{self.seed}:{tenant_id}"),
            wall=self.wall,
            short_code=f"!sbx{len(self.orgs) + 1:02d}",
        )
        org.numbers_case_insensitive = self.switches.numbers_case_insensitive
        seed.seed_default(org, contacts, self.currencies)
        with self.lock:
            self.orgs[tenant_id] = org
        self.identity.tenant_names[tenant_id] = name
        client = self.identity.register_client(tenant_id=tenant_id)
        self._custom[tenant_id] = Credentials(client.client_id, client.client_secret, tenant_id)
        return tenant_id

    @property
    def tenant_id(self: XeroSandbox) -> str:
        """The first organisation's tenant id."""
        return next(iter(self.orgs))

    def org(self: XeroSandbox, tenant: str | None = None) -> Org:
        """An organisation's state (the first by default)."""
        return self.orgs[tenant or self.tenant_id]

    def credentials(self: XeroSandbox, tenant: str | None = None) -> Credentials:
        """Custom-connection credentials (``client_credentials`` grant) for one organisation."""
        return self._custom[tenant or self.tenant_id]

    def connection_settings(
        self: XeroSandbox, company: str, url: str, tenant: str | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A custom connection to one organisation: the ``[companies.xero]`` table and
        the environment variables holding its client id and secret."""
        creds = self.credentials(tenant)
        prefix = f"WISESYNC_SANDBOX_{company.upper().replace('-', '_')}_XERO"
        section = {
            "grant": "client_credentials",
            "client_id_env": f"{prefix}_CLIENT_ID",
            "client_secret_env": f"{prefix}_CLIENT_SECRET",
            "tenant_id": creds.tenant_id,
            "base_url": url,
            "identity_url": url,
        }
        environ = {
            f"{prefix}_CLIENT_ID": creds.client_id,
            f"{prefix}_CLIENT_SECRET": creds.client_secret,
        }
        return section, environ

    @property
    def client_id(self: XeroSandbox) -> str:
        """The web app's client id (authorization-code flow; consent covers every tenant)."""
        return self.app_client.client_id

    @property
    def client_secret(self: XeroSandbox) -> str:
        """The web app's client secret."""
        return self.app_client.client_secret

    def revoke(self: XeroSandbox, tenant: str | None = None) -> None:
        """Disconnect an organisation: API calls 401, refresh ``invalid_grant``."""
        self.identity.revoke_tenant(tenant or self.tenant_id)

    def reconnect(self: XeroSandbox, tenant: str | None = None) -> None:
        """Re-authorise a revoked custom connection."""
        self.identity.reconnect_tenant(tenant or self.tenant_id)

    def expire_tokens(self: XeroSandbox) -> int:
        """Expire every issued access token now (refresh tokens stay valid)."""
        return self.identity.expire_access_tokens()

    def _token(self: XeroSandbox, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        try:
            return Response(
                200, self.identity.token(form, request.headers), {"Cache-Control": "no-store"}
            )
        except TokenFailure as failure:
            return Response(failure.status, failure.body)

    def _revocation(self: XeroSandbox, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        try:
            self.identity._client(form, request.headers)
        except TokenFailure as failure:
            return Response(failure.status, failure.body)
        self.identity.revoke_token(form.get("token", ""))
        return Response(200, b"")

    def _authorize(self: XeroSandbox, request: Request) -> Response:
        params = {k: v[0] for k, v in request.query.items()}
        status, headers, page = self.identity.authorize(
            params, consent=params.get("consent") == "allow"
        )
        return Response(status, page, headers)

    def _connections(self: XeroSandbox, request: Request) -> Response:
        return Response(200, self.identity.connections(self._ctx.token))

    def _disconnect(self: XeroSandbox, request: Request) -> Response:
        if self.identity.disconnect(self._ctx.token, request.params["id"]):
            return Response(204)
        return self.error_response(404, "connection not found")
