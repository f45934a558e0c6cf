"""``wisesync results``: the results review for any run or period."""

from __future__ import annotations

import sys

import click

from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json
from wisesync.events.models import RecordType
from wisesync.messages import CATALOG
from wisesync.review import STATUSES


def _codes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for value in values:
        for code in (c.strip().upper() for c in value.split(",") if c.strip()):
            if code not in CATALOG:
                raise click.BadParameter(
                    f"{code!r} is not a message code; known codes: {', '.join(sorted(CATALOG))}",
                    ctx=ctx,
                    param=param,
                )
            out.append(code)
    return tuple(out)


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
    callback=_codes,
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
@click.option("--limit", type=int, default=None, help="Show at most N errors / warnings.")
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
    """
    from wisesync.review import ReviewFilter, latest_run_id, load_review

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    db = app.database()
    if run_id == "last":
        with db.connection() as conn:
            run_id = latest_run_id(conn, company)
        if run_id is None:
            click.secho("no runs recorded yet" + (f" for {company}" if company else ""), err=True)
            sys.exit(EXIT_CONFIG)
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
    if run_id and review.run is None and not review.rows:
        click.secho(f"no run {run_id!r} is recorded (see `wisesync results --run last`)", err=True)
        sys.exit(EXIT_CONFIG)
    if as_json:
        print_json(review.to_json())
    elif as_csv:
        from wisesync.review import write_review_csv

        write_review_csv(review, sys.stdout)
    else:
        from rich.console import Console

        from wisesync.review import render_review

        render_review(review, Console(), limit=limit)
    sys.exit(review.exit_code())


COMMANDS = [results_cmd]
