"""The review's queries: review rows, dead letters and runs read from the reporter's
tables (:mod:`wisesync.pipeline.reporter`), loaded together by :func:`load_review`, and the
``--since`` values that bound them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wisesync.events.models import Status
from wisesync.messages import Severity
from wisesync.review.model import (
    ACK_CODE,
    DEAD_LETTER_CODE,
    AckState,
    DeadLetterRow,
    RecordRow,
    Review,
    ReviewFilter,
    ReviewMessage,
    RunInfo,
)
from wisesync.store.db import Database

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


def _answered(conn: Any, run_id: str) -> int:
    (n,) = conn.execute(
        "SELECT count(DISTINCT record_event_id) FROM attempts WHERE run_id = %s", (run_id,)
    ).fetchone()
    return int(n)


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
