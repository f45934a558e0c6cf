"""Posting a batch to Xero and finding documents again.

One batch (at most 50 records) costs, in the usual case, one ``PUT /Invoices`` (plus
one ``PUT /CreditNotes`` when the batch holds credits, one ``PUT /ManualJournals`` when
it holds inventory adjustments or transfers). Contacts cost nothing per
batch: the tenant's contact list is read once per TTL (one call per 1,000
contacts), a known contact is sent by ``ContactID``, and a new one is sent in full
inside the document, where Xero matches it by ContactNumber, then Name, or creates
it (reference/xero.md, "/Contacts (lookups)"). Organisations with more contacts than
:data:`MAX_LIST_PAGES` pages are not listed; each batch then looks up its uncached
contacts with one ``where`` query.

Every write is ``summarizeErrors=false`` (one element per record, in order, HTTP 200
even when some fail), ``unitdp=4``, with an ``Idempotency-Key`` that is the SHA-256
of the exact request body, so a retry of the same request within Xero's window is
answered from Xero's cache instead of creating documents again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from wisesync import money
from wisesync.errors import RemoteError, RemoteUnavailable
from wisesync.events.models import PostOutcome, RecordEvent, Status
from wisesync.messages import Message, Severity, message
from wisesync_xero.contacts import (
    ContactBook,
    ContactRef,
    contact_name,
    contact_number,
    name_key,
    new_contact_body,
    parse_contacts,
    quote,
    where_for,
)
from wisesync_xero.documents import KINDS, DocKind
from wisesync_xero.journals import debit_total
from wisesync_xero.mapping import Plan

if TYPE_CHECKING:
    from wisesync_xero.target import XeroContext

CONTACT_PAGE_SIZE = 1000
MAX_LIST_PAGES = 3
LOOKUP_CHUNK = 40
#: Longest ``where`` filter sent at once: narrations are long, and a URL beyond a couple
#: of thousand characters risks being refused by the server (Xero's limit is not
#: documented; unconfirmed).
LOOKUP_CHARS = 1500
WRITE_PARAMS = {"summarizeErrors": "false", "unitdp": "4"}


# --- Xero's messages -> wisesync codes ------------------------------------------------


def error_code(text: str) -> str:
    """The wisesync code for one of Xero's validation messages."""
    t = text.lower()
    if "subscribed to currency" in t:  # the organisation has not added the currency
        return "CURRENCY_NOT_ENABLED"
    if "account code" in t or "account must be valid" in t:
        if "must be specified" in t:
            return "GL_MAPPING_MISSING"
        return "LEDGER_ACCOUNT_MISSING"
    if "must be unique" in t and "contact" not in t:
        return "DUPLICATE_DOCUMENT_NUMBER"
    if "taxtype" in t or "tax rate" in t or "tax type" in t:
        return "TAX_CODE_INVALID"
    if "tracking" in t:
        return "TRACKING_MISSING"
    if "contact" in t:
        return "CONTACT_INVALID"
    return "LEDGER_VALIDATION"


def _texts(items: Iterable[Any] | None) -> list[str]:
    return [str(i.get("Message")) for i in items or [] if isinstance(i, dict) and i.get("Message")]


def element_errors(element: dict[str, Any]) -> list[Message]:
    """Error messages for a refused element (document and line level, de-duplicated)."""
    texts = _texts(element.get("ValidationErrors"))
    for line in element.get("LineItems") or []:
        texts += _texts(line.get("ValidationErrors"))
    seen: set[str] = set()
    out = []
    for text in texts:
        if text not in seen:
            seen.add(text)
            out.append(message(error_code(text), text))
    return out or [message("LEDGER_VALIDATION", "Xero refused the document without a reason")]


def element_failed(element: dict[str, Any]) -> bool:
    """Xero refused this element of a ``summarizeErrors=false`` write."""
    return (
        element.get("StatusAttributeString") == "ERROR"
        or bool(element.get("HasErrors"))
        or bool(element.get("ValidationErrors"))
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return money.to_decimal(value, field="Total")
    except money.MoneyError:
        return None


def posted_outcome(plan: Plan, element: dict[str, Any], extra: list[Message]) -> PostOutcome:
    """The outcome of an element Xero accepted, with the plan's warnings."""
    kind = plan.kind
    if kind.is_journal:
        total: Decimal | None = debit_total(element.get("JournalLines"))
    else:
        total = _decimal(element.get("Total"))
    messages = [m for m in plan.messages if not m.is_error] + extra
    for text in _texts(element.get("Warnings")):
        messages.append(message("LEDGER_VALIDATION", f"Xero: {text}", severity=Severity.WARNING))
    if total is not None and plan.expected_total is not None and total != plan.expected_total:
        messages.append(
            message(
                "LEDGER_VALIDATION",
                f"Xero's total {money.fmt(total)} differs from the expected "
                f"{money.fmt(plan.expected_total)}; check the document in Xero.",
                severity=Severity.WARNING,
            )
        )
    return PostOutcome(
        source_id=plan.record.source_id,
        status=Status.POSTED,
        ledger_id=str(element.get(kind.id_field) or "") or None,
        ledger_number=str(element.get(kind.number_field) or "") or None,
        ledger_total=total,
        messages=messages,
    )


def failed_outcome(record: RecordEvent, messages: list[Message]) -> PostOutcome:
    """A failed outcome (errors first)."""
    ordered = [m for m in messages if m.is_error] + [m for m in messages if not m.is_error]
    return PostOutcome(source_id=record.source_id, status=Status.FAILED, messages=ordered)


# --- contacts -------------------------------------------------------------------------


def _list_contacts(ctx: XeroContext, now: float) -> None:
    book = ctx.contacts
    refs: list[ContactRef] = []
    page = 1
    while True:
        body = ctx.client.get_json(
            "/Contacts",
            {"page": page, "pageSize": CONTACT_PAGE_SIZE, "summaryOnly": "true"},
        )
        found = parse_contacts(body)
        refs += found
        pagination = (body or {}).get("pagination") or {}
        pages = int(pagination.get("pageCount") or 0)
        if pages > MAX_LIST_PAGES:
            book.targeted = True
            break
        if len(found) < CONTACT_PAGE_SIZE or (pages and page >= pages):
            book.complete_at = now
            break
        page += 1
    fresh = ContactBook()
    fresh.add_all(refs)  # swapped in whole: batches posted meanwhile never see it half-filled
    book.by_number, book.by_name, book.looked_up = fresh.by_number, fresh.by_name, set()


def _look_up(ctx: XeroContext, plans: Sequence[Plan]) -> None:
    book = ctx.contacts
    misses = []
    seen: set[str] = set()
    for plan in plans:
        contact = plan.record.contact
        assert contact is not None
        key = f"{contact_number(contact)}|{name_key(contact_name(contact))}"
        if key in seen or book.find(contact) is not None or book.was_looked_up(contact):
            continue
        seen.add(key)
        misses.append(contact)
    for start in range(0, len(misses), LOOKUP_CHUNK):
        chunk = misses[start : start + LOOKUP_CHUNK]
        body = ctx.client.get_json("/Contacts", {"where": where_for(chunk)})
        book.add_all(parse_contacts(body))
        for contact in chunk:
            book.mark_looked_up(contact)


def ensure_contacts(ctx: XeroContext, plans: Sequence[Plan], now: float) -> None:
    """Make the contact book able to answer for every plan's contact."""
    if not plans:
        return
    book = ctx.contacts
    ttl = ctx.settings.contacts_ttl
    with book.listing:
        if not book.targeted and not book.is_fresh(now, ttl):
            _list_contacts(ctx, now)
        if book.targeted:
            _look_up(ctx, plans)


def contact_element(ctx: XeroContext, record: RecordEvent) -> dict[str, Any]:
    """The ``Contact`` of a document: the known contact's id, else the new contact."""
    assert record.contact is not None
    ref = ctx.contacts.find(record.contact)
    if ref is not None:
        return {"ContactID": ref.contact_id}
    return new_contact_body(record.contact)


def _learn_contact(ctx: XeroContext, element: dict[str, Any]) -> None:
    raw = element.get("Contact") or {}
    if raw.get("ContactID"):
        ctx.contacts.add(
            ContactRef(
                contact_id=str(raw["ContactID"]),
                name=str(raw.get("Name") or ""),
                number=str(raw["ContactNumber"]) if raw.get("ContactNumber") else None,
                status=str(raw.get("ContactStatus") or "ACTIVE"),
            )
        )


# --- writing --------------------------------------------------------------------------


def idempotency_key(payload: str) -> str:
    """The ``Idempotency-Key`` for a request body: ``wisesync-`` + its SHA-256."""
    return "wisesync-" + hashlib.sha256(payload.encode()).hexdigest()


def put_documents(ctx: XeroContext, endpoint: str, plans: Sequence[Plan]) -> list[PostOutcome]:
    """One ``PUT /Invoices``, ``/CreditNotes`` or ``/ManualJournals`` for ``plans``; one
    outcome each, in order."""
    documents = []
    for plan in plans:
        assert plan.body is not None
        if plan.kind.is_journal:
            documents.append(dict(plan.body))
        else:
            documents.append({**plan.body, "Contact": contact_element(ctx, plan.record)})
    body = {endpoint: documents}
    payload = money.dumps(body)
    try:
        response = ctx.client.api(
            "PUT",
            f"/{endpoint}",
            params=WRITE_PARAMS,
            json=body,
            headers={"Idempotency-Key": idempotency_key(payload)},
        )
    except RemoteError as exc:
        if exc.status != 400:
            raise
        # the whole request was refused (e.g. PostDataInvalidException): nothing was created
        text = f"Xero refused the request: {exc}"
        return [failed_outcome(p.record, [message("LEDGER_VALIDATION", text)]) for p in plans]
    elements = (response.body or {}).get(endpoint) if isinstance(response.body, dict) else None
    if not isinstance(elements, list) or len(elements) != len(plans):
        raise RemoteUnavailable(
            "Xero",
            f"PUT /{endpoint} answered {len(elements or [])} elements for {len(plans)} documents",
        )
    outcomes = []
    for plan, element in zip(plans, elements, strict=True):
        if element_failed(element):
            errors = element_errors(element)
            outcomes.append(failed_outcome(plan.record, errors + plan.messages))
        else:
            _learn_contact(ctx, element)
            outcomes.append(posted_outcome(plan, element, []))
    return outcomes


def _contacts_known(ctx: XeroContext, plans: Sequence[Plan]) -> bool:
    """Every plan's contact is in the book (its write creates no contact)."""
    return all(p.kind.is_journal or ctx.contacts.find(p.record.contact) is not None for p in plans)


def post_plans(ctx: XeroContext, plans: Sequence[Plan], now: float) -> list[PostOutcome]:
    """Post every plan without errors; one outcome per plan, in order."""
    outcomes: dict[int, PostOutcome] = {}
    sendable: dict[str, list[tuple[int, Plan]]] = {}
    for i, plan in enumerate(plans):
        if not plan.ok:
            outcomes[i] = failed_outcome(plan.record, plan.messages)
        else:
            sendable.setdefault(plan.kind.endpoint, []).append((i, plan))
    with_contact = [p for group in sendable.values() for _, p in group if not p.kind.is_journal]
    ensure_contacts(ctx, with_contact, now)
    for endpoint, group in sendable.items():
        batch = [p for _, p in group]
        written = None
        if not _contacts_known(ctx, batch):
            with ctx.contacts.creating:
                if not _contacts_known(ctx, batch):  # another batch may have created them
                    written = put_documents(ctx, endpoint, batch)
        if written is None:
            written = put_documents(ctx, endpoint, batch)
        for (i, _), outcome in zip(group, written, strict=True):
            outcomes[i] = outcome
    _claim_own_duplicates(ctx, plans, outcomes)
    return [outcomes[i] for i in range(len(plans))]


def _claim_own_duplicates(
    ctx: XeroContext, plans: Sequence[Plan], outcomes: dict[int, PostOutcome]
) -> None:
    """A "number must be unique" refusal for a document Xero already has from us (an
    earlier attempt whose answer was lost) becomes ``posted``, linked to that document."""
    dupes = {
        i: plans[i]
        for i, o in outcomes.items()
        if o.status is Status.FAILED
        and any(m.code == "DUPLICATE_DOCUMENT_NUMBER" for m in o.messages)
        and plans[i].ok
    }
    if not dupes:
        return
    found = find_plans(ctx, list(dupes.values()), require_total=True)
    for i, plan in dupes.items():
        outcome = found.get(plan.record.source_id)
        if outcome is not None:
            note = message(
                "ALREADY_IN_LEDGER",
                f"Xero already has {plan.kind.type} {outcome.ledger_number} for this record "
                "(an earlier attempt); linked, not posted again",
            )
            outcome.messages = [m for m in plan.messages if not m.is_error] + [note]
            outcomes[i] = outcome


# --- finding ----------------------------------------------------------------------------


def _same_contact(plan: Plan, element: dict[str, Any]) -> bool:
    contact = plan.record.contact
    raw = element.get("Contact") or {}
    if contact is None:
        return False
    number = contact_number(contact)
    if number and raw.get("ContactNumber"):
        return str(raw["ContactNumber"]).casefold() == number.casefold()
    return name_key(str(raw.get("Name") or "")) == name_key(contact_name(contact))


def _quote_all(numbers: Iterable[str], field: str) -> str:
    return " OR ".join(f"{field}=={quote(n)}" for n in numbers)


_LOOKUP_FIELD = {
    "Invoices": "InvoiceNumber",
    "CreditNotes": "CreditNoteNumber",
    "ManualJournals": "Narration",  # journals have no number (see wisesync_xero.journals)
}


def lookup_chunks(numbers: list[str]) -> list[list[str]]:
    """``numbers`` in look-up order, at most :data:`LOOKUP_CHUNK` a query and about
    :data:`LOOKUP_CHARS` characters of filter (always at least one number)."""
    chunks: list[list[str]] = []
    size = 0
    for number in numbers:
        cost = len(number) + 20  # the field name, quotes, == and " OR "
        if not chunks or len(chunks[-1]) >= LOOKUP_CHUNK or size + cost > LOOKUP_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(number)
        size += cost
    return chunks


def _fetch(ctx: XeroContext, kind_endpoint: str, numbers: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in lookup_chunks(numbers):
        params: dict[str, Any]
        if kind_endpoint == "Invoices" and not any("," in n for n in chunk):
            params = {"InvoiceNumbers": ",".join(chunk)}
        else:  # credit notes have no number-list parameter; a comma breaks the list
            params = {"where": _quote_all(chunk, _LOOKUP_FIELD[kind_endpoint])}
        if kind_endpoint == "ManualJournals":
            params["page"] = 1  # a page carries the journal lines (their total)
        body = ctx.client.get_json(f"/{kind_endpoint}", params)
        out += (body or {}).get(kind_endpoint) or []
    return out


def _matches(plan: Plan, element: dict[str, Any], *, require_total: bool) -> bool:
    """``element`` is the document ``plan`` would post: same type, number and contact
    (and total, when required); a journal: same narration and debit total."""
    kind: DocKind = plan.kind
    if str(element.get(kind.number_field) or "").casefold() != plan.number.casefold():
        return False
    if kind.is_journal:  # a voided journal is no longer in the books
        return (
            element.get("Status") != "VOIDED"
            and debit_total(element.get("JournalLines")) == plan.expected_total
        )
    return (
        KINDS.get(str(element.get("Type"))) is kind
        and _same_contact(plan, element)
        and (
            not require_total
            or plan.expected_total is None
            or _decimal(element.get("Total")) == plan.expected_total
        )
    )


def find_plans(
    ctx: XeroContext, plans: Sequence[Plan], *, require_total: bool = False
) -> dict[str, PostOutcome]:
    """Documents Xero already has for ``plans``: same type, number and contact (and,
    with ``require_total``, the total this plan would post). Deleted ones do not count.

    A manual journal is matched by its narration and its debit total (always: it has
    neither number nor contact); voided journals do not count either."""
    found: dict[str, PostOutcome] = {}
    by_endpoint: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.number:
            by_endpoint.setdefault(plan.kind.endpoint, []).append(plan)
    for endpoint, group in by_endpoint.items():
        numbers = sorted({p.number for p in group})
        elements = [e for e in _fetch(ctx, endpoint, numbers) if e.get("Status") != "DELETED"]
        for plan in group:
            for element in elements:
                if _matches(plan, element, require_total=require_total):
                    outcome = posted_outcome(plan, element, [])
                    outcome.messages = []
                    found[plan.record.source_id] = outcome
                    break
    return found
