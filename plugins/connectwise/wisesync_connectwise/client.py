"""The ConnectWise PSA REST client: auth, version pin, paging, typed errors.

Built on :class:`wisesync.http.ApiClient`, which brings timeouts, bounded
retries with jittered backoff on connection errors and 5xx, 429 handling that
honours ``Retry-After``, and :class:`~wisesync.http.ResponseLost` for POSTs whose
answer never came. This module adds what is ConnectWise's own:

* ``Authorization: Basic base64("<companyId>+<publicKey>:<privateKey>")``, the
  ``clientId`` header and ``Accept: application/vnd.connectwise.com+json; version=<pin>``;
* forward-only paging (``pagination-type: forward-only``) following the ``Link``
  header's ``rel="next"`` URL, with ``pageSize`` up to 1000; when a server ignores
  forward-only and a page comes back full without a link, it falls back to
  ``page=N+1``;
* ConnectWise's error body (``{"code", "message", "errors": [{"code", "message",
  "resource", "field"}]}``) turned into :class:`ConnectWiseError` naming code,
  message and field. Credential values are scrubbed from every error text.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.utils import parse_header_links

from wisesync.config import CompanyConfig
from wisesync.errors import AuthError, RemoteError
from wisesync.http import ApiClient, ApiResponse, RetryPolicy
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import CallLimiter, Clock, TargetLimits
from wisesync_connectwise import settings as settings_module
from wisesync_connectwise.conditions import and_, in_
from wisesync_connectwise.settings import MAX_PAGE_SIZE, ConnectWiseSettings, Credentials

log = logging.getLogger(__name__)

SYSTEM = "ConnectWise"
#: ConnectWise documents only "429 + Retry-After" (no number). Third-party notes claim about
#: 1,000 requests/min (UNCONFIRMED); 10/s stays under that, and 429s are honoured anyway.
LIMITS = TargetLimits(batch_size=50, calls_per_second=10, concurrency=1)
#: Ids per ``id in (...)`` look-up: keeps the URL well under common 8 KB limits.
ID_CHUNK = 200


class ConnectWiseError(RemoteError):
    """ConnectWise refused a request. ``code``, ``field`` and ``errors`` (the
    validation errors, each ``{code, message, resource, field}``) come from its body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        self.errors = errors or []
        super().__init__(SYSTEM, status, message, code=code, field=field)

    def has_code(self, code: str) -> bool:
        """True when the top-level code or any validation error's code is ``code``."""
        return self.code == code or any(e.get("code") == code for e in self.errors)


class ConnectWiseAuthError(ConnectWiseError, AuthError):
    """401/403: the company id, keys or clientId are wrong, or the API member lacks rights."""


class ConnectWiseClient(ApiClient):
    """One company's ConnectWise connection.

    Args:
        settings: the validated ``[companies.connectwise]`` table.
        credentials: the resolved secrets (never logged, never in an error).
        limiter, retry, clock, session: as :class:`wisesync.http.ApiClient`.
    """

    system = SYSTEM

    def __init__(
        self,
        settings: ConnectWiseSettings,
        credentials: Credentials,
        *,
        limiter: CallLimiter | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ):
        super().__init__(
            settings.api_root,
            limiter=limiter,
            retry=retry,
            timeout=(min(10.0, settings.timeout_seconds), settings.timeout_seconds),
            clock=clock,
            session=session,
        )
        self.settings = settings
        self.page_size = max(1, min(MAX_PAGE_SIZE, settings.page_size))
        token = f"{credentials.company_id}+{credentials.public_key}:{credentials.private_key}"
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(token.encode()).decode("ascii"),
            "clientId": credentials.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={settings.api_version}",
        }
        self._secrets = tuple(s for s in credentials.secrets() if s)
        origin = urlsplit(self.base_url)
        self._origin = (origin.scheme, origin.netloc)

    def __repr__(self) -> str:
        return f"ConnectWiseClient({self.base_url!r}, company_id={self.settings.company_id!r})"

    # --- ApiClient hooks --------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Basic auth, clientId and the pinned version (the Accept header)."""
        return dict(self._headers)

    def parse_error(self, response: requests.Response, body: Any) -> RemoteError:
        """ConnectWise's error body -> :class:`ConnectWiseError` (auth errors typed apart)."""
        status = response.status_code
        code = message = field = None
        errors: list[dict[str, Any]] = []
        if isinstance(body, dict):
            code = _text(body.get("code")) or _text(body.get("error"))
            message = _text(body.get("message"))
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        elif isinstance(body, str) and body.strip():
            message = body.strip()[:300]
        detail = []
        for err in errors:
            part = ": ".join(x for x in (_text(err.get("code")), _text(err.get("message"))) if x)
            if part:
                detail.append(part)
            field = field or _text(err.get("field"))
        text = message or response.reason or "error"
        if detail:
            text = f"{text} ({'; '.join(detail)})"
        if status in (401, 403):
            text += (
                "; check connectwise.company_id, the public/private key variables and the "
                "clientId variable, and the API member's security role"
            )
            cls: type[ConnectWiseError] = ConnectWiseAuthError
        else:
            cls = ConnectWiseError
        return cls(
            status,
            self.scrub(text),
            code=self.scrub(code) if code else None,
            field=field,
            errors=[
                {k: self.scrub(v) if isinstance(v, str) else v for k, v in e.items()}
                for e in errors
            ],
        )

    def scrub(self, text: str) -> str:
        """``text`` with every credential value replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # --- paging -----------------------------------------------------------------------

    def pages(
        self,
        path: str,
        *,
        conditions: str | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of a collection, following ``Link: <...>; rel="next"``.

        Uses forward-only paging (keyset on id, the server's ``pageId``); ``orderBy``
        must not be sent with it.
        """
        size = max(1, min(MAX_PAGE_SIZE, page_size or self.page_size))
        query: dict[str, Any] = {**(params or {}), "pageSize": size}
        if conditions:
            query["conditions"] = conditions
        url: str = path
        headers = {"pagination-type": "forward-only"}
        page = 1
        previous_first: Any = None
        followed = False  # a Link was followed: the server pages forward-only
        while True:
            response = self.get(url, params=query, headers=headers)
            items = response.body or []
            if not isinstance(items, list):
                raise ConnectWiseError(
                    response.status, f"expected a list from {path}, got {type(items).__name__}"
                )
            first = items[0].get("id") if items and isinstance(items[0], dict) else None
            if page > 1 and first is not None and first == previous_first:
                raise ConnectWiseError(
                    response.status, f"paging {path} returned the same page twice; stopping"
                )
            previous_first = first
            if items:
                yield items
            nxt = self.next_link(response.headers)
            if nxt is not None:
                url, query = nxt, None  # the link carries every parameter
                followed = followed or bool(headers)
                continue
            if len(items) < size or "Link" in response.headers or followed:
                return  # after a followed Link, a full page without one is the last
            # A full first page and no Link header at all: the endpoint ignored forward-only.
            page += 1
            url, headers = path, {}
            query = {**(params or {}), "pageSize": size, "page": page}
            if conditions:
                query["conditions"] = conditions

    def get_all(self, path: str, **kw: Any) -> list[dict[str, Any]]:
        """Every item of a collection (all pages)."""
        return [item for page in self.pages(path, **kw) for item in page]

    def get_by_ids(
        self,
        path: str,
        ids: Iterable[int],
        *,
        id_field: str = "id",
        conditions: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Look many records up by id with ``conditions=id in (...)``, ``ID_CHUNK`` at a time."""
        unique = sorted(set(ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), ID_CHUNK):
            chunk = unique[start : start + ID_CHUNK]
            found.extend(
                self.get_all(path, conditions=and_(in_(id_field, chunk), conditions), params=params)
            )
        return found

    def next_link(self, headers: Mapping[str, str]) -> str | None:
        """The ``rel="next"`` URL of a Link header, pinned to this client's origin so
        credentials are never sent to another host."""
        value = headers.get("Link")
        if not value:
            return None
        for link in parse_header_links(value):
            if link.get("rel") == "next" and link.get("url"):
                parts = urlsplit(link["url"])
                if not parts.path:
                    return None
                return urlunsplit((*self._origin, parts.path, parts.query, ""))
        return None

    # --- convenience ------------------------------------------------------------------

    def post_json(self, path: str, body: Any, *, safe_to_retry: bool = False) -> ApiResponse:
        """POST a JSON body. Not retried after a lost response unless ``safe_to_retry``
        (the caller looks the effect up first)."""
        return self.post(path, json=body, safe_to_retry=safe_to_retry)

    def delete(self, path: str) -> ApiResponse:
        """DELETE ``path`` (idempotent: retried)."""
        return self.request("DELETE", path)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def client_for(
    runtime: PluginRuntime,
    company: CompanyConfig,
    *,
    limiter: CallLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> ConnectWiseClient:
    """A client for ``company`` built from its ``[companies.connectwise]`` table and secrets.

    Without a ``limiter`` (the poster lends one to targets) the client paces itself at the
    table's ``calls_per_second`` (0 = not at all) with up to ``concurrency`` calls in flight.
    """
    cw = settings_module.load(company)
    if limiter is None and cw.calls_per_second > 0:
        pace = TargetLimits(
            batch_size=LIMITS.batch_size,
            calls_per_second=max(1, round(cw.calls_per_second)),
            concurrency=cw.concurrency,
        )
        limiter = CallLimiter(pace, runtime.clock, system=SYSTEM)
    return ConnectWiseClient(
        cw, cw.credentials(runtime), limiter=limiter, retry=retry, clock=runtime.clock
    )
