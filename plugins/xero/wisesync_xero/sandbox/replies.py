"""Xero's error bodies and the per-element refusals the sandbox answers with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wisesync.testing.sandbox import Request, Response


def validation_exception(elements: list[dict[str, Any]]) -> dict[str, Any]:
    """400 body: business rules refused ``elements`` (each carries its ``ValidationErrors``)."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def post_data_invalid(message: str) -> dict[str, Any]:
    """400 body: the request body is not JSON or breaks the official spec."""
    return {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}


def query_parse(message: str) -> dict[str, Any]:
    """400 body: a ``where``, ``order``, ``page`` or ``If-Modified-Since`` it cannot parse."""
    return {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}


def messages(texts: Iterable[str]) -> list[dict[str, str]]:
    """``ValidationErrors``/``Warnings`` as Xero lists them."""
    return [{"Message": m} for m in texts]


def invalid(element: dict[str, Any], errors: Iterable[str]) -> Response:
    """400 ``ValidationException`` for one refused element (a single-object write)."""
    return Response(400, validation_exception([{**element, "ValidationErrors": messages(errors)}]))


def refused(raw: dict[str, Any], errors: Iterable[str], *, flagged: bool = False) -> dict[str, Any]:
    """A batch element echoed back as refused; ``flagged`` adds ``HasValidationErrors``
    (Contacts and Payments answer with it, Items and Allocations do not)."""
    element = {**raw}
    if flagged:
        element["HasValidationErrors"] = True
    element["StatusAttributeString"] = "ERROR"
    element["ValidationErrors"] = messages(errors)
    return element


def summarize(request: Request) -> bool:
    """``summarizeErrors`` (default true): one 400 for a batch with any refused element."""
    return (request.arg("summarizeErrors") or "true").lower() != "false"
