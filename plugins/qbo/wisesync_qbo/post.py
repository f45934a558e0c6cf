"""Posting a batch to QBO through ``/batch`` and finding documents again.

A batch of records (at most 30, QBO's batch limit) costs, in the usual case, ONE call:
the documents go in one ``BatchItemRequest``, each with its own ``bId`` (its position,
at most 10 characters as QBO requires when a ``requestid`` is sent). The request carries
a ``requestid`` derived from its exact body (``ws`` + 34 hex digits of its SHA-256, 36
characters, QBO's batch maximum), so a retry after a lost answer is answered from QBO's
record instead of creating the documents twice. Customers and vendors are read once per
``customers_ttl`` and created 30 per call (:mod:`wisesync_qbo.contacts`).

Each refused item's ``Fault.Error[]`` becomes the record's messages. A duplicate
DocNumber (6140) is looked up: when QBO's document is ours (its PrivateNote carries the
record's marker, see :func:`~wisesync_qbo.mapping.marker`) the record is posted and
linked (ALREADY_IN_LEDGER), else it fails DUPLICATE_DOCUMENT_NUMBER naming QBO's document.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from wisesync import money
from wisesync.events.models import PostOutcome, RecordEvent, Status
from wisesync.messages import Message, Severity, message
from wisesync_qbo.client import QboClient, error_code, error_text, fault_errors, quote
from wisesync_qbo.contacts import Failure, display_name, ensure_parties, load, name_key
from wisesync_qbo.mapping import Plan, marker

if TYPE_CHECKING:
    from wisesync_qbo.target import QboContext

BATCH_MAX = 30
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


def _party_failures(
    ctx: QboContext, plans: Sequence[Plan], now: float
) -> dict[tuple[str, str], Failure]:
    """Make every plan's customer/vendor exist in QBO; failures by (party, folded name)."""
    client, book = ctx.client, ctx.parties
    with book.lock:
        if now - book.loaded_at >= ctx.settings.customers_ttl:
            load(client, book, now)
        failures: dict[tuple[str, str], Failure] = {}
        for party in ("Customer", "Vendor"):
            records = [p.record for p in plans if p.entity.party == party]
            if records:
                made = ensure_parties(
                    client, book, records, party, multicurrency=ctx.reference.multicurrency
                )
                for key, failure in made.items():
                    failures[(party, key)] = failure
    return failures


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


def send_batch(client: QboClient, ctx: QboContext, plans: Sequence[Plan]) -> list[PostOutcome]:
    """One ``/batch`` call creating ``plans``; one outcome each, in order."""
    items = []
    for n, plan in enumerate(plans):
        item: dict[str, Any] = {
            "bId": str(n),
            "operation": "create",
            plan.entity.name: _with_party(ctx, plan),
        }
        options = _options(ctx, plan)
        if options:
            item["optionsData"] = options
        items.append(item)
    # the record events: the same events sent again (a lost answer, a redelivery after a
    # crash) reuse the requestid; a new attempt (a replay) does not get the old answer
    answers = client.batch(items, key=",".join(p.record.event_id for p in plans))
    outcomes = []
    for plan, answer in zip(plans, answers, strict=True):
        row = answer.get(plan.entity.name)
        if isinstance(row, dict) and row.get("Id"):
            outcomes.append(posted_outcome(plan, row, []))
        else:
            outcomes.append(failed_outcome(plan.record, item_errors(answer) + plan.messages))
    return outcomes


def post_plans(ctx: QboContext, plans: Sequence[Plan], now: float) -> list[PostOutcome]:
    """Post every plan without errors; one outcome per plan, in order."""
    outcomes: dict[int, PostOutcome] = {}
    sendable = []
    for i, plan in enumerate(plans):
        if not plan.ok:
            outcomes[i] = failed_outcome(plan.record, plan.messages)
        else:
            sendable.append((i, plan))
    failures = _party_failures(ctx, [p for _, p in sendable], now) if sendable else {}
    ready = []
    for i, plan in sendable:
        party, contact = plan.entity.party, plan.record.contact
        failure = (
            failures.get((party, name_key(display_name(contact)))) if party and contact else None
        )
        if failure is not None:
            outcomes[i] = failed_outcome(plan.record, [failure.message(), *plan.messages])
        else:
            ready.append((i, plan))
    for start in range(0, len(ready), BATCH_MAX):
        chunk = ready[start : start + BATCH_MAX]
        written = send_batch(ctx.client, ctx, [p for _, p in chunk])
        for (i, _), outcome in zip(chunk, written, strict=True):
            outcomes[i] = outcome
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
        for start in range(0, len(group), BATCH_MAX):
            queries.append((entity, group[start : start + BATCH_MAX]))
    found: dict[str, PostOutcome] = {}
    for start in range(0, len(queries), BATCH_MAX):
        chunk = queries[start : start + BATCH_MAX]
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
