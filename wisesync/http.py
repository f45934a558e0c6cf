"""One HTTP client for every remote API: retries, Retry-After, limits, typed errors.

Plugins subclass :class:`ApiClient` and override :meth:`ApiClient.parse_error`
(turn the API's error body into a :class:`RemoteError`), :meth:`auth_headers`
and, for OAuth, :meth:`refresh_auth`. A client whose API deduplicates writes declares
how (:attr:`ApiClient.idempotency_header`, :attr:`ApiClient.idempotency_param`), so a
write carrying that key is retried after a lost response. Connections are reused (one
``requests.Session`` per client). Every call goes through the
:class:`~wisesync.ratelimit.CallLimiter` when one is given, so the poster's
limits hold for every request, retries included.

Errors never carry request headers or bodies, so credentials cannot leak into
exceptions or logs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from wisesync import money
from wisesync.errors import AuthError, RateLimited, RemoteError, RemoteUnavailable
from wisesync.ratelimit import CallLimiter, Clock

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

#: Called after every HTTP exchange of every client as ``recorder(client, method, url,
#: params, body, response, error, seconds, attempt)`` (``response`` None when ``error``);
#: the request log (:mod:`wisesync.requestlog`) installs one. Must not raise.
recorder: Callable[..., None] | None = None


class ResponseLost(RemoteUnavailable):
    """A non-idempotent request was sent but no answer came back: it may have been
    applied. Look the effect up before sending it again."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and how patiently, a request is retried.

    429 waits the server's Retry-After (or the backoff when absent); 5xx,
    timeouts and connection errors back off exponentially with jitter.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based), with full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class ApiResponse:
    """A decoded response: status, headers and the JSON body (Decimals for numbers)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class ApiClient:
    """Base client. ``system`` names the remote in errors ("ConnectWise", "Xero")."""

    system = "remote"
    #: The request header the API deduplicates writes by (e.g. ``Idempotency-Key``): a
    #: write carrying it may be sent again after its response was lost. None: no such header.
    idempotency_header: str | None = None
    #: The query parameter the API deduplicates writes by (e.g. a ``requestid`` query parameter).
    idempotency_param: str | None = None
    #: The response header carrying the API's own id of a request (support asks for it);
    #: the request log also tries the generic ``X-Request-Id`` names.
    correlation_header: str | None = None

    def __init__(
        self,
        base_url: str,
        *,
        limiter: CallLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.clock = clock or (limiter.clock if limiter else Clock())
        self.session = session or requests.Session()
        self.calls = 0
        self.rate_limited = 0

    # --- for subclasses -----------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (called before every attempt)."""
        return {}

    def refresh_auth(self) -> bool:
        """Called once on a 401; return True when credentials were renewed (retry)."""
        return False

    def parse_error(self, response: requests.Response, body: Any) -> RemoteError:
        """Turn an error response into a typed error. Override per API."""
        message = body.get("message") if isinstance(body, dict) else None
        cls = AuthError if response.status_code in (401, 403) else RemoteError
        return cls(self.system, response.status_code, message or response.reason or "error")

    def on_response(self, response: requests.Response) -> None:
        """Inspect every response (rate-limit headers). Default: nothing."""

    def retry_safe(
        self,
        method: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
    ) -> bool:
        """Whether a request may be sent again after its response was lost: a read or a
        DELETE, or a write carrying the idempotency key this client declares."""
        if method.upper() in _SAFE_METHODS:
            return True
        header, param = self.idempotency_header, self.idempotency_param
        if header and any(k.lower() == header.lower() and v for k, v in (headers or {}).items()):
            return True
        return bool(param and (params or {}).get(param))

    # --- the call -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        safe_to_retry: bool | None = None,
        json_text: str | None = None,
    ) -> ApiResponse:
        """Send a request with retries; return the decoded response or raise a typed error.

        The body is ``json`` (encoded with :func:`wisesync.money.dumps`), or ``json_text``
        (already encoded, e.g. because its hash is the idempotency key), or ``data``.

        A request whose response is lost (connection dropped, timeout) is only
        sent again when that is safe (:meth:`retry_safe`: GET/HEAD/DELETE, or a write
        carrying the client's declared idempotency header or parameter), or when the
        caller says so with ``safe_to_retry=True``. Otherwise :class:`ResponseLost` is
        raised so the caller can look before retrying.
        """
        if safe_to_retry is None:
            safe_to_retry = self.retry_safe(method, headers, params)
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        body = money.dumps(json) if json is not None else json_text or data
        is_json = json is not None or bool(json_text)
        refreshed = False
        last_problem = ""
        attempt = 0
        while attempt < self.retry.attempts:
            attempt += 1
            send_headers = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
            if is_json:
                send_headers["Content-Type"] = "application/json"
            try:
                response = self._send(method, url, params, body, send_headers, attempt)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__} on {method} {path}"
                if not safe_to_retry:
                    raise ResponseLost(self.system, last_problem) from None
                log.warning("%s: %s (attempt %d)", self.system, last_problem, attempt)
                self._wait(self.retry.backoff(attempt), attempt)
                continue
            self.on_response(response)
            status = response.status_code
            if status == 401 and not refreshed and self.refresh_auth():
                refreshed = True
                attempt -= 1  # the retry with renewed credentials is not a new attempt
                continue
            if status in self.retry.retry_statuses:
                wait = retry_after_seconds(response.headers)
                if status == 429:
                    self.rate_limited += 1
                    wait = min(
                        wait if wait is not None else self.retry.backoff(attempt),
                        self.retry.max_retry_after,
                    )
                    if self.limiter is not None:
                        self.limiter.pause_for(wait)
                        wait = 0.0
                    last_problem = f"429 on {method} {path}"
                else:
                    wait = self.retry.backoff(attempt) if wait is None else wait
                    last_problem = f"{status} on {method} {path}"
                if attempt < self.retry.attempts:
                    log.warning(
                        "%s: %s (attempt %d, retry in %.1fs)",
                        self.system,
                        last_problem,
                        attempt,
                        wait,
                    )
                    self._wait(wait, attempt)
                    continue
                if status == 429:
                    raise RateLimited(self.system, retry_after_seconds(response.headers))
                raise RemoteUnavailable(self.system, f"{last_problem} after {attempt} attempts")
            decoded = self._decode(response)
            if status >= 400:
                raise self.parse_error(response, decoded)
            return ApiResponse(status, response.headers, decoded)
        raise RemoteUnavailable(self.system, f"{last_problem} after {self.retry.attempts} attempts")

    def _send(
        self,
        method: str,
        url: str,
        params: Any,
        body: Any,
        headers: dict[str, str],
        attempt: int = 1,
    ) -> requests.Response:
        self.calls += 1
        started, response, error = time.monotonic(), None, None
        try:
            with self.limiter.call() if self.limiter is not None else nullcontext():
                started = time.monotonic()  # the exchange, not the wait for the limiter
                response = self.session.request(
                    method, url, params=params, data=body, headers=headers, timeout=self.timeout
                )
            return response
        except Exception as exc:
            error = exc
            raise
        finally:
            if recorder is not None:
                seconds = time.monotonic() - started
                recorder(self, method, url, params, body, response, error, seconds, attempt)

    def _wait(self, seconds: float, attempt: int) -> None:
        if attempt < self.retry.attempts:
            self.clock.sleep(seconds)

    def _decode(self, response: requests.Response) -> Any:
        if not response.content:
            return None
        ctype = response.headers.get("Content-Type", "")
        if "json" not in ctype:
            return response.text
        try:
            return money.loads(response.content)
        except ValueError:
            raise RemoteError(
                self.system,
                response.status_code,
                f"malformed JSON in the response to {response.request.method} "
                f"{response.request.path_url.split('?')[0]}",
            ) from None

    def get(self, path: str, **kw: Any) -> ApiResponse:
        """GET ``path``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> ApiResponse:
        """POST ``path``."""
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> ApiResponse:
        """PUT ``path``."""
        return self.request("PUT", path, **kw)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()
