"""Avro single-object encoding of wisesync events (marker C3 01, fingerprint, body).

>>> codec = Codec()                       # doctest: +SKIP
>>> data = codec.encode(record_event)      # bytes for Kafka
>>> codec.decode(data)                     # a RecordEvent again, from any known writer version

The writer schema is the newest version in ``schemas/``; a reader resolves any
known writer version into its own reader version. Kafka headers carry the event
type and fingerprint (:meth:`Codec.headers`) so tools can route without decoding; a
record event's also carry its company and target, so a poster knows its lane before
decoding it (:func:`record_route`).
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro

from wisesync.events import models
from wisesync.events.convert import from_dict, to_dict
from wisesync.events.errors import CorruptEvent, EventDecodeError
from wisesync.events.registry import SchemaRegistry, SchemaVersion, default_registry

MARKER = b"\xc3\x01"
HEADER_TYPE = "wisesync-event-type"
HEADER_FINGERPRINT = "wisesync-schema-fingerprint"
HEADER_COMPANY = "wisesync-company"
HEADER_TARGET = "wisesync-target"

MODELS: dict[str, type] = {
    "RecordEvent": models.RecordEvent,
    "PostingResult": models.PostingResult,
    "SyncRun": models.SyncRun,
    "DeadLetter": models.DeadLetter,
}
_NAMES = {cls: name for name, cls in MODELS.items()}


class Codec:
    """Encodes models to single-object Avro and decodes them back.

    ``reader_versions`` pins the reader version per event name (default: newest).
    """

    def __init__(
        self, registry: SchemaRegistry | None = None, reader_versions: dict[str, int] | None = None
    ):
        self.registry = registry or default_registry()
        self._reader: dict[str, SchemaVersion] = {}
        for name in self.registry.by_name:
            pinned = (reader_versions or {}).get(name)
            self._reader[name] = (
                self.registry.get(name, pinned) if pinned else self.registry.latest(name)
            )

    def writer(self, name: str) -> SchemaVersion:
        """The schema this process writes ``name`` with."""
        return self._reader[name]

    def encode(self, obj: Any) -> bytes:
        """Single-object encode a model instance."""
        name = _NAMES[type(obj)]
        return self.encode_dict(name, to_dict(obj))

    def encode_dict(self, name: str, record: dict[str, Any]) -> bytes:
        """Single-object encode a plain dict with the writer schema of ``name``."""
        schema = self._reader[name]
        buf = io.BytesIO()
        buf.write(MARKER)
        buf.write(schema.fingerprint_bytes)
        fastavro.schemaless_writer(buf, schema.parsed, record)
        return buf.getvalue()

    def headers(self, obj: Any) -> list[tuple[str, bytes]]:
        """Kafka headers naming the event type and writer fingerprint."""
        schema = self._reader[_NAMES[type(obj)]]
        headers = [
            (HEADER_TYPE, schema.name.encode()),
            (HEADER_FINGERPRINT, f"{schema.fingerprint:016x}".encode()),
        ]
        if isinstance(obj, models.RecordEvent):
            headers += route_headers(obj.company, obj.target)
        return headers

    def decode_dict(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode to (event name, dict in the reader's version)."""
        if len(data) < 10 or data[:2] != MARKER:
            raise CorruptEvent("not an Avro single-object message (missing C3 01 marker)")
        (fingerprint,) = struct.unpack_from("<Q", data, 2)
        writer = self.registry.by_fp(fingerprint)
        reader = self._reader[writer.name]
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(memoryview(data)[10:]),
                writer.parsed,
                None if reader is writer else reader.parsed,
            )
        except EventDecodeError:
            raise
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError ...
            raise CorruptEvent(
                f"{writer.label} body does not decode: {type(exc).__name__}: {exc}"
            ) from None
        return writer.name, record

    def decode(self, data: bytes) -> Any:
        """Decode to the model instance."""
        name, record = self.decode_dict(data)
        try:
            return from_dict(MODELS[name], record)
        except (TypeError, ValueError, KeyError) as exc:
            raise CorruptEvent(f"{name} fields do not fit the model: {exc}") from None


def route_headers(company: str, target: str) -> list[tuple[str, bytes]]:
    """The headers that route a record event to its (company, target)."""
    return [(HEADER_COMPANY, company.encode()), (HEADER_TARGET, target.encode())]


def record_route(message: Any) -> tuple[str, str] | None:
    """A record event's (company, target) from a consumed message's routing headers,
    without decoding its body; None when they are missing (a message from an older
    producer: decode it to route it). The body is checked against them when decoded."""
    company, target = message.header(HEADER_COMPANY), message.header(HEADER_TARGET)
    if not company or not target:
        return None
    try:
        return company.decode(), target.decode()
    except UnicodeDecodeError:
        return None
