"""``wisesync requests``: the request log, filtered (support's first question)."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from wisesync.cli import choices
from wisesync.cli.context import AppContext, pass_app, print_json
from wisesync.cli.results import _since
from wisesync.names import not_one_of

EXIT_NONE_MATCHED = 1
_STATUS = re.compile(r"^([1-5]\d\d|[1-5]xx|error|failed)$")
_RECORD = re.compile(r"^[a-z_]+:\S+$")


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _STATUS.match(value):
        raise click.BadParameter(
            f"{value!r}: use a status (404), a class (4xx, 5xx), error (no response) or "
            "failed (4xx, 5xx or no response)",
            ctx=ctx,
            param=param,
        )
    return value


def _record(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from wisesync.events.models import RecordType

    kind = value.partition(":")[0]
    if not _RECORD.match(value) or kind not in {t.value for t in RecordType}:
        raise click.BadParameter(
            f"{value!r}: use TYPE:SOURCE_ID as in the review, e.g. invoice:1042; types: "
            + ", ".join(t.value for t in RecordType),
            ctx=ctx,
            param=param,
        )
    return value


def _check_names(app: AppContext, company: str | None, plugin: str | None) -> None:
    """A company key or plugin name that does not exist is a usage error, not "none found"."""
    choices.check_company(app.config, company)
    if plugin is not None:
        from wisesync.plugins import registry

        reg = registry()
        known = sorted(set(reg.sources) | set(reg.targets))
        if plugin not in known:
            raise click.BadParameter(
                not_one_of("an installed plugin", plugin, known, noun="installed"),
                param_hint="'--plugin'",
            )


@click.command("requests")
@click.option("--company", metavar="KEY", help="Only calls made for this company.")
@click.option(
    "--plugin", metavar="NAME", help="Only calls of this plugin (as `wisesync plugins` names it)."
)
@click.option(
    "--status",
    callback=_status,
    metavar="STATUS",
    help="404, a class (4xx, 5xx), error (no response) or failed (4xx/5xx/no response).",
)
@click.option("--since", callback=_since, help="Only calls since: 90m, 24h, 7d or an ISO date.")
@click.option(
    "--record",
    callback=_record,
    metavar="TYPE:ID",
    help="Only calls made for this record, as the review names it (invoice:1042).",
)
@click.option(
    "--event",
    "event_id",
    metavar="ID",
    help="Only calls made for this record event (record_event_id in `results --json`).",
)
@click.option("--run", "run_id", metavar="ID", help="Only calls made by this extraction run.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def requests_cmd(
    app: AppContext,
    company: str | None,
    plugin: str | None,
    status: str | None,
    since: Any,
    record: str | None,
    event_id: str | None,
    run_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the calls made to ConnectWise and the ledgers, newest first.

    \b
    One line per HTTP exchange: time, company, plugin, method, status, duration, retry
    (tries before this one), the ledger's correlation id (quote it to Xero or Intuit
    support) and the path, secret values shown as ***. Kept for `requests.keep` (14d).
    Exit 0 when calls are listed, 1 when none matched, 2 for a bad filter.

    \b
    Examples:
      wisesync requests --company acme --status failed --since 24h
      wisesync requests --record invoice:1042        # the calls behind a record's result
      wisesync requests --plugin xero --json --limit 500
    """
    from wisesync.requestlog.store import RequestFilter, find

    _check_names(app, company, plugin)
    flt = RequestFilter(company, plugin, status, since, record, event_id, run_id, limit)
    with app.database().connection() as conn:
        if run_id is not None:
            choices.run_id(conn, run_id, company)
        rows = find(conn, flt)
    if as_json:
        print_json({"requests": rows})
    elif rows:
        for row in rows:
            click.echo(_line(row))
    else:
        click.echo("no requests match", err=True)
    sys.exit(0 if rows else EXIT_NONE_MATCHED)


def _line(row: dict[str, Any]) -> str:
    status = str(row["status"]) if row["status"] is not None else (row["error"] or "-")
    retry = f" retry {row['retry']}" if row["retry"] else ""
    corr = f" [{row['correlation_id']}]" if row["correlation_id"] else ""
    return (
        f"{row['at']:%Y-%m-%d %H:%M:%S} {row['company'] or '-'} {row['plugin']} "
        f"{row['method']} {status} {row['duration_ms']}ms{retry}{corr} {row['path']}"
    )


COMMANDS = [requests_cmd]
