"""``wisesync xero connect`` and ``wisesync sandbox xero``.

``connect`` links a company to its Xero organisation and stores the tokens
(encrypted) in Postgres:

* custom connection (``grant = "client_credentials"``): requests a token to prove
  the credentials work and names the organisation;
* standard app (``grant = "authorization_code"``): prints the consent URL (and opens
  a browser unless ``--no-browser``), receives the redirect on
  ``http://127.0.0.1:<port>/callback``, exchanges the code, lists the authorised
  organisations (``GET /connections``) and keeps the one named by ``--tenant`` or
  ``tenant_id`` (or the only one).
"""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable
from typing import Any

import click

from wisesync.config import CompanyConfig
from wisesync.errors import AuthError, ConfigError
from wisesync.oauth import CallbackReceiver, ConsentError, consent_request, exchange_code
from wisesync.protocols import PluginRuntime
from wisesync.store.tokens import TokenStore
from wisesync_xero import settings as xero_settings
from wisesync_xero.client import IdentityClient
from wisesync_xero.connection import identity_client
from wisesync_xero.oauth import PROVIDER, choose_tenant, client_credentials_scopes


def connect_company(
    runtime: PluginRuntime,
    company: CompanyConfig,
    store: TokenStore,
    *,
    tenant: str | None = None,
    port: int | None = None,
    open_url: Callable[[str], Any] = webbrowser.open,
    echo: Callable[[str], None] = click.echo,
    timeout: float = 300.0,
    identity: IdentityClient | None = None,
) -> dict[str, Any]:
    """Connect ``company`` and store its token; returns the chosen connection."""
    problems = xero_settings.check(company)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems), key=f"companies.{company.key}")
    settings = xero_settings.load(company)
    identity = identity or identity_client(runtime, settings)
    if settings.grant == "client_credentials":
        token = identity.client_credentials(client_credentials_scopes(settings.scopes))
    else:
        with CallbackReceiver(settings.redirect_port if port is None else port, "Xero") as rx:
            consent = consent_request(
                settings.authorize_url, identity.client_id, rx.redirect_uri, settings.scopes
            )
            echo("Open this URL to let wisesync use your Xero organisation:")
            echo(f"  {consent.url}")
            echo(f"Waiting for Xero to redirect to {rx.redirect_uri} ...")
            try:
                code = rx.wait(consent, open_url, timeout)
            except ConsentError as exc:
                raise click.ClickException(str(exc)) from None
        token = exchange_code(identity, consent, code)
    connections = identity.connections(token.access_token)
    wanted = tenant or settings.tenant_id
    chosen = choose_tenant(connections, wanted)
    if chosen is None:
        names = ", ".join(f"{c.get('tenantName')} ({c.get('tenantId')})" for c in connections)
        raise click.ClickException(
            f"organisation {wanted!r} is not among those authorised: {names or 'none'}"
            if wanted
            else f"several organisations were authorised ({names}); pick one with --tenant"
        )
    token = token.with_data(
        tenant_id=str(chosen.get("tenantId")),
        tenant_name=str(chosen.get("tenantName") or ""),
        connection_id=str(chosen.get("id") or ""),
    )
    store.save(company.key, PROVIDER, token)
    echo(
        f"Company {company.key} is connected to Xero organisation "
        f"{chosen.get('tenantName')!r} (tenant {chosen.get('tenantId')})."
    )
    return chosen


# --- click commands ----------------------------------------------------------------------


@click.group("xero")
def xero_group() -> None:
    """Xero connections (OAuth2).

    \b
    Example:
      wisesync xero connect --company acme
    """


@xero_group.command("connect")
@click.option("--company", "company_key", help="Company key (default: the first company).")
@click.option("--tenant", help="Tenant id or organisation name, when several were authorised.")
@click.option("--port", type=int, help="Callback port on 127.0.0.1 (default: redirect_port).")
@click.option("--no-browser", is_flag=True, help="Only print the consent URL.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@click.pass_context
def connect(
    ctx: click.Context,
    company_key: str | None,
    tenant: str | None,
    port: int | None,
    no_browser: bool,
    timeout: float,
) -> None:
    """Connect a company to its Xero organisation (consent, tenant choice, token storage).

    \b
    Examples:
      wisesync xero connect --company acme
      wisesync xero connect --company acme --tenant 'Acme NZ' --no-browser
    """
    from wisesync.store.tokens import PostgresTokenStore

    app = ctx.obj
    config = app.config
    company = config.company(company_key)
    db = app.database()
    runtime = PluginRuntime(config=config, db=db)
    try:
        connect_company(
            runtime,
            company,
            PostgresTokenStore(db),
            tenant=tenant,
            port=port,
            open_url=(lambda url: None) if no_browser else webbrowser.open,
            timeout=timeout,
        )
    except AuthError as exc:
        raise click.ClickException(f"Xero refused the connection: {exc}") from None


def sandbox_options(
    *,
    contacts: int = 0,
    tenants: int = 1,
    refresh_grace: float = 1800.0,
    per_minute: int = 60,
    per_day: int = 5000,
    concurrent: int = 5,
    app_per_minute: int = 10000,
    currencies: tuple[str, ...] = (),
    allow_negative_quantity: bool = False,
    case_sensitive_numbers: bool = False,
) -> dict[str, Any]:
    """The :class:`~wisesync_xero.sandbox.XeroSandbox` options for the command's flags."""
    from wisesync_xero.sandbox import Limits
    from wisesync_xero.sandbox.seed import SEED_CURRENCIES
    from wisesync_xero.sandbox.switches import RuleSwitches

    return {
        "contacts": contacts or None,
        "tenants": tenants,
        "refresh_grace": refresh_grace,
        "limits": Limits(per_minute, per_day, concurrent, app_per_minute),
        "currencies": tuple(dict.fromkeys((*SEED_CURRENCIES, *(c.upper() for c in currencies)))),
        "switches": RuleSwitches(
            negative_quantity=not allow_negative_quantity,
            numbers_case_insensitive=not case_sensitive_numbers,
        ),
    }


@click.command("xero")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: any).")
@click.option("--seed", type=int, default=0, show_default=True, help="Deterministic seed.")
@click.option("--contacts", type=int, default=0, help="Pre-existing contacts C00001...")
@click.option("--tenants", type=int, default=1, show_default=True, help="Organisations.")
@click.option(
    "--refresh-grace",
    type=float,
    default=1800.0,
    show_default=True,
    help="Seconds a rotated refresh token may still be used (Xero: 1800; 0: single use).",
)
@click.option("--per-minute", type=int, default=60, show_default=True, help="Calls a minute.")
@click.option("--per-day", type=int, default=5000, show_default=True, help="Calls a day.")
@click.option("--concurrent", type=int, default=5, show_default=True, help="Calls in flight.")
@click.option(
    "--app-per-minute", type=int, default=10000, show_default=True, help="App calls a minute."
)
@click.option(
    "--currency",
    "currencies",
    multiple=True,
    help="Add a currency to every organisation (repeatable; AUD, USD and NZD are there).",
)
@click.option(
    "--allow-negative-quantity",
    is_flag=True,
    help="Accept negative line quantities (the refusal is an unconfirmed rule).",
)
@click.option(
    "--case-sensitive-numbers",
    is_flag=True,
    help="Compare invoice numbers with case for uniqueness (case-insensitive is unconfirmed).",
)
def sandbox_xero(port: int, seed: int, **flags: Any) -> None:
    """Run the Xero API sandbox until Ctrl-C (credentials are printed).

    \b
    Example:
      wisesync sandbox xero --port 8003 --contacts 100 --tenants 2
    """
    from wisesync_xero.sandbox import start_sandbox

    server = start_sandbox(port=port, seed=seed, **sandbox_options(**flags))
    app = server.app
    click.echo(f"Xero sandbox at {server.url}")
    click.echo(f"  API base        {server.url}/api.xro/2.0")
    click.echo(f"  token URL       {server.url}/connect/token")
    click.echo(f"  authorize URL   {server.url}/identity/connect/authorize")
    click.echo(f"  web app         client_id={app.client_id} client_secret={app.client_secret}")
    for tenant_id, org in app.orgs.items():
        creds = app.credentials(tenant_id)
        click.echo(f"  organisation    {org.name!r} tenant_id={tenant_id}")
        click.echo(
            f"    custom connection client_id={creds.client_id} client_secret={creds.client_secret}"
        )
    click.echo(f'  settings        base_url = "{server.url}", identity_url = "{server.url}"')
    click.echo("Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def add_commands(cli: click.Group) -> None:
    """Add ``wisesync xero ...`` to the root group (the core adds ``wisesync sandbox xero``
    from the sandbox registration)."""
    if "xero" not in cli.commands:
        cli.add_command(xero_group)
