"""Request-body validation against Xero's official OpenAPI file (``xero_accounting.yaml``).

The spec (XeroAPI/Xero-OpenAPI v16.1.0, MIT, copied to ``data/``) is loaded once per
process and its ``components.schemas`` cleaned for JSON Schema (draft 4, which is what
OpenAPI 3.0 schemas are closest to: ``$ref`` siblings ignored):

* annotations (``example``, ``description``, ``default``, ``externalDocs``) are dropped:
  PyYAML turns some examples into ``datetime`` objects and some boolean defaults are
  strings (``HasAttachments: default: "false"``);
* ``x-is-msdate`` / ``x-is-msdate-time`` strings get a ``xero-date`` format: Xero accepts
  ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ss`` and ``/Date(ms+zzzz)/`` (what xero-python sends);
* ``format: uuid`` is checked (Xero cannot parse a malformed GUID);
* with ``strict=True`` (the default) every object schema gets ``additionalProperties:
  false``, so a misspelt element is reported the way Xero's ``PostDataInvalidException``
  does ("The element 'X' was not recognised"). The spec itself has no such lists; this
  catches mapping bugs instead of silently dropping fields.

Totals and other ``readOnly`` fields are accepted (Xero ignores them). Missing mandatory
fields are not the spec's job (it has almost no ``required`` lists): see ``rules.py``.

Validators are compiled once per (schema, strict) and cached. jsonschema is the
authority, but walking a 50-invoice batch with it costs ~50 ms, so each schema is also
compiled into plain Python closures (:func:`fast_validator`, by the shared
:class:`wisesync.testing.schema_check.SchemaCheck`: exactly the keywords the cleaned spec
uses; an unknown keyword fails loudly) that decide valid / invalid in a couple of
milliseconds. Only a body the fast check rejects is walked by
jsonschema, for its messages.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import Draft4Validator, FormatChecker

from wisesync.testing.schema_check import SchemaCheck

SPEC_PATH = Path(__file__).with_name("data") / "xero_accounting.yaml"
SPEC_SHA256 = "140f64f8e6bd2d8524b8ffdbffd08589d417efa5466ba57bfa04939a69ff6db8"
_REF_PREFIX = "#/components/schemas/"
_ANNOTATIONS = frozenset({"example", "examples", "description", "default", "externalDocs"})

_MSDATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
_ISODATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def is_xero_date(value: object) -> bool:
    """True for a date string Xero accepts in a request body."""
    if not isinstance(value, str):
        return True  # the type check reports non-strings
    return bool(_ISODATE.match(value) or _MSDATE.match(value))


_FORMATS = FormatChecker(formats=["uuid"])
_FORMATS.checks("xero-date")(is_xero_date)


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, Decimal):
        return instance == instance.to_integral_value()
    return isinstance(instance, int)


_TYPES = Draft4Validator.TYPE_CHECKER.redefine("integer", _is_integer)
_Validator = jsonschema.validators.extend(Draft4Validator, type_checker=_TYPES)


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed OpenAPI document (cached for the process)."""
    text = SPEC_PATH.read_bytes()
    if hashlib.sha256(text).hexdigest() != SPEC_SHA256:
        raise RuntimeError(f"{SPEC_PATH} is not Xero-OpenAPI v16.1.0 (sha256 differs)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _clean(schema: Any, strict: bool) -> Any:
    """A copy of one schema node fit for draft-4 validation (see module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: _clean(sub, strict) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _clean(value, strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_clean(sub, strict) for sub in value]
        else:
            out[key] = value
    if schema.get("x-is-msdate") or schema.get("x-is-msdate-time"):
        out.setdefault("format", "xero-date")
    if strict and "properties" in out and "additionalProperties" not in out and "$ref" not in out:
        out["additionalProperties"] = False
    return out


@functools.cache
def _components(strict: bool) -> dict[str, Any]:
    schemas = load_spec()["components"]["schemas"]
    return {name: _clean(schema, strict) for name, schema in schemas.items()}


@functools.cache
def validator(schema_name: str, strict: bool = True) -> Draft4Validator:
    """The compiled validator for ``components.schemas[schema_name]`` (cached)."""
    root = {"$ref": _REF_PREFIX + schema_name, "components": {"schemas": _components(strict)}}
    return _Validator(root, format_checker=_FORMATS)


@functools.cache
def request_schemas() -> dict[tuple[str, str], str]:
    """``(METHOD, path template)`` -> request-body schema name, for every operation."""
    out: dict[tuple[str, str], str] = {}
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            body = op["requestBody"]
            ref = body.get("$ref") or body.get("content", {}).get("application/json", {}).get(
                "schema", {}
            ).get("$ref", "")
            if ref.startswith(_REF_PREFIX):
                out[(method.upper(), path.lower())] = ref[len(_REF_PREFIX) :]
    return out


@dataclass(frozen=True, slots=True)
class SpecViolation:
    """One request body that the official spec rejects."""

    method: str
    path: str
    schema: str
    messages: tuple[str, ...]


def _message(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        names = ", ".join(f"'{k}'" for k in extra)
        return (
            f"{where}: The element {names} was not recognised. Ensure the element name has "
            "the correct case and that there are no duplicate elements of the same name."
        )
    return f"{where}: {error.message}"


@functools.cache
def _compiler(strict: bool) -> SchemaCheck:
    formats = {fmt: functools.partial(_conforms, fmt) for fmt in ("uuid", "xero-date")}
    return SchemaCheck(definitions=_components(strict), ref_prefix=_REF_PREFIX, formats=formats)


def _conforms(fmt: str, value: Any) -> bool:
    return not isinstance(value, str) or _FORMATS.conforms(value, fmt)


def fast_validator(schema_name: str, strict: bool = True) -> Callable[[Any], bool]:
    """``check(body) -> bool`` for ``components.schemas[schema_name]`` (compiled, cached)."""
    return _compiler(strict).compile({"$ref": _REF_PREFIX + schema_name})


def check(schema_name: str, body: Any, *, strict: bool = True) -> list[str]:
    """Messages for every way ``body`` breaks ``schema_name`` ([] when valid)."""
    if fast_validator(schema_name, strict)(body):
        return []
    errors = validator(schema_name, strict).iter_errors(body)
    messages = sorted(_message(e) for e in errors)
    return messages or ["(body): rejected by the compiled spec check"]


def schema_for(method: str, template: str) -> str | None:
    """The request-body schema the spec declares for ``method template`` (case-insensitive)."""
    return request_schemas().get((method.upper(), template.lower()))
