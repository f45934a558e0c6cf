"""``wisesync sync-all``: Wise-Sync's Sync All, for one company, with the results review."""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wisesync.cli import choices
from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json
from wisesync.events.models import RecordType, Trigger

if TYPE_CHECKING:
    from collections.abc import Iterator

    from wisesync.config import AppConfig, CompanyConfig
    from wisesync.store.db import Database
    from wisesync.transport.base import Transport

log = logging.getLogger(__name__)

TYPE_NAMES = [t.value for t in RecordType]


def pick_company(config: AppConfig, key: str | None) -> CompanyConfig:
    """--company, else the first configured company (Wise-Sync's default selection); with
    several companies configured it says which one it chose, on stderr."""
    target = choices.company(config, key)
    if key is None and len(config.companies) > 1:
        others = ", ".join(c.key for c in config.companies[1:])
        click.echo(
            f"company {target.key} (the first configured; others: {others}; "
            "choose one with --company)",
            err=True,
        )
    return target


class Pipeline:
    """What :func:`pipeline_running` lends its block: the transport to publish on at once,
    and (:attr:`in_process`) whether the roles run inside this process.

    Whether a daemon is consuming is found out in a thread (the Kafka group look-up takes
    about 0.6 s) while the block already extracts and publishes; without a daemon the
    same thread opens and starts the in-process roles, which read what was published.
    """

    def __init__(
        self,
        app: AppContext,
        db: Database,
        transport: Transport,
        quiet: bool,
        companies: tuple[str, ...] = (),
    ):
        self.transport = transport
        self._app, self._db, self._quiet = app, db, quiet
        self._companies = list(companies)
        self._service: object | None = None
        self._daemon: bool | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._find_roles, name="sync-roles", daemon=True)
        self._thread.start()
        if self._companies:  # the token is not fetched on the way to the first post
            threading.Thread(target=self._connect_ledgers, name="sync-connect", daemon=True).start()

    def _connect_ledgers(self) -> None:
        """Ask each syncing company's ledger target for an access token (stored, so whoever
        posts finds it): a call no API limit counts, made before anyone knows who posts."""
        from wisesync.plugins import registry
        from wisesync.protocols import PluginRuntime
        from wisesync.requestlog.context import request_context

        config = self._app.config
        runtime = PluginRuntime(config=config, db=self._db)
        for key in self._companies:
            try:
                company = config.company(key)
                with request_context(key, company.ledger):
                    registry().target(company.ledger)(runtime).connect(company)
            except Exception as exc:  # the posting meets it again and reports it
                log.info("could not connect %s's ledger ahead: %s", key, exc)

    def _find_roles(self) -> None:
        from wisesync.daemon import Service

        try:
            config = self._app.config
            if _group_has_live_members(self.transport, config.group_for("poster")):
                self._daemon = True
                if not self._quiet:
                    click.echo("a running wisesync service will post the records", err=True)
                return
            self._daemon = False
            service = Service(
                config,
                roles=("poster", "reporter", "acknowledger"),
                db=self._db,
                transport=self.transport,
            )
            self._service = service.open()
            service.start()
            if self._companies:  # its ledger connection ready before the first records
                service.role("poster").warm(self._companies)
        except BaseException as exc:  # raised in the command's thread by ready()
            self._error = exc

    def ready(self) -> None:
        """Wait until the roles are known (and started here when no daemon consumes);
        raises what went wrong finding or starting them."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    @property
    def in_process(self) -> bool:
        """True when the roles run inside this process (they stop when the block ends)."""
        self.ready()
        return not self._daemon

    def stop(self) -> None:
        """Stop the in-process roles (after the batch in hand), if they were started."""
        self._thread.join()
        if self._service is not None:
            self._service.stop()


@contextmanager
def pipeline_running(
    app: AppContext, db: Database, *, quiet: bool = False, companies: tuple[str, ...] = ()
) -> Iterator[Pipeline]:
    """Make sure a poster, reporter and acknowledger are working while the block runs.

    When a `wisesync run` daemon is already consuming, it does the work; otherwise the
    roles run inside this process and stop (after the batch in hand) when the block ends.
    The topics exist before the block starts publishing; which roles work is decided
    meanwhile (see :class:`Pipeline`). In-process roles prepare the ledger connections of
    ``companies`` (the ones about to sync) while the block extracts.
    """
    from wisesync.daemon import connect_transport

    transport = connect_transport(app.config, db.dsn)
    transport.admin().create_topics(app.config.topics.all, partitions=app.config.kafka.partitions)
    pipeline = Pipeline(app, db, transport, quiet, companies)
    try:
        yield pipeline
    finally:
        try:
            pipeline.stop()
        finally:
            transport.close()


def _group_has_live_members(transport: Transport, group: str, timeout_s: float = 15.0) -> bool:
    """Is a daemon consuming? Retried for a while: a fresh Kafka cluster answers "coordinator
    not available" until it has created its offsets topic (the first command run on a new
    deployment would otherwise stop with a traceback)."""
    from wisesync.transport.errors import TransportError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return transport.admin().group_has_live_members(group)
        except TransportError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def progress_bar(console: Console) -> Progress:
    """The progress bar used by long commands."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@click.command("sync-all")
@click.option("--company", metavar="KEY", help="Company key (default: the first configured).")
@click.option(
    "--types",
    "types",
    multiple=True,
    type=click.Choice(TYPE_NAMES),
    help="Only these record types (repeatable). Default: the company's default "
    "sync settings (record_types in the config).",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for every record's result and print the review.",
)
@click.option(
    "--timeout",
    type=float,
    default=1800,
    show_default=True,
    help="Seconds to wait for the results.",
)
@click.option(
    "--wait-ack",
    is_flag=True,
    help="After the results, also wait (within --timeout) until every posted record is "
    "marked posted in the source (e.g. batched in ConnectWise), then print the review.",
)
@choices.show_option
@click.option("--json", "as_json", is_flag=True, help="Print the review as JSON.")
@pass_app
def sync_all(
    app: AppContext,
    company: str | None,
    types: tuple[str, ...],
    wait: bool,
    timeout: float,
    wait_ack: bool,
    show: tuple[str, ...],
    as_json: bool,
) -> None:
    """Post every unposted record of one company, then review the results.

    \b
    Runs through each record type enabled in the company's default sync settings
    (invoices and credit memos, expenses, procurement, payments), publishes the
    records, waits for the ledger's answers and prints the review: counts per
    type and status, every error with its fix, then every warning.

    \b
    Sync All is disabled by default. An admin enables it per company:
      wisesync options set --company acme sync_all=on

    \b
    The review says "acknowledging in ConnectWise: N to go" while posted records
    are still being marked posted in the source; to wait for that too:
      wisesync sync-all --company acme --wait-ack

    \b
    Exit codes: 0 every record posted (and with --wait-ack acknowledged),
    1 some did not, 2 usage or configuration error.

    \b
    Examples:
      wisesync sync-all                          # the first configured company
      wisesync sync-all --company acme --types invoice --show posted,held
      wisesync sync-all --company acme --json > review.json
    """
    from wisesync.cli.admin import _who
    from wisesync.errors import WisesyncError
    from wisesync.events.models import new_id
    from wisesync.pipeline.extractor import Extractor, SyncInProgress
    from wisesync.plugins import registry
    from wisesync.review import ReviewFilter, load_review, render_review, wait_for_run
    from wisesync.store.options import OptionsStore

    console = Console(stderr=as_json)
    target = pick_company(app.config, company)
    db = app.database()
    if not OptionsStore(db).sync_all(target):
        click.secho(
            f"Sync All is disabled for company {target.key} (it is off by default). An admin "
            f"can enable it with:\n  wisesync options set --company {target.key} sync_all=on",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    record_types = [RecordType(t) for t in types] if types else list(target.record_types)
    trigger = Trigger.SYNC_TYPE if types else Trigger.SYNC_ALL
    run_id, published, failure = new_id(), [0], None
    started = time.monotonic()
    with pipeline_running(app, db, companies=(target.key,)) as pipeline:
        extractor = Extractor(
            config=app.config, registry=registry(), db=db, transport=pipeline.transport
        )
        with progress_bar(console) as progress:
            task = progress.add_task(f"extracting {target.key}", total=None)

            def seen(_: object) -> None:
                published[0] += 1
                progress.advance(task)

            try:
                run = extractor.sync(
                    target,
                    record_types,
                    trigger=trigger,
                    requested_by=_who(),
                    on_record=seen,
                    run_id=run_id,
                )
            except SyncInProgress as exc:
                click.secho(str(exc), fg="yellow", err=True)
                sys.exit(1)
            except WisesyncError as exc:
                # A source failed part-way (e.g. payments from a revoked ledger connection):
                # what was published still gets its results and the review, which names the
                # error, and the exit code says not everything posted.
                failure = exc
                click.secho(f"extraction of {target.key} stopped: {exc}", fg="red", err=True)
            finally:
                extractor.close()
        pipeline.ready()  # the roles that post what was published are known and working
        if failure is None:
            expected = sum(run.extracted.values()) + sum(run.held.values())
            console.print(
                f"run {run_id}: {expected} record(s) from {target.name} "
                f"({', '.join(f'{k} {v}' for k, v in run.extracted.items() if v) or 'none'}"
                f"{'; held ' + str(sum(run.held.values())) if run.held else ''})"
            )
        else:
            expected = published[0]
            console.print(f"run {run_id}: {expected} record(s) from {target.name} before that")
        if not wait:
            click.echo(run_id)
            if failure is not None:
                sys.exit(1)
            return
        with progress_bar(console) as progress:
            task = progress.add_task("posting", total=expected)
            result = wait_for_run(
                db, run_id, timeout, lambda p: progress.update(task, completed=p.done)
            )
        to_go: dict[str, int] = {}
        if wait_ack and result.complete:
            left = timeout - (time.monotonic() - started)
            to_go = _wait_ack(db, run_id, max(0.0, left), console)
        # The review is printed as soon as every record has its result ("acknowledging in
        # ConnectWise: N to go" while the source is still being marked); --wait-ack waits
        # for the acknowledgements first.
        review = load_review(db, ReviewFilter(run_id=run_id))
        if as_json:
            print_json(review.to_json())
        else:
            render_review(review, console, title=f"Sync All: {target.name}", show=show)
        sys.stdout.flush()
        if pipeline.in_process and result.complete and not wait_ack:
            _first_ack_tries(db, run_id, timeout - (time.monotonic() - started))
    if not result.complete:
        click.secho(
            f"timed out after {timeout:g}s with {result.done} of {expected} answered; "
            f"`wisesync results --run {run_id}` shows the rest later",
            fg="yellow",
            err=True,
        )
        sys.exit(1)
    if to_go:
        click.secho(
            f"timed out after {timeout:g}s with "
            + "; ".join(f"{n} acknowledgement(s) in {s} to go" for s, n in to_go.items())
            + f"; `wisesync results --run {run_id}` shows them later",
            fg="yellow",
            err=True,
        )
        sys.exit(1)
    sys.exit(1 if failure is not None else review.exit_code())


def _first_ack_tries(db: Database, run_id: str, timeout: float) -> None:
    """After the review, while the acknowledger runs in this process: give each of the
    run's acknowledgements its first try before the roles stop (a daemon, when one runs,
    does this by itself), with a progress bar on stderr. Refused ones stay pending for the
    next acknowledger, as before."""
    from wisesync.review import wait_for_run

    with progress_bar(Console(stderr=True)) as progress:
        task = progress.add_task("acknowledging in the source", total=None)
        wait_for_run(
            db,
            run_id,
            max(0.0, timeout),
            lambda p: progress.update(task, description=f"acknowledging: {p.acks_untried} to go"),
            acknowledged=True,
        )


def _wait_ack(db: Database, run_id: str, timeout: float, console: Console) -> dict[str, int]:
    """``--wait-ack``: wait for the run's acknowledgements at the source, with a progress bar
    ("acknowledging in ConnectWise"). Returns what is still to go after ``timeout``."""
    from wisesync.review import (
        acknowledgements_to_go,
        source_label,
        wait_for_acknowledgements,
    )

    with db.connection() as conn:
        first = acknowledgements_to_go(conn, run_id)
        conn.rollback()
    if not first:
        return {}
    total = sum(first.values())
    names = ", ".join(source_label(s) for s in sorted(first))
    with progress_bar(console) as progress:
        task = progress.add_task(f"acknowledging in {names}", total=total)
        return wait_for_acknowledgements(
            db,
            run_id,
            timeout,
            lambda to_go: progress.update(task, completed=total - sum(to_go.values())),
        )


COMMANDS = [sync_all]
