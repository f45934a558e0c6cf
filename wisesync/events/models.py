"""The events that travel between wisesync roles, as plain Python dataclasses.

These are what plugins see: a source yields :class:`RecordEvent`, a target turns
each into a :class:`PostOutcome`, the poster emits :class:`PostingResult`. The
codec (:mod:`wisesync.events.codec`) maps them to and from the Avro schemas in
``schemas/``; plugins never touch Avro bytes.

Money fields are :class:`~decimal.Decimal`. Dates are :class:`datetime.date`,
instants are timezone-aware :class:`datetime.datetime` in UTC.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from wisesync.messages import Message


class RecordType(StrEnum):
    """What a record is. Invoices, credit memos, expenses and procurement flow
    ConnectWise -> ledger; payments flow ledger -> ConnectWise."""

    INVOICE = "invoice"
    CREDIT_MEMO = "credit_memo"
    EXPENSE = "expense"
    PROCUREMENT = "procurement"
    PAYMENT = "payment"


class Trigger(StrEnum):
    """Why a record was extracted."""

    SCHEDULE = "schedule"
    SYNC_ALL = "sync_all"
    SYNC_TYPE = "sync_type"
    REPLAY = "replay"
    REALTIME = "realtime"


class Status(StrEnum):
    """The outcome of one posting attempt."""

    POSTED = "posted"
    FAILED = "failed"
    SKIPPED_ALREADY_POSTED = "skipped_already_posted"
    HELD = "held"


@dataclass(slots=True)
class Address:
    """A postal address; every part optional."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(slots=True)
class Person:
    """A named person with an e-mail (a primary or billing contact)."""

    name: str
    email: str | None = None


@dataclass(slots=True)
class Contact:
    """The customer (sales) or vendor (purchases) of a record."""

    source_id: str
    name: str
    account_number: str | None = None
    primary_contact: Person | None = None
    billing_contact: Person | None = None
    address: Address | None = None
    phone: str | None = None
    tax_number: str | None = None


@dataclass(slots=True)
class Terms:
    """Billing terms. ``due_days`` is None when the term has no usable days/xref
    (the target warns TERMS_XREF and uses the ledger's default)."""

    name: str | None = None
    xref: str | None = None
    due_days: int | None = None


@dataclass(slots=True)
class Tracking:
    """Tracking segments from the GL mapping (Xero tracking categories, QBO class/department)."""

    department: str | None = None
    location: str | None = None
    business_class: str | None = None


@dataclass(slots=True)
class Line:
    """One document line. ``gl_account`` None means the GL mapping is missing;
    ``item_code`` None means no item / Non-Product ID was mapped."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    gl_account: str | None = None
    item_code: str | None = None
    tax_code: str | None = None
    tax_amount: Decimal = Decimal("0")
    tracking: Tracking = field(default_factory=Tracking)
    source_line_id: str | None = None


@dataclass(slots=True)
class Totals:
    """Header totals as the source computed them."""

    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(slots=True)
class Payment:
    """A payment applied in the ledger, to write back to the source invoice."""

    ledger_payment_id: str
    invoice_number: str
    amount: Decimal
    date: date
    account: str | None = None
    reversed: bool = False


def new_id() -> str:
    """A new random event / run id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, timezone-aware UTC, millisecond precision (what Avro keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(slots=True)
class RecordEvent:
    """One unposted record, ready for a target. Topic ``wisesync.records.v1``, key = company.

    ``content_hash`` covers the business content only (not ids, times or the
    attempt), so the same record extracted twice hashes the same; compute it
    with :meth:`seal` once the record is complete.
    """

    company: str
    source: str
    target: str
    record_type: RecordType
    source_id: str
    run_id: str = ""
    trigger: Trigger = Trigger.SCHEDULE
    attempt: int = 1
    event_id: str = field(default_factory=new_id)
    produced_at: datetime = field(default_factory=utcnow)
    source_batch_ids: list[str] = field(default_factory=list)
    document_number: str | None = None
    reference: str | None = None
    date: date | None = None
    due_date: date | None = None
    terms: Terms | None = None
    currency: str | None = None
    contact: Contact | None = None
    lines: list[Line] = field(default_factory=list)
    totals: Totals | None = None
    payment: Payment | None = None
    subtype: str | None = None
    line_amounts_include_tax: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    source_messages: list[Message] = field(default_factory=list)
    content_hash: str = ""

    def seal(self) -> RecordEvent:
        """Compute and set :attr:`content_hash`; returns self for chaining."""
        from wisesync.events.hashing import content_hash

        self.content_hash = content_hash(self)
        return self

    @property
    def key(self) -> bytes:
        """The Kafka message key: the company id."""
        return self.company.encode()

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """(company, target, record type, source id): one posting-journal row."""
        return (self.company, self.target, str(self.record_type), self.source_id)


@dataclass(slots=True)
class PostOutcome:
    """What a target says about one record after ``post`` or ``find_existing``."""

    source_id: str
    status: Status
    ledger_id: str | None = None
    ledger_number: str | None = None
    ledger_total: Decimal | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class PostingResult:
    """The result of one posting attempt. Topic ``wisesync.results.v1``, key = company."""

    record_event_id: str
    run_id: str
    company: str
    record_type: RecordType
    source: str
    source_id: str
    target: str
    status: Status
    result_id: str = field(default_factory=new_id)
    trigger: Trigger = Trigger.SCHEDULE
    document_number: str | None = None
    ledger_id: str | None = None
    ledger_number: str | None = None
    ledger_total: Decimal | None = None
    source_total: Decimal | None = None
    messages: list[Message] = field(default_factory=list)
    source_batch_ids: list[str] = field(default_factory=list)
    attempt: int = 1
    api_calls: int = 0
    content_hash: str = ""
    finished_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class SyncRun:
    """A run manifest: what one extraction published. Topic ``wisesync.runs.v1``."""

    run_id: str
    company: str
    trigger: Trigger
    requested_by: str
    record_types: list[str]
    extracted: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = None


@dataclass(slots=True)
class DeadLetter:
    """A message that could not be processed. Topic ``wisesync.dlq.v1``."""

    original_topic: str
    original_partition: int
    original_offset: int
    original_key: bytes | None
    original_value: bytes
    error_class: str
    error_text: str
    consumer_group: str
    first_seen: datetime = field(default_factory=utcnow)
    company: str | None = None
    record_event_id: str | None = None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256, for ids derived from content."""
    return hashlib.sha256(data).hexdigest()
