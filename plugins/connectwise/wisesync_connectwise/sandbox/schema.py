"""ConnectWise's published Accounting Interface shapes, checked on every body the sandbox
serves or receives.

``reference/connectwise_accounting.schema.json`` is a JSON Schema (draft 2020-12) of the
Accounting Interface models, derived from ConnectWise's public OpenAPI document (API
version 2025.1) as generated into public client libraries; ``additionalProperties:
false`` there means "not a published field". Its ``endpoints`` map ``"METHOD path"``
(relative to ``/apis/3.0``) to the request and response schemas.

The sandbox checks the request body of every call the map names and the response body
of every successful call it answers; ``GET <list>/{id}`` answers one item of the list's
schema. A request that breaks the schema is refused with ConnectWise's ``400
InvalidObject`` (field errors name the paths); a response that breaks it is served (it
is the sandbox's own bug) and recorded. Both land in
:attr:`~.app.ConnectWiseSandbox.schema_violations`, which the plugin's test fixtures
assert empty.

Where this schema and ``connectwise.md`` disagree the schema wins (issue #9), unless a
comment in :mod:`.views` cites stronger public evidence.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import ValidationError

from wisesync.testing.schema_check import SchemaCheck, describe

SCHEMA_PATH = Path(__file__).with_name("reference") / "connectwise_accounting.schema.json"
SCHEMA_SHA256 = "9ab60855ea97a5980c01713bfa1a9cd13d48eefe3bbba149e15a9248d779ac98"


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One body that breaks the published schema."""

    direction: str  # "request" | "response"
    method: str
    path: str
    messages: tuple[str, ...]

    def __str__(self) -> str:
        shown = "; ".join(self.messages[:5])
        more = f" (+{len(self.messages) - 5} more)" if len(self.messages) > 5 else ""
        return f"{self.direction} of {self.method} {self.path}: {shown}{more}"


@functools.cache
def document() -> dict[str, Any]:
    """The parsed schema document (cached; its hash is checked so an edit is deliberate)."""
    raw = SCHEMA_PATH.read_bytes()
    if hashlib.sha256(raw).hexdigest() != SCHEMA_SHA256:
        raise RuntimeError(f"{SCHEMA_PATH} is not the reviewed schema (sha256 differs)")
    return json.loads(raw)


@functools.cache
def checker() -> SchemaCheck:
    """The compiled checker over the document's ``$defs``."""
    return SchemaCheck(document())


def _pattern(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(template.rstrip("/")))
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


@functools.cache
def _routes() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    """``(METHOD, path regex, {"request"?, "response"?})``; list endpoints also get their
    ``/{id}`` form answering one item."""
    out = []
    for key, spec in document()["endpoints"].items():
        method, template = key.split(" ", 1)
        out.append((method, _pattern(template), spec))
        response = spec.get("response") or {}
        if method == "GET" and response.get("type") == "array" and "{" not in template:
            out.append((method, _pattern(template + "/{id}"), {"response": response["items"]}))
    return out


def endpoint(method: str, path: str) -> dict[str, Any] | None:
    """The schema map entry for ``method path`` (path relative to the API base), or None."""
    for verb, regex, spec in _routes():
        if verb == method.upper() and regex.match(path):
            return spec
    return None


def check(direction: str, method: str, path: str, body: Any) -> list[str]:
    """Messages for every way ``body`` breaks the schema of ``direction`` of ``method path``
    ([] when valid or when the schema names no body for it)."""
    return [describe(e) for e in errors(direction, method, path, body)]


def errors(direction: str, method: str, path: str, body: Any) -> list[ValidationError]:
    """jsonschema's errors for ``body`` (see :func:`check`)."""
    spec = endpoint(method, path)
    if spec is None or direction not in spec:
        return []
    schema = spec[direction]
    if _fast(json.dumps(schema, sort_keys=True))(body):
        return []
    return checker().iter_errors(schema, body) or [
        ValidationError("rejected by the compiled schema check")
    ]


@functools.cache
def _fast(schema_json: str) -> Any:
    return checker().compile(json.loads(schema_json))


def covered(method: str, path: str) -> bool:
    """Whether the schema describes ``method path`` at all."""
    return endpoint(method, path) is not None
