"""``wisesync qbo connect``: link a company to its QuickBooks Online company.

Prints Intuit's consent URL (and opens a browser unless ``--no-browser``), receives the
redirect on ``http://127.0.0.1:<port>/callback`` with the code and the ``realmId`` (the
QuickBooks company the user picked), exchanges the code (PKCE) and stores the token set,
encrypted, with the realm id. Register that redirect URI with the Intuit app.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from typing import Any

import click

from wisesync.company import CompanyConfig
from wisesync.errors import AuthError, ConfigError
from wisesync.oauth import CallbackReceiver, ConsentError, consent_request, exchange_code
from wisesync.protocols import PluginRuntime
from wisesync.store.tokens import TokenStore
from wisesync_qbo import settings as qbo_settings
from wisesync_qbo.connection import PROVIDER, token_endpoint
from wisesync_qbo.settings import SCOPES


def connect_company(
    runtime: PluginRuntime,
    company: CompanyConfig,
    store: TokenStore,
    *,
    port: int | None = None,
    open_url: Callable[[str], Any] = webbrowser.open,
    echo: Callable[[str], None] = click.echo,
    timeout: float = 300.0,
) -> str:
    """Connect ``company`` and store its token; returns the realm id."""
    problems = qbo_settings.check(company)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems), key=f"companies.{company.key}")
    settings = qbo_settings.load(company)
    endpoint = token_endpoint(runtime, settings)
    with CallbackReceiver(settings.redirect_port if port is None else port, "QuickBooks") as rx:
        consent = consent_request(
            settings.authorize_url, endpoint.client_id, rx.redirect_uri, SCOPES
        )
        echo("Open this URL to let wisesync use your QuickBooks company:")
        echo(f"  {consent.url}")
        echo(f"Waiting for Intuit to redirect to {rx.redirect_uri} ...")
        try:
            code = rx.wait(consent, open_url, timeout)
        except ConsentError as exc:
            raise click.ClickException(str(exc)) from None
        realm = rx.params.get("realmId") or settings.realm_id
    if not realm:
        raise click.ClickException("Intuit's redirect named no QuickBooks company (realmId)")
    if settings.realm_id and realm != settings.realm_id:
        raise click.ClickException(
            f"the QuickBooks company chosen ({realm}) is not the configured realm_id "
            f"{settings.realm_id}; pick that company, or change realm_id"
        )
    token = exchange_code(endpoint, consent, code).with_data(realm_id=realm)
    store.save(company.key, PROVIDER, token)
    echo(f"Company {company.key} is connected to QuickBooks company {realm}.")
    return realm


@click.group("qbo")
def qbo_group() -> None:
    """QuickBooks Online connections (OAuth2).

    \b
    Example:
      wisesync qbo connect --company acme
    """


@qbo_group.command("connect")
@click.option("--company", "company_key", help="Company key (default: the first company).")
@click.option("--port", type=int, help="Callback port on 127.0.0.1 (default: redirect_port).")
@click.option("--no-browser", is_flag=True, help="Only print the consent URL.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@click.pass_context
def connect(
    ctx: click.Context, company_key: str | None, port: int | None, no_browser: bool, timeout: float
) -> None:
    """Connect a company to its QuickBooks Online company (consent, token storage).

    \b
    Examples:
      wisesync qbo connect --company acme
      wisesync qbo connect --company acme --no-browser --port 8765
    """
    from wisesync.store.tokens import PostgresTokenStore

    app = ctx.obj
    company = app.config.company(company_key)
    db = app.database()
    runtime = PluginRuntime(config=app.config, db=db)
    try:
        connect_company(
            runtime,
            company,
            PostgresTokenStore(db),
            port=port,
            open_url=(lambda url: None) if no_browser else webbrowser.open,
            timeout=timeout,
        )
    except AuthError as exc:
        raise click.ClickException(f"Intuit refused the connection: {exc}") from None


@click.command("qbo")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: any).")
@click.option("--seed", type=int, default=0, show_default=True, help="Deterministic seed.")
@click.option("--customers", type=int, default=0, help="Pre-existing customers C00001...")
@click.option("--country", default="AU", show_default=True, help="US: automated sales tax.")
def sandbox_qbo(port: int, seed: int, customers: int, country: str) -> None:
    """Run the QuickBooks Online API sandbox until Ctrl-C (credentials are printed).

    \b
    Example:
      wisesync sandbox qbo --port 8002 --customers 50 --country US
    """
    from wisesync_qbo.sandbox import describe, start_sandbox

    server = start_sandbox(
        port=port, seed=seed, customers=customers or None, country=country, multicurrency=True
    )
    for line in describe(server):
        click.echo(line)
    server.serve_until_stopped()


def add_commands(cli: click.Group) -> None:
    """Add ``wisesync qbo ...`` to the root group."""
    if "qbo" not in cli.commands:
        cli.add_command(qbo_group)
