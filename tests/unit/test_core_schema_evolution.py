"""Schema evolution: a RecordEvent v2 (tests/fixtures/schemas_v2) resolves both ways, and
``wisesync schemas check`` reports incompatible versions naming the field."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisesync.cli import _add_core_commands, cli
from wisesync.events.codec import Codec
from wisesync.events.compat import check_registry
from wisesync.events.convert import to_dict
from wisesync.events.models import Line, PostingResult, RecordEvent, RecordType, Status, Totals
from wisesync.events.registry import SchemaRegistry, default_schema_dir

V2_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "schemas_v2"
V2_FILE = "wisesync.RecordEvent.v2.avsc"

_add_core_commands()


def record() -> RecordEvent:
    return RecordEvent(
        company="acme",
        source="connectwise",
        target="xero",
        record_type=RecordType.INVOICE,
        source_id="4711",
        produced_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        document_number="INV-1",
        lines=[Line("Labour", Decimal("1.5"), Decimal("80.00"), Decimal("120.00"), "200")],
        totals=Totals(Decimal("120.00"), Decimal("0"), Decimal("120.00")),
    ).seal()


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(V2_DIR)


@pytest.fixture(scope="module")
def v1(registry: SchemaRegistry) -> Codec:
    return Codec(registry, reader_versions={"RecordEvent": 1})


@pytest.fixture(scope="module")
def v2(registry: SchemaRegistry) -> Codec:
    return Codec(registry)  # newest: v2


def test_fixture_v1_files_are_the_released_schemas() -> None:
    """The fixture copies must stay identical to schemas/ (a released file is never edited)."""
    released = SchemaRegistry(default_schema_dir())
    copies = SchemaRegistry(V2_DIR)
    for name, versions in released.by_name.items():
        assert copies.get(name, 1).fingerprint == versions[1].fingerprint, name


def test_v2_adds_a_field_with_default_and_an_enum_symbol(registry: SchemaRegistry) -> None:
    raw = registry.get("RecordEvent", 2).raw
    fields = {f["name"]: f for f in raw["fields"]}
    assert fields["source_url"]["default"] is None
    assert fields["priority"]["default"] == "normal"
    assert "journal" in fields["record_type"]["type"]["symbols"]
    assert "journal" not in {
        s
        for f in registry.get("RecordEvent", 1).raw["fields"]
        if f["name"] == "record_type"
        for s in f["type"]["symbols"]
    }
    assert check_registry(registry) == []


def test_codecs_write_their_pinned_version(v1: Codec, v2: Codec) -> None:
    assert v1.writer("RecordEvent").version == 1
    assert v2.writer("RecordEvent").version == 2
    assert v1.encode(record())[2:10] != v2.encode(record())[2:10]


def test_v2_writer_read_by_v1_reader(v1: Codec, v2: Codec) -> None:
    data = to_dict(record())
    data.update(source_url="https://cw.example/4711", priority="high", record_type="journal")
    encoded = v2.encode_dict("RecordEvent", data)
    name, decoded = v1.decode_dict(encoded)
    assert name == "RecordEvent"
    assert "source_url" not in decoded and "priority" not in decoded  # v1 does not know them
    assert decoded["record_type"] == "unknown"  # new symbol -> the v1 enum's default
    assert decoded["document_number"] == "INV-1"
    assert decoded["lines"][0]["unit_amount"] == "80.00"
    model = v1.decode(encoded)
    assert model.record_type == "unknown"
    assert model.content_hash == record().content_hash


def test_v2_writer_known_symbol_read_by_v1_reader(v1: Codec, v2: Codec) -> None:
    original = record()
    assert v1.decode(v2.encode(original)) == original


def test_v1_writer_read_by_v2_reader(v1: Codec, v2: Codec) -> None:
    original = record()
    encoded = v1.encode(original)
    name, decoded = v2.decode_dict(encoded)
    assert name == "RecordEvent"
    assert decoded["source_url"] is None  # defaults fill the new fields
    assert decoded["priority"] == "normal"
    assert decoded["record_type"] == "invoice"
    assert v2.decode(encoded) == original


def test_an_event_of_an_unknown_record_type_can_be_answered(v1: Codec, v2: Codec) -> None:
    """A v1 poster that receives a v2 record type must still be able to emit (encode) a
    result for it, or the consumer crashes on the upgrade instead of reporting the record."""
    data = to_dict(record())
    data["record_type"] = "journal"
    received = v1.decode(v2.encode_dict("RecordEvent", data))
    result = PostingResult(
        record_event_id=received.event_id,
        run_id=received.run_id,
        company=received.company,
        record_type=received.record_type,
        source=received.source,
        source_id=received.source_id,
        target=received.target,
        status=Status.FAILED,
    )
    decoded = v1.decode(v1.encode(result))
    assert decoded.record_type == "unknown"
    assert decoded.status is Status.FAILED
    assert v1.decode(v1.encode(received)).record_type == "unknown"


# --- wisesync schemas check ------------------------------------------------------------------


def _incompatible(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the v2 fixture directory with ``change`` applied to the v2 schema."""
    target = tmp_path / "schemas"
    shutil.copytree(V2_DIR, target)
    raw = json.loads((target / V2_FILE).read_text())
    change(raw)
    (target / V2_FILE).write_text(json.dumps(raw, indent=2))
    return target


def _field(raw: dict, name: str) -> dict:
    return next(f for f in raw["fields"] if f["name"] == name)


def run_check(*dirs: Path):  # type: ignore[no-untyped-def]
    args = ["schemas", "check"]
    for d in dirs:
        args += ["--dir", str(d)]
    return CliRunner().invoke(cli, args)


def test_schemas_check_accepts_the_compatible_v2() -> None:
    result = run_check(V2_DIR)
    assert result.exit_code == 0, result.output
    assert "RecordEvent: v1" in result.output and "v2" in result.output
    assert "compatible" in result.output


def test_schemas_check_accepts_the_released_schemas() -> None:
    result = run_check(default_schema_dir())
    assert result.exit_code == 0, result.output


def test_schemas_check_reports_a_field_added_without_default(tmp_path: Path) -> None:
    def change(raw: dict) -> None:
        raw["fields"].append({"name": "approval_code", "type": "string"})

    result = run_check(_incompatible(tmp_path, change))
    assert result.exit_code == 1
    assert "INCOMPATIBLE" in result.output
    assert "approval_code" in result.output
    assert "without a default" in result.output
    assert "v2 cannot read v1" in result.output  # the new reader fails on old data


def test_schemas_check_reports_a_type_change(tmp_path: Path) -> None:
    def change(raw: dict) -> None:
        _field(raw, "attempt")["type"] = "string"

    result = run_check(_incompatible(tmp_path, change))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "INCOMPATIBLE" in line]
    assert lines, result.output
    assert all("attempt" in line for line in lines)
    assert any("v1 cannot read v2" in line for line in lines)
    assert any("v2 cannot read v1" in line for line in lines)


def test_schemas_check_reports_a_nested_field_path(tmp_path: Path) -> None:
    def change(raw: dict) -> None:
        line = _field(raw, "lines")["type"]["items"]
        _field(line, "description")["type"] = "int"

    result = run_check(_incompatible(tmp_path, change))
    assert result.exit_code == 1
    assert "lines[].description" in result.output


def test_schemas_check_reports_a_new_enum_symbol_without_default(tmp_path: Path) -> None:
    def change(raw: dict) -> None:
        status_enum = _field(raw, "trigger")["type"]
        status_enum["symbols"].append("webhook")
        # the v1 reader's enum has a default, so remove it from both to break reading
        del status_enum["default"]
        status_enum["symbols"].remove("unknown")

    directory = _incompatible(tmp_path, change)
    v1_file = directory / "wisesync.RecordEvent.v1.avsc"
    raw_v1 = json.loads(v1_file.read_text())
    del _field(raw_v1, "trigger")["type"]["default"]
    v1_file.write_text(json.dumps(raw_v1))
    result = run_check(directory)
    assert result.exit_code == 1
    assert "webhook" in result.output
