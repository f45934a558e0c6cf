"""Dataclass models <-> Avro-ready dicts, driven by the models' type hints.

Decimals travel as strings (exact, any scale), enums as their values, dates
and datetimes as themselves (fastavro applies the logical types). A plan is
built once per class and cached, so converting costs one pass over the fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _optional(inner: Convert) -> Convert:
    if inner is _identity:
        return _identity
    return lambda v: None if v is None else inner(v)


def _list(inner: Convert) -> Convert:
    if inner is _identity:
        return list
    return lambda v: [inner(x) for x in v]


def _plan(hint: Any, *, to_avro: bool) -> Convert:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _optional(_plan(args[0], to_avro=to_avro))
    if origin is list:
        return _list(_plan(typing.get_args(hint)[0], to_avro=to_avro))
    if origin is dict:
        return dict
    if hint is Decimal:
        return str if to_avro else Decimal
    if isinstance(hint, type) and issubclass(hint, Enum):
        return (lambda v: getattr(v, "value", v)) if to_avro else (lambda v, e=hint: _enum(e, v))
    if dataclasses.is_dataclass(hint):
        return to_dict if to_avro else (lambda v, c=hint: from_dict(c, v))
    if hint in (str, int, bool, bytes, date, datetime, float):
        return _identity
    return _identity


def _enum(enum: type[Enum], value: Any) -> Enum:
    try:
        return enum(value)
    except ValueError:
        return value  # a symbol this version does not know stays a string


@cache
def _fields(cls: type, to_avro: bool) -> tuple[tuple[str, Convert], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _plan(hints[f.name], to_avro=to_avro)) for f in dataclasses.fields(cls))


def to_dict(obj: Any) -> dict[str, Any]:
    """A model instance as an Avro-ready dict."""
    return {name: conv(getattr(obj, name)) for name, conv in _fields(type(obj), True)}


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a ``cls`` instance from a decoded Avro dict (unknown keys ignored)."""
    kwargs = {name: conv(data[name]) for name, conv in _fields(cls, False) if name in data}
    return cls(**kwargs)
