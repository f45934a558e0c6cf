"""The results review: what posted, what did not and why, for a run or a period.

Shared by ``wisesync sync-all``, ``wisesync results`` and ``wisesync replay``. Queries read
the reporter's tables (:mod:`wisesync.pipeline.reporter`); renderers print the same review
for people (rich tables: counts per record type x status, then every error with its code
and fix hint, then every warning) or for machines (JSON, CSV).

One review row is one record:

* with ``run_id``: the record's last result *in that run* (``current_status`` says where it
  stands now, e.g. ``posted`` after a later replay);
* without: the record's latest state (``records``), optionally since a time.

Posted records whose acknowledgement at the source is still pending are counted as "not
yet acknowledged" and summed up as "acknowledging in ConnectWise: N to go"; once the source has failed or refused at least once they also carry a
synthetic ``ACKNOWLEDGE_PENDING`` warning with the last error (``codes=("ACKNOWLEDGE_PENDING",)``
selects every record still pending, tried or not). Dead letters in scope (messages that
never got a result) are listed after the warnings and count as not posted.

>>> review = load_review(db, ReviewFilter(run_id=run.run_id))       # doctest: +SKIP
>>> render_review(review)                                           # doctest: +SKIP
>>> sys.exit(review.exit_code())                                      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO, TypeVar

from wisesync.events.models import RecordType, Status
from wisesync.messages import CATALOG, Severity
from wisesync.store.db import Database

_T = TypeVar("_T")

#: Statuses in the order the review shows them.
STATUSES: tuple[str, ...] = (
    Status.POSTED.value,
    Status.SKIPPED_ALREADY_POSTED.value,
    Status.HELD.value,
    Status.FAILED.value,
)
#: Statuses meaning "the record is in the ledger".
IN_LEDGER = frozenset({Status.POSTED.value, Status.SKIPPED_ALREADY_POSTED.value})
#: Statuses that do not make a review fail: in the ledger, or deliberately held back
#: (billing-status hold, a ledger's daily limit: the record waits, nothing is wrong with it).
#: A record held *with an error* (the source exported it unreadable or inconsistent, e.g.
#: SOURCE_TOTALS_MISMATCH) is a failure the user must fix: see :attr:`RecordRow.failed`.
NOT_A_FAILURE = IN_LEDGER | {Status.HELD.value}
STATUS_LABELS = {
    Status.POSTED.value: "posted",
    Status.SKIPPED_ALREADY_POSTED.value: "already posted",
    Status.HELD.value: "held",
    Status.FAILED.value: "failed",
}
ACK_CODE = "ACKNOWLEDGE_PENDING"
DEAD_LETTER_CODE = "INTERNAL_ERROR"


# --- model --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """What to review. Empty tuples / None mean "any"."""

    run_id: str | None = None
    company: str | None = None
    statuses: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    since: datetime | None = None
    record_types: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short human description ("run 3f2a… · company acme · since ...")."""
        parts = []
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.company:
            parts.append(f"company {self.company}")
        if self.record_types:
            parts.append("types " + ", ".join(self.record_types))
        if self.statuses:
            parts.append("status " + ", ".join(self.statuses))
        if self.codes:
            parts.append("code " + ", ".join(self.codes))
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        return " · ".join(parts) or "all records"

    def to_json(self) -> dict[str, Any]:
        """The filter as plain JSON values."""
        return {
            "run_id": self.run_id,
            "company": self.company,
            "statuses": list(self.statuses),
            "codes": list(self.codes),
            "since": self.since.isoformat() if self.since else None,
            "record_types": list(self.record_types),
        }


@dataclass(frozen=True, slots=True)
class ReviewMessage:
    """One message of a record's result, with the catalog's title and fix hint."""

    severity: str
    code: str
    text: str
    line: int | None = None

    @property
    def hint(self) -> str:
        """The one-line fix hint (empty for a code the catalog does not know)."""
        entry = CATALOG.get(self.code)
        return entry.hint if entry else ""

    @property
    def title(self) -> str:
        """The catalog title of the code."""
        entry = CATALOG.get(self.code)
        return entry.title if entry else self.code

    def to_json(self) -> dict[str, Any]:
        """JSON form, hint included."""
        return {
            "severity": self.severity,
            "code": self.code,
            "title": self.title,
            "text": self.text,
            "line": self.line,
            "hint": self.hint,
        }


@dataclass(slots=True)
class AckState:
    """The source acknowledgement of a record: pending rows, tries, last error, batch."""

    pending: int
    done: int
    tries: int
    last_error: str | None
    next_attempt_at: datetime | None
    batch_id: str | None

    @property
    def acknowledged(self) -> bool:
        """True when nothing is pending and at least one acknowledgement is done."""
        return self.pending == 0 and self.done > 0


@dataclass(slots=True)
class RecordRow:
    """One record in the review (its last result in scope)."""

    company: str
    source: str
    record_type: str
    source_id: str
    target: str
    status: str
    document_number: str | None
    ledger_id: str | None
    ledger_number: str | None
    ledger_total: Decimal | None
    source_total: Decimal | None
    run_id: str
    result_id: str
    record_event_id: str
    trigger: str
    attempt: int
    api_calls: int
    finished_at: datetime
    current_status: str | None
    messages: list[ReviewMessage] = field(default_factory=list)
    ack: AckState | None = None

    @property
    def label(self) -> str:
        """How people name the record: ``invoice INV-1001`` (or its source id)."""
        return f"{self.record_type} {self.document_number or '#' + self.source_id}"

    @property
    def in_ledger(self) -> bool:
        """Posted now or earlier."""
        return self.status in IN_LEDGER

    @property
    def acknowledged(self) -> bool | None:
        """None when no acknowledgement is owed (or the source cannot take one)."""
        return None if self.ack is None else self.ack.acknowledged

    @property
    def failed(self) -> bool:
        """True when the record needs the user: not in the ledger and not deliberately held,
        or held because of an error (an unreadable or inconsistent source record)."""
        if self.status == Status.HELD.value:
            return bool(self.errors())
        return self.status not in NOT_A_FAILURE

    def errors(self) -> list[ReviewMessage]:
        """Error messages."""
        return [m for m in self.messages if m.severity == Severity.ERROR]

    def warnings(self) -> list[ReviewMessage]:
        """Warning messages (including ACKNOWLEDGE_PENDING)."""
        return [m for m in self.messages if m.severity == Severity.WARNING]

    def to_json(self) -> dict[str, Any]:
        """JSON form of the row."""
        return {
            "company": self.company,
            "record_type": self.record_type,
            "source": self.source,
            "source_id": self.source_id,
            "document_number": self.document_number,
            "target": self.target,
            "status": self.status,
            "current_status": self.current_status,
            "ledger_id": self.ledger_id,
            "ledger_number": self.ledger_number,
            "ledger_total": _num(self.ledger_total),
            "source_total": _num(self.source_total),
            "run_id": self.run_id,
            "result_id": self.result_id,
            "record_event_id": self.record_event_id,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "api_calls": self.api_calls,
            "finished_at": self.finished_at.isoformat(),
            "acknowledged": self.acknowledged,
            "acknowledgement": None
            if self.ack is None
            else {
                "pending": self.ack.pending,
                "tries": self.ack.tries,
                "last_error": self.ack.last_error,
                "next_attempt_at": _iso(self.ack.next_attempt_at),
                "batch_id": self.ack.batch_id,
            },
            "messages": [m.to_json() for m in self.messages],
        }


@dataclass(slots=True)
class DeadLetterRow:
    """A dead-lettered message in scope."""

    topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int
    original_offset: int
    company: str | None
    run_id: str | None
    record_type: str | None
    source_id: str | None
    record_event_id: str | None
    error_class: str
    error_text: str
    first_seen: datetime
    replayed_at: datetime | None
    answered: bool

    @property
    def label(self) -> str:
        """The record it carried, or where it came from."""
        if self.record_type and self.source_id:
            return f"{self.record_type} #{self.source_id}"
        return f"{self.original_topic}[{self.original_partition}]@{self.original_offset}"

    def to_json(self) -> dict[str, Any]:
        """JSON form (the original bytes are not included)."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.original_offset,
            "company": self.company,
            "run_id": self.run_id,
            "record_type": self.record_type,
            "source_id": self.source_id,
            "record_event_id": self.record_event_id,
            "error_class": self.error_class,
            "error_text": self.error_text,
            "first_seen": self.first_seen.isoformat(),
            "replayed_at": _iso(self.replayed_at),
            "answered_by_a_result": self.answered,
            "hint": CATALOG[DEAD_LETTER_CODE].hint,
        }


@dataclass(slots=True)
class RunInfo:
    """A run manifest as the reporter stored it."""

    run_id: str
    company: str
    trigger: str
    requested_by: str
    record_types: list[str]
    extracted: dict[str, int]
    held: dict[str, int]
    started_at: datetime
    finished_at: datetime | None
    error: str | None

    @property
    def expected(self) -> int:
        """How many results the run owes: every published record plus every held one."""
        return sum(self.extracted.values()) + sum(self.held.values())

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "run_id": self.run_id,
            "company": self.company,
            "trigger": self.trigger,
            "requested_by": self.requested_by,
            "record_types": self.record_types,
            "extracted": self.extracted,
            "held": self.held,
            "expected_results": self.expected,
            "started_at": self.started_at.isoformat(),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
        }


@dataclass
class Review:
    """Everything the review shows, loaded once."""

    filter: ReviewFilter
    rows: list[RecordRow]
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    run: RunInfo | None = None
    #: With a run: results the run still owes (its manifest counts minus what arrived).
    missing: int = 0

    def counts(self) -> dict[str, dict[str, int]]:
        """``{record_type: {status: n}}`` over the rows, record types in catalog order."""
        out: dict[str, dict[str, int]] = {}
        for row in sorted(self.rows, key=lambda r: _type_order(r.record_type)):
            per = out.setdefault(row.record_type, {})
            per[row.status] = per.get(row.status, 0) + 1
        return out

    def by_status(self) -> dict[str, int]:
        """``{status: n}`` over all rows."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def errors(self) -> list[tuple[RecordRow, ReviewMessage]]:
        """Every error, grouped by code (then record)."""
        return _sorted_messages((r, m) for r in self.rows for m in r.errors())

    def warnings(self) -> list[tuple[RecordRow, ReviewMessage]]:
        """Every warning, grouped by code (then record)."""
        return _sorted_messages((r, m) for r in self.rows for m in r.warnings())

    def unacknowledged(self) -> list[RecordRow]:
        """Records in the ledger whose acknowledgement at the source is still pending."""
        return [r for r in self.rows if r.ack is not None and r.ack.pending]

    def acknowledging(self) -> dict[str, int]:
        """``{source: n}``: records shown whose acknowledgement at their source is still to
        come (the acknowledger works them; tried and refused ones included)."""
        out: dict[str, int] = {}
        for row in self.unacknowledged():
            out[row.source] = out.get(row.source, 0) + 1
        return out

    def acknowledging_text(self) -> str:
        """``acknowledging in ConnectWise: N to go`` per source ("" when nothing is owed)."""
        return "; ".join(
            f"acknowledging in {source_label(source)}: {n} to go"
            for source, n in sorted(self.acknowledging().items())
        )

    def unanswered_dead_letters(self) -> list[DeadLetterRow]:
        """Dead letters no result accounts for (the record has no row in the review)."""
        return [d for d in self.dead_letters if not d.answered]

    @property
    def all_posted(self) -> bool:
        """True when every record shown is in the ledger or deliberately held without an
        error, nothing was dead-lettered without a result, and (for a run) no result is
        missing."""
        return (
            not any(r.failed for r in self.rows)
            and not self.unanswered_dead_letters()
            and self.missing == 0
        )

    def exit_code(self) -> int:
        """0 when :attr:`all_posted`, else 1 (the CLI's contract)."""
        return 0 if self.all_posted else 1

    def summary(self) -> dict[str, Any]:
        """The headline numbers."""
        return {
            "records": len(self.rows),
            "by_status": {s: n for s, n in self.by_status().items()},
            "by_type": self.counts(),
            "errors": len(self.errors()),
            "warnings": len(self.warnings()),
            "unacknowledged": len(self.unacknowledged()),
            "acknowledging": self.acknowledging(),
            "dead_letters": len(self.dead_letters),
            "missing_results": self.missing,
            "all_posted": self.all_posted,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole review as one JSON document (what ``--json`` prints)."""
        return {
            "filter": self.filter.to_json(),
            "run": self.run.to_json() if self.run else None,
            "summary": self.summary(),
            "records": [r.to_json() for r in self.rows],
            "errors": [_flat(r, m) for r, m in self.errors()],
            "warnings": [_flat(r, m) for r, m in self.warnings()],
            "dead_letters": [d.to_json() for d in self.dead_letters],
        }


# --- queries ------------------------------------------------------------------------------

_ROW_COLUMNS = """l.company, l.source, l.record_type, l.source_id, l.target, l.status,
       l.document_number, l.ledger_id, l.ledger_number, l.ledger_total, l.source_total,
       l.run_id, l.result_id, l.record_event_id, l.trigger, l.attempt, l.api_calls,
       l.finished_at, cur.status,
       ack.pending, ack.done, ack.tries, ack.last_error, ack.next_attempt_at, ack.batch_id"""

_ROW_JOINS = """LEFT JOIN records cur
       ON cur.company = l.company AND cur.source = l.source
      AND cur.record_type = l.record_type AND cur.source_id = l.source_id
LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE k.state = 'pending') AS pending,
              count(*) FILTER (WHERE k.state = 'done') AS done,
              coalesce(max(k.tries) FILTER (WHERE k.state = 'pending'), 0) AS tries,
              (array_agg(k.last_error ORDER BY k.tries DESC, k.created_at DESC)
                   FILTER (WHERE k.state = 'pending' AND k.last_error IS NOT NULL))[1]
                  AS last_error,
              min(k.next_attempt_at) FILTER (WHERE k.state = 'pending') AS next_attempt_at,
              (array_agg(k.batch_id ORDER BY k.done_at DESC)
                   FILTER (WHERE k.state = 'done'))[1] AS batch_id
         FROM acknowledgements k
        WHERE k.company = l.company AND k.record_type = l.record_type
          AND k.source_id = l.source_id AND k.source = l.source
       ) ack ON true"""


def query_records(conn: Any, flt: ReviewFilter) -> list[RecordRow]:
    """The review rows for ``flt`` (status, type, run, company, since in SQL; codes after)."""
    params: dict[str, Any] = {
        "run": flt.run_id,
        "company": flt.company,
        "since": flt.since,
        "statuses": list(flt.statuses) or None,
        "types": list(flt.record_types) or None,
    }
    if flt.run_id:
        latest = """SELECT DISTINCT ON (a.company, a.source, a.record_type, a.source_id) a.*
                      FROM attempts a
                     WHERE a.run_id = %(run)s
                       AND (%(company)s::text IS NULL OR a.company = %(company)s)
                       AND (%(since)s::timestamptz IS NULL OR a.finished_at >= %(since)s)
                     ORDER BY a.company, a.source, a.record_type, a.source_id,
                              a.finished_at DESC, a.result_id COLLATE "C" DESC"""
    else:
        latest = """SELECT a.* FROM records r JOIN attempts a ON a.result_id = r.last_result_id
                     WHERE (%(company)s::text IS NULL OR r.company = %(company)s)
                       AND (%(since)s::timestamptz IS NULL OR r.updated_at >= %(since)s)"""
    sql = f"""WITH l AS ({latest})
              SELECT {_ROW_COLUMNS}
                FROM l
              {_ROW_JOINS}
               WHERE (%(statuses)s::text[] IS NULL OR l.status = ANY(%(statuses)s))
                 AND (%(types)s::text[] IS NULL OR l.record_type = ANY(%(types)s))
               ORDER BY l.company, l.record_type, l.document_number NULLS LAST, l.source_id"""
    rows = [_record_row(r) for r in conn.execute(sql, params).fetchall()]
    _attach_messages(conn, rows)
    if flt.codes:
        wanted = set(flt.codes)
        rows = [
            r
            for r in rows
            if any(m.code in wanted for m in r.messages)
            or (ACK_CODE in wanted and r.ack is not None and r.ack.pending > 0)
        ]
    return rows


def _record_row(r: tuple) -> RecordRow:
    (company, source, rtype, sid, target, status, docno, lid, lnum, ltotal, stotal, run_id,
     result_id, event_id, trigger, attempt, calls, finished, current,
     pending, done, tries, last_error, next_at, batch_id) = r  # fmt: skip
    ack = None
    if pending or done:
        ack = AckState(int(pending), int(done), int(tries), last_error, next_at, batch_id)
    return RecordRow(
        company=company,
        source=source,
        record_type=rtype,
        source_id=sid,
        target=target,
        status=status,
        document_number=docno,
        ledger_id=lid,
        ledger_number=lnum,
        ledger_total=ltotal,
        source_total=stotal,
        run_id=run_id,
        result_id=result_id,
        record_event_id=event_id,
        trigger=trigger,
        attempt=attempt,
        api_calls=calls,
        finished_at=finished,
        current_status=current,
        ack=ack,
    )


def _attach_messages(conn: Any, rows: list[RecordRow]) -> None:
    """Fill each row's messages (stored ones, then ACKNOWLEDGE_PENDING when owed)."""
    by_result = {r.result_id: r for r in rows}
    if by_result:
        for rid, severity, code, text, line in conn.execute(
            """SELECT result_id, severity, code, text, line FROM result_messages
                WHERE result_id = ANY(%s) ORDER BY result_id, idx""",
            (list(by_result),),
        ):
            by_result[rid].messages.append(ReviewMessage(severity, code, text, line))
    for row in rows:
        # Untried acknowledgements are in flight, not a problem: they are counted ("not yet
        # acknowledged") but become a warning only once the source has refused or failed.
        if row.ack is not None and row.ack.pending and row.ack.tries and row.in_ledger:
            row.messages.append(ReviewMessage(Severity.WARNING.value, ACK_CODE, _ack_text(row)))


def _ack_text(row: RecordRow) -> str:
    ack = row.ack
    assert ack is not None
    when = f"; next try {ack.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" if ack.next_attempt_at else ""
    return (
        f"posted, but not yet marked posted in {row.source} after {ack.tries} "
        f"tr{'y' if ack.tries == 1 else 'ies'}: {ack.last_error or 'no error recorded'}{when}"
    )


def query_dead_letters(conn: Any, flt: ReviewFilter) -> list[DeadLetterRow]:
    """Dead letters in scope: of the run (all), or not yet replayed (company, since)."""
    if flt.statuses and Status.FAILED.value not in flt.statuses:
        return []
    if flt.codes and DEAD_LETTER_CODE not in flt.codes:
        return []
    sql = """SELECT d.topic, d.partition, d."offset", d.original_topic, d.original_partition,
                    d.original_offset, d.company, d.run_id, d.record_type, d.source_id,
                    d.record_event_id, d.error_class, d.error_text, d.first_seen, d.replayed_at,
                    EXISTS (SELECT 1 FROM attempts a WHERE a.record_event_id = d.record_event_id)
               FROM dead_letters d
              WHERE (%(run)s::text IS NULL OR d.run_id = %(run)s)
                AND (%(run)s::text IS NOT NULL OR d.replayed_at IS NULL)
                AND (%(company)s::text IS NULL OR d.company = %(company)s)
                AND (%(since)s::timestamptz IS NULL OR d.first_seen >= %(since)s)
                AND (%(types)s::text[] IS NULL OR d.record_type = ANY(%(types)s))
              ORDER BY d.first_seen, d.topic, d.partition, d."offset" """
    params = {
        "run": flt.run_id,
        "company": flt.company,
        "since": flt.since,
        "types": list(flt.record_types) or None,
    }
    return [DeadLetterRow(*row) for row in conn.execute(sql, params).fetchall()]


def get_run(conn: Any, run_id: str) -> RunInfo | None:
    """The stored manifest of ``run_id`` (None until the reporter has seen it)."""
    row = conn.execute(
        """SELECT run_id, company, trigger, requested_by, record_types, extracted, held,
                  started_at, finished_at, error
             FROM sync_runs WHERE run_id = %s""",
        (run_id,),
    ).fetchone()
    return RunInfo(*row) if row else None


def latest_run_id(conn: Any, company: str | None = None) -> str | None:
    """The most recently started run (of ``company``), or None."""
    row = conn.execute(
        """SELECT run_id FROM sync_runs WHERE (%(c)s::text IS NULL OR company = %(c)s)
            ORDER BY started_at DESC LIMIT 1""",
        {"c": company},
    ).fetchone()
    return row[0] if row else None


def load_review(db: Database, flt: ReviewFilter) -> Review:
    """Run every query of the review for ``flt`` in one read-only snapshot."""
    with db.connection() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rows = query_records(conn, flt)
        letters = query_dead_letters(conn, flt)
        run = get_run(conn, flt.run_id) if flt.run_id else None
        missing = 0
        if flt.run_id and run is not None:
            missing = max(0, run.expected - _answered(conn, flt.run_id))
        conn.rollback()
    return Review(filter=flt, rows=rows, dead_letters=letters, run=run, missing=missing)


def unacknowledged(
    db: Database, *, company: str | None = None, since: datetime | None = None
) -> list[RecordRow]:
    """Records in the ledger whose acknowledgement at the source is still pending."""
    review = load_review(db, ReviewFilter(company=company, since=since, codes=(ACK_CODE,)))
    return review.unacknowledged()


def status_counts(db: Database, flt: ReviewFilter) -> dict[str, dict[str, int]]:
    """``{record_type: {status: n}}`` for ``flt`` (see :meth:`Review.counts`)."""
    return load_review(db, flt).counts()


#: How the review names a source plugin (others: the plugin name, capitalised).
SOURCE_LABELS = {"connectwise": "ConnectWise"}


def source_label(source: str) -> str:
    """The display name of source plugin ``source``."""
    return SOURCE_LABELS.get(source, source.title())


# --- waiting for a run --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run's results have arrived.

    ``expected`` is None until the manifest is stored (the extractor sends it when
    extraction ends). ``answered`` counts record events with a result, ``dead_lettered``
    those that only reached the dead-letter topic.
    """

    run_id: str
    expected: int | None
    answered: int
    dead_lettered: int
    finished: bool
    error: str | None = None
    acks_untried: int = 0

    @property
    def done(self) -> int:
        """Record events accounted for."""
        return self.answered + self.dead_lettered

    @property
    def complete(self) -> bool:
        """Every record event of the finished run is accounted for."""
        return self.finished and self.expected is not None and self.done >= self.expected


def _answered(conn: Any, run_id: str) -> int:
    (n,) = conn.execute(
        "SELECT count(DISTINCT record_event_id) FROM attempts WHERE run_id = %s", (run_id,)
    ).fetchone()
    return int(n)


def run_progress(conn: Any, run_id: str) -> RunProgress:
    """The current :class:`RunProgress` of ``run_id``."""
    run = get_run(conn, run_id)
    answered = _answered(conn, run_id)
    (letters,) = conn.execute(
        """SELECT count(*) FROM dead_letters d
            WHERE d.run_id = %s
              AND (d.record_event_id IS NULL OR NOT EXISTS (
                   SELECT 1 FROM attempts a WHERE a.record_event_id = d.record_event_id))""",
        (run_id,),
    ).fetchone()
    (untried,) = conn.execute(
        """SELECT count(*) FROM acknowledgements k JOIN attempts a USING (result_id)
            WHERE a.run_id = %s AND k.state = 'pending' AND k.tries = 0""",
        (run_id,),
    ).fetchone()
    return RunProgress(
        run_id=run_id,
        expected=run.expected if run else None,
        answered=answered,
        dead_lettered=int(letters),
        finished=bool(run and run.finished_at),
        error=run.error if run else None,
        acks_untried=int(untried),
    )


def wait_for_run(
    db: Database,
    run_id: str,
    timeout: float,
    progress_cb: Callable[[RunProgress], None] | None = None,
    *,
    poll_s: float = 0.25,
    acknowledged: bool = False,
) -> RunProgress:
    """Wait until every record event of ``run_id`` has a result (or a dead letter).

    The run's manifest says how many records were extracted and held; results carrying the
    run id answer them (held records arrive as ``held`` results). With ``acknowledged``,
    also wait until each owed acknowledgement was tried once (so the review shows
    ACKNOWLEDGE_PENDING only for real failures). ``progress_cb`` gets the progress whenever
    it changes. Returns the last progress: check ``.complete`` (False on timeout).
    """
    return _poll(
        db,
        lambda conn: run_progress(conn, run_id),
        lambda p: p.complete and (not acknowledged or p.acks_untried == 0),
        timeout,
        progress_cb,
        poll_s,
    )


def _poll(
    db: Database,
    read: Callable[[Any], _T],
    done: Callable[[_T], bool],
    timeout: float,
    progress_cb: Callable[[_T], None] | None,
    poll_s: float,
) -> _T:
    """Read ``read(conn)`` every ``poll_s`` until ``done`` says so or ``timeout`` passes;
    ``progress_cb`` gets each new value. Returns the last value read."""
    deadline = time.monotonic() + timeout
    last: _T | None = None
    while True:
        with db.connection() as conn:
            value = read(conn)
            conn.rollback()
        if progress_cb is not None and value != last:
            progress_cb(value)
        last = value
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def acknowledgements_to_go(conn: Any, run_id: str) -> dict[str, int]:
    """``{source: n}``: the records of ``run_id`` whose acknowledgement at the source is still
    pending (the same count as :meth:`Review.acknowledging` for the run's review)."""
    rows = conn.execute(
        """SELECT k.source, count(DISTINCT (k.record_type, k.source_id))
             FROM acknowledgements k JOIN attempts a USING (result_id)
            WHERE a.run_id = %s AND k.state = 'pending'
            GROUP BY k.source""",
        (run_id,),
    ).fetchall()
    return {source: int(n) for source, n in rows}


def wait_for_acknowledgements(
    db: Database,
    run_id: str,
    timeout: float,
    progress_cb: Callable[[dict[str, int]], None] | None = None,
    *,
    poll_s: float = 0.5,
) -> dict[str, int]:
    """Wait until every acknowledgement ``run_id`` owes its source is done (``sync-all
    --wait-ack``). ``progress_cb`` gets :func:`acknowledgements_to_go` whenever it changes.
    Returns what is still to go (empty when done; not empty on timeout)."""
    return _poll(
        db,
        lambda conn: acknowledgements_to_go(conn, run_id),
        lambda to_go: not to_go,
        timeout,
        progress_cb,
        poll_s,
    )


# --- --since ------------------------------------------------------------------------------

_AGO = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_AGO_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since`` values: a duration back from now (``90m``, ``24h``, ``7d``, ``2w``), an ISO
    date (``2025-01-31``, midnight UTC) or an ISO date-time (UTC when no offset is given)."""
    now = now or datetime.now(UTC)
    m = _AGO.match(text)
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _AGO_UNITS[m.group(2)])
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            d = date.fromisoformat(text.strip())
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use a duration back from now (90m, 24h, 7d, 2w), "
            "a date (2025-01-31) or a date-time (2025-01-31T09:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- rendering ----------------------------------------------------------------------------


def render_review(
    review: Review, console: Any = None, *, title: str | None = None, limit: int | None = None
) -> None:
    """Print the review for people: heading, counts per type x status, errors (grouped by
    code with the fix hint), warnings, dead letters, and a one-line summary.

    ``limit`` caps the error and warning tables (the counts still cover everything).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    console.print(Text(title or _heading(review), style="bold"))
    if review.run is not None:
        console.print(Text(_run_line(review.run), style="dim"))
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
    for name, items, style in (
        ("Errors", review.errors(), "red"),
        ("Warnings", review.warnings(), "yellow"),
    ):
        if items:
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
        label = f"{row.company}: {row.label}" if multi_company else row.label
        text = msg.text + (f" (line {msg.line + 1})" if msg.line is not None else "")
        table.add_row(
            Text(label), msg.code, Text(text), Text(msg.hint if msg.code != previous else "")
        )
        previous = msg.code
    return table


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
    return line + (f" · extraction error: {run.error}" if run.error else "")


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


# --- helpers ------------------------------------------------------------------------------


def _sorted_messages(
    items: Iterable[tuple[RecordRow, ReviewMessage]],
) -> list[tuple[RecordRow, ReviewMessage]]:
    return sorted(
        items,
        key=lambda rm: (
            rm[1].code,
            rm[0].company,
            _type_order(rm[0].record_type),
            rm[0].document_number or "",
            rm[0].source_id,
            rm[1].line if rm[1].line is not None else -1,
        ),
    )


def _type_order(record_type: str) -> tuple[int, str]:
    order = [t.value for t in RecordType]
    return (order.index(record_type) if record_type in order else len(order), record_type)


def _flat(row: RecordRow, msg: ReviewMessage) -> dict[str, Any]:
    return {
        "company": row.company,
        "record_type": row.record_type,
        "source_id": row.source_id,
        "document_number": row.document_number,
        "status": row.status,
        "run_id": row.run_id,
        **msg.to_json(),
    }


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
