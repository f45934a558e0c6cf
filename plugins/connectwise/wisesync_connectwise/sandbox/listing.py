"""Collection GETs the ConnectWise way: conditions, orderBy, fields, paging, Link headers.

* ``page`` (1-based) + ``pageSize`` (default 25, capped at 1000 or the sandbox's
  ``max_page_size``): navigable paging. The ``Link`` header (RFC 5988) carries
  ``rel="next"``/``"last"`` and, after page 1, ``"prev"``/``"first"``.
* ``pagination-type: forward-only`` request header: keyset paging by ``id``.
  ``pageId=N`` means ``id > N``; ``page`` is ignored and ``orderBy`` is refused.
  The ``Link`` header holds only ``rel="next"``, absent on the last page.
* ``conditions`` (see :mod:`.conditions`), unknown fields refused with 400.
* ``orderBy=field asc|desc[, ...]`` and ``fields=a,b/c`` projections.

Records are the JSON dicts the app serves, already sorted by ``id``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from wisesync.testing.sandbox import Request, Response

from .conditions import Compiled, parse_conditions, resolve
from .errors import ApiError
from .views import SCHEMA

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000


def _int_arg(request: Request, name: str, default: int | None) -> int | None:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "InvalidObject", f"The {name} parameter must be an integer, got {raw!r}"
        ) from None


def page_size(request: Request, max_page_size: int) -> int:
    """The effective page size: default 25, silently capped at the hard limit."""
    size = _int_arg(request, "pageSize", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    if size < 1:
        raise ApiError(400, "InvalidObject", "The pageSize parameter must be at least 1")
    return min(size, max_page_size, MAX_PAGE_SIZE)


def _check_fields(
    used: set[str], records: Sequence[dict[str, Any]], known: set[str] | None
) -> None:
    """Refuse a condition on a field the resource does not have.

    ``known`` is the resource's field list; without one, the union of the rows'
    fields stands in (null fields are omitted, so every row is looked at).
    """
    if not used or not (records or known):
        return
    keys = {k.lower() for k in (known or set().union(*map(dict.keys, records)))}
    for path in used:
        if path.split("/")[0].lower() not in keys:
            raise ApiError(
                400,
                "InvalidObject",
                f"conditions is invalid: Unknown field '{path}'",
                [
                    {
                        "code": "InvalidField",
                        "message": f"Unknown field '{path}'",
                        "resource": "conditions",
                        "field": path,
                    }
                ],
            )


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float) or hasattr(value, "as_tuple"):
        return (2, value)
    if isinstance(value, str):
        return (3, value.casefold())
    return (4, str(value))


def _order(records: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    parts = []
    for clause in spec.split(","):
        words = clause.strip().split()
        if not words:
            continue
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc") or len(words) > 2:
            raise ApiError(400, "InvalidObject", f"orderBy is invalid: {clause.strip()!r}")
        parts.append((words[0], direction == "desc"))
    for path, desc in reversed(parts):  # stable multi-key sort
        records = sorted(records, key=lambda r, p=path: _sort_key(resolve(r, p)), reverse=desc)
    return records


def project(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Keep only ``fields`` (``a``, ``a/b``) of ``record``."""
    out: dict[str, Any] = {}
    for path in fields:
        parts = path.split("/")
        src: Any = record
        dst = out
        for i, part in enumerate(parts):
            if not isinstance(src, dict):
                break
            key = next((k for k in src if k.lower() == part.lower()), None)
            if key is None:
                break
            if i == len(parts) - 1:
                dst[key] = src[key]
            else:
                src = src[key]
                dst = dst.setdefault(key, {})
                if not isinstance(dst, dict):
                    break
    return out


def _fields(request: Request) -> list[str] | None:
    raw = request.arg("fields")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _url(request: Request, **overrides: Any) -> str:
    host = request.header("host") or "127.0.0.1"
    query: dict[str, str] = {}
    for key, values in request.query.items():
        if key.lower() in {k.lower() for k in overrides}:
            continue
        query[key] = values[0]
    for key, value in overrides.items():
        if value is not None:
            query[key] = str(value)
    scheme = request.header("x-forwarded-proto") or "http"  # set by the app under TLS
    return f"{scheme}://{host}{request.path}?{urlencode(query, quote_via=quote)}"


Lookup = Callable[[str, list[Any]], list[dict[str, Any]] | None]


def candidates(
    compiled: Compiled, rows: Callable[[], Sequence[dict[str, Any]]], lookup: Lookup | None
) -> Sequence[dict[str, Any]]:
    """The rows to scan: an index hit for a simple equality, else all of them (id order)."""
    if lookup is not None and compiled.equality is not None:
        field, values = compiled.equality
        hit = lookup(field.lower(), values)
        if hit is not None:
            return sorted(hit, key=lambda r: r["id"])
    return rows()


def select(
    request: Request,
    records: Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]],
    what: str,
    lookup: Lookup | None = None,
) -> list[dict[str, Any]]:
    """All records matching ``conditions`` (no paging), in id order."""
    compiled = parse_conditions(request.arg("conditions"))
    predicate, used = compiled.predicate, compiled.fields
    if callable(records):
        records = candidates(compiled, records, lookup)
    _check_fields(used, records, SCHEMA.get(what))
    if predicate is None:
        return list(records)
    return [r for r in records if predicate(r)]


def count(
    request: Request,
    records: Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]],
    what: str,
    lookup: Lookup | None = None,
) -> Response:
    """``GET .../count``: ``{"count": n}`` for the records matching ``conditions``."""
    return Response(200, {"count": len(select(request, records, what, lookup))})


def page(
    request: Request,
    records: Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]],
    what: str,
    *,
    max_page_size: int = MAX_PAGE_SIZE,
    encode: Callable[[dict[str, Any]], bytes] | None = None,
    lookup: Lookup | None = None,
) -> Response:
    """Answer a collection GET: filter, order, page, project, and set the Link header.

    ``encode`` (the views' per-record JSON cache) lets a page be written by
    joining pre-encoded records instead of encoding them again.
    """
    size = page_size(request, max_page_size)
    fields = _fields(request)
    order_by = request.arg("orderBy")
    forward = (request.header("pagination-type") or "").lower() == "forward-only"
    compiled = parse_conditions(request.arg("conditions"))
    predicate, used = compiled.predicate, compiled.fields
    if callable(records):
        records = candidates(compiled, records, lookup)
    _check_fields(used, records, SCHEMA.get(what))
    headers: dict[str, str] = {}

    if forward:
        if order_by:
            raise ApiError(
                400, "InvalidObject", "orderBy is not supported with forward-only pagination"
            )
        after = _int_arg(request, "pageId", 0) or 0
        start = bisect.bisect_right([r["id"] for r in records], after)
        items: list[dict[str, Any]] = []
        more = False
        for record in records[start:]:
            if predicate is not None and not predicate(record):
                continue
            if len(items) == size:
                more = True
                break
            items.append(record)
        if more:
            headers["Link"] = f'<{_url(request, pageId=items[-1]["id"], page=None)}>; rel="next"'
    else:
        number = _int_arg(request, "page", 1) or 1
        if number < 1:
            raise ApiError(400, "InvalidObject", "The page parameter must be at least 1")
        matched = list(records) if predicate is None else [r for r in records if predicate(r)]
        if order_by:
            matched = _order(matched, order_by)
        last = max(1, -(-len(matched) // size))
        items = matched[(number - 1) * size : number * size]
        links = []
        # page last, as ConnectWise writes it (``...?pageSize=1000&page=2>; rel="next"``):
        # pyconnectwise reads the number with ``page=(\d+)>; rel=``
        if number < last:
            links.append(f'<{_url(request, pageSize=size, page=number + 1)}>; rel="next"')
            links.append(f'<{_url(request, pageSize=size, page=last)}>; rel="last"')
        if number > 1:
            links.append(f'<{_url(request, pageSize=size, page=number - 1)}>; rel="prev"')
            links.append(f'<{_url(request, pageSize=size, page=1)}>; rel="first"')
        if links:
            headers["Link"] = ", ".join(links)
    if fields:
        items = [project(r, fields) for r in items]
    elif encode is not None:
        return Response(200, b"[" + b",".join(encode(r) for r in items) + b"]", headers)
    return Response(200, items, headers)
