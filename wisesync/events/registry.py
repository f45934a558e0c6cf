"""The schema registry: every ``schemas/wisesync.<Name>.v<N>.avsc`` file, by fingerprint.

A schema file is never edited once released; a new version is a new file. A
reader resolves any writer version it finds here into its own version (Avro
schema resolution), so old and new processes can share a topic during an upgrade.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from wisesync.events.errors import UnknownSchema
from wisesync.events.fingerprint import rabin64

_FILE = re.compile(r"^(?P<ns>[\w.]+)\.(?P<name>\w+)\.v(?P<version>\d+)\.avsc$")


def default_schema_dir() -> Path:
    """``$WISESYNC_SCHEMAS_DIR``, else the schemas shipped with the package (the
    repository's top-level ``schemas/``)."""
    env = os.environ.get("WISESYNC_SCHEMAS_DIR")
    # events/schemas links to the repository's schemas/ and is packaged as real files
    return Path(env) if env else Path(__file__).parent / "schemas"


@dataclass(frozen=True)
class SchemaVersion:
    """One schema file, parsed."""

    name: str  # "RecordEvent"
    version: int
    path: Path
    raw: dict[str, Any]
    parsed: Any
    fingerprint: int

    @property
    def fingerprint_bytes(self) -> bytes:
        """The 8 little-endian bytes single-object encoding puts after the marker."""
        return struct.pack("<Q", self.fingerprint)

    @property
    def label(self) -> str:
        return f"{self.name}.v{self.version}"


class SchemaRegistry:
    """Schemas loaded from one or more directories."""

    def __init__(self, *dirs: Path):
        self.by_fingerprint: dict[int, SchemaVersion] = {}
        self.by_name: dict[str, dict[int, SchemaVersion]] = {}
        for directory in dirs or (default_schema_dir(),):
            self.load_dir(Path(directory))

    def load_dir(self, directory: Path) -> None:
        """Add every ``*.avsc`` file of ``directory``."""
        for path in sorted(directory.glob("*.avsc")):
            match = _FILE.match(path.name)
            if not match:
                raise ValueError(f"{path}: schema files are named <namespace>.<Name>.v<N>.avsc")
            self.add(match["name"], int(match["version"]), path, json.loads(path.read_text()))

    def add(self, name: str, version: int, path: Path, raw: dict[str, Any]) -> SchemaVersion:
        """Register one schema version."""
        parsed = fastavro.parse_schema(raw)
        canonical = to_parsing_canonical_form(raw)
        sv = SchemaVersion(name, version, path, raw, parsed, rabin64(canonical.encode()))
        self.by_fingerprint[sv.fingerprint] = sv
        self.by_name.setdefault(name, {})[version] = sv
        return sv

    def latest(self, name: str) -> SchemaVersion:
        """The newest version of ``name``."""
        versions = self.by_name.get(name)
        if not versions:
            raise UnknownSchema(f"no schema named {name!r} in the registry")
        return versions[max(versions)]

    def get(self, name: str, version: int) -> SchemaVersion:
        """A given version of ``name``."""
        try:
            return self.by_name[name][version]
        except KeyError:
            raise UnknownSchema(f"no schema {name}.v{version} in the registry") from None

    def by_fp(self, fingerprint: int) -> SchemaVersion:
        """The writer schema of a message, by its fingerprint."""
        try:
            return self.by_fingerprint[fingerprint]
        except KeyError:
            raise UnknownSchema(
                f"message written with an unknown schema (fingerprint {fingerprint:016x}); "
                "it comes from a newer or foreign producer: upgrade wisesync, or add the "
                "schema file to schemas/"
            ) from None


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    """The registry of the installed ``schemas/`` directory (loaded once)."""
    return SchemaRegistry()
