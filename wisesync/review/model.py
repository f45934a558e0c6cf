"""The review's read model: what one record, dead letter and run look like, and the review
of them (counts, errors, warnings, acknowledgements still to go, exit code, JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from wisesync.events.models import RecordType, Status
from wisesync.messages import CATALOG, Severity

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
    def extraction_failed(self) -> bool:
        """True when the run's extraction stopped with an error (records it never reached
        were not posted, whatever the rows say)."""
        return self.run is not None and bool(self.run.error)

    @property
    def all_posted(self) -> bool:
        """True when every record shown is in the ledger or deliberately held without an
        error, nothing was dead-lettered without a result, and (for a run) no result is
        missing and the extraction did not fail."""
        return (
            not any(r.failed for r in self.rows)
            and not self.unanswered_dead_letters()
            and self.missing == 0
            and not self.extraction_failed
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
            "extraction_failed": self.extraction_failed,
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


#: How the review names a source plugin (others: the plugin name, capitalised).
SOURCE_LABELS = {"connectwise": "ConnectWise"}


def source_label(source: str) -> str:
    """The display name of source plugin ``source``."""
    return SOURCE_LABELS.get(source, source.title())


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
