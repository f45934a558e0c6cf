"""The review page's view of :func:`wisesync.review.load_review`: filters and paging.

The review is loaded through the read model the CLI uses (no copy of its queries), and kept
while the run's data is unchanged (:class:`ReviewCache`); the page filters it by status, code
and record type and shows one page of rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wisesync.messages import CATALOG
from wisesync.review import STATUS_LABELS, STATUSES, RecordRow, Review

if TYPE_CHECKING:
    from collections.abc import Callable

    from wisesync.store.db import Database

PAGE_SIZE = 100


@dataclass(frozen=True)
class PageFilter:
    """What the review page's filter form asked for (empty = any)."""

    status: str = ""
    code: str = ""
    record_type: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query: Any) -> PageFilter:
        """Read the query string; unknown or bad values mean "any" / page 1."""
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            query.get("status", "")[:40],
            query.get("code", "")[:80],
            query.get("type", "")[:40],
            page,
        )

    def matches(self, row: RecordRow) -> bool:
        """Does ``row`` pass the filter?"""
        if self.status and row.status != self.status:
            return False
        if self.record_type and row.record_type != self.record_type:
            return False
        return not self.code or any(m.code == self.code for m in row.messages)

    def query(self, **change: Any) -> dict[str, Any]:
        """The query string of this filter with ``change`` applied (for links)."""
        base = {"status": self.status, "code": self.code, "type": self.record_type}
        base.update(change)
        return {k: v for k, v in base.items() if v not in ("", None)}


@dataclass
class Summary:
    """What the review page shows of the whole run, computed once per loaded review."""

    counts: dict[str, dict[str, int]]
    statuses: list[str]
    by_status: dict[str, int]
    error_codes: list[dict[str, Any]]
    warning_codes: list[dict[str, Any]]
    errors: int
    warnings: int
    unacknowledged: int
    #: the CLI review's figure: "acknowledging in ConnectWise: N to go" ("" when none owed)
    acknowledging: str
    codes: list[str]
    types: list[str]


def summarise(review: Review) -> Summary:
    """Counts by type and status; errors and warnings grouped by code with their fix."""
    counts = review.counts()
    statuses = [s for s in STATUSES if any(s in c for c in counts.values())]
    statuses += sorted({s for c in counts.values() for s in c} - set(statuses))
    errors, warnings = review.errors(), review.warnings()
    return Summary(
        counts=counts,
        statuses=statuses,
        by_status=review.by_status(),
        error_codes=_by_code(errors),
        warning_codes=_by_code(warnings),
        errors=len(errors),
        warnings=len(warnings),
        unacknowledged=len(review.unacknowledged()),
        acknowledging=review.acknowledging_text(),
        codes=sorted({m.code for r in review.rows for m in r.messages}),
        types=list(counts),
    )


@dataclass
class ReviewPage:
    """Everything the template shows."""

    review: Review
    summary: Summary
    filter: PageFilter
    rows: list[RecordRow]
    total: int
    pages: int
    status_labels: dict[str, str]
    links: dict[str, str]


def build(
    review: Review,
    flt: PageFilter,
    link: Callable[[RecordRow], str | None] | None = None,
    summary: Summary | None = None,
) -> ReviewPage:
    """Filter and page ``review`` (``summary``: from :func:`summarise`, computed when None)."""
    matching = [r for r in review.rows if flt.matches(r)]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(flt.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    links = {}
    if link is not None:
        for row in shown:
            if row.ledger_id and row.in_ledger:
                url = link(row)
                if url:
                    links[row.result_id] = url
    return ReviewPage(
        review=review,
        summary=summary or summarise(review),
        filter=PageFilter(flt.status, flt.code, flt.record_type, page),
        rows=shown,
        total=len(matching),
        pages=pages,
        status_labels=STATUS_LABELS,
        links=links,
    )


class ReviewCache:
    """The last few runs' loaded reviews, reused while the run's results, acknowledgements,
    dead letters and its records' current state are unchanged (a cheap fingerprint query),
    so paging through 10,000 records does not load them again for every page."""

    def __init__(self, size: int = 4):
        self.size = size
        self._entries: dict[str, tuple[tuple, Review, Summary]] = {}
        self._lock = threading.Lock()

    def get(self, db: Database, run_id: str, company: str) -> tuple[Review, Summary]:
        """The run's review and summary, loaded again only when something changed."""
        from wisesync.review import ReviewFilter, load_review

        key = fingerprint(db, run_id, company)
        with self._lock:
            hit = self._entries.get(run_id)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        review = load_review(db, ReviewFilter(run_id=run_id))
        entry = (key, review, summarise(review))
        with self._lock:
            self._entries.pop(run_id, None)
            self._entries[run_id] = entry
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))
        return entry[1], entry[2]


def fingerprint(db: Database, run_id: str, company: str) -> tuple:
    """Changes whenever the run's review would: its results, their acknowledgements, its dead
    letters, its manifest, and the current state of the company's records."""
    with db.connection() as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM attempts WHERE run_id = %(r)s),
                      (SELECT max(finished_at) FROM attempts WHERE run_id = %(r)s),
                      (SELECT count(*) FILTER (WHERE k.state = 'pending')::text || '/' ||
                              coalesce(sum(k.tries), 0)::text || '/' || count(*)::text
                         FROM acknowledgements k JOIN attempts a USING (result_id)
                        WHERE a.run_id = %(r)s),
                      (SELECT count(*)::text || '/' || count(replayed_at)::text
                         FROM dead_letters WHERE run_id = %(r)s),
                      (SELECT finished_at FROM sync_runs WHERE run_id = %(r)s),
                      (SELECT max(updated_at) FROM records WHERE company = %(c)s)""",
            {"r": run_id, "c": company},
        ).fetchone()
    return tuple(row)


def _by_code(items: list) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row, msg in items:
        entry = out.setdefault(
            msg.code,
            {
                "code": msg.code,
                "title": msg.title,
                "hint": msg.hint,
                "records": set(),
                "failed": set(),
                "example": msg.text,
            },
        )
        entry["records"].add(row.result_id)
        if row.status == "failed" and (row.current_status or row.status) in ("failed", "held"):
            entry["failed"].add(row.result_id)
    return [{**e, "records": len(e["records"]), "failed": len(e["failed"])} for e in out.values()]


def catalog_title(code: str) -> str:
    """The catalog's title of ``code`` (the code itself when unknown)."""
    entry = CATALOG.get(code)
    return entry.title if entry else code
