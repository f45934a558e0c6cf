"""The request log's hook in :mod:`wisesync.http`: every exchange becomes a stored entry.

>>> log = install(config, dsn)          # doctest: +SKIP
... # every ApiClient call of every plugin is now recorded
>>> log.close()                          # doctest: +SKIP

:func:`install` is called by the service (``wisesync run``) and by every command that opens
the store, so whatever calls a plugin makes are logged without the plugin knowing.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wisesync import http
from wisesync.requestlog import context
from wisesync.requestlog.redact import configured_secrets, host_and_path, redact_body, scrub
from wisesync.requestlog.store import RequestEntry, RequestLogWriter

if TYPE_CHECKING:
    from wisesync.config import AppConfig

log = logging.getLogger(__name__)

#: Generic response headers that carry the remote's id of a request, tried after the one
#: the client declares (:attr:`wisesync.http.ApiClient.correlation_header`).
CORRELATION_HEADERS = ("X-Request-Id", "Request-Id", "X-Correlation-Id")


def client_identity(client: Any) -> tuple[str | None, str]:
    """(company, plugin) of a client used outside a :func:`request_context`: its
    ``company`` attribute, and the plugin package it comes from (``wisesync_xero`` -> xero)."""
    company = getattr(client, "company", None)
    package = type(client).__module__.split(".", 1)[0]
    plugin = package.removeprefix("wisesync_") if package.startswith("wisesync_") else None
    return (company if isinstance(company, str) else None), plugin or str(client.system).lower()


def correlation_id(response: Any, declared: str | None = None) -> str | None:
    """The remote's request id from the response headers, if it sent one: the client's
    ``declared`` header first, then the generic names."""
    if response is None:
        return None
    for name in (declared, *CORRELATION_HEADERS) if declared else CORRELATION_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)[:200]
    return None


class RequestLog:
    """The installed recorder: builds entries from exchanges and hands them to the writer."""

    def __init__(self, writer: RequestLogWriter, secrets: set[str], debug_bodies: bool):
        self.writer = writer
        self.secrets = secrets
        self.debug_bodies = debug_bodies
        self._previous: RequestLog | None = None
        self.closed = False

    def record(self, *exchange: Any) -> None:
        """The :data:`wisesync.http.recorder` callback (never raises); ``exchange`` is
        what :meth:`entry` takes."""
        try:
            self.writer.put(self.entry(*exchange))
        except Exception:  # the log must never break a call
            log.debug("request log: entry dropped", exc_info=True)

    def entry(
        self,
        client: Any,
        method: str,
        url: str,
        params: Any,
        body: Any,
        response: Any,
        error: BaseException | None,
        seconds: float,
        attempt: int,
    ) -> RequestEntry:
        """One exchange as stored: nothing secret, bodies only when debugging."""
        ctx = context.current() or context.CallContext()
        company, plugin = client_identity(client)
        host, path = host_and_path(url, params, self.secrets)
        return RequestEntry(
            at=datetime.now(UTC),
            company=ctx.company or company,
            plugin=ctx.plugin or plugin,
            system=str(client.system),
            method=method.upper(),
            host=host,
            path=path,
            status=response.status_code if response is not None else None,
            error=scrub(type(error).__name__, self.secrets) if error is not None else None,
            duration_ms=round(seconds * 1000),
            retry=max(0, attempt - 1),
            correlation_id=correlation_id(response, getattr(client, "correlation_header", None)),
            run_id=ctx.run_id,
            records=list(ctx.records),
            event_ids=list(ctx.event_ids),
            request_body=redact_body(body, self.secrets) if self.debug_bodies else None,
            response_body=(
                redact_body(response.content, self.secrets)
                if self.debug_bodies and response is not None
                else None
            ),
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every exchange so far is stored."""
        return self.writer.flush(timeout)

    def close(self) -> None:
        """Stop recording (restoring any earlier recorder) and write what is queued."""
        with _lock:
            self.closed = True
            if http.recorder == self.record:
                previous = self._previous
                while previous is not None and previous.closed:  # closed out of order
                    previous = previous._previous
                http.recorder = previous.record if previous is not None else None
        self.writer.close()


_lock = threading.Lock()


def install(config: AppConfig, dsn: str) -> RequestLog:
    """Record every API call from now on into the ``api_requests`` table of ``dsn``
    (migrated already). Close the returned log to stop."""
    settings = config.requests
    writer = RequestLogWriter(dsn, settings.keep_seconds)
    request_log = RequestLog(writer, configured_secrets(config), settings.debug_bodies)
    with _lock:
        current = http.recorder
        request_log._previous = getattr(current, "__self__", None)
        http.recorder = request_log.record
    return request_log
