"""Replay: reprocess what failed, re-extracted fresh from the source.

A replay never re-sends an old event. It asks the source again for the failed
records (so a fix made in ConnectWise or in the ledger takes effect), publishes
them with trigger ``replay`` and attempt + 1, and reports every requested record
the source no longer lists as unposted instead of posting it. The posting
journal still guards the ledger: a record that did post meanwhile is not posted
again. Consumer-group rewinds (``--rewind``) live here too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from wisesync.config import AppConfig
from wisesync.events.codec import Codec
from wisesync.events.models import PostingResult, RecordEvent, RecordType, Status, SyncRun, Trigger
from wisesync.messages import message
from wisesync.pipeline.extractor import Extractor
from wisesync.plugins import Registry
from wisesync.protocols import Held
from wisesync.review import (
    DeadLetterRow,
    RecordRow,
    ReviewFilter,
    query_dead_letters,
    query_records,
)
from wisesync.store.db import Database
from wisesync.transport.base import Transport

REPLAYABLE = ("failed", "held")
#: a record the source exported inside another's document: replaying it alone finds it
#: gone once that document posted, so the other record's replay stands for it
COMBINED = "SOURCE_RECORD_COMBINED"


@dataclass(frozen=True, slots=True)
class Wanted:
    """One record to replay."""

    company: str
    record_type: str
    source_id: str
    attempt: int
    label: str
    source: str
    target: str
    reason: str


@dataclass
class Selection:
    """What a replay will reprocess."""

    records: list[Wanted] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    undecodable: list[DeadLetterRow] = field(default_factory=list)

    def by_company(self) -> dict[str, list[Wanted]]:
        """Records grouped by company, in selection order."""
        out: dict[str, list[Wanted]] = defaultdict(list)
        for w in self.records:
            out[w.company].append(w)
        return dict(out)

    def __len__(self) -> int:
        return len(self.records)


def select(
    db: Database,
    *,
    run_id: str | None = None,
    company: str | None = None,
    since: datetime | None = None,
    codes: tuple[str, ...] = (),
    dlq: bool = False,
) -> Selection:
    """Choose what to replay: failed (or held) records, or dead-lettered ones with ``dlq``."""
    selection = Selection()
    seen: set[tuple[str, str, str]] = set()
    with db.connection() as conn:
        if dlq:
            for letter in query_dead_letters(conn, ReviewFilter(company=company, since=since)):
                if not (letter.company and letter.record_type and letter.source_id):
                    selection.undecodable.append(letter)
                    continue
                selection.dead_letters.append(letter)
                key = (letter.company, letter.record_type, letter.source_id)
                if key not in seen:
                    seen.add(key)
                    selection.records.append(
                        Wanted(
                            letter.company,
                            letter.record_type,
                            letter.source_id,
                            2,
                            f"{letter.record_type} #{letter.source_id}",
                            "",
                            "",
                            f"dead letter: {letter.error_class}",
                        )
                    )
        else:
            rows = query_records(
                conn,
                ReviewFilter(
                    run_id=run_id, company=company, since=since, statuses=REPLAYABLE, codes=codes
                ),
            )
            for row in rows:
                if (row.current_status or row.status) not in REPLAYABLE:
                    continue  # posted meanwhile
                if any(m.code == COMBINED for m in row.messages):
                    continue  # answered by the document it was combined into (its result)
                key = (row.company, row.record_type, row.source_id)
                if key not in seen:
                    seen.add(key)
                    selection.records.append(_wanted(row))
        conn.rollback()
    return selection


def _wanted(row: RecordRow) -> Wanted:
    codes = ", ".join(sorted({m.code for m in row.errors()} or {m.code for m in row.messages}))
    return Wanted(
        row.company,
        row.record_type,
        row.source_id,
        row.attempt + 1,
        row.label,
        row.source,
        row.target,
        codes or row.status,
    )


@dataclass
class ReplayOutcome:
    """One company's replay: its run and the records the source no longer had."""

    company: str
    run: SyncRun
    gone: list[Wanted]


def replay(
    selection: Selection,
    *,
    config: AppConfig,
    registry: Registry,
    db: Database,
    transport: Transport,
    requested_by: str,
    codec: Codec | None = None,
    on_record=None,
) -> list[ReplayOutcome]:
    """Re-extract and publish the selection, company by company."""
    codec = codec or Codec()
    producer = transport.producer()
    extractor = Extractor(
        config=config, registry=registry, db=db, transport=transport, codec=codec, producer=producer
    )
    outcomes = []
    try:
        for company_key, wanted in selection.by_company().items():
            company = config.company(company_key)
            ids: dict[RecordType, list[str]] = defaultdict(list)
            for w in wanted:
                ids[RecordType(w.record_type)].append(w.source_id)
            found: set[tuple[str, str]] = set()

            def seen(item: RecordEvent | Held, found: set = found) -> None:
                found.add((str(item.record_type), item.source_id))
                if on_record is not None:
                    on_record(item)

            run = extractor.sync(
                company,
                list(ids),
                trigger=Trigger.REPLAY,
                requested_by=requested_by,
                source_ids=ids,
                attempts={(w.record_type, w.source_id): w.attempt for w in wanted},
                on_record=seen,
            )
            gone = [w for w in wanted if (w.record_type, w.source_id) not in found]
            for w in gone:
                _report_gone(producer, codec, run, w, config)
                if on_record is not None:
                    on_record(w)
            outcomes.append(ReplayOutcome(company_key, run, gone))
        producer.flush()
        _mark_replayed(db, selection.dead_letters)
    finally:
        producer.close()
    return outcomes


def _report_gone(producer, codec: Codec, run: SyncRun, w: Wanted, config: AppConfig) -> None:
    company = config.company(w.company)
    rtype = RecordType(w.record_type)
    result = PostingResult(
        record_event_id=f"gone-{run.run_id}-{w.record_type}-{w.source_id}",
        run_id=run.run_id,
        trigger=Trigger.REPLAY,
        company=w.company,
        record_type=rtype,
        source=w.source or company.source_for(rtype),
        source_id=w.source_id,
        target=w.target or company.target_for(rtype),
        status=Status.FAILED,
        attempt=w.attempt,
        messages=[
            message(
                "SOURCE_RECORD_GONE",
                f"{w.label} is no longer unposted in {company.source_for(rtype)}; "
                "it was not replayed",
            )
        ],
    )
    producer.send(
        config.topics.results, w.company.encode(), codec.encode(result), codec.headers(result)
    )


def _mark_replayed(db: Database, letters: list[DeadLetterRow]) -> None:
    if not letters:
        return
    with db.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "UPDATE dead_letters SET replayed_at = now() WHERE topic=%s AND partition=%s "
            'AND "offset"=%s',
            [(d.topic, d.partition, d.offset) for d in letters],
        )


def rewind(
    transport: Transport,
    group: str,
    topic: str,
    *,
    to_offset: int | None = None,
    to_time_ms: int | None = None,
) -> dict[int, int]:
    """Move a consumer group back; refused while the group has live members."""
    return transport.admin().reset_offsets(group, topic, to_offset=to_offset, to_time_ms=to_time_ms)
