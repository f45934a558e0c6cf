"""``wisesync run``: the long-running service."""

from __future__ import annotations

import signal
import sys

import click

from wisesync.cli.context import AppContext, pass_app


@click.command("run")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="Run only these roles (repeatable or comma list): extractor, poster, "
    "reporter, acknowledger. Default: all in one process.",
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
    app: AppContext, roles: tuple[str, ...], metrics_port: int | None, instance_id: str | None
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
    """
    from wisesync.config import valid_instance_id
    from wisesync.daemon import Service, parse_roles

    if instance_id is not None and not valid_instance_id(instance_id):
        raise click.BadParameter(
            f"{instance_id!r}: use 1-200 letters, digits, '.', '_' or '-'",
            param_hint="--instance-id",
        )
    config = app.config
    service = Service(
        config, roles=parse_roles(roles), static_membership=True, instance_id=instance_id
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
    click.echo(
        f"wisesync running: roles {', '.join(service.roles)}; transport "
        f"{config.transport}; {len(config.companies)} company(ies)"
        + (f"; metrics on :{port}" if port else ""),
        err=True,
    )
    while not stop.wait(0.5):
        pass
    click.echo("stopping: finishing the batch in hand", err=True)
    service.close()
    if server is not None:
        server.shutdown()
    if service.errors:
        click.secho(f"a role failed: {service.errors[0]}", fg="red", err=True)
        sys.exit(1)


COMMANDS = [run_cmd]
