"""``wisesync console`` (the web console) and ``wisesync users`` (who may sign in to it)."""

from __future__ import annotations

import sys

import click

from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json


def console_backend(app: AppContext, db, transport):
    """The console's :class:`~wisesync.console.jobs.Backend` on the CLI's config and store."""
    from wisesync.console.jobs import Backend
    from wisesync.plugins import registry

    return Backend(config=app.config, db=db, registry=registry(), transport=transport)


@click.command("console")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--secure-cookies/--no-secure-cookies",
    default=None,
    help="Mark the session cookie Secure (use behind TLS; default: "
    "$WISESYNC_CONSOLE_SECURE_COOKIES, which `run --role console` reads too).",
)
@click.option(
    "--pipeline/--no-pipeline",
    default=True,
    show_default=True,
    help="Run the poster, reporter and acknowledger in this process when no `wisesync run` "
    "consumes yet (so a Sync All started here gets its results).",
)
@pass_app
def console_cmd(app: AppContext, host: str, port: int, secure_cookies: bool, pipeline: bool):
    """Serve the web console: Sync All, the review, replay, options, audit.

    \b
    Needs at least one user:
      wisesync users add NAME --role super_admin

    \b
    Example:
      wisesync console --host 0.0.0.0 --port 8080 --secure-cookies
    """
    import signal
    import threading

    from wisesync.cli.sync import _group_has_live_members
    from wisesync.console.app import create_app
    from wisesync.console.server import ConsoleServer, NoUsers, require_users
    from wisesync.daemon import Service, connect_transport

    db = app.database()
    try:
        require_users(db)
    except NoUsers as exc:
        click.secho(str(exc), fg="red", err=True)
        sys.exit(EXIT_CONFIG)
    transport = connect_transport(app.config, db.dsn)
    transport.admin().create_topics(app.config.topics.all, partitions=app.config.kafka.partitions)
    service = None
    if pipeline and not _group_has_live_members(transport, app.config.group_for("poster")):
        service = Service(
            app.config, roles=("poster", "reporter", "acknowledger"), db=db, transport=transport
        )
        service.open().start()
        click.echo("no wisesync service is consuming: posting in this process", err=True)
    web = create_app(console_backend(app, db, transport), secure_cookies=secure_cookies)
    server = ConsoleServer(web, host=host, port=port).start()
    click.echo(f"wisesync console on {server.url}", err=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if service is not None:
            service.stop()
        transport.close()


@click.group("users")
def users_group() -> None:
    """People who may sign in to the console, and their roles.

    \b
    Roles: super_admin (everything, every company), account_admin (options and
    the Sync All switch for the companies of their account), user (sync,
    review, replay for their companies).

    \b
    Examples:
      wisesync users add ann --role super_admin
      wisesync users list
    """


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _companies(app: AppContext, keys: tuple[str, ...]) -> tuple[str, ...]:
    for key in keys:
        app.config.company(key)  # ConfigError naming the known companies
    return keys


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, help="super_admin, account_admin or user.")
@click.option("--company", "companies", multiple=True, help="A company of their account.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_app
def users_add(app, username, role, companies, password_stdin):
    """Add a user (asks for the password; stored as an argon2 hash).

    \b
    Examples:
      wisesync users add ann --role account_admin --company acme
      echo "$PW" | wisesync users add bot --role user --company acme --password-stdin
    """
    from wisesync.console.users import UserError, UserStore

    try:
        user = UserStore(app.database()).add(
            username, _password(password_stdin), role, _companies(app, companies)
        )
    except UserError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"added {user.username} ({user.role.label}; {user.company_scope()})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def users_list(app, as_json):
    """List the users, their roles and companies.

    \b
    Example:
      wisesync users list --json
    """
    from wisesync.console.users import UserStore

    users = UserStore(app.database()).list()
    if as_json:
        print_json(
            [
                {
                    "username": u.username,
                    "role": u.role.value,
                    "companies": list(u.companies),
                    "disabled": u.disabled,
                }
                for u in users
            ]
        )
        return
    if not users:
        click.echo("no users: add one with `wisesync users add NAME --role super_admin`")
    for u in users:
        state = " (disabled)" if u.disabled else ""
        click.echo(f"{u.username:24} {u.role.label:14} {u.company_scope()}{state}")


@users_group.command("set-role")
@click.argument("username")
@click.argument("role")
@click.option("--company", "companies", multiple=True, help="Replace their companies.")
@pass_app
def users_set_role(app, username, role, companies):
    """Change a user's role (and, with --company, their companies).

    \b
    Example:
      wisesync users set-role ann user --company acme --company globex
    """
    from wisesync.console.users import UserError, UserStore

    try:
        user = UserStore(app.database()).set_role(
            username, role, _companies(app, companies) if companies else None
        )
    except UserError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{user.username} is now {user.role.label} ({user.company_scope()})")


@users_group.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@pass_app
def users_disable(app, username, enable):
    """Disable a user: they cannot sign in, and their open sessions end at once.

    \b
    Examples:
      wisesync users disable ann
      wisesync users disable ann --enable
    """
    from wisesync.console.users import UserError, UserStore

    try:
        user = UserStore(app.database()).set_disabled(username, not enable)
    except UserError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{user.username} {'enabled' if enable else 'disabled'}")


COMMANDS = [console_cmd, users_group]
