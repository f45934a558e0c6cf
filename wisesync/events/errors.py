"""Typed codec errors: one base class, so consumers can dead-letter on it."""

from __future__ import annotations

from wisesync.errors import WisesyncError


class EventDecodeError(WisesyncError):
    """A message could not be decoded; it belongs on the dead-letter topic."""


class UnknownSchema(EventDecodeError):
    """The message names a writer schema (by fingerprint) that no file in schemas/ has."""


class CorruptEvent(EventDecodeError):
    """The bytes are not Avro single-object encoding, or the body does not match its schema."""


class IncompatibleSchemas(WisesyncError):
    """Two versions of a schema cannot read each other's data. ``path`` names the field."""

    def __init__(self, name: str, reader: int, writer: int, path: str, reason: str):
        self.name, self.reader, self.writer, self.path = name, reader, writer, path
        super().__init__(f"{name}: v{reader} cannot read v{writer} data at {path}: {reason}")
