"""GET-side helpers shared by every list endpoint: filters, order, paging, envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from wisesync.testing.sandbox import Request

from .where import Predicate, QueryError, _lookup, compile_where

PAGE_SIZE = 100


def csv_arg(request: Request, name: str) -> list[str] | None:
    """A comma-separated list parameter (``IDs=a,b``), lower-cased; None when absent."""
    value = request.arg(name)
    if value is None:
        return None
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def if_modified_since(request: Request) -> datetime | None:
    """The ``If-Modified-Since`` header as naive UTC (ISO or RFC 1123); None when absent."""
    value = request.header("if-modified-since")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"Invalid If-Modified-Since header '{value}'") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def where_arg(request: Request) -> Predicate:
    """The compiled ``where`` parameter (raises :class:`QueryError`)."""
    return compile_where(request.arg("where") or "")


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, value)


def order(
    docs: list[dict[str, Any]], spec: str | None, default: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    """Sort by ``order=Field [ASC|DESC][, ...]`` or by ``default``."""
    if not spec:
        return sorted(docs, key=default)
    out = list(docs)
    for part in reversed([p.strip() for p in spec.split(",") if p.strip()]):
        words = part.split()
        field, desc = words[0], len(words) > 1 and words[1].upper() == "DESC"
        out.sort(key=lambda d, f=field: _sort_value(_lookup(d, f.split("."))), reverse=desc)
    return out


def page(
    request: Request, docs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Apply ``page``/``pageSize``; returns the slice and the ``pagination`` object (or None)."""
    raw_page = request.arg("page")
    if raw_page is None:
        return docs, None
    try:
        number = max(1, int(raw_page))
    except ValueError as exc:
        raise QueryError(f"Invalid page '{raw_page}'") from exc
    try:
        size = int(request.arg("pageSize") or PAGE_SIZE)
    except ValueError as exc:
        raise QueryError("Invalid pageSize") from exc
    size = min(1000, max(1, size))
    count = len(docs)
    pagination = {
        "page": number,
        "pageSize": size,
        "pageCount": (count + size - 1) // size,
        "itemCount": count,
    }
    return docs[(number - 1) * size : number * size], pagination


def envelope(key: str, items: Iterable[dict[str, Any]], stamp: str, **extra: Any) -> dict[str, Any]:
    """Xero's response wrapper around a list of ``key`` elements."""
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "wisesync sandbox",
        "DateTimeUTC": stamp,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    body[key] = list(items)
    return body
