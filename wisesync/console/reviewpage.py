"""The review page's view of :func:`wisesync.pipeline.review.load_review`: filters and paging.

The review is loaded once per request through the read model the CLI uses (no copy of its
queries); the page filters it by status, code and record type and shows one page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wisesync.messages import CATALOG
from wisesync.pipeline.review import STATUS_LABELS, STATUSES, RecordRow, Review

if TYPE_CHECKING:
    from collections.abc import Callable

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
class ReviewPage:
    """Everything the template shows."""

    review: Review
    filter: PageFilter
    rows: list[RecordRow]
    total: int
    pages: int
    counts: dict[str, dict[str, int]]
    statuses: list[str]
    error_codes: list[dict[str, Any]]
    warning_codes: list[dict[str, Any]]
    codes: list[str]
    types: list[str]
    status_labels: dict[str, str]
    links: dict[str, str]


def build(
    review: Review, flt: PageFilter, link: Callable[[RecordRow], str | None] | None = None
) -> ReviewPage:
    """Filter and page ``review``; group its errors and warnings by code with their fix."""
    matching = [r for r in review.rows if flt.matches(r)]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(flt.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    counts = review.counts()
    statuses = [s for s in STATUSES if any(s in c for c in counts.values())]
    statuses += sorted({s for c in counts.values() for s in c} - set(statuses))
    links = {}
    if link is not None:
        for row in shown:
            if row.ledger_id and row.in_ledger:
                url = link(row)
                if url:
                    links[row.result_id] = url
    return ReviewPage(
        review=review,
        filter=PageFilter(flt.status, flt.code, flt.record_type, page),
        rows=shown,
        total=len(matching),
        pages=pages,
        counts=counts,
        statuses=statuses,
        error_codes=_by_code(review.errors()),
        warning_codes=_by_code(review.warnings()),
        codes=sorted({m.code for r in review.rows for m in r.messages}),
        types=list(counts),
        status_labels=STATUS_LABELS,
        links=links,
    )


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
