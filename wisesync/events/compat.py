"""Avro schema-resolution compatibility: can a reader schema read a writer's data?

Implements the resolution rules of the Avro specification (records by field
name with defaults, enums by symbol with an enum default, unions branch by
branch, numeric and string/bytes promotions) and reports the first field path
that breaks, so ``wisesync schemas check`` can name it.
"""

from __future__ import annotations

import itertools
from typing import Any

from wisesync.events.errors import IncompatibleSchemas
from wisesync.events.registry import SchemaRegistry

_PROMOTIONS = {
    "int": {"int"},
    "long": {"int", "long"},
    "float": {"int", "long", "float"},
    "double": {"int", "long", "float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
_NO_DEFAULT = object()


class _Names:
    """Named types seen while walking a schema (records, enums, fixed)."""

    def __init__(self) -> None:
        self.types: dict[str, Any] = {}

    def resolve(self, schema: Any, namespace: str = "") -> Any:
        if isinstance(schema, str):
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            return self.types.get(full) or self.types.get(schema) or schema
        if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
            name = schema["name"]
            ns = schema.get("namespace", namespace)
            full = name if "." in name or not ns else f"{ns}.{name}"
            self.types.setdefault(full, schema)
            self.types.setdefault(name, schema)
        return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema["type"]
        return kind if isinstance(kind, str) else _kind(kind)
    return schema


def problems(reader: Any, writer: Any) -> list[tuple[str, str]]:
    """Every (path, reason) where ``reader`` cannot read data written with ``writer``."""
    found: list[tuple[str, str]] = []
    _check(reader, writer, "", _Names(), _Names(), found, set())
    return found


def _check(
    reader: Any,
    writer: Any,
    path: str,
    rn: _Names,
    wn: _Names,
    found: list[tuple[str, str]],
    seen: set[tuple[int, int]],
) -> None:
    reader, writer = rn.resolve(reader), wn.resolve(writer)
    if isinstance(reader, dict) and isinstance(reader.get("type"), dict | list):
        reader = reader["type"]
    if isinstance(writer, dict) and isinstance(writer.get("type"), dict | list):
        writer = writer["type"]
    key = (id(reader), id(writer))
    if key in seen:
        return
    seen.add(key)
    rk, wk = _kind(reader), _kind(writer)
    where = path or "<root>"
    if wk == "union":
        for i, branch in enumerate(writer):
            _check(reader, branch, f"{path}[writer branch {i}]", rn, wn, found, seen)
        return
    if rk == "union":
        for branch in reader:
            trial: list[tuple[str, str]] = []
            _check(branch, writer, path, rn, wn, trial, set())
            if not trial:
                return
        found.append((where, f"no branch of the reader's union reads the writer's {wk}"))
        return
    if rk in _PROMOTIONS and wk in _PROMOTIONS:
        if wk not in _PROMOTIONS[rk]:
            found.append((where, f"writer type {wk} does not promote to {rk}"))
        return
    if rk != wk:
        found.append((where, f"type changed from {wk} to {rk}"))
        return
    if rk == "record":
        wfields = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            name = field["name"]
            sub = f"{path}.{name}" if path else name
            match = wfields.get(name) or next(
                (wfields[a] for a in field.get("aliases", []) if a in wfields), None
            )
            if match is None:
                if field.get("default", _NO_DEFAULT) is _NO_DEFAULT:
                    found.append((sub, "field added without a default"))
                continue
            _check(field["type"], match["type"], sub, rn, wn, found, seen)
    elif rk == "enum":
        missing = set(writer["symbols"]) - set(reader["symbols"])
        if missing and "default" not in reader:
            found.append(
                (
                    where,
                    f"enum symbols {sorted(missing)} unknown to the reader "
                    "and the reader's enum has no default",
                )
            )
    elif rk == "array":
        _check(reader["items"], writer["items"], f"{path}[]", rn, wn, found, seen)
    elif rk == "map":
        _check(reader["values"], writer["values"], f"{path}{{}}", rn, wn, found, seen)
    elif rk == "fixed" and reader.get("size") != writer.get("size"):
        found.append((where, "fixed size changed"))


def check_registry(registry: SchemaRegistry) -> list[IncompatibleSchemas]:
    """Check each version against the one before, both ways (backward and forward)."""
    failures: list[IncompatibleSchemas] = []
    for name, versions in sorted(registry.by_name.items()):
        ordered = sorted(versions)
        for older, newer in itertools.pairwise(ordered):
            old, new = versions[older], versions[newer]
            for reader, writer in ((new, old), (old, new)):
                for path, reason in problems(reader.raw, writer.raw):
                    failures.append(
                        IncompatibleSchemas(name, reader.version, writer.version, path, reason)
                    )
    return failures
