"""The HTTP client of one QuickBooks Online company: :class:`QboClient`.

A :class:`wisesync.http.ApiClient` (retries, typed errors, no secret in an exception)
that knows QBO's ways (qbo.md sections 1, 5, 6 and 8):

* every call goes to ``/v3/company/{realmId}/...`` with ``minorversion=75``;
* writes carry ``requestid`` (declared as :attr:`idempotency_param`), so a write whose
  answer was lost is sent again and QBO answers it from its record instead of applying
  it twice;
* ``Fault.Error[]`` (all of it) becomes a :class:`~wisesync.errors.RemoteError` whose
  ``code`` is the first error's and ``body`` the whole fault; a 401 (lower-case ``fault``,
  code 3200) an :class:`~wisesync.errors.AuthError` naming the reconnect command;
* a 429 (QBO's body is XML and carries no Retry-After) is waited out for
  ``throttle_wait`` (60 s, as Intuit asks) through the poster's limiter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import requests

from wisesync import money
from wisesync.errors import AuthError, RemoteError
from wisesync.http import ApiClient, ApiResponse, RetryPolicy
from wisesync.ratelimit import CallLimiter, Clock
from wisesync_qbo.settings import MINOR_VERSION

#: Intuit: "If you see [429], wait 60 seconds before retrying."
THROTTLE_WAIT_S = 60.0
PAGE = 1000  # QBO's largest page


def reconnect_command(company: str) -> str:
    """The command that reconnects ``company`` to QuickBooks Online."""
    return f"`wisesync qbo connect --company {company}`"


def request_id(payload: str, key: str = "") -> str:
    """A batch ``requestid``: ``ws`` + 34 hex digits of the SHA-256 of the body and ``key``
    (36 characters, QBO's batch maximum; bIds must then be at most 10 characters)."""
    return "ws" + hashlib.sha256(f"{payload}\n{key}".encode()).hexdigest()[:34]


def quote(value: str) -> str:
    """A string literal for QBO's query language (``'`` escaped as ``\\'``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fault_errors(body: Any) -> list[dict[str, Any]]:
    """The ``Error`` entries of a ``Fault`` (or lower-case ``fault``) body."""
    if not isinstance(body, dict):
        return []
    fault = body.get("Fault") or body.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or []
    return [e for e in errors if isinstance(e, dict)]


def error_text(error: dict[str, Any]) -> str:
    """One QBO error as a sentence: its Message and Detail."""
    message = str(error.get("Message") or error.get("message") or "")
    detail = str(error.get("Detail") or error.get("detail") or "")
    if detail and detail != message and not detail.startswith(message):
        return f"{message}: {detail}" if message else detail
    return detail or message


def error_code(error: dict[str, Any]) -> str:
    """The code of one QBO error (a string, as QBO sends it)."""
    return str(error.get("code") or "")


class QboClient(ApiClient):
    """The Accounting API of one realm.

    Args:
        base_url: ``https://quickbooks.api.intuit.com`` (or a sandbox URL).
        realm_id: the company id; every path is ``/v3/company/{realm_id}`` + path.
        token: returns a valid access token (called before every attempt).
        renew: called with the token a 401 came back with; renews it or raises AuthError.
        company: the wisesync company, named in auth errors.
        batch_limiter: the realm's window of batch requests (QBO: 40 a minute), taken by
            every ``/batch`` call on top of ``limiter``.
    """

    system = "QuickBooks Online"
    idempotency_param = "requestid"

    def __init__(
        self,
        base_url: str,
        *,
        realm_id: str,
        token: Callable[[], str],
        renew: Callable[[str], bool],
        company: str,
        limiter: CallLimiter | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        throttle_wait: float = THROTTLE_WAIT_S,
        batch_limiter: CallLimiter | None = None,
    ):
        super().__init__(base_url, limiter=limiter, retry=retry, clock=clock, session=session)
        self.throttle_wait = throttle_wait
        self.batch_limiter = batch_limiter
        self.realm_id = realm_id
        self.company = company
        self._token = token
        self._renew = renew
        self._sent: str | None = None

    def auth_headers(self) -> dict[str, str]:
        self._sent = self._token()
        return {"Authorization": f"Bearer {self._sent}"}

    def refresh_auth(self) -> bool:
        return self._renew(self._sent or "")

    def on_response(self, response: requests.Response) -> None:
        """QBO's 429 has no Retry-After: give it ``throttle_wait`` (Intuit's 60 s)."""
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = f"{self.throttle_wait:g}"

    def parse_error(self, response: requests.Response, body: Any) -> RemoteError:
        status = response.status_code
        errors = fault_errors(body)
        if status in (401, 403):
            text = error_text(errors[0]) if errors else (response.reason or "unauthorised")
            return AuthError(
                self.system,
                status,
                f"{text}: the QuickBooks connection of company {self.company} is expired, "
                f"revoked or lacks access; reconnect it: {reconnect_command(self.company)}",
                code=error_code(errors[0]) if errors else None,
            )
        if errors:
            text = "; ".join(error_text(e) for e in errors[:5])
            return RemoteError(self.system, status, text, code=error_code(errors[0]), body=body)
        return RemoteError(self.system, status, response.reason or "error")

    # --- the API ----------------------------------------------------------------------

    def api(
        self, method: str, path: str, params: dict[str, Any] | None = None, **kw: Any
    ) -> ApiResponse:
        """A call to ``/v3/company/{realm}`` + ``path`` with ``minorversion``."""
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        return self.request(method, f"/v3/company/{self.realm_id}{path}", params=query, **kw)

    def query(self, statement: str) -> dict[str, Any]:
        """The ``QueryResponse`` of one select statement."""
        body = self.api("GET", "/query", {"query": statement}).body
        return (body or {}).get("QueryResponse") or {}

    def query_all(
        self, entity: str, where: str = "", *, start: int = 1
    ) -> Iterator[dict[str, Any]]:
        """Every ``entity`` matching ``where`` from position ``start``, 1,000 per call
        (STARTPOSITION paging)."""
        while True:
            clause = f" where {where}" if where else ""
            page = (
                self.query(
                    f"select * from {entity}{clause} startposition {start} maxresults {PAGE}"
                ).get(entity)
                or []
            )
            yield from page
            if len(page) < PAGE:
                return
            start += PAGE

    def batch(self, items: list[dict[str, Any]], key: str = "") -> list[dict[str, Any]]:
        """One ``/batch`` call; the ``BatchItemResponse`` entries by request order (QBO
        answers in any order, matched here by ``bId``).

        A batch of queries is a read (sent again after a lost answer). One that writes
        carries a ``requestid`` derived from its exact body and ``key`` (:func:`request_id`),
        so the same operations sent again are answered from QBO's record, not applied twice.
        QBO answers a repeated requestid with its first answer, a refusal too: ``key`` names
        the attempt (the record events a document batch carries), so a later attempt of the
        same documents (a replay after a fix in QuickBooks) is a new request, not the old
        refusal again.
        """
        payload = money.dumps({"BatchItemRequest": items})  # once: the body and its id
        reads = all("Query" in item for item in items)
        params = None if reads else {"requestid": request_id(payload, key)}
        send = {"data": payload, "headers": {"Content-Type": "application/json"}}
        if self.batch_limiter is None:
            body = self.api("POST", "/batch", params, safe_to_retry=reads or None, **send).body
        else:
            with self.batch_limiter.call():
                body = self.api("POST", "/batch", params, safe_to_retry=reads or None, **send).body
        answers = {str(a.get("bId")): a for a in (body or {}).get("BatchItemResponse") or []}
        missing = [i["bId"] for i in items if str(i["bId"]) not in answers]
        if missing:
            raise RemoteError(self.system, 200, f"the batch answer lacks items {missing}")
        return [answers[str(i["bId"])] for i in items]


def read_lists(
    client: QboClient, entities: tuple[str, ...], *, first_page_only: tuple[str, ...] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Every row of each entity: ONE ``/batch`` of queries (1,000 rows each), then
    STARTPOSITION paging for the lists that filled their page (except ``first_page_only``:
    their first page only)."""
    items = [
        {"bId": str(n), "Query": f"select * from {e} startposition 1 maxresults {PAGE}"}
        for n, e in enumerate(entities)
    ]
    rows: dict[str, list[dict[str, Any]]] = {}
    for entity, answer in zip(entities, client.batch(items), strict=True):
        errors = fault_errors({"Fault": answer.get("Fault")}) if answer.get("Fault") else []
        if errors:
            raise RemoteError(client.system, 400, f"reading {entity}: {error_text(errors[0])}")
        rows[entity] = list((answer.get("QueryResponse") or {}).get(entity) or [])
        if len(rows[entity]) == PAGE and entity not in first_page_only:
            rows[entity] += list(client.query_all(entity, start=PAGE + 1))
    return rows
