"""``wisesync replay``: reprocess what failed, or rewind a consumer group."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table

from wisesync.cli import choices
from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json


@click.command("replay")
@click.option("--run", "run_id", help="Replay what failed in this run.")
@click.option(
    "--failed",
    is_flag=True,
    help="Replay every record whose latest result failed "
    "(narrow it with --company, --since, --code).",
)
@click.option("--dlq", is_flag=True, help="Replay dead-lettered records (re-extracted fresh).")
@click.option("--company", help="Only this company.")
@click.option("--since", help="Only results since: 90m, 24h, 7d, 2025-01-31 or an ISO time.")
@click.option(
    "--code",
    "codes",
    multiple=True,
    callback=choices.message_codes,
    metavar="CODE",
    help="Only records with this message code (repeatable), e.g. LEDGER_ACCOUNT_MISSING.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be replayed, change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the results and print the review, before and after.",
)
@click.option("--timeout", type=float, default=1800, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--rewind",
    is_flag=True,
    help="Instead: move a consumer group back (needs --group and --to-time or --to-offset).",
)
@click.option("--group", help="With --rewind: the consumer group, e.g. wisesync-poster.")
@click.option(
    "--topic", default="wisesync.records.v1", show_default=True, help="With --rewind: the topic."
)
@click.option("--to-time", help="With --rewind: an ISO time or a duration back (2h).")
@click.option("--to-offset", type=int, help="With --rewind: an offset for every partition.")
@pass_app
def replay_cmd(
    app: AppContext,
    run_id,
    failed,
    dlq,
    company,
    since,
    codes,
    dry_run,
    yes,
    wait,
    timeout,
    as_json,
    rewind,
    group,
    topic,
    to_time,
    to_offset,
) -> None:
    """Reprocess what failed, fresh from the source.

    \b
    Records are re-extracted from ConnectWise (so a fix made there takes
    effect), carry trigger "replay" and attempt+1, and are posted once: a
    record that posted meanwhile is not posted again, and one the source no
    longer lists as unposted is reported (SOURCE_RECORD_GONE), not posted.

    \b
    Examples:
      wisesync replay --failed --company acme --code LEDGER_ACCOUNT_MISSING
      wisesync replay --run 3f2a9c... --dry-run
      wisesync replay --dlq --yes
      wisesync replay --rewind --group wisesync-reporter --to-time 2h

    Exit codes: 0 all replayed records posted, 1 some did not, 2 usage error.
    """
    if rewind:
        _rewind(app, group, topic, to_time, to_offset, as_json)
        return
    if group or to_time or to_offset is not None:
        raise click.UsageError("--group, --to-time and --to-offset go with --rewind")
    if not (run_id or failed or dlq):
        raise click.UsageError(
            "say what to replay: --run ID, --failed or --dlq (or --rewind to move a consumer group)"
        )
    from wisesync import replay
    from wisesync.cli.admin import _who
    from wisesync.cli.sync import pipeline_running, progress_bar
    from wisesync.plugins import registry
    from wisesync.review import (
        ReviewFilter,
        load_review,
        parse_since,
        render_comparison,
        render_review,
        wait_for_run,
    )

    console = Console(stderr=as_json)
    try:
        since_at = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--since'") from None
    choices.check_company(app.config, company)
    db = app.database()
    if run_id is not None:
        with db.connection() as conn:
            choices.run_id(conn, run_id, company)
    selection = replay.select(
        db, run_id=run_id, company=company, since=since_at, codes=tuple(codes), dlq=dlq
    )
    for letter in selection.undecodable:
        click.secho(
            f"cannot replay {letter.label}: the message could not be decoded "
            f"({letter.error_class}); it stays in the dead-letter table",
            fg="yellow",
            err=True,
        )
    if not selection.records:
        if as_json:
            print_json({"replayed": 0})
        else:
            click.echo("nothing to replay")
        return
    _show_selection(console, selection)
    if dry_run:
        if as_json:
            print_json({"dry_run": True, "records": [asdict(w) for w in selection.records]})
        return
    if not yes:
        if not sys.stdin.isatty():
            click.secho(
                "not a terminal: pass --yes to replay without confirmation", fg="red", err=True
            )
            sys.exit(EXIT_CONFIG)
        click.confirm(f"Replay {len(selection)} record(s)?", abort=True)
    before = load_review(db, ReviewFilter(company=company, statuses=replay.REPLAYABLE))
    with pipeline_running(app, db) as pipeline:
        with progress_bar(console) as progress:
            task = progress.add_task("re-extracting", total=len(selection))
            outcomes = replay.replay(
                selection,
                config=app.config,
                registry=registry(),
                db=db,
                transport=pipeline.transport,
                requested_by=_who(),
                on_record=lambda _: progress.advance(task),
            )
        pipeline.ready()  # the roles that post what was published are known and working
        for outcome in outcomes:
            for w in outcome.gone:
                console.print(
                    f"[yellow]{w.label} ({w.company}) is no longer unposted at the "
                    "source: reported, not posted[/]"
                )
        if not wait:
            click.echo(" ".join(o.run.run_id for o in outcomes))
            return
        with progress_bar(console) as progress:
            task = progress.add_task("posting", total=len(selection))
            done = 0
            for outcome in outcomes:
                result = wait_for_run(
                    db,
                    outcome.run.run_id,
                    timeout,
                    lambda p, base=done: progress.update(task, completed=base + p.done),
                    acknowledged=True,
                )
                done += result.done
    reviews = [load_review(db, ReviewFilter(run_id=o.run.run_id)) for o in outcomes]
    exit_code = max((r.exit_code() for r in reviews), default=0)
    if as_json:
        print_json({"runs": [r.to_json() for r in reviews]})
        sys.exit(exit_code)
    for review in reviews:
        render_review(review, console, title=f"Replay: {review.filter.run_id}")
    after = load_review(db, ReviewFilter(company=company, statuses=replay.REPLAYABLE))
    console.print("Records not posted, before and after the replay:")
    render_comparison(before, after, console)
    sys.exit(exit_code)


def _show_selection(console: Console, selection) -> None:
    table = Table(title=f"{len(selection)} record(s) to replay", title_justify="left")
    for col in ("company", "record type", "why", "records"):
        table.add_column(col)
    counts = Counter((w.company, w.record_type, w.reason) for w in selection.records)
    for (company, rtype, reason), n in sorted(counts.items()):
        table.add_row(company, rtype, reason, str(n))
    console.print(table)


def _rewind(app: AppContext, group, topic, to_time, to_offset, as_json) -> None:
    from datetime import datetime

    from wisesync import replay
    from wisesync.daemon import connect_transport
    from wisesync.review import parse_since
    from wisesync.store.db import resolve_dsn
    from wisesync.transport.errors import TransportError

    if not group or (to_time is None) == (to_offset is None):
        raise click.UsageError("--rewind needs --group and exactly one of --to-time, --to-offset")
    choices.consumer_group(app.config, group)
    choices.topic(topic)
    to_ms = None
    if to_time is not None:
        try:
            to_ms = int(parse_since(to_time).timestamp() * 1000)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--to-time'") from None
    # Kafka needs no store: do not start an embedded Postgres just to move a Kafka group.
    dsn = "" if app.config.transport == "kafka" else resolve_dsn(app.config)
    transport = connect_transport(app.config, dsn)
    try:
        offsets = replay.rewind(
            transport, group, app.config.topic_prefix + topic, to_offset=to_offset, to_time_ms=to_ms
        )
    except TransportError as exc:
        click.secho(f"cannot rewind: {exc}", fg="red", err=True)
        sys.exit(1)
    finally:
        transport.close()
    if as_json:
        print_json({"group": group, "topic": topic, "offsets": offsets})
    else:
        when = f"{datetime.fromtimestamp(to_ms / 1000):%Y-%m-%d %H:%M:%S}" if to_ms else to_offset
        click.echo(
            f"{group} on {topic} rewound to {when}: "
            + ", ".join(f"p{p}@{o}" for p, o in sorted(offsets.items()))
        )


COMMANDS = [replay_cmd]
