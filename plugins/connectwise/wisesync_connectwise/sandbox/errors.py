"""ConnectWise's error bodies (``ErrorResponseMessage``) and the exception handlers raise.

The shape is ``{"code", "message", "errors": [{"code", "message", "resource",
"field", "details"}]}`` (connectwise.md section 7). Validation failures are
``400 InvalidObject`` with one ``errors[]`` entry naming the field, e.g. a
duplicate batch identifier is ``errors[0].code == "ObjectExists"``.
"""

from __future__ import annotations

from typing import Any

from wisesync.testing.sandbox import Response

#: The ``code`` of a plain error body per HTTP status (what CW sends without details).
STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Security",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    429: "TooManyRequests",
    500: "ConnectWiseApi",
    502: "ConnectWiseApi",
    503: "ServiceUnavailable",
    504: "ConnectWiseApi",
}


def body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An ``ErrorResponseMessage``; ``errors`` only when there are field errors."""
    out: dict[str, Any] = {"code": code, "message": message}
    if errors:
        out["errors"] = errors
    return out


def field_error(
    code: str, message: str, resource: str, field: str, details: Any = None
) -> dict[str, Any]:
    """One ``ValidationError`` entry."""
    out: dict[str, Any] = {"code": code, "message": message, "resource": resource, "field": field}
    if details is not None:
        out["details"] = details
    return out


class ApiError(Exception):
    """Raised by handlers and state; the app turns it into the CW error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        """This error as a sandbox :class:`Response`."""
        return Response(self.status, body(self.code, self.message, self.errors), dict(self.headers))


def invalid(resource: str, field: str, code: str, message: str, details: Any = None) -> ApiError:
    """``400 InvalidObject`` with one field error: CW's validation failure."""
    return ApiError(
        400,
        "InvalidObject",
        f"{resource} object is invalid",
        [field_error(code, message, resource, field, details)],
    )


def not_found(resource: str, ident: Any) -> ApiError:
    """``404 NotFound`` for a record id that does not exist."""
    return ApiError(404, "NotFound", f"{resource} recordId {ident} not found")


def bad_request(message: str, field: str | None = None, resource: str = "request") -> ApiError:
    """``400`` for a malformed request (bad query parameter, unparsable body)."""
    if field is None:
        return ApiError(400, "BadRequest", message)
    return invalid(resource, field, "InvalidField", message)
