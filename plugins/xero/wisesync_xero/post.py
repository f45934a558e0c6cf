"""Posting a batch to Xero and finding documents again.

One batch (at most 50 records) costs, in the usual case, one ``PUT /Invoices`` (plus
one ``PUT /CreditNotes`` when the batch holds credits, one ``PUT /ManualJournals`` when
it holds inventory adjustments or transfers). Contacts cost nothing per
batch once they exist: the tenant's contact list is read once per TTL (one call per
1,000 contacts) and a document names its contact by ``ContactID``. A batch with
customers Xero does not have yet first creates (or adopts) them, one call
(:mod:`wisesync_xero.contact_resolve`): a contact sent inside a document would be
matched by name onto another customer's contact. Organisations with more contacts than
:data:`MAX_LIST_PAGES` pages are not listed; each batch then looks up its uncached
contacts with one ``where`` query.

Our own documents are recognised by what we wrote into them
(:mod:`wisesync_xero.recognise`), never by their contact.

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
from wisesync.events.models import Contact, PostOutcome, RecordEvent, Status
from wisesync.messages import Message, Severity, message
from wisesync_xero import contact_resolve, contact_update
from wisesync_xero.contact_resolve import Resolution
from wisesync_xero.contacts import (
    ContactBook,
    ContactRef,
    contact_number,
    lookup_key,
    parse_contacts,
    quote,
    where_for,
)
from wisesync_xero.documents import KINDS
from wisesync_xero.journals import debit_total
from wisesync_xero.mapping import Plan
from wisesync_xero.payment_terms import contact_terms
from wisesync_xero.recognise import differences

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
        key = lookup_key(contact)
        if key in seen or book.find(contact) is not None or book.was_looked_up(contact):
            continue
        seen.add(key)
        misses.append(contact)
    pattern = ctx.company.options.contact_name_pattern
    for start in range(0, len(misses), LOOKUP_CHUNK):
        chunk = misses[start : start + LOOKUP_CHUNK]
        body = ctx.client.get_json("/Contacts", {"where": where_for(chunk, pattern)})
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


def _with_terms(plans: Sequence[Plan]) -> list[tuple[Contact, dict[str, Any] | None]]:
    """Each plan's contact with the ``PaymentTerms`` its record implies."""
    return [
        (p.record.contact, contact_terms(p.record, sales=p.kind.sales))
        for p in plans
        if p.record.contact is not None
    ]


def resolve_contacts(ctx: XeroContext, plans: Sequence[Plan]) -> Resolution:
    """Give every plan's customer or vendor its Xero contact (adopting or creating the
    missing ones, see :mod:`wisesync_xero.contact_resolve`) and update those whose
    details changed in ConnectWise (:mod:`wisesync_xero.contact_update`; their notes
    join the resolution's). Batches posted at once take turns creating and updating, so
    two never create or update the same customer."""
    pairs = _with_terms(plans)
    contacts = [c for c, _ in pairs]
    out = Resolution()
    if not all(ctx.contacts.find(c) is not None for c in contacts):
        terms: dict[str, dict[str, Any]] = {}
        for contact, element in pairs:
            if element is not None:
                terms.setdefault((contact_number(contact) or "").casefold(), element)
        with ctx.contacts.creating:
            out = contact_resolve.resolve(ctx, contacts, terms)
    if contact_update.plan_changes(ctx, pairs):
        with ctx.contacts.creating:
            for key, note in contact_update.update_changed(ctx, pairs).items():
                out.notes.setdefault(key, note)
    return out


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
    """One ``PUT /Invoices``, ``/CreditNotes`` or ``/ManualJournals`` for ``plans`` (whose
    contacts are in the book: they are sent by ContactID; journals have none); one outcome
    each, in order."""
    documents = []
    for plan in plans:
        assert plan.body is not None
        if plan.kind.is_journal:
            documents.append(dict(plan.body))
            continue
        assert plan.record.contact is not None
        ref = ctx.contacts.find(plan.record.contact)
        assert ref is not None
        documents.append({**plan.body, "Contact": {"ContactID": ref.contact_id}})
    body = {endpoint: documents}
    payload = money.dumps(body)
    try:
        response = ctx.client.api(
            "PUT",
            f"/{endpoint}",
            params=WRITE_PARAMS,
            json_text=payload,
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


def post_plans(ctx: XeroContext, plans: Sequence[Plan], now: float) -> list[PostOutcome]:
    """Post every plan without errors; one outcome per plan, in order."""
    outcomes: dict[int, PostOutcome] = {}
    ready = [(i, p) for i, p in enumerate(plans) if p.ok]
    for i, plan in enumerate(plans):
        if not plan.ok:
            outcomes[i] = failed_outcome(plan.record, plan.messages)
    with_contact = [p for _, p in ready if not p.kind.is_journal]
    ensure_contacts(ctx, with_contact, now)
    resolution = resolve_contacts(ctx, with_contact)
    notes = dict(resolution.notes)  # each on the first record of its customer
    sendable: dict[str, list[tuple[int, Plan]]] = {}
    extra: dict[int, list[Message]] = {}
    for i, plan in ready:
        key = "" if plan.kind.is_journal else (contact_number(plan.record.contact) or "")
        error = resolution.errors.get(key.casefold()) if key else None
        if error is not None:
            outcomes[i] = failed_outcome(plan.record, [error, *plan.messages])
            continue
        note = notes.pop(key.casefold(), None) if key else None
        extra[i] = [note] if note is not None else []
        sendable.setdefault(plan.kind.endpoint, []).append((i, plan))
    for endpoint, group in sendable.items():
        written = put_documents(ctx, endpoint, [p for _, p in group])
        for (i, _), outcome in zip(group, written, strict=True):
            if outcome.status is Status.POSTED:
                outcome.messages += extra[i]
            outcomes[i] = outcome
    _claim_own_duplicates(ctx, plans, outcomes)
    return [outcomes[i] for i in range(len(plans))]


def _claim_own_duplicates(
    ctx: XeroContext, plans: Sequence[Plan], outcomes: dict[int, PostOutcome]
) -> None:
    """A "number must be unique" refusal for a document Xero already has from us (an
    earlier attempt whose answer was lost) becomes ``posted``, linked to that document;
    for someone else's document the error names it and what differs."""
    dupes = {
        i: plans[i]
        for i, o in outcomes.items()
        if o.status is Status.FAILED
        and any(m.code == "DUPLICATE_DOCUMENT_NUMBER" for m in o.messages)
        and plans[i].ok
    }
    if not dupes:
        return
    found, others = match_plans(ctx, list(dupes.values()), require_total=True)
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
        elif plan.record.source_id in others:
            said = [m.text for m in outcomes[i].messages if m.code == "DUPLICATE_DOCUMENT_NUMBER"]
            text = f"{others[plan.record.source_id]} (Xero: {' '.join(said)})"
            error = message("DUPLICATE_DOCUMENT_NUMBER", text)
            rest = [m for m in outcomes[i].messages if m.code != "DUPLICATE_DOCUMENT_NUMBER"]
            outcomes[i] = failed_outcome(plan.record, [error, *rest])


# --- finding ----------------------------------------------------------------------------


def _someone_elses(plan: Plan, element: dict[str, Any], diffs: list[str]) -> str:
    kind = plan.kind
    contact = (element.get("Contact") or {}).get("Name") or "?"
    return (
        f"Xero already has {kind.type} {element.get(kind.number_field)} "
        f"({kind.id_field} {element.get(kind.id_field)}, contact '{contact}', "
        f"total {element.get('Total')}, status {element.get('Status')}) that wisesync did "
        f"not write for this record: it has {'; '.join(diffs)}. Void or renumber one of "
        "them, then replay."
    )


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


def _our_journal(plan: Plan, elements: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The manual journal ``plan`` would post, among ``elements``: same narration and
    debit total, not voided (a journal has neither number nor contact to compare)."""
    for element in elements:
        if (
            str(element.get(plan.kind.number_field) or "").casefold() == plan.number.casefold()
            and element.get("Status") != "VOIDED"
            and debit_total(element.get("JournalLines")) == plan.expected_total
        ):
            return element
    return None


def find_plans(ctx: XeroContext, plans: Sequence[Plan]) -> dict[str, PostOutcome]:
    """Documents Xero already has for ``plans`` that wisesync wrote (same type, number,
    date and our reference, see :mod:`wisesync_xero.recognise`), by source id. Deleted
    ones do not count. A manual journal (no number, no contact) is matched by its narration
    and its debit total; a voided journal does not count either."""
    return match_plans(ctx, plans)[0]


def match_plans(
    ctx: XeroContext, plans: Sequence[Plan], *, require_total: bool = False
) -> tuple[dict[str, PostOutcome], dict[str, str]]:
    """``(ours, others)``: the documents of :func:`find_plans` (with ``require_total``,
    also with the total this plan would post), and, per source id with no document of
    ours, an error naming the other document that holds its type and number."""
    found: dict[str, PostOutcome] = {}
    others: dict[str, str] = {}
    by_endpoint: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.number:
            by_endpoint.setdefault(plan.kind.endpoint, []).append(plan)
    for endpoint, group in by_endpoint.items():
        numbers = sorted({p.number for p in group})
        elements = [e for e in _fetch(ctx, endpoint, numbers) if e.get("Status") != "DELETED"]
        for plan in group:
            if plan.kind.is_journal:
                journal = _our_journal(plan, elements)
                if journal is not None:
                    outcome = posted_outcome(plan, journal, [])
                    outcome.messages = []
                    found[plan.record.source_id] = outcome
                continue
            same = [
                e
                for e in elements
                if KINDS.get(str(e.get("Type"))) is plan.kind
                and str(e.get(plan.kind.number_field) or "").strip().casefold()
                == plan.number.casefold()
            ]
            # the expected total first: bills of two vendors may share number and date
            same.sort(key=lambda e: _decimal(e.get("Total")) != plan.expected_total)
            diffs = [(e, differences(plan, e)) for e in same]
            if require_total and plan.expected_total is not None:
                for e, d in diffs:
                    total = _decimal(e.get("Total"))
                    if total != plan.expected_total:
                        d.append(f"total {total} instead of {plan.expected_total}")
            ours = next((e for e, d in diffs if not d), None)
            if ours is not None:
                outcome = posted_outcome(plan, ours, [])
                outcome.messages = []
                found[plan.record.source_id] = outcome
            elif diffs:
                others[plan.record.source_id] = _someone_elses(plan, *diffs[0])
    return found, others
