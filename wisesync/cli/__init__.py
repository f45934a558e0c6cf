"""The ``wisesync`` command line.

Exit codes scripts can rely on: 0 success (every record posted), 1 the work ran
but something did not post or a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from wisesync import __version__
from wisesync.cli.context import EXIT_CONFIG, AppContext
from wisesync.errors import ConfigError

HELP = """Post ConnectWise PSA records into an accounting ledger, exactly once.

\b
Start here:
  wisesync demo                 everything on this machine, seeded sandboxes, one minute
  wisesync config check         validate wisesync.toml (exit 2 names each bad key)
  wisesync sync-all             Sync All for the first (or --company) company
  wisesync results --run ID     review what posted, and why the rest did not
  wisesync replay --failed      reprocess what failed, fresh from ConnectWise
  wisesync run                  the long-running service (all roles, or --role)
  wisesync console              the web console (add people with `wisesync users add`)

Configuration is read from --config, $WISESYNC_CONFIG or ./wisesync.toml.
"""


class OneLineLibraryErrors(logging.Filter):
    """Print an exception a library logs as one line, not a traceback.

    kafka-python logs with a traceback errors it then recovers from by itself (a socket
    closed under its IO thread while a client shuts down, a broker connection reset): the
    line says what happened; the stack only buries a command's own output. ``-vv`` shows it.
    """

    LIBRARIES = ("kafka",)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.split(".", 1)[0] in self.LIBRARIES:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


class WisesyncGroup(click.Group):
    """The root group: a configuration error in any command is one red line and exit 2
    (also when the command runs in-process, e.g. under click's CliRunner)."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """An unknown command names the closest one ("Did you mean 'results'?")."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            import difflib

            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            if close and "Did you mean" not in exc.message:
                exc.message += f" Did you mean {close[0]!r}?"
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.secho(f"configuration error: {exc}", fg="red", err=True)
            ctx.exit(EXIT_CONFIG)


@click.group(
    cls=WisesyncGroup,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file (default: $WISESYNC_CONFIG or ./wisesync.toml).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(__version__, prog_name="wisesync")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, verbose: int) -> None:
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if verbose < 2:  # -vv shows every traceback
        for handler in logging.getLogger().handlers:
            handler.addFilter(OneLineLibraryErrors())
    ctx.obj = AppContext(config_file=config_file)


def _add_core_commands() -> None:
    from wisesync.cli import admin

    for command in admin.COMMANDS:
        cli.add_command(command)
    for module in (
        "wisesync.cli.sync",
        "wisesync.cli.results",
        "wisesync.cli.run",
        "wisesync.cli.replay",
        "wisesync.cli.demo",
        "wisesync.cli.requests",
        "wisesync.cli.notify",
        "wisesync.cli.console",
    ):
        try:
            mod = __import__(module, fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for command in mod.COMMANDS:
            cli.add_command(command)


def _add_plugin_commands() -> None:
    from wisesync.cli.sandbox import sandbox_group
    from wisesync.plugins import registry

    reg = registry()
    cli.add_command(sandbox_group(reg))
    reg.manager.hook.register_commands(cli=cli)


def _trace_to_stderr() -> None:
    """With ``WISESYNC_TRACE_PLUGINS=1`` the hook calls go to stderr from the start: the
    registry is built (and traced) before the command's own logging is set up."""
    from wisesync.plugins import TRACE_ENV

    if os.environ.get(TRACE_ENV, "") in ("", "0"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    trace = logging.getLogger("wisesync.plugins")
    trace.addHandler(handler)
    trace.setLevel(logging.INFO)
    trace.propagate = False


def main() -> None:
    """Console-script entry point."""
    _trace_to_stderr()
    _add_core_commands()
    _add_plugin_commands()
    try:
        cli.main()  # standalone: ctx.exit(n) in any command becomes exit status n
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.secho(f"configuration error: {exc}", fg="red", err=True)
        sys.exit(EXIT_CONFIG)
    except SystemExit:
        raise
