"""The ConnectWise client against the sandbox: headers, paging, retries, typed errors, no secrets."""

from __future__ import annotations

import logging
import math

import pytest
import requests

from wisesync.errors import AuthError, RateLimited, RemoteUnavailable
from wisesync.http import ResponseLost, RetryPolicy
from wisesync.testing.sandbox import Fault
from wisesync_connectwise import settings
from wisesync_connectwise.client import ConnectWiseAuthError, ConnectWiseClient, ConnectWiseError
from wisesync_connectwise.conditions import eq
from wisesync_connectwise.testing import RecordingClock, company_for, runtime_for

UNPOSTED = "/finance/accounting/unpostedinvoices"


class RecordingSession(requests.Session):
    """A session that remembers the headers and URLs of what it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method, url, **kw):  # type: ignore[override]
        self.sent.append((method, url, dict(kw.get("headers") or {}), dict(kw.get("params") or {})))
        return super().request(method, url, **kw)


def make_client(server, *, clock=None, session=None, attempts=5, **section) -> ConnectWiseClient:
    company = company_for(server, **section)
    cw = settings.load(company)
    runtime = runtime_for(server, clock)
    return ConnectWiseClient(
        cw,
        cw.credentials(runtime),
        retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.02),
        clock=clock or RecordingClock(),
        session=session,
    )


def test_every_request_carries_basic_auth_client_id_and_the_pinned_version(server):
    session = RecordingSession()
    client = make_client(server, session=session, api_version="2025.8")
    client.get("/system/info")
    _, url, headers, _ = session.sent[0]
    creds = server.app.credentials
    assert url == f"{server.url}/v4_6_release/apis/3.0/system/info"
    assert headers["Authorization"] == creds.authorization()
    assert headers["clientId"] == creds.client_id
    assert headers["Accept"] == "application/vnd.connectwise.com+json; version=2025.8"


def test_paging_follows_the_link_header_across_many_pages(cw_server):
    from wisesync_connectwise.sandbox import start_sandbox

    server = start_sandbox(seed=3, invoices=230, expenses=5, procurement=5, max_page_size=7)
    try:
        session = RecordingSession()
        client = make_client(server, session=session)
        rows = client.get_all(UNPOSTED)
        expected = sum(
            v for k, v in server.app.unposted_counts().items() if k in ("invoice", "credit_memo")
        )
        assert len(rows) == expected > 200
        ids = [r["id"] for r in rows]
        assert ids == sorted(set(ids))  # no duplicates, nothing skipped out of order
        assert len(session.sent) == math.ceil(expected / 7)
        assert all(h.get("pagination-type") == "forward-only" for _, _, h, _ in session.sent)
        assert "pageId=" in session.sent[1][1]  # the next page comes from the Link URL
        # conditions survive into the following pages
        some = client.get_all(UNPOSTED, conditions=eq("invoiceType", "Agreement"))
        assert some and all(r["invoiceType"] == "Agreement" for r in some)
        assert len(some) == sum(1 for r in rows if r["invoiceType"] == "Agreement")
    finally:
        server.stop()


def test_next_link_is_pinned_to_the_configured_host(server):
    client = make_client(server)
    link = '<https://evil.example.com/v4_6_release/apis/3.0/x?pageId=5&pageSize=2>; rel="next"'
    assert (
        client.next_link({"Link": link})
        == f"{server.url}/v4_6_release/apis/3.0/x?pageId=5&pageSize=2"
    )
    assert client.next_link({"Link": '<https://h/x?page=1>; rel="prev"'}) is None
    assert client.next_link({}) is None


def test_retry_after_is_honoured(server):
    clock = RecordingClock()
    client = make_client(server, clock=clock)
    server.app.faults.arm(Fault("rate_limit", count=2, path="unpostedinvoices", retry_after=3))
    rows = client.get_all(UNPOSTED)
    assert rows
    assert clock.sleeps[:2] == [3.0, 3.0]
    assert client.rate_limited == 2


def test_rate_limit_that_never_clears_is_a_typed_error(server):
    clock = RecordingClock()
    client = make_client(server, clock=clock, attempts=3)
    server.app.faults.arm(Fault("rate_limit", count=10, path="unpostedinvoices", retry_after=7))
    with pytest.raises(RateLimited) as info:
        client.get_all(UNPOSTED)
    assert info.value.retry_after == 7


def test_5xx_is_retried_then_succeeds(server):
    clock = RecordingClock()
    client = make_client(server, clock=clock)
    server.app.faults.arm(Fault("status", count=2, path="unpostedexpenses", status=503))
    assert client.get_all("/finance/accounting/unpostedexpenses")
    assert client.calls == 3
    assert len(clock.sleeps) == 2


def test_5xx_that_persists_is_a_clear_failure(server):
    client = make_client(server, attempts=4)
    server.app.faults.arm(Fault("status", count=10, path="unpostedexpenses", status=502))
    with pytest.raises(RemoteUnavailable) as info:
        client.get_all("/finance/accounting/unpostedexpenses")
    text = str(info.value)
    assert "ConnectWise is unavailable" in text
    assert "502" in text and "unpostedexpenses" in text and "4 attempts" in text
    assert client.calls == 4


def test_connection_errors_are_retried_for_reads_and_lost_for_writes(server):
    client = make_client(server, attempts=3)
    client.base_url = "http://127.0.0.1:9/v4_6_release/apis/3.0"  # nothing listens on port 9
    with pytest.raises(RemoteUnavailable) as info:
        client.get("/system/info")
    assert client.calls == 3 and "ConnectionError" in str(info.value)
    with pytest.raises(ResponseLost):
        client.post_json("/finance/accounting/batches", {"batchIdentifier": "x"})
    assert client.calls == 4  # a POST is not blindly repeated


def test_401_is_reported_clearly_and_never_shows_a_secret(server, caplog):
    caplog.set_level(logging.DEBUG)
    company = company_for(server)
    cw = settings.load(company)
    wrong = "Wr0ngPrivateKeyValue-XYZ"
    runtime = runtime_for(server, CW_PRIV=wrong)
    client = ConnectWiseClient(cw, cw.credentials(runtime), clock=RecordingClock())
    with pytest.raises(ConnectWiseAuthError) as info:
        client.get_all(UNPOSTED)
    err = info.value
    assert isinstance(err, AuthError)
    assert err.status == 401 and err.code == "Unauthorized"
    text = str(err)
    assert "Incorrect public/private key" in text and "connectwise.company_id" in text
    creds = server.app.credentials
    for secret in (wrong, creds.public_key, creds.client_id):
        assert secret not in text and secret not in repr(err) and secret not in repr(client)
        assert secret not in caplog.text
    assert client.calls == 1  # a 401 is not retried


def test_missing_client_id_is_an_auth_error(server):
    client = make_client(server)
    client._headers.pop("clientId")
    with pytest.raises(ConnectWiseAuthError, match="clientId"):
        client.get("/system/info")


def test_error_body_becomes_a_typed_error_naming_code_message_and_field(server):
    client = make_client(server)
    with pytest.raises(ConnectWiseError) as info:
        client.post_json(
            "/finance/accounting/batches",
            {
                "batchIdentifier": "T-1",
                "exportInvoicesFlag": True,
                "processedRecordIds": [99999999],
            },
        )
    err = info.value
    assert err.status == 400 and err.code == "InvalidObject"
    assert err.field == "processedRecordIds" and err.has_code("NotFound")
    assert "GL Entry RecID 99999999 not found" in str(err) and "(field: processedRecordIds)" in str(
        err
    )


def test_bad_conditions_are_reported_with_the_server_text(server):
    client = make_client(server)
    with pytest.raises(ConnectWiseError) as info:
        client.get_all(UNPOSTED, conditions="nosuchfield = 1")
    assert info.value.status == 400 and "nosuchfield" in str(info.value)


def test_quoted_names_round_trip_through_conditions(server):
    client = make_client(server)
    rows = client.get_all("/company/companies", conditions=eq("name", 'The "Byte" Shop'))
    assert [r["name"] for r in rows] == ['The "Byte" Shop']
    rows = client.get_all("/company/companies", conditions=eq("name", "O'Brien & Sons Plumbing"))
    assert [r["name"] for r in rows] == ["O'Brien & Sons Plumbing"]


def test_decimals_arrive_exact(server):
    client = make_client(server)
    number = server.app.case("rounding")
    export = client.post_json(
        "/finance/accounting/export", {"exportInvoicesFlag": True}, safe_to_retry=True
    ).body
    txn = next(t for t in export["transactions"] if t["documentNumber"] == number)
    quantities = [d["quantity"] for d in txn["detail"] if d["glTypeId"] != "ST"]
    assert all(type(q).__name__ == "Decimal" for q in quantities)
    assert any(len(str(q).split(".")[1]) == 7 for q in quantities)


class NoForwardOnlySession(RecordingSession):
    """A server that ignores forward-only paging and sends no Link header."""

    def request(self, method, url, **kw):  # type: ignore[override]
        headers = {
            k: v for k, v in (kw.pop("headers", None) or {}).items() if k != "pagination-type"
        }
        response = super().request(method, url, headers=headers, **kw)
        response.headers.pop("Link", None)
        return response


def test_page_numbers_are_used_when_the_server_ignores_forward_only():
    from wisesync_connectwise.sandbox import start_sandbox

    server = start_sandbox(seed=3, invoices=40, expenses=5, procurement=5, max_page_size=10)
    try:
        session = NoForwardOnlySession()
        client = make_client(server, session=session, page_size=10)
        rows = client.get_all(UNPOSTED)
        expected = server.app.unposted_counts()
        assert len(rows) == expected["invoice"] + expected["credit_memo"]
        assert len({r["id"] for r in rows}) == len(rows)
        assert [p.get("page") for *_, p in session.sent[1:]] == list(
            range(2, len(session.sent) + 1)
        )
    finally:
        server.stop()


def test_a_full_last_page_after_a_followed_link_ends_the_paging():
    """Unposted counts that are an exact multiple of the page size: the last forward-only
    page is full and has no Link. That is the end, not a server ignoring forward-only
    (falling back to page=2 re-read records: duplicates, or "same page twice")."""
    from wisesync_connectwise.sandbox import start_sandbox

    server = start_sandbox(seed=3, invoices=40, expenses=5, procurement=5, max_page_size=10)
    try:
        app = server.app
        unposted = app.state.unposted_invoices()
        for extra in unposted[: len(unposted) % 10]:  # leave an exact multiple of 10
            app.set_invoice_status(extra.number, "New")
        expected = sum(app.unposted_counts()[k] for k in ("invoice", "credit_memo"))
        assert expected % 10 == 0 and expected >= 20
        session = RecordingSession()
        rows = make_client(server, session=session, page_size=10).get_all(UNPOSTED)
        assert len(rows) == expected == len({r["id"] for r in rows})
        assert len(session.sent) == expected // 10
        assert all(h.get("pagination-type") == "forward-only" for _, _, h, _ in session.sent)
    finally:
        server.stop()


def test_the_client_paces_itself_unless_the_poster_lends_a_limiter(server):
    from wisesync.ratelimit import CallLimiter, TargetLimits
    from wisesync_connectwise.client import client_for

    runtime = runtime_for(server)
    paced = client_for(runtime, company_for(server, calls_per_second=5))
    assert paced.limiter is not None and paced.limiter.limits.calls_per_second == 5
    assert client_for(runtime, company_for(server, calls_per_second=0)).limiter is None
    lent = CallLimiter(TargetLimits(calls_per_second=3))
    assert client_for(runtime, company_for(server), limiter=lent).limiter is lent
