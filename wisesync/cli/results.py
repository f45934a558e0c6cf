"""``wisesync results``: the results review for any run or period."""

from __future__ import annotations

import sys

import click

from wisesync.cli import choices
from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json
from wisesync.events.models import RecordType
from wisesync.review import STATUSES


def _since(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from wisesync.review import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("results")
@click.option("--run", "run_id", metavar="ID", help="One run (`last` = the most recent run).")
@click.option("--company", metavar="KEY", help="Only this company.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only records whose (last) result has this status (repeatable).",
)
@click.option(
    "--code",
    "codes",
    multiple=True,
    callback=choices.message_codes,
    metavar="CODE",
    help="Only records with a message of this code, e.g. GL_MAPPING_MISSING (repeatable).",
)
@click.option(
    "--type",
    "record_types",
    multiple=True,
    type=click.Choice([t.value for t in RecordType]),
    help="Only this record type (repeatable).",
)
@click.option(
    "--since",
    callback=_since,
    metavar="WHEN",
    help="Only results since: 24h, 7d, 2025-01-31 or 2025-01-31T09:00:00Z.",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Show at most N of each list.")
@choices.show_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout, one row per message.")
@pass_app
def results_cmd(
    app: AppContext,
    run_id: str | None,
    company: str | None,
    statuses: tuple[str, ...],
    codes: tuple[str, ...],
    record_types: tuple[str, ...],
    since,
    limit: int | None,
    show: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
) -> None:
    """Review what posted, and why the rest did not.

    \b
    Without --run: the latest state of each record (optionally --since).
    With --run: each record's last result in that run (`--run last` for the newest).
    Shows counts per record type and status, then every error with its code and fix
    hint, then every warning (including records posted but not yet acknowledged in
    ConnectWise), then dead letters.

    \b
    Exit codes: 0 every record shown is posted (or deliberately held),
    1 some are not, 2 usage or configuration error.

    \b
    Examples:
      wisesync results --run last
      wisesync results --company acme --since 24h --status failed
      wisesync results --run last --show posted,held
      wisesync results --code GL_MAPPING_MISSING --csv > failed.csv
    """
    from wisesync.review import ReviewFilter, latest_run_id, load_review

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    choices.check_company(app.config, company)
    db = app.database()
    with db.connection() as conn:
        if run_id == "last":
            run_id = latest_run_id(conn, company)
            if run_id is None:
                click.secho(
                    "no runs recorded yet" + (f" for {company}" if company else ""), err=True
                )
                sys.exit(EXIT_CONFIG)
        elif run_id is not None:
            choices.run_id(conn, run_id, company)
    review = load_review(
        db,
        ReviewFilter(
            run_id=run_id,
            company=company,
            statuses=statuses,
            codes=codes,
            since=since,
            record_types=record_types,
        ),
    )
    if as_json:
        print_json(review.to_json())
    elif as_csv:
        from wisesync.review import write_review_csv

        write_review_csv(review, sys.stdout)
    else:
        from rich.console import Console

        from wisesync.review import render_review

        render_review(review, Console(), limit=limit, show=show)
    sys.exit(review.exit_code())


COMMANDS = [results_cmd]
