"""Building PostingResults from events and target outcomes (shared by poster and extractor)."""

from __future__ import annotations

from wisesync.events.models import PostingResult, PostOutcome, RecordEvent, Status
from wisesync.messages import Message, message


def merge_messages(*groups: list[Message]) -> list[Message]:
    """Concatenate message lists, dropping exact repeats (same severity, code, text and line)."""
    seen: set[tuple] = set()
    merged: list[Message] = []
    for group in groups:
        for m in group:
            key = (m.severity, m.code, m.text, m.line)
            if key not in seen:
                seen.add(key)
                merged.append(m)
    return merged


def result_for(
    event: RecordEvent,
    status: Status,
    messages: list[Message],
    *,
    outcome: PostOutcome | None = None,
    api_calls: int = 0,
) -> PostingResult:
    """A PostingResult answering ``event``."""
    return PostingResult(
        record_event_id=event.event_id,
        run_id=event.run_id,
        trigger=event.trigger,
        company=event.company,
        record_type=event.record_type,
        source=event.source,
        source_id=event.source_id,
        target=event.target,
        status=status,
        document_number=event.document_number,
        ledger_id=outcome.ledger_id if outcome else None,
        ledger_number=outcome.ledger_number if outcome else None,
        ledger_total=outcome.ledger_total if outcome else None,
        source_total=event.totals.total
        if event.totals
        else (event.payment.amount if event.payment else None),
        messages=messages,
        source_batch_ids=list(event.source_batch_ids),
        attempt=event.attempt,
        api_calls=api_calls,
        content_hash=event.content_hash,
    )


def failed(
    event: RecordEvent,
    code: str,
    text: str,
    *,
    extra: list[Message] | None = None,
    api_calls: int = 0,
) -> PostingResult:
    """A failed result with one error message of ``code``."""
    return result_for(
        event,
        Status.FAILED,
        merge_messages(extra or [], [message(code, text)]),
        api_calls=api_calls,
    )
