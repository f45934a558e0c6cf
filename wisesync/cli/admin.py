"""Housekeeping commands: plugins, schemas, db, config, options."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json

console = Console()


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List installed plugins: distribution, version and the hooks each implements.

    \b
    Examples:
      wisesync plugins
      wisesync plugins --json     # sources, targets and sandboxes too
    """
    from wisesync.plugins import registry

    reg = registry()
    infos = reg.plugins()
    if as_json:
        print_json(
            {
                "plugins": [vars(i) for i in infos],
                "sources": sorted(reg.sources),
                "targets": sorted(reg.targets),
                "sandboxes": sorted(reg.sandboxes),
            }
        )
        return
    table = Table(title="wisesync plugins")
    for col in ("plugin", "distribution", "version", "hooks"):
        table.add_column(col)
    for i in infos:
        table.add_row(i.name, i.distribution or "-", i.version or "-", ", ".join(i.hooks))
    console.print(table)
    console.print(
        f"sources: {', '.join(sorted(reg.sources)) or '-'}   "
        f"targets: {', '.join(sorted(reg.targets)) or '-'}"
    )


@click.group("schemas")
def schemas_group() -> None:
    """Inspect and check the Avro event schemas in schemas/.

    \b
    Example:
      wisesync schemas check
    """


@schemas_group.command("check")
@click.option(
    "--dir",
    "dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True),
    help="Schema directory (repeatable; default: the installed schemas/).",
)
def schemas_check(dirs: tuple[str, ...]) -> None:
    """Prove each schema version reads the one before and vice versa.

    Exits 1 naming the field when two versions are not backward and forward compatible,
    2 when a schema file cannot be read (misnamed, not JSON, not Avro).

    \b
    Examples:
      wisesync schemas check
      wisesync schemas check --dir schemas/ --dir my-schemas/
    """
    from fastavro.schema import SchemaParseException

    from wisesync.events.compat import check_registry
    from wisesync.events.registry import SchemaRegistry

    try:
        registry = SchemaRegistry(*(Path(d) for d in dirs))
    except (ValueError, SchemaParseException) as exc:  # a misnamed or unreadable file
        click.secho(f"cannot read the schemas: {exc}", fg="red", err=True)
        sys.exit(EXIT_CONFIG)
    if not registry.by_name:  # an install without schemas/ cannot encode a single event
        from wisesync.events.registry import default_schema_dir

        where = ", ".join(dirs) or str(default_schema_dir())
        click.secho(
            f"no schema files (*.avsc) found in {where}; set WISESYNC_SCHEMAS_DIR to the "
            "schemas/ directory",
            fg="red",
            err=True,
        )
        sys.exit(1)
    for name, versions in sorted(registry.by_name.items()):
        labels = ", ".join(f"v{v} ({versions[v].fingerprint:016x})" for v in sorted(versions))
        click.echo(f"{name}: {labels}")
    failures = check_registry(registry)
    for failure in failures:
        click.secho(f"INCOMPATIBLE {failure}", fg="red", err=True)
    if failures:
        sys.exit(1)
    click.echo("all schema versions are backward and forward compatible")


@click.group("db")
def db_group() -> None:
    """Database migrations (plain SQL files applied in order).

    \b
    Examples:
      wisesync db migrate
      wisesync db status --json
    """


@db_group.command("migrate")
@pass_app
def db_migrate(app: AppContext) -> None:
    """Apply pending migrations (starts the embedded Postgres when no DSN is set).

    \b
    Example:
      wisesync db migrate
    """
    from wisesync.store import migrate

    db = app.database(migrate=False)
    with db.connection() as conn:
        done = migrate.migrate(conn)
    for m in done:
        click.echo(f"applied {m.path.name}")
    click.echo(f"database is up to date ({len(done)} applied now)")


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def db_status(app: AppContext, as_json: bool) -> None:
    """Show which migrations are applied and which are pending (exit 1 if any pending).

    \b
    Examples:
      wisesync db status
      wisesync db status --json
    """
    from wisesync.store import migrate

    db = app.database(migrate=False)
    with db.connection() as conn:
        rows = migrate.status(conn)
    pending = [m for m in rows if m.applied_at is None]
    if as_json:
        print_json(
            [
                {
                    "version": m.version,
                    "name": m.name,
                    "applied_at": m.applied_at.isoformat() if m.applied_at else None,
                }
                for m in rows
            ]
        )
    else:
        for m in rows:
            state = m.applied_at.strftime("%Y-%m-%d %H:%M:%S") if m.applied_at else "PENDING"
            click.echo(f"{m.path.name:40} {state}")
    if pending:
        sys.exit(1)


@db_group.command("stop")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def db_stop(app: AppContext, as_json: bool) -> None:
    """Stop the embedded Postgres a command started in the data directory.

    \b
    Commands start it when no DSN is configured and leave it running for the next one;
    this stops it (fast shutdown: open transactions roll back). Exit 0 when it is not
    running afterwards (stopped now, or was not running), 1 when it would not stop,
    2 when a DSN is configured (wisesync did not start that server).

    \b
    Example:
      wisesync db stop            # -> stopped the embedded Postgres in .wisesync/postgres
      wisesync db stop --json     # {"stopped": true, "was_running": true, "path": ...}
    """
    from wisesync.store.lifecycle import stop_embedded

    outcome = stop_embedded(app.config)
    if as_json:
        print_json(outcome.as_dict())
    elif outcome.error:
        click.secho(outcome.error, fg="red", err=True)
    else:
        click.echo(outcome.summary())
    sys.exit(outcome.exit_code)


@click.group("config")
def config_group() -> None:
    """Check the configuration.

    \b
    Examples:
      wisesync config check
      wisesync config check --online
    """


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--online",
    is_flag=True,
    help="Also try each connection: Postgres, Kafka, and every company's source and ledger.",
)
@pass_app
def config_check(app: AppContext, as_json: bool, online: bool) -> None:
    """Check what a start would need; exit 2 listing every problem.

    \b
    The file and each plugin's settings, then: every environment variable a *_env
    setting names is set, WISESYNC_SECRET_KEY is a valid key (when a ledger keeps
    OAuth tokens), the variable store.dsn_env names is set (never a silent fallback
    to the embedded Postgres). Each problem names the file, the key and the fix;
    secrets are never printed. --online then tries every connection and says ok or
    why not (exit 1 when one fails).

    \b
    Examples:
      wisesync config check
      wisesync --config /etc/wisesync.toml config check --online --json
    """
    from wisesync.cli.config_check import run_config_check

    run_config_check(app, as_json=as_json, online=online)


@click.group("options")
def options_group() -> None:
    """Per-company options set at run time (recorded in an audit log).

    \b
    Examples:
      wisesync options show --company acme --audit
      wisesync options set --company acme sync_all=on
    """


@options_group.command("set")
@click.option("--company", help="Company key (default: the first company).")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@pass_app
def options_set(app: AppContext, company: str | None, assignments: tuple[str, ...]) -> None:
    """Set options, e.g. ``wisesync options set --company acme sync_all=on``.

    Every option of the console's Options page, validated the same way:
    sync_all (on/off), record_types (comma list), hold_billing_statuses (comma
    list), options.adjustment_cap (amount) and those the company's ledger
    plugin declares (`wisesync options show` lists them). All are checked
    before any is stored; each change is audited with who and when.

    \b
    Examples:
      wisesync options set --company acme sync_all=on
      wisesync options set --company acme record_types=invoice,expense
      wisesync options set --company acme options.adjustment_cap=25.00
    """
    from wisesync.console import settings
    from wisesync.plugins import registry
    from wisesync.store.options import OptionsStore

    target = app.config.company(company)
    store = OptionsStore(app.database())
    fields = {f.name: f for f in settings.company_fields(target, registry())}
    current = settings.values(store, target, list(fields.values()))
    wanted: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        field = fields.get(name.strip())
        if not sep or field is None:
            raise click.UsageError(
                f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
            )
        try:
            wanted[field.name] = field.normalise(value)
        except ValueError as exc:
            raise click.UsageError(f"{item!r}: {exc}") from None
    for name, value in wanted.items():
        if value == current[name]:
            click.echo(f"{target.key}: {name} = {value} (unchanged)")
            continue
        store.set(target.key, name, value, changed_by=_who())
        click.echo(f"{target.key}: {name} = {value}")


@options_group.command("show")
@click.option("--company", help="Company key (default: the first company).")
@click.option("--audit", is_flag=True, help="Also show who changed what, and when.")
@pass_app
def options_show(app: AppContext, company: str | None, audit: bool) -> None:
    """Show the options in force for a company (those of the console's Options page), and
    optionally their audit trail.

    \b
    Example:
      wisesync options show --company acme --audit
    """
    from wisesync.console import settings
    from wisesync.plugins import registry
    from wisesync.store.options import OptionsStore

    target = app.config.company(company)
    store = OptionsStore(app.database())
    fields = settings.company_fields(target, registry())
    for name, value in settings.values(store, target, fields).items():
        click.echo(f"{target.key}: {name} = {value}")
    if audit:
        for row in store.audit(target.key):
            click.echo(
                f"  {row['changed_at']:%Y-%m-%d %H:%M:%S} {row['changed_by']}: set "
                f"{row['name']} to {row['new_value']} (was {row['old_value'] or 'the default'})"
            )


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


COMMANDS = [plugins_cmd, schemas_group, db_group, config_group, options_group]
