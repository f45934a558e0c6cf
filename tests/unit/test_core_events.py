"""Events: the content hash, the single-object codec, fingerprints and decode errors."""

from __future__ import annotations

import dataclasses
import struct
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from wisesync.events.codec import HEADER_FINGERPRINT, HEADER_TYPE, MARKER, Codec
from wisesync.events.errors import CorruptEvent, EventDecodeError, UnknownSchema
from wisesync.events.fingerprint import rabin64
from wisesync.events.hashing import content_hash
from wisesync.events.models import (
    Address,
    Contact,
    DeadLetter,
    Line,
    Payment,
    Person,
    PostingResult,
    RecordEvent,
    RecordType,
    Status,
    SyncRun,
    Terms,
    Totals,
    Tracking,
    Trigger,
)
from wisesync.events.registry import SchemaRegistry, default_registry
from wisesync.messages import message

LONG = "Managed services — ünïcødé ✓ 日本語 " * 150  # > 4,000 characters


def invoice(**overrides: object) -> RecordEvent:
    """A fully populated invoice; ``overrides`` replace fields."""
    values: dict[str, object] = dict(
        company="acme",
        source="connectwise",
        target="xero",
        record_type=RecordType.INVOICE,
        source_id="4711",
        run_id="run-1",
        trigger=Trigger.SYNC_ALL,
        attempt=1,
        event_id="ev-1",
        produced_at=datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        source_batch_ids=["gl-1", "gl-2"],
        document_number="INV-1001",
        reference="PO 77 / Ærø",
        date=date(2024, 5, 1),
        due_date=date(2024, 5, 31),
        terms=Terms("Net 30", "30", 30),
        currency="NZD",
        contact=Contact(
            source_id="19",
            name="Zürich Café & Søn ☕",
            account_number="ACME-01",
            primary_contact=Person("Ana Núñez", "ana@example.com"),
            billing_contact=None,
            address=Address("1 Queen St", None, "Auckland", None, "1010", "NZ"),
            phone=None,
            tax_number="123-456-789",
        ),
        lines=[
            Line(
                description=LONG,
                quantity=Decimal("1.5000000"),
                unit_amount=Decimal("-12.3456789"),
                line_amount=Decimal("-18.52"),
                gl_account="200",
                item_code=None,
                tax_code="OUTPUT2",
                tax_amount=Decimal("-2.78"),
                tracking=Tracking("Support", None, "Managed"),
                source_line_id="l-1",
            ),
            Line("Second line", Decimal("2"), Decimal("10.00"), Decimal("20.00")),
        ],
        totals=Totals(Decimal("1.48"), Decimal("-2.78"), Decimal("-1.30")),
        payment=None,
        subtype="Standard",
        line_amounts_include_tax=True,
        attributes={"billing_status": "Ready", "site": "Main"},
        source_messages=[message("TERMS_XREF", "no due days", line=None)],
    )
    values.update(overrides)
    return RecordEvent(**values).seal()  # type: ignore[arg-type]


def payment_event() -> RecordEvent:
    return RecordEvent(
        company="acme",
        source="xero",
        target="connectwise",
        record_type=RecordType.PAYMENT,
        source_id="pay-9",
        payment=Payment("pay-9", "INV-1001", Decimal("1234567.8912345"), date(2024, 6, 1), "090"),
    ).seal()


# --- content hash ---------------------------------------------------------------------------


def test_hash_ignores_delivery_fields() -> None:
    first = invoice()
    again = invoice(
        event_id="ev-2",
        run_id="run-2",
        trigger=Trigger.REPLAY,
        attempt=4,
        produced_at=datetime(2030, 1, 1, tzinfo=UTC),
        source_messages=[],
    )
    assert len(first.content_hash) == 64
    assert first.content_hash == again.content_hash


def test_hash_ignores_decimal_spelling() -> None:
    a = invoice(
        lines=[Line("x", Decimal("1.0"), Decimal("10.00"), Decimal("10.0"), tax_amount=Decimal(0))],
        totals=Totals(Decimal("10"), Decimal("0.00"), Decimal("10.000")),
    )
    b = invoice(
        lines=[
            Line("x", Decimal("1.00"), Decimal("1E+1"), Decimal("10"), tax_amount=Decimal("-0"))
        ],
        totals=Totals(Decimal("10.00"), Decimal("0"), Decimal("10")),
    )
    assert a.content_hash == b.content_hash


def test_hash_ignores_attribute_order() -> None:
    a = invoice(attributes={"a": "1", "b": "2"})
    b = invoice(attributes={"b": "2", "a": "1"})
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(r.lines[1], "line_amount", Decimal("20.01")),
        lambda r: setattr(r.lines[0], "description", r.lines[0].description + "."),
        lambda r: setattr(r.lines[0].tracking, "location", "Wellington"),
        lambda r: setattr(r.contact, "name", "Other Ltd"),
        lambda r: setattr(r.totals, "total", Decimal("-1.31")),
        lambda r: setattr(r, "document_number", "INV-1002"),
        lambda r: setattr(r, "due_date", date(2024, 6, 1)),
        lambda r: r.lines.reverse(),
        lambda r: r.source_batch_ids.append("gl-3"),
        lambda r: r.attributes.update(site="Other"),
    ],
)
def test_hash_changes_with_business_content(change) -> None:  # type: ignore[no-untyped-def]
    record = invoice()
    before = record.content_hash
    change(record)
    assert record.seal().content_hash != before


def test_hash_tells_apart_amounts_beyond_28_digits() -> None:
    a = invoice(totals=Totals(Decimal(0), Decimal(0), Decimal("1234567890123456789012345678.91")))
    b = invoice(totals=Totals(Decimal(0), Decimal(0), Decimal("1234567890123456789012345678.92")))
    assert a.content_hash != b.content_hash


def test_seal_is_idempotent_and_the_hash_is_pinned() -> None:
    """The hash of stored journal rows must survive upgrades: a change of the hashing
    would flag every posted record as SOURCE_CHANGED_AFTER_POST on its next extraction."""
    record = invoice()
    first = record.content_hash
    assert record.seal().content_hash == first
    assert content_hash(record) == first
    simple = RecordEvent(
        company="acme",
        source="connectwise",
        target="xero",
        record_type=RecordType.INVOICE,
        source_id="1",
        document_number="INV-1",
        lines=[Line("Labour", Decimal("2"), Decimal("50.00"), Decimal("100.00"), "200")],
        totals=Totals(Decimal("100.00"), Decimal("15.00"), Decimal("115.00")),
    ).seal()
    assert simple.content_hash == GOLDEN_HASH


GOLDEN_HASH = "364e64dccb4f2914665d308bb0da8c9fee18943f4aabb5b17abcb0ef6c0167af"


# --- codec round trips ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def assert_same(decoded: object, original: object) -> None:
    assert type(decoded) is type(original)
    for f in dataclasses.fields(original):  # type: ignore[arg-type]
        assert getattr(decoded, f.name) == getattr(original, f.name), f.name
    assert decoded == original


def test_record_event_round_trip_fully_populated(codec: Codec) -> None:
    original = invoice()
    assert len(original.lines[0].description) > 4000
    data = codec.encode(original)
    decoded = codec.decode(data)
    assert_same(decoded, original)
    line = decoded.lines[0]
    assert isinstance(line.unit_amount, Decimal) and str(line.unit_amount) == "-12.3456789"
    assert str(line.quantity) == "1.5000000"  # exact text, trailing zeros kept
    assert decoded.trigger is Trigger.SYNC_ALL and decoded.record_type is RecordType.INVOICE
    assert decoded.contact.billing_contact is None and decoded.contact.address.line2 is None
    assert decoded.source_messages[0].code == "TERMS_XREF"
    assert decoded.content_hash == original.content_hash == content_hash(decoded)


def test_record_event_round_trip_minimal_with_none_fields(codec: Codec) -> None:
    original = RecordEvent(
        company="acme",
        source="connectwise",
        target="qbo",
        record_type=RecordType.EXPENSE,
        source_id="9",
    )
    decoded = codec.decode(codec.encode(original))
    assert_same(decoded, original)
    assert decoded.terms is None and decoded.contact is None and decoded.totals is None
    assert decoded.lines == [] and decoded.payment is None and decoded.date is None


def test_payment_round_trip(codec: Codec) -> None:
    original = payment_event()
    decoded = codec.decode(codec.encode(original))
    assert_same(decoded, original)
    assert decoded.payment.amount == Decimal("1234567.8912345")
    assert decoded.payment.reversed is False
    reversed_payment = payment_event()
    reversed_payment.payment.reversed = True
    assert codec.decode(codec.encode(reversed_payment)).payment.reversed is True


def test_posting_result_round_trip_with_messages(codec: Codec) -> None:
    original = PostingResult(
        record_event_id="ev-1",
        run_id="run-1",
        company="acme",
        record_type=RecordType.CREDIT_MEMO,
        source="connectwise",
        source_id="4711",
        target="xero",
        status=Status.FAILED,
        trigger=Trigger.REPLAY,
        document_number="CM-5",
        ledger_id=None,
        ledger_total=Decimal("-0.0000001"),
        source_total=Decimal("99999999999.99"),
        messages=[
            message("GL_MAPPING_MISSING", "line 2 has no GL account — fix it", line=2),
            message("ROUNDING_APPLIED", "0.01"),
        ],
        source_batch_ids=["gl-1"],
        attempt=3,
        api_calls=7,
        content_hash="ab" * 32,
        finished_at=datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
    )
    decoded = codec.decode(codec.encode(original))
    assert_same(decoded, original)
    assert decoded.messages[0].line == 2 and decoded.messages[0].is_error
    assert decoded.messages[1].line is None and not decoded.messages[1].is_error
    assert decoded.status is Status.FAILED


def test_sync_run_round_trip(codec: Codec) -> None:
    original = SyncRun(
        run_id="run-1",
        company="acme",
        trigger=Trigger.SYNC_TYPE,
        requested_by="ana@example.com",
        record_types=["invoice", "expense"],
        extracted={"invoice": 120, "expense": 0},
        held={"invoice": 3},
        started_at=datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
        finished_at=datetime(2024, 1, 1, 0, 1, 30, 500000, tzinfo=UTC),
        error=None,
    )
    assert_same(codec.decode(codec.encode(original)), original)
    unfinished = SyncRun("run-2", "acme", Trigger.SCHEDULE, "scheduler", [], error="boom")
    assert_same(codec.decode(codec.encode(unfinished)), unfinished)


def test_dead_letter_round_trip_keeps_bytes(codec: Codec) -> None:
    original = DeadLetter(
        original_topic="wisesync.records.v1",
        original_partition=5,
        original_offset=2**40 + 3,
        original_key=b"\x00acme\xff",
        original_value=bytes(range(256)) * 4,
        error_class="CorruptEvent",
        error_text="body does not decode: ünïcødé",
        consumer_group="wisesync",
        first_seen=datetime(2024, 2, 3, 4, 5, 6, 7000, tzinfo=UTC),
        company="acme",
        record_event_id=None,
    )
    assert_same(codec.decode(codec.encode(original)), original)
    keyless = dataclasses.replace(original, original_key=None, original_value=b"")
    assert_same(codec.decode(codec.encode(keyless)), keyless)


# --- single-object encoding and fingerprints ---------------------------------------------------


@pytest.mark.parametrize("name", ["RecordEvent", "PostingResult", "SyncRun", "DeadLetter"])
def test_fingerprint_equals_fastavro_crc64_avro(name: str) -> None:
    schema = default_registry().latest(name)
    theirs = fastavro_fingerprint(to_parsing_canonical_form(schema.raw), "CRC-64-AVRO")
    # fastavro gives the 8 bytes little-endian as hex, the order single-object encoding uses
    assert schema.fingerprint_bytes.hex() == theirs
    assert schema.fingerprint == int.from_bytes(bytes.fromhex(theirs), "little")


def test_rabin64_matches_the_avro_specification_test_vector() -> None:
    # Avro's Java test suite: fingerprint64 of the schema "null"
    assert rabin64(b'"null"') == 7195948357588979594
    assert rabin64(b"") == 0xC15D213AA4D7A795  # the empty fingerprint


def test_single_object_layout_and_headers(codec: Codec) -> None:
    record = invoice()
    data = codec.encode(record)
    schema = codec.writer("RecordEvent")
    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:10] == struct.pack("<Q", schema.fingerprint)  # little-endian per the spec
    headers = dict(codec.headers(record))
    assert headers[HEADER_TYPE] == b"RecordEvent"
    assert int(headers[HEADER_FINGERPRINT], 16) == struct.unpack("<Q", data[2:10])[0]


def test_each_event_type_has_its_own_fingerprint() -> None:
    registry = default_registry()
    fps = {registry.latest(n).fingerprint for n in registry.by_name}
    assert len(fps) == len(registry.by_name) >= 4


# --- decode errors ------------------------------------------------------------------------------


def test_unknown_fingerprint_raises_unknown_schema(codec: Codec) -> None:
    data = codec.encode(invoice())
    forged = MARKER + struct.pack("<Q", 0x0123456789ABCDEF) + data[10:]
    with pytest.raises(UnknownSchema) as info:
        codec.decode(forged)
    assert "0123456789abcdef" in str(info.value)
    assert isinstance(info.value, EventDecodeError)


def test_schema_unknown_to_a_registry_without_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a registry that only knows SyncRun cannot decode a RecordEvent
    source = default_registry().latest("SyncRun").path
    (tmp_path / source.name).write_text(source.read_text())
    only_runs = Codec(SchemaRegistry(tmp_path))
    with pytest.raises(UnknownSchema):
        only_runs.decode(Codec().encode(invoice()))


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: d[: len(d) // 2], id="truncated-half"),
        pytest.param(lambda d: d[:-1], id="truncated-last-byte"),
        pytest.param(lambda d: d[:10], id="header-only"),
        pytest.param(lambda d: d[:9], id="shorter-than-header"),
        pytest.param(lambda d: b"", id="empty"),
        pytest.param(lambda d: b"\x00\x01" + d[2:], id="no-marker"),
        pytest.param(lambda d: b'{"json": "not avro"}', id="json"),
        pytest.param(lambda d: d[:10] + b"\x04\xff\xfe" + d[13:], id="invalid-utf8"),
        pytest.param(lambda d: d[:10] + b"\xfe\xff\xff\xff\x0f" + d[15:], id="huge-length"),
    ],
)
def test_corrupt_bytes_raise_corrupt_event(codec: Codec, mangle) -> None:  # type: ignore[no-untyped-def]
    data = codec.encode(invoice())
    with pytest.raises(CorruptEvent) as info:
        codec.decode(mangle(data))
    assert isinstance(info.value, EventDecodeError)
    assert str(info.value)
