"""``wisesync run``: the long-running service."""

from __future__ import annotations

import signal
import sys

import click

from wisesync.cli import choices
from wisesync.cli.context import AppContext, pass_app


@click.command("run")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    callback=choices.roles,
    help="Run only these roles (repeatable or comma list): extractor, poster, "
    "reporter, acknowledger, notifier, console (the web console). Default: all but the "
    "console, in one process.",
)
@click.option("--console-host", default="127.0.0.1", show_default=True, help="With --role console.")
@click.option(
    "--console-port", default=8080, show_default=True, type=int, help="With --role console."
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Port for /metrics, /healthz and /readyz (default: metrics_port from the "
    "config; 0 disables).",
)
@click.option(
    "--instance-id",
    default=None,
    metavar="ID",
    help="This process's name in its Kafka consumer groups (static membership; default: "
    "transport.kafka.instance_id, i.e. the host name). Give each process that runs the same "
    "role on one host its own, e.g. --instance-id poster-2.",
)
@pass_app
def run_cmd(
    app: AppContext,
    roles: tuple[str, ...],
    console_host: str,
    console_port: int,
    metrics_port: int | None,
    instance_id: str | None,
) -> None:
    """Run the service until SIGTERM or Ctrl-C.

    \b
    One process (the default) runs every role. To scale across companies, run
    more poster processes with `--role poster`: they share the consumer group,
    and each partition (a set of companies) is posted by one process at a time.
    On SIGTERM every role finishes the batch in hand, commits and exits 0.

    \b
    On Kafka each process joins its groups as a static member named after the
    host (transport.kafka.instance_id): started again after a crash, it takes
    its partitions back at once. A second poster on the same host:
      wisesync run --role poster --instance-id poster-2

    \b
    Examples:
      wisesync run
      wisesync run --role poster --role acknowledger --metrics-port 9464
      wisesync run --role console --console-host 0.0.0.0
    """
    from wisesync.config import valid_instance_id
    from wisesync.daemon import Service, parse_roles

    if instance_id is not None and not valid_instance_id(instance_id):
        raise click.BadParameter(
            f"{instance_id!r}: use 1-200 letters, digits, '.', '_' or '-'",
            param_hint="'--instance-id'",
        )
    config = app.config
    wanted = parse_roles(roles)
    with_console = "console" in wanted
    service = Service(
        config,
        roles=tuple(r for r in wanted if r != "console"),
        static_membership=True,
        instance_id=instance_id,
    )
    port = config.metrics_port if metrics_port is None else metrics_port
    server = None
    if port:
        from wisesync.observability import Metrics, service_checks, start_http_server

        service.metrics = Metrics()
        server = start_http_server(port, service.metrics, checks=service_checks(service))
    stop = service.stop_event
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.open()
    if service.metrics is not None:
        service.metrics.watch_lag(
            service.transport.admin, config.group_for("poster"), [config.topics.records]
        )
    service.start()
    web = _start_console(service, console_host, console_port) if with_console else None
    click.echo(
        f"wisesync running: roles {', '.join(service.roles)}; transport "
        f"{config.transport}; {len(config.companies)} company(ies)"
        + (f"; metrics on :{port}" if port else "")
        + (f"; console on {web.url}" if web else ""),
        err=True,
    )
    while not stop.wait(0.5):
        pass
    click.echo("stopping: finishing the batch in hand", err=True)
    if web is not None:
        web.stop()
    service.close()
    if server is not None:
        server.shutdown()
    if service.errors:
        click.secho(f"a role failed: {service.errors[0]}", fg="red", err=True)
        sys.exit(1)


def _start_console(service, host: str, port: int):
    """The web console on the service's store and transport; exit 2 when nobody can sign in."""
    from wisesync.console.app import create_app
    from wisesync.console.jobs import Backend
    from wisesync.console.server import ConsoleServer, NoUsers, require_users

    try:
        require_users(service.db)
    except NoUsers as exc:
        service.close()
        click.secho(str(exc), fg="red", err=True)
        sys.exit(2)
    backend = Backend(
        config=service.config,
        db=service.db,
        registry=service.registry,
        transport=service.transport,
    )
    return ConsoleServer(create_app(backend), host=host, port=port).start()


COMMANDS = [run_cmd]
