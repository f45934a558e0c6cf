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
    help="Always / never mark the session cookie Secure (default: Secure on requests that "
    "came over TLS, also through a proxy sending X-Forwarded-Proto from an address uvicorn "
    "trusts; $WISESYNC_CONSOLE_SECURE_COOKIES=1/0 forces it, for `run --role console` too).",
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
    # before anything starts: a SIGTERM that comes as the first page is served (a
    # supervisor, a test) stops the console cleanly instead of killing it
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
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


def _people(app: AppContext):
    """The audited user changes (:class:`~wisesync.console.people.People`), as ``cli:<os
    user>``, and that actor."""
    import getpass

    from wisesync.console.audit import ConsoleAudit
    from wisesync.console.people import People
    from wisesync.console.users import UserStore

    db = app.database()
    known = tuple(c.key for c in app.config.companies)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return People(UserStore(db), ConsoleAudit(db), known), f"cli:{who}"


def _user_change(change):
    """Run ``change()``; a UserError becomes a usage error (exit 2) naming what is wrong."""
    from wisesync.console.users import UserError

    try:
        return change()
    except UserError as exc:
        raise click.UsageError(str(exc)) from None


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
    from wisesync.console.people import describe

    people, actor = _people(app)
    user = _user_change(
        lambda: people.add(actor, username, _password(password_stdin), role, companies)
    )
    click.echo(f"added {user.username} ({describe(user)})")


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
    from wisesync.console.people import describe

    people, actor = _people(app)
    user = _user_change(lambda: people.set_role(actor, username, role, companies or None))
    click.echo(f"{user.username} is now {describe(user)}")


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
    people, actor = _people(app)
    user = _user_change(lambda: people.set_disabled(actor, username, not enable))
    click.echo(f"{user.username} {'disabled' if user.disabled else 'enabled'}")


COMMANDS = [console_cmd, users_group]
