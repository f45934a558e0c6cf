"""Mark posted records as posted in ConnectWise: accounting batches, created exactly once.

``POST /finance/accounting/batches`` with the records' GL entry ids
(``processedRecordIds``) takes them out of the Accounting Interface. ConnectWise
has no idempotency key, so every batch gets a deterministic identifier (at most
50 characters, naming company, record type and source id) and the batch is looked
up by that identifier before it is created and again after a lost response. A
retry therefore finds the batch instead of creating a second one.

By default each record gets its own batch (Wise-Sync's 1:1 audit trail between a
ConnectWise record and the ledger document); with
``company.options.ack_batch_per_record = false`` one acknowledge call creates one
batch for all its records.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from wisesync.config import CompanyConfig
from wisesync.errors import RemoteError
from wisesync.events.models import PostingResult, RecordType, Status
from wisesync.http import ResponseLost
from wisesync.protocols import AckOutcome
from wisesync_connectwise.client import ConnectWiseClient, ConnectWiseError
from wisesync_connectwise.conditions import in_

log = logging.getLogger(__name__)

BATCHES = "/finance/accounting/batches"
MAX_IDENTIFIER = 50
PREFIX = "WS"
#: Record type -> (short code in batch identifiers, export flag of the batch request).
TYPE_CODES: dict[RecordType, tuple[str, str]] = {
    RecordType.INVOICE: ("INV", "exportInvoicesFlag"),
    RecordType.CREDIT_MEMO: ("CM", "exportInvoicesFlag"),
    RecordType.EXPENSE: ("EXP", "exportExpensesFlag"),
    RecordType.PROCUREMENT: ("PRC", "exportProductsFlag"),
}
#: Identifiers looked up per ``batchIdentifier in (...)`` call.
LOOKUP_CHUNK = 100
#: Creates tried for one batch when responses keep getting lost.
CREATE_ATTEMPTS = 3
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_ACKABLE = (Status.POSTED, Status.SKIPPED_ALREADY_POSTED)


def batch_identifier(company: str, record_type: RecordType | str, source_id: str) -> str:
    """``WS-<company>-<type>-<source id>``, at most 50 characters, deterministic.

    When the plain form is too long the source id part is shortened and a hash of
    the full form keeps it unique.
    """
    code = TYPE_CODES[RecordType(record_type)][0]
    plain = f"{PREFIX}-{_clean(company)}-{code}-{_clean(source_id)}"
    if len(plain) <= MAX_IDENTIFIER:
        return plain
    digest = hashlib.sha256(f"{company}\0{record_type}\0{source_id}".encode()).hexdigest()[:10]
    head = f"{PREFIX}-{_clean(company)[:20]}-{code}-"
    room = MAX_IDENTIFIER - len(head) - len(digest) - 1
    return f"{head}{_clean(source_id)[:room]}~{digest}"


def group_identifier(company: str, keys: Iterable[tuple[str, str]]) -> str:
    """The identifier of a grouped batch: company plus a hash of its (type, source id)s."""
    digest = hashlib.sha256("\n".join(f"{t}:{s}" for t, s in sorted(keys)).encode()).hexdigest()[
        :16
    ]
    return f"{PREFIX}-{_clean(company)[:25]}-GRP-{digest}"


def _clean(text: str) -> str:
    return _UNSAFE.sub("_", str(text))


@dataclass(slots=True)
class _Batch:
    identifier: str
    results: list[PostingResult]
    gl_entry_ids: list[int] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)


class Acknowledger:
    """Creates the accounting batches for one company's posted results."""

    def __init__(self, client: ConnectWiseClient, company: CompanyConfig):
        self.client = client
        self.company = company

    def acknowledge(self, results: list[PostingResult]) -> list[AckOutcome]:
        """One :class:`AckOutcome` per result, in order. Never creates a batch twice."""
        by_id = {o.result_id: o for o in self.outcomes(results)}
        return [by_id[r.result_id] for r in results]

    def outcomes(self, results: list[PostingResult]) -> Iterator[AckOutcome]:
        """One :class:`AckOutcome` per result, each yielded as soon as it is known: refusals
        first, then each batch's results once it was found or created."""
        batches: list[_Batch] = []
        grouped: _Batch | None = None
        for result in results:
            problem = self._refusal(result)
            if problem:
                yield AckOutcome(result.result_id, result.source_id, False, error=problem)
                continue
            code_flag = TYPE_CODES[RecordType(result.record_type)][1]
            ids = [int(x) for x in result.source_batch_ids]
            if self.company.options.ack_batch_per_record:
                batch = _Batch(
                    batch_identifier(self.company.key, result.record_type, result.source_id),
                    [result],
                )
                batches.append(batch)
            else:
                if grouped is None:
                    grouped = _Batch("", [])
                    batches.append(grouped)
                batch = grouped
                batch.results.append(result)
            batch.gl_entry_ids.extend(ids)
            batch.flags.add(code_flag)
        if grouped is not None:
            grouped.identifier = group_identifier(
                self.company.key, ((str(r.record_type), r.source_id) for r in grouped.results)
            )
        existing = self._find([b.identifier for b in batches])
        for batch in batches:
            batch_id = existing.get(batch.identifier)
            error = None
            if batch_id is None:
                try:
                    batch_id = self._create(batch)
                except (RemoteError, ResponseLost) as exc:
                    error = str(exc)
                    log.warning("ConnectWise batch %s not created: %s", batch.identifier, exc)
            for result in batch.results:
                yield AckOutcome(
                    result.result_id,
                    result.source_id,
                    batch_id is not None,
                    batch_id=batch_id,
                    error=error,
                )

    def _refusal(self, result: PostingResult) -> str | None:
        if result.status not in _ACKABLE:
            return f"not acknowledged: the record's status is {result.status}, not posted"
        try:
            record_type = RecordType(result.record_type)
        except ValueError:
            record_type = None
        if record_type not in TYPE_CODES:
            return f"not acknowledged: ConnectWise does not batch {result.record_type} records"
        if result.company != self.company.key:
            return (
                f"not acknowledged: result of company {result.company!r}, not {self.company.key!r}"
            )
        if not result.source_batch_ids:
            return "not acknowledged: the result carries no ConnectWise GL entry ids"
        if not all(str(x).strip().isdigit() for x in result.source_batch_ids):
            return "not acknowledged: a GL entry id is not a number"
        return None

    def _find(self, identifiers: list[str]) -> dict[str, str]:
        """Existing batches by identifier (one look-up call per ``LOOKUP_CHUNK``)."""
        found: dict[str, str] = {}
        unique = sorted(set(identifiers))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            for batch in self.client.get_all(BATCHES, conditions=in_("batchIdentifier", chunk)):
                ident = batch.get("batchIdentifier")
                if ident in chunk and batch.get("id") is not None:
                    found[ident] = str(batch["id"])
        return found

    def _create(self, batch: _Batch) -> str:
        """Create the batch; after a lost response look it up before trying again."""
        body = {
            "batchIdentifier": batch.identifier,
            "processedRecordIds": sorted(set(batch.gl_entry_ids)),
            **{flag: True for flag in sorted(batch.flags)},
        }
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                response = self.client.post_json(BATCHES, body)
            except ConnectWiseError as exc:
                # Created meanwhile by another acknowledger: the identifier is taken.
                if exc.has_code("ObjectExists") and exc.field == "batchIdentifier":
                    found = self._find([batch.identifier]).get(batch.identifier)
                    if found is not None:
                        return found
                raise
            except ResponseLost:
                found = self._find([batch.identifier]).get(batch.identifier)
                if found is not None:
                    return found
                if attempt == CREATE_ATTEMPTS:
                    raise
                continue
            created = self._batch_id(response.body)
            if created is not None:
                return created
            # The body (a GLExport) does not carry the batch id: read it back.
            found = self._find([batch.identifier]).get(batch.identifier)
            if found is None:
                raise RemoteError(
                    "ConnectWise",
                    response.status,
                    f"batch {batch.identifier} was accepted but cannot be found",
                )
            return found
        raise AssertionError("unreachable")

    @staticmethod
    def _batch_id(body: object) -> str | None:
        """The new batch's id from the POST answer: a GLExport whose ``exportSettings``
        name the batch (or an AccountingBatch). None when it says nothing."""
        if not isinstance(body, dict):
            return None
        for holder in (body.get("exportSettings"), body.get("batch"), body):
            if isinstance(holder, dict):
                for key in ("batchId", "id"):
                    if holder.get(key) is not None:
                        return str(holder[key])
        return None
