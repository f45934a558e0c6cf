"""What every handler of the Xero sandbox uses: the request's organisation, body
parsing and spec validation, list arguments, filtering and paging, batch writes and the
response envelope (a mixin of :class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

from . import query, replies, spec
from .state import Org, ms_date, public
from .where import QueryError

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class Handling(_Base):
    """Handler plumbing for :class:`XeroSandbox`."""

    @property
    def _org(self: XeroSandbox) -> Org:
        return self._ctx.org

    def _stamp(self: XeroSandbox) -> str:
        return ms_date(self.wall.utcnow())

    def _ok(self: XeroSandbox, key: str, items: list[dict[str, Any]], **extra: Any) -> Response:
        return Response(200, query.envelope(key, items, self._stamp(), **extra))

    def _body(self: XeroSandbox, request: Request, template: str) -> tuple[Any, Response | None]:
        """Parse and spec-validate the body; on failure the 400 to return."""
        schema = spec.schema_for(request.method, template) or ""
        try:
            body = request.json()
        except ValueError as exc:
            self._violate(request, schema, (f"Invalid JSON: {exc}",))
            return None, Response(
                400, replies.post_data_invalid(f"JSON for post data was invalid, {exc}")
            )
        messages = spec.check(schema, body, strict=self.strict_spec) if schema else []
        if body is None:
            messages = ["(body): a request body is required"]
        if messages:
            self._violate(request, schema, tuple(messages))
            return None, Response(400, replies.post_data_invalid("; ".join(messages[:5])))
        return body, None

    def _violate(
        self: XeroSandbox, request: Request, schema: str, messages: tuple[str, ...]
    ) -> None:
        with self.lock:
            self.spec_violations.append(
                spec.SpecViolation(request.method, request.path, schema, messages)
            )

    def _list_args(self: XeroSandbox, request: Request) -> Response | None:
        try:
            query.where_arg(request)
            query.if_modified_since(request)
        except QueryError as exc:
            return Response(400, replies.query_parse(str(exc)))
        return None

    def _filter(
        self: XeroSandbox, request: Request, docs: Iterable[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        predicate = query.where_arg(request)
        since = query.if_modified_since(request)
        out = []
        for doc in docs:
            if since is not None and doc.get("_updated") is not None and doc["_updated"] <= since:
                continue
            if predicate(doc):
                out.append(doc)
        return out

    def _paged(
        self: XeroSandbox,
        request: Request,
        key: str,
        docs: Iterable[dict[str, Any]],
        id_field: str,
        view: Callable[[dict[str, Any], bool], dict[str, Any]],
    ) -> Response:
        """Filter, order (oldest change first by default) and page a list; ``view`` renders
        one element and is told whether a page was asked for. Call it holding the lock."""
        found = query.order(
            self._filter(request, docs),
            request.arg("order"),
            lambda d: (d["_updated"], d[id_field]),
        )
        try:
            found, pagination = query.page(request, found)
        except QueryError as exc:
            return Response(400, replies.query_parse(str(exc)))
        paged = pagination is not None
        return self._ok(key, [view(d, paged) for d in found], pagination=pagination)

    def _write_batch(
        self: XeroSandbox,
        request: Request,
        key: str,
        elements: Iterable[dict[str, Any]],
        write: Callable[[Org, dict[str, Any]], tuple[dict[str, Any], bool]],
        *,
        marker: str,
        summarize: bool | None = None,
    ) -> Response:
        """Write each element under the lock (``write`` answers the element and whether it
        was accepted). With ``summarizeErrors`` on (see :func:`.replies.summarize`), any refusal
        answers 400 listing the elements that carry ``marker``; otherwise 200 with all."""
        results: list[dict[str, Any]] = []
        failed = False
        with self.lock:
            org = self._org
            for raw in elements:
                element, ok = write(org, raw)
                failed = failed or not ok
                results.append(element)
        if failed and (replies.summarize(request) if summarize is None else summarize):
            return Response(
                400, replies.validation_exception([r for r in results if r.get(marker)])
            )
        return self._ok(key, results)

    def _write_body(
        self: XeroSandbox,
        request: Request,
        template: str,
        write: Callable[[Org, dict[str, Any]], tuple[dict[str, Any], bool]],
    ) -> Response:
        """Parse and spec-check a ``{"<Key>": [...]}`` body (the key is the template's
        last segment), then :meth:`_write_batch` its elements, flagged by
        ``ValidationErrors``."""
        body, bad = self._body(request, template)
        if bad:
            return bad
        key = template.strip("/")
        return self._write_batch(
            request, key, body.get(key) or [], write, marker="ValidationErrors"
        )

    def _simple_list(
        self: XeroSandbox,
        request: Request,
        key: str,
        docs: Iterable[dict[str, Any]],
        default_order: Any,
    ) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        with self.lock:
            found = query.order(self._filter(request, docs), request.arg("order"), default_order)
            return self._ok(key, [public(d) for d in found])


def looks_like_uuid(value: str) -> bool:
    """Whether a path id is a GUID (else it is a document or contact number)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
