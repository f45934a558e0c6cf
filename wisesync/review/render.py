"""The review rendered: rich tables for people, CSV for machines, before/after counts."""

from __future__ import annotations

import csv
import re
from typing import Any, TextIO

from wisesync.events.models import Status
from wisesync.messages import CATALOG, Severity
from wisesync.review.model import (
    DEAD_LETTER_CODE,
    STATUS_LABELS,
    STATUSES,
    RecordRow,
    Review,
    ReviewMessage,
    RunInfo,
)

#: Below this many columns the message tables are stacked (code, fix, then one record a
#: line) instead of four squeezed columns.
WIDE = 100
#: What ``--show`` may list record by record, with the statuses each covers.
SHOWABLE = {
    "posted": (Status.POSTED.value, Status.SKIPPED_ALREADY_POSTED.value),
    "held": (Status.HELD.value,),
    "failed": (Status.FAILED.value,),
}


def render_review(
    review: Review,
    console: Any = None,
    *,
    title: str | None = None,
    limit: int | None = None,
    show: tuple[str, ...] = (),
) -> None:
    """Print the review for people: heading, counts per type x status, the records of each
    ``show`` status (``posted``, ``held``, ``failed``), errors (grouped by code with the
    fix hint), warnings, dead letters, and a one-line summary.

    ``limit`` caps the record lists and the error and warning tables (the counts still
    cover everything). On a console narrower than :data:`WIDE` the message tables are
    stacked.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    console.print(Text(title or _heading(review), style="bold"))
    if review.run is not None:
        console.print(Text(_run_line(review.run), style="dim"))
        if review.run.error:
            console.print(
                Text(
                    f"the extraction stopped: {review.run.error} (records it did not reach "
                    "are not in this review)",
                    style="red",
                )
            )
    if review.filter.run_id and review.run is None:
        console.print(Text("the run's manifest has not reached the reporter yet", style="yellow"))
    if review.missing:
        console.print(
            Text(
                f"{review.missing} record(s) of this run have no result yet "
                "(still posting, or the poster is not running)",
                style="yellow",
            )
        )
    if not review.rows and not review.dead_letters:
        console.print("no records match")
        if not review.all_posted:
            console.print(Text(_summary_line(review), style="red"))
        return

    counts = review.counts()
    statuses = [s for s in STATUSES if any(s in c for c in counts.values())]
    statuses += sorted({s for c in counts.values() for s in c} - set(statuses))
    unacked = review.unacknowledged()
    table = Table(title="Records by type and status", title_justify="left")
    table.add_column("record type")
    for s in statuses:
        table.add_column(STATUS_LABELS.get(s, s), justify="right", style=_status_style(s))
    table.add_column("total", justify="right", style="bold")
    if unacked:
        table.add_column("not yet acknowledged", justify="right", style="yellow")
    for rtype, per in counts.items():
        cells = [str(per.get(s, 0) or "-") for s in statuses]
        extra = [str(sum(1 for r in unacked if r.record_type == rtype) or "-")] if unacked else []
        table.add_row(rtype, *cells, str(sum(per.values())), *extra)
    if len(counts) > 1:
        totals = review.by_status()
        table.add_section()
        table.add_row(
            "all",
            *[str(totals.get(s, 0) or "-") for s in statuses],
            str(len(review.rows)),
            *([str(len(unacked))] if unacked else []),
        )
    console.print(table)

    multi_company = len({r.company for r in review.rows}) > 1
    for wanted in show:
        _print_records(console, review, wanted, multi_company, limit)
    narrow = console.width < WIDE
    for name, items, style in (
        ("Errors", review.errors(), "red"),
        ("Warnings", review.warnings(), "yellow"),
    ):
        if items and narrow:
            _print_stacked(console, name, items, style, multi_company, limit)
        elif items:
            console.print(_message_table(name, items, style, multi_company, limit))

    if review.dead_letters:
        dl = Table(
            title=f"Dead letters ({len(review.dead_letters)})",
            title_justify="left",
            caption=f"fix: {CATALOG[DEAD_LETTER_CODE].hint}",
            caption_justify="left",
        )
        for col in ("record", "company", "error", "first seen"):
            dl.add_column(col)
        for d in review.dead_letters[: limit or None]:
            dl.add_row(
                Text(d.label),
                Text(d.company or "-"),
                Text(f"{d.error_class}: {d.error_text}"),
                f"{d.first_seen:%Y-%m-%d %H:%M:%S}",
            )
        console.print(dl)
    console.print(Text(_summary_line(review), style="green" if review.all_posted else "red"))


def _message_table(
    name: str,
    items: list[tuple[RecordRow, ReviewMessage]],
    style: str,
    multi_company: bool,
    limit: int | None,
) -> Any:
    from rich.table import Table
    from rich.text import Text

    shown = items[: limit or None]
    caption = f"{len(items) - len(shown)} more not shown" if len(shown) < len(items) else None
    table = Table(
        title=f"{name} ({len(items)})",
        title_justify="left",
        title_style=f"bold {style}",
        caption=caption,
        show_lines=False,
    )
    table.add_column("record", no_wrap=True)
    table.add_column("code", style=style, no_wrap=True)
    table.add_column("message", ratio=3)
    table.add_column("fix", ratio=2, style="dim")
    previous = None
    for row, msg in shown:
        if previous is not None and msg.code != previous:
            table.add_section()
        table.add_row(
            Text(_label(row, multi_company)),
            msg.code,
            Text(message_text(msg)),
            Text(msg.hint if msg.code != previous else ""),
        )
        previous = msg.code
    return table


def _label(row: RecordRow, multi_company: bool) -> str:
    return f"{row.company}: {row.label}" if multi_company else row.label


def message_text(msg: ReviewMessage) -> str:
    """The message with its line number, unless the text already names that line
    (never "Line 1 ... (line 1)")."""
    if msg.line is None:
        return msg.text
    number = msg.line + 1
    if re.search(rf"\bline {number}\b", msg.text, re.IGNORECASE):
        return msg.text
    return f"{msg.text} (line {number})"


def _print_stacked(
    console: Any,
    name: str,
    items: list[tuple[RecordRow, ReviewMessage]],
    style: str,
    multi_company: bool,
    limit: int | None,
) -> None:
    """The narrow layout: per code its title and fix once, then one record a line (a long
    message wraps under its own text, not under the bullet)."""
    from itertools import groupby

    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    shown = items[: limit or None]
    console.print(Text(f"{name} ({len(items)})", style=f"bold {style}"))
    for code, group in groupby(shown, key=lambda item: item[1].code):
        entries = list(group)
        first = entries[0][1]
        console.print(Text.assemble((code, style), " ", first.title))
        if first.hint:
            fix = Text(f"fix: {first.hint}", style="dim")
            console.print(Padding(fix, (0, 0, 0, 2), expand=False))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for row, msg in entries:
            grid.add_row("-", Text(f"{_label(row, multi_company)}: {message_text(msg)}"))
        console.print(Padding(grid, (0, 0, 0, 2), expand=False))
    if len(shown) < len(items):
        console.print(Text(f"{len(items) - len(shown)} more not shown", style="dim"))


def _print_records(
    console: Any, review: Review, wanted: str, multi_company: bool, limit: int | None
) -> None:
    """``--show posted`` / ``held`` / ``failed``: the records of that status, one a line
    (posted: the ledger's number and total; held and failed: the first message)."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    rows = [r for r in review.rows if r.status in SHOWABLE[wanted]]
    console.print(Text(f"{wanted.capitalize()} ({len(rows)})", style="bold"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for row in rows[: limit or None]:
        grid.add_row("-", Text(_record_line(row, multi_company)))
    console.print(Padding(grid if rows else Text("none"), (0, 0, 0, 2), expand=False))
    if limit and len(rows) > limit:
        console.print(Text(f"{len(rows) - limit} more not shown", style="dim"))


def _record_line(row: RecordRow, multi_company: bool) -> str:
    label = _label(row, multi_company)
    if row.in_ledger:
        number = row.ledger_number or row.ledger_id
        where = f"in the ledger as {number}" if number else "in the ledger"
        total = f" · total {row.ledger_total}" if row.ledger_total is not None else ""
        already = " (already posted)" if row.status != Status.POSTED.value else ""
        return f"{label}: {where}{total}{already}"
    first = row.messages[0] if row.messages else None
    why = f"{first.code}: {message_text(first)}" if first else STATUS_LABELS.get(row.status, "")
    return f"{label}: {why}"


def _heading(review: Review) -> str:
    if review.run is not None:
        return f"Results of run {review.run.run_id}"
    return f"Results: {review.filter.describe()}"


def _run_line(run: RunInfo) -> str:
    extracted = ", ".join(f"{t} {n}" for t, n in run.extracted.items() if n) or "nothing"
    held = sum(run.held.values())
    finished = f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "still extracting"
    line = (
        f"company {run.company} · {run.trigger} by {run.requested_by} · "
        f"started {run.started_at:%Y-%m-%d %H:%M:%S} · extraction finished {finished} · "
        f"extracted {extracted}" + (f" · held {held}" if held else "")
    )
    return line


def _summary_line(review: Review) -> str:
    by = review.by_status()
    parts = [f"{by[s]} {STATUS_LABELS.get(s, s)}" for s in STATUSES if by.get(s)]
    line = f"{len(review.rows)} record(s): " + (", ".join(parts) or "none")
    line += f" · {len(review.errors())} error(s), {len(review.warnings())} warning(s)"
    if review.unacknowledged():
        line += f" · {review.acknowledging_text()}"
    if review.dead_letters:
        line += f" · {len(review.dead_letters)} dead letter(s)"
    if review.missing:
        line += f" · {review.missing} result(s) missing"
    if review.extraction_failed:
        line += " · extraction failed"
    return line + (" · all posted" if review.all_posted else " · NOT all posted")


def _status_style(status: str) -> str:
    return {
        Status.POSTED.value: "green",
        Status.SKIPPED_ALREADY_POSTED.value: "green",
        Status.HELD.value: "cyan",
        Status.FAILED.value: "red",
    }.get(status, "")


CSV_COLUMNS = (
    "company",
    "run_id",
    "record_type",
    "source_id",
    "document_number",
    "status",
    "current_status",
    "target",
    "ledger_number",
    "ledger_id",
    "finished_at",
    "acknowledged",
    "severity",
    "code",
    "text",
    "line",
    "hint",
)


def write_review_csv(review: Review, out: TextIO) -> None:
    """CSV for spreadsheets: one row per message (a record without messages gets one row
    with the message columns empty); dead letters come last with status ``dead_letter``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in review.rows:
        base = [
            r.company,
            r.run_id,
            r.record_type,
            r.source_id,
            r.document_number or "",
            r.status,
            r.current_status or "",
            r.target,
            r.ledger_number or "",
            r.ledger_id or "",
            r.finished_at.isoformat(),
            "" if r.acknowledged is None else str(r.acknowledged).lower(),
        ]
        if not r.messages:
            writer.writerow([*base, "", "", "", "", ""])
        for m in r.messages:
            writer.writerow(
                [*base, m.severity, m.code, m.text, "" if m.line is None else m.line, m.hint]
            )
    for d in review.dead_letters:
        writer.writerow(
            [
                d.company or "",
                d.run_id or "",
                d.record_type or "",
                d.source_id or "",
                "",
                "dead_letter",
                "",
                "",
                "",
                "",
                d.first_seen.isoformat(),
                "",
                Severity.ERROR.value,
                DEAD_LETTER_CODE,
                f"{d.error_class}: {d.error_text}",
                "",
                CATALOG[DEAD_LETTER_CODE].hint,
            ]
        )


def render_comparison(before: Review, after: Review, console: Any = None) -> None:
    """Counts per status before and after (``wisesync replay``)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    b, a = before.by_status(), after.by_status()
    table = Table(title="Before and after", title_justify="left")
    table.add_column("status")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for s in [*STATUSES, *sorted((set(a) | set(b)) - set(STATUSES))]:
        if b.get(s) or a.get(s):
            table.add_row(STATUS_LABELS.get(s, s), str(b.get(s, 0)), str(a.get(s, 0)))
    console.print(table)
