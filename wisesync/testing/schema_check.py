"""Fast JSON Schema checks for sandboxes that validate what they serve and receive.

A sandbox that must speak only a vendor's published shapes validates every body
against the vendor's schema. :mod:`jsonschema` is the authority, but walking a
thousand-record export with it costs seconds; :class:`SchemaCheck` compiles each
schema once into plain Python closures that decide valid / invalid in a fraction of
that, and asks jsonschema for its messages only when a body fails.

The compiled check supports exactly the keywords such generated model schemas use
(``$ref`` to the document's definitions, ``type`` (one or a list), ``properties``,
``additionalProperties`` (false or a schema), ``items``, ``required``, ``enum``,
``maxLength``, ``format`` (the formats given, ``date-time`` by default; others are not
checked, as jsonschema does); annotations such as ``description`` and ``readOnly`` are
ignored). Any other keyword raises ``ValueError`` when compiled, so a schema update
cannot silently weaken the check. Siblings of ``$ref`` are ignored (draft 4 and the
generated schemas alike). Used by the ConnectWise sandbox (draft 2020-12, ``$defs``)
and the Xero sandbox (OpenAPI ``components.schemas``).

>>> check = SchemaCheck({"$defs": {"A": {"type": "object", "properties": {
...     "id": {"type": "integer"}}, "additionalProperties": False}}})
>>> check.errors({"$ref": "#/$defs/A"}, {"id": 1, "x": 2})
["(body): Additional properties are not allowed ('x' was unexpected)"]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"description", "title", "examples", "default", "$comment", "readOnly"})
_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "additionalProperties",
        "items",
        "required",
        "enum",
        "maxLength",
        "format",
    }
)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_date_time(value: object) -> bool:
    """True for an RFC 3339 date-time string (non-strings pass: ``type`` reports them)."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(is_date_time)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, int)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool),
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}

_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: _is_integer(value)
)
_Validator = jsonschema.validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


class SchemaCheck:
    """Validates values against nodes of one schema document (its definitions shared).

    ``document`` is a JSON Schema with ``$defs``; or pass ``definitions`` and the
    ``ref_prefix`` that names them (``"#/components/schemas/"`` for OpenAPI).
    ``formats`` maps a format name to its check (default: ``date-time``).
    """

    def __init__(
        self,
        document: dict[str, Any] | None = None,
        *,
        definitions: dict[str, Any] | None = None,
        ref_prefix: str = "#/$defs/",
        formats: dict[str, Check] | None = None,
    ) -> None:
        self.document = document or {}
        self._defs: dict[str, Any] = (
            definitions if definitions is not None else self.document.get("$defs", {})
        )
        self._prefix = ref_prefix
        self._formats = {"date-time": is_date_time} if formats is None else formats
        self._compiled: dict[str, Check] = {}

    # --- fast path --------------------------------------------------------------------

    def compile(self, schema: dict[str, Any]) -> Check:
        """``check(value) -> bool`` for one schema node (refs compiled once, shared)."""
        unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
        if unknown:
            raise ValueError(f"the compiled schema check does not support {sorted(unknown)}")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        checks: list[Check] = []
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [_TYPES[n] for n in names]
            checks.append(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
        if "enum" in schema:
            allowed = list(schema["enum"])
            checks.append(lambda v: any(v == a and type(v) is type(a) for a in allowed))
        if "maxLength" in schema:
            limit = schema["maxLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) <= limit)
        if schema.get("format") in self._formats:
            checks.append(self._formats[schema["format"]])
        if "required" in schema:
            needed = list(schema["required"])
            checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in needed))
        if "properties" in schema or "additionalProperties" in schema:
            checks.append(self._object(schema))
        if isinstance(schema.get("items"), dict):
            item = self.compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        return _all(checks)

    def _object(self, schema: dict[str, Any]) -> Check:
        props = {k: self.compile(sub) for k, sub in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        other: Check | None
        if extra is True:
            other = None
        elif extra is False:
            other = lambda v: False  # noqa: E731
        else:
            other = self.compile(extra)

        def check_object(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for key, item in value.items():
                sub = props.get(key, other)
                if sub is not None and not sub(item):
                    return False
            return True

        return check_object

    def _ref(self, ref: str) -> Check:
        if not ref.startswith(self._prefix):
            raise ValueError(f"only local {self._prefix} references are supported, not {ref!r}")
        name = ref[len(self._prefix) :]
        if name not in self._compiled:
            holder: list[Check] = []
            self._compiled[name] = lambda v: holder[0](v)  # recursion-safe placeholder
            holder.append(self.compile(self._defs[name]))
        return self._compiled[name]

    # --- messages ---------------------------------------------------------------------

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """A plain jsonschema (2020-12) validator of ``schema`` (the authority, slower; for
        ``$defs`` documents: an OpenAPI caller builds its own for its messages)."""
        return _Validator({"$defs": self._defs, **schema}, format_checker=_FORMATS)

    def iter_errors(self, schema: dict[str, Any], value: Any) -> list[jsonschema.ValidationError]:
        """jsonschema's errors for ``value`` ([] at once when the compiled check passes)."""
        if self.compile(schema)(value):
            return []
        return list(self.validator(schema).iter_errors(value))

    def errors(self, schema: dict[str, Any], value: Any, *, limit: int = 50) -> list[str]:
        """Every way ``value`` breaks ``schema`` as ``"path: message"`` ([] when valid)."""
        if self.compile(schema)(value):
            return []
        out = [describe(e) for e in self.iter_errors(schema, value)[:limit]]
        return sorted(out) or ["(body): rejected by the compiled schema check"]


def describe(error: jsonschema.ValidationError) -> str:
    """``"path/to/field: message"`` for one jsonschema error."""
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"
