"""Posting a batch to QBO through ``/batch`` and finding documents again.

A post of ``limits.batch_size`` records goes out in ``/batch`` calls of at most 30
operations (QBO's batch limit), each call filled: the customers and vendors to create or
update first, then documents whose party is ready, so new customers cost a share of a
call rather than calls of their own (about (records + new parties) / 30 calls). Each item
has its own ``bId`` (at most 10 characters, as QBO requires when a ``requestid`` is
sent). Each request carries
a ``requestid`` derived from its exact body (``ws`` + 34 hex digits of its SHA-256, 36
characters, QBO's batch maximum), so a retry after a lost answer is answered from QBO's
record instead of creating the documents twice. Customers and vendors are read once per
``customers_ttl`` (:mod:`wisesync_qbo.contacts`).

Each refused item's ``Fault.Error[]`` becomes the record's messages. A duplicate
DocNumber (6140) is looked up: when QBO's document is ours (its PrivateNote carries the
record's marker, see :func:`~wisesync_qbo.mapping.marker`) the record is posted and
linked (ALREADY_IN_LEDGER), else it fails DUPLICATE_DOCUMENT_NUMBER naming QBO's document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from wisesync import money
from wisesync.events.models import PostOutcome, RecordEvent, Status
from wisesync.messages import Message, Severity, message
from wisesync_qbo.client import error_code, error_text, fault_errors, quote
from wisesync_qbo.contacts import (
    PARTIES,
    Failure,
    PartyOp,
    display_name,
    failure_of,
    load,
    look_up,
    name_key,
    plan_parties,
    reread,
    settle,
    update_op,
    updated,
)
from wisesync_qbo.limits import BATCH_OPERATIONS
from wisesync_qbo.mapping import Plan, marker
from wisesync_qbo.terms import ensure_terms

if TYPE_CHECKING:
    from wisesync_qbo.target import QboContext

#: QBO error code -> wisesync code (the rest: LEDGER_VALIDATION)
CODES = {
    "610": "LEDGER_ACCOUNT_MISSING",
    "2500": "LEDGER_ACCOUNT_MISSING",
    "6100": "TAX_CODE_INVALID",
    "6140": "DUPLICATE_DOCUMENT_NUMBER",
    "6240": "CONTACT_INVALID",
    "5010": "SYNC_TOKEN_CONFLICT",
}


def _code(error: dict[str, Any]) -> str:
    """The wisesync code of one QBO error; a refused customer/vendor reference (inactive:
    610, unknown: 2500) is the contact's problem, not an account's."""
    code = CODES.get(error_code(error), "LEDGER_VALIDATION")
    if code == "LEDGER_ACCOUNT_MISSING" and error.get("element") in ("CustomerRef", "VendorRef"):
        return "CONTACT_INVALID"
    return code


def item_errors(answer: dict[str, Any]) -> list[Message]:
    """The messages of a refused batch item (every Error of its Fault)."""
    errors = fault_errors({"Fault": answer.get("Fault")})
    out = [message(_code(e), f"QuickBooks error {error_code(e)}: {error_text(e)}") for e in errors]
    return out or [message("LEDGER_VALIDATION", "QuickBooks refused the document without a reason")]


def _decimal(value: Any) -> Decimal | None:
    try:
        return money.to_decimal(value, field="TotalAmt") if value is not None else None
    except money.MoneyError:
        return None


def posted_outcome(plan: Plan, row: dict[str, Any], extra: list[Message]) -> PostOutcome:
    """The outcome of a document QBO holds, with the plan's warnings."""
    total = _decimal(row.get("TotalAmt"))
    messages = [m for m in plan.messages if not m.is_error] + extra
    if total is not None and plan.expected_total is not None and total != plan.expected_total:
        messages.append(
            message(
                "LEDGER_VALIDATION",
                f"QuickBooks' total {money.fmt(total)} differs from the expected "
                f"{money.fmt(plan.expected_total)}; check the document in QuickBooks.",
                severity=Severity.WARNING,
            )
        )
    return PostOutcome(
        source_id=plan.record.source_id,
        status=Status.POSTED,
        ledger_id=str(row.get("Id") or "") or None,
        ledger_number=str(row.get("DocNumber") or "") or None,
        ledger_total=total,
        messages=messages,
    )


def failed_outcome(record: RecordEvent, messages: list[Message]) -> PostOutcome:
    """A failed outcome (errors first)."""
    ordered = [m for m in messages if m.is_error] + [m for m in messages if not m.is_error]
    return PostOutcome(source_id=record.source_id, status=Status.FAILED, messages=ordered)


def _with_party(ctx: QboContext, plan: Plan) -> dict[str, Any]:
    assert plan.body is not None
    party = plan.entity.party
    if party is None:
        return plan.body
    contact = plan.record.contact
    assert contact is not None
    found = ctx.parties.find(party, display_name(contact))
    assert found is not None
    return {**plan.body, f"{party}Ref": {"value": found.id, "name": found.name}}


def _options(ctx: QboContext, plan: Plan) -> str | None:
    if plan.entity.name in ("Bill", "VendorCredit") and ctx.settings.duplicate_bill_numbers:
        return "allowduplicatedocnum"
    return None


def _doc_item(ctx: QboContext, plan: Plan, bid: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "bId": bid,
        "operation": "create",
        plan.entity.name: _with_party(ctx, plan),
    }
    options = _options(ctx, plan)
    if options:
        item["optionsData"] = options
    return item


def _doc_outcome(plan: Plan, answer: dict[str, Any]) -> PostOutcome:
    row = answer.get(plan.entity.name)
    if isinstance(row, dict) and row.get("Id"):
        return posted_outcome(plan, row, [])
    return failed_outcome(plan.record, item_errors(answer) + plan.messages)


@dataclass
class _Queue:
    """The operations of one post still to send: customer/vendor writes, the documents
    ready to go (their party known and current) and those waiting for their party's write
    (by party key)."""

    ops: list[PartyOp]
    ready: list[tuple[int, Plan]]
    waiting: dict[tuple[str, str], list[tuple[int, Plan]]]
    #: document index -> the CONTACT_UPDATED warning it carries (its party's first)
    notes: dict[int, Message] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.ops or self.ready)

    def take(self) -> tuple[list[PartyOp], list[tuple[int, Plan]]]:
        """The next call's share: party writes first, documents in the room left."""
        ops, self.ops = self.ops[:BATCH_OPERATIONS], self.ops[BATCH_OPERATIONS:]
        room = BATCH_OPERATIONS - len(ops)
        docs, self.ready = self.ready[:room], self.ready[room:]
        return ops, docs


def _queue(
    ctx: QboContext, sendable: list[tuple[int, Plan]], outcomes: dict[int, PostOutcome]
) -> _Queue:
    """Plan the party writes of ``sendable`` and file each document as ready or waiting;
    documents whose party cannot be used fail here."""
    book = ctx.parties
    ops: list[PartyOp] = []
    failures: dict[tuple[str, str], Failure] = {}
    for party in PARTIES:
        records = [p.record for _, p in sendable if p.entity.party == party]
        if records:
            planned, failed = plan_parties(
                book, records, party, multicurrency=ctx.reference.multicurrency
            )
            ops += planned
            failures.update({(party, key): f for key, f in failed.items()})
    pending = {op.key for op in ops}
    queue = _Queue(ops, [], {})
    for i, plan in sendable:
        party, contact = plan.entity.party, plan.record.contact
        key = (party, name_key(display_name(contact))) if party and contact else None
        if key in failures:
            outcomes[i] = failed_outcome(plan.record, [failures[key].message(), *plan.messages])
        elif key in pending:
            queue.waiting.setdefault(key, []).append((i, plan))
        else:
            queue.ready.append((i, plan))
    return queue


def _fail_waiting(queue: _Queue, op: PartyOp, error: dict[str, Any], outcomes) -> None:
    failure = failure_of(op, error)
    for i, plan in queue.waiting.pop(op.key, []):
        outcomes[i] = failed_outcome(plan.record, [failure.message(), *plan.messages])


def _send(ctx: QboContext, queue: _Queue, outcomes: dict[int, PostOutcome]) -> None:
    """Send the queue in ``/batch`` calls of at most 30 operations, each filled up: the
    party writes go first and the documents that need them follow in a later call (QBO
    does not let an item refer to an entity created in the same batch).

    Two refusals are looked into once before they fail the documents: a stale update
    (5010) is read again and retried (a second 5010: SYNC_TOKEN_CONFLICT); a create whose
    name QBO already has (6240) is looked up by name, and when that party is one of ours
    (created by an earlier attempt whose answer was lost, or since the book was read) its
    documents go on; when the name is another kind's (a vendor, an employee) they fail
    CONTACT_INVALID."""
    book, retried = ctx.parties, set()
    while queue:
        ops, docs = queue.take()
        items = [op.item(f"p{n}") for n, op in enumerate(ops)]
        items += [_doc_item(ctx, plan, str(n)) for n, (_, plan) in enumerate(docs)]
        # the record events: the same events sent again (a lost answer, a redelivery after a
        # crash) reuse the requestid; a new attempt (a replay) does not get the old answer
        carried = [plan for _, plan in docs]
        carried += [plan for op in ops for _, plan in queue.waiting.get(op.key, [])]
        answers = ctx.client.batch(items, key=",".join(p.record.event_id for p in carried))
        again: list[tuple[PartyOp, dict[str, Any]]] = []
        for op, answer in zip(ops, answers, strict=False):
            error = settle(book, op, answer)
            if error is None:
                waiting = queue.waiting.pop(op.key, [])
                note = updated(book, op)
                if note is not None and waiting:
                    queue.notes[waiting[0][0]] = note
                queue.ready += waiting
            elif error_code(error) in ("5010", "6240") and op.key not in retried:
                again.append((op, error))
            else:
                _fail_waiting(queue, op, error, outcomes)
        for (i, plan), answer in zip(docs, answers[len(ops) :], strict=True):
            outcomes[i] = _doc_outcome(plan, answer)
            if i in queue.notes and outcomes[i].status is Status.POSTED:
                outcomes[i].messages.append(queue.notes.pop(i))
        retried.update(op.key for op, _ in again)
        _look_again(ctx, queue, again, outcomes)


def _look_again(
    ctx: QboContext,
    queue: _Queue,
    again: list[tuple[PartyOp, dict[str, Any]]],
    outcomes: dict[int, PostOutcome],
) -> None:
    """Read the refused parties of ``again`` afresh: a stale update is queued once more; a
    create refused 6240 goes on with the party found under its name, or fails."""
    book = ctx.parties
    stale: list[PartyOp] = []
    clashes: list[tuple[PartyOp, dict[str, Any]]] = []
    for op, error in again:
        code = error_code(error)
        if code == "5010" and op.operation == "update":
            stale.append(op)
        elif code == "6240" and op.operation == "create":
            clashes.append((op, error))
        else:
            _fail_waiting(queue, op, error, outcomes)
    if stale:  # the Sync Token Issue: read them again, try once more
        reread(ctx.client, book, stale)
        queue.ops += [update_op(book, op.party, op.contact, op.change) for op in stale]
    if clashes:
        wanted: dict[str, set[str]] = {}
        for op, _ in clashes:
            wanted.setdefault(op.party, set()).add(op.name)
        look_up(ctx.client, book, wanted, always=True)
        for op, error in clashes:
            found = book.find(op.party, op.name)
            if found is not None and found.active:
                queue.ready += queue.waiting.pop(op.key, [])
            else:
                _fail_waiting(queue, op, error, outcomes)


def post_plans(ctx: QboContext, plans: Sequence[Plan], now: float) -> list[PostOutcome]:
    """Post every plan without errors; one outcome per plan, in order.

    The customers and vendors they need are created (or updated) in the same ``/batch``
    calls as documents whose parties are ready, so a post of ``limits.batch_size`` records
    costs about (records + new parties) / 30 calls."""
    outcomes: dict[int, PostOutcome] = {}
    sendable = []
    for i, plan in enumerate(plans):
        if not plan.ok:
            outcomes[i] = failed_outcome(plan.record, plan.messages)
        else:
            sendable.append((i, plan))
    if sendable:
        with ctx.parties.lock:
            if now - ctx.parties.loaded_at >= ctx.settings.customers_ttl:
                load(ctx.client, ctx.parties, now)
            wanted: dict[str, set[str]] = {}
            for _, plan in sendable:
                if plan.entity.party and plan.record.contact is not None:
                    name = display_name(plan.record.contact)
                    wanted.setdefault(plan.entity.party, set()).add(name)
            look_up(ctx.client, ctx.parties, wanted)
            ensure_terms(ctx.client, ctx.reference, [p for _, p in sendable])
            _send(ctx, _queue(ctx, sendable, outcomes), outcomes)
    _resolve_duplicates(ctx, plans, outcomes)
    return [outcomes[i] for i in range(len(plans))]


def _resolve_duplicates(
    ctx: QboContext, plans: Sequence[Plan], outcomes: dict[int, PostOutcome]
) -> None:
    """6140 on a document QBO already has from us (an earlier attempt whose answer was lost)
    becomes ``posted``, linked to it; on someone else's it names that document."""
    dupes = {
        i: plans[i]
        for i, o in outcomes.items()
        if o.status is Status.FAILED
        and plans[i].ok
        and any(m.code == "DUPLICATE_DOCUMENT_NUMBER" for m in o.messages)
    }
    if not dupes:
        return
    found = find_plans(ctx, list(dupes.values()))
    for i, plan in dupes.items():
        outcome = found.get(plan.record.source_id)
        if outcome is not None:
            outcome.messages = [m for m in plan.messages if not m.is_error] + [
                message(
                    "ALREADY_IN_LEDGER",
                    f"QuickBooks already has {plan.entity.name} {outcome.ledger_number} for this "
                    "record (an earlier attempt); linked, not posted again",
                )
            ]
            outcomes[i] = outcome
        else:
            outcomes[i] = failed_outcome(
                plan.record,
                [
                    message(
                        "DUPLICATE_DOCUMENT_NUMBER",
                        f"QuickBooks already has another document numbered {plan.number} (not "
                        f"posted by wisesync for this record): {_dupe_detail(outcomes[i])}. Void "
                        "or renumber one of them in QuickBooks, then replay.",
                    ),
                    *[m for m in plan.messages if not m.is_error],
                ],
            )


def _dupe_detail(outcome: PostOutcome) -> str:
    text = next((m.text for m in outcome.messages if m.code == "DUPLICATE_DOCUMENT_NUMBER"), "")
    start = text.find("DocNumber=")
    return text[start:] if start >= 0 else text


# --- finding ----------------------------------------------------------------------------


def _ours(plan: Plan, row: dict[str, Any]) -> bool:
    return marker(plan.record) in str(row.get("PrivateNote") or "")


def find_plans(ctx: QboContext, plans: Sequence[Plan]) -> dict[str, PostOutcome]:
    """Documents QBO has for ``plans``: same entity and DocNumber, written by wisesync for
    the same record (PrivateNote marker). One ``/batch`` of queries per 30 entity/number
    groups."""
    groups: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.number:
            groups.setdefault(plan.entity.name, []).append(plan)
    queries: list[tuple[str, list[Plan]]] = []
    for entity, group in groups.items():
        for start in range(0, len(group), BATCH_OPERATIONS):
            queries.append((entity, group[start : start + BATCH_OPERATIONS]))
    found: dict[str, PostOutcome] = {}
    for start in range(0, len(queries), BATCH_OPERATIONS):
        chunk = queries[start : start + BATCH_OPERATIONS]
        items = [
            {
                "bId": str(n),
                "Query": f"select * from {entity} where DocNumber IN ("
                + ", ".join(quote(n) for n in sorted({p.number for p in group}))
                + ") maxresults 1000",
            }
            for n, (entity, group) in enumerate(chunk)
        ]
        for (entity, group), answer in zip(chunk, ctx.client.batch(items), strict=True):
            rows = (answer.get("QueryResponse") or {}).get(entity) or []
            for plan in group:
                row = next(
                    (r for r in rows if str(r.get("DocNumber")) == plan.number and _ours(plan, r)),
                    None,
                )
                if row is not None:
                    outcome = posted_outcome(plan, row, [])
                    outcome.messages = []
                    found[plan.record.source_id] = outcome
    return found
