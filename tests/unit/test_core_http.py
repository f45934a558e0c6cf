"""ApiClient against an in-process SandboxApp: retries, Retry-After, lost responses,
malformed JSON, 401 refresh, and no credentials in errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from wisesync.errors import AuthError, RateLimited, RemoteError, RemoteUnavailable
from wisesync.http import ApiClient, ResponseLost, RetryPolicy, retry_after_seconds
from wisesync.ratelimit import CallLimiter, TargetLimits
from wisesync.testing.clock import ManualClock
from wisesync.testing.sandbox import Fault, Request, Response, SandboxApp, SandboxServer

TOKEN = "eyJ-super-secret-bearer-token"


class TinyApp(SandboxApp):
    """A little stateful API: items, a broken endpoint and a token-protected one."""

    system = "tiny"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict] = []
        self.valid_token = TOKEN
        self.route("GET", "/items", lambda r: Response(200, {"items": self.items}))
        self.route("POST", "/items", self.create)
        self.route("PUT", "/items", self.create)
        self.route("GET", "/broken", lambda r: Response(200, '{"total": 12.50, "lines": ['))
        self.route("GET", "/text", lambda r: Response(200, "plain", {"Content-Type": "text/plain"}))
        self.route("GET", "/secure", self.secure)
        self.route("GET", "/invalid", lambda r: Response(400, {"message": "Amount is wrong"}))

    def create(self, request: Request) -> Response:
        body = request.json()
        with self.lock:
            self.items.append(body)
        return Response(201, {"id": len(self.items), "amount": body["amount"]})

    def secure(self, request: Request) -> Response:
        if request.header("Authorization") != f"Bearer {self.valid_token}":
            return Response(401, {"message": "token expired"})
        return Response(200, {"ok": True})


class Client(ApiClient):
    system = "Tiny"
    idempotency_header = "Idempotency-Key"

    def __init__(self, *args, token: str = TOKEN, new_token: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.token = token
        self.new_token = new_token
        self.refreshes = 0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def refresh_auth(self) -> bool:
        self.refreshes += 1
        if self.new_token is None:
            return False
        self.token = self.new_token
        return True


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(TinyApp()) as srv:
        yield srv


@pytest.fixture
def app(server: SandboxServer) -> TinyApp:
    server.app.reset()
    server.app.items.clear()
    return server.app  # type: ignore[return-value]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def client(server: SandboxServer, clock: ManualClock, **kwargs) -> Client:  # type: ignore[no-untyped-def]
    kwargs.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.5, max_delay=2.0))
    return Client(server.url, clock=clock, **kwargs)


def test_success_decodes_numbers_as_decimals(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    api = client(server, clock)
    created = api.post("/items", json={"amount": Decimal("12.3456789")})
    assert created.status == 201
    assert created.body == {"id": 1, "amount": Decimal("12.3456789")}
    assert app.items == [{"amount": Decimal("12.3456789")}]  # sent as an exact JSON number
    assert api.get("/text").body == "plain"


def test_5xx_is_retried_then_succeeds(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("status", count=2, path="^/items$", status=503))
    api = client(server, clock)
    assert api.get("/items").body == {"items": []}
    assert app.calls("GET", "^/items$") == 3
    assert len(clock.sleeps) == 2  # backed off twice, on the client's clock
    assert all(0 <= s <= 2.0 for s in clock.sleeps)


def test_5xx_until_attempts_run_out_raises_remote_unavailable(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("status", count=10, path="^/items$", status=502))
    api = client(server, clock)
    with pytest.raises(RemoteUnavailable) as info:
        api.get("/items")
    assert app.calls("GET", "^/items$") == 4
    assert "Tiny is unavailable" in str(info.value)
    assert "502 on GET /items" in str(info.value) and "4 attempts" in str(info.value)


def test_429_honours_retry_after_through_the_limiter(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    limiter = CallLimiter(TargetLimits(), clock)
    app.faults.arm(Fault("rate_limit", count=1, path="^/items$", retry_after=7))
    api = client(server, clock, limiter=limiter)
    assert api.get("/items").status == 200
    assert api.rate_limited == 1
    assert app.calls("GET", "^/items$") == 2
    # the limiter held the retry for exactly the server's Retry-After, on the fake clock
    assert clock.now() == pytest.approx(7.0)
    assert limiter.waited_seconds == pytest.approx(7.0)
    assert limiter.calls == 2


def test_429_pause_applies_to_every_caller_of_the_limiter(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    limiter = CallLimiter(TargetLimits(), clock)
    app.faults.arm(Fault("rate_limit", count=1, path="^/items$", retry_after=12))
    first = client(server, clock, limiter=limiter, retry=RetryPolicy(attempts=1))
    with pytest.raises(RateLimited) as info:
        first.get("/items")
    assert info.value.retry_after == 12
    other = client(server, clock, limiter=limiter)
    other.get("/items")  # another client of the same organisation waits too
    assert clock.now() == pytest.approx(12.0)


def test_429_without_limiter_sleeps_retry_after(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("rate_limit", count=2, path="^/items$", retry_after=3))
    api = client(server, clock)
    assert api.get("/items").status == 200
    assert clock.sleeps == [3.0, 3.0]


def test_retry_after_is_capped(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("rate_limit", count=1, path="^/items$", retry_after=3600))
    api = client(server, clock, retry=RetryPolicy(attempts=2, max_retry_after=60))
    api.get("/items")
    assert clock.sleeps == [60.0]


def test_lost_response_to_a_post_is_not_retried(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("lose_response", count=1, method="POST", path="^/items$"))
    api = client(server, clock)
    with pytest.raises(ResponseLost) as info:
        api.post("/items", json={"amount": Decimal("5.00")})
    assert isinstance(info.value, RemoteUnavailable)
    assert app.items == [{"amount": Decimal("5.00")}]  # it was applied ...
    assert app.calls("POST", "^/items$") == 1  # ... and not sent again
    assert "POST /items" in str(info.value)


def test_lost_response_to_a_put_with_idempotency_key_is_retried(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("lose_response", count=1, method="PUT", path="^/items$"))
    api = client(server, clock)
    response = api.put(
        "/items", json={"amount": Decimal("5.00")}, headers={"Idempotency-Key": "batch-1"}
    )
    assert response.status == 201
    assert app.calls("PUT", "^/items$") == 2


def test_retry_safety_is_what_the_client_declares(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    """An undeclared header proves nothing; a declared query parameter does."""

    class ByParam(ApiClient):
        system = "Tiny"
        idempotency_param = "requestid"

    api = ByParam(server.url, clock=clock)
    app.faults.arm(Fault("lose_response", count=1, method="POST", path="^/items$"))
    with pytest.raises(ResponseLost):
        api.post("/items", json={"amount": Decimal("1")}, headers={"Idempotency-Key": "k-1"})
    app.faults.arm(Fault("lose_response", count=1, method="POST", path="^/items$"))
    api.post("/items", json={"amount": Decimal("2")}, params={"requestid": "r-1"})
    assert app.calls("POST", "^/items$") == 3  # the one with requestid was sent twice
    assert api.retry_safe("POST", {"idempotency-key": "k"}, None) is False
    assert Client(server.url).retry_safe("POST", {"idempotency-key": "k"}, None) is True


def test_lost_response_to_a_post_marked_safe_is_retried(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("lose_response", count=1, method="POST", path="^/items$"))
    api = client(server, clock)
    api.post("/items", json={"amount": Decimal("1")}, safe_to_retry=True)
    assert app.calls("POST", "^/items$") == 2


def test_lost_response_to_a_get_is_retried(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.faults.arm(Fault("lose_response", count=2, method="GET", path="^/items$"))
    api = client(server, clock)
    assert api.get("/items").status == 200
    assert app.calls("GET", "^/items$") == 3


def test_malformed_json_is_a_remote_error_with_a_clear_message(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    api = client(server, clock)
    with pytest.raises(RemoteError) as info:
        api.get("/broken", params={"page": "2", "api_key": "k"})
    text = str(info.value)
    assert "Tiny answered 200" in text
    assert "malformed JSON in the response to GET /broken" in text
    assert "api_key" not in text  # the query string is left out
    assert app.calls("GET", "^/broken$") == 1  # not retried


def test_4xx_is_parsed_and_not_retried(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    api = client(server, clock)
    with pytest.raises(RemoteError) as info:
        api.get("/invalid")
    assert info.value.status == 400 and "Amount is wrong" in str(info.value)
    assert not isinstance(info.value, AuthError)
    assert app.calls("GET", "^/invalid$") == 1


def test_401_refreshes_once_and_retries(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    api = client(server, clock, token="expired-token", new_token=TOKEN)
    assert api.get("/secure").body == {"ok": True}
    assert api.refreshes == 1
    assert app.calls("GET", "^/secure$") == 2


def test_401_that_refresh_cannot_fix_is_an_auth_error(server, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.valid_token = "something-else"
    try:
        api = client(server, clock, new_token=TOKEN)  # refresh "works" but the token is refused
        with pytest.raises(AuthError) as info:
            api.get("/secure")
        assert api.refreshes == 1  # once, not once per attempt
        assert app.calls("GET", "^/secure$") == 2
        assert info.value.status == 401 and "token expired" in str(info.value)
        no_refresh = client(server, clock)
        with pytest.raises(AuthError):
            no_refresh.get("/secure")
        assert no_refresh.refreshes == 1
    finally:
        app.valid_token = TOKEN


def test_errors_and_logs_never_carry_the_authorization_header(  # type: ignore[no-untyped-def]
    server, app, clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    app.faults.arm(Fault("status", count=10, path="^/items$", status=500))
    app.valid_token = "other"
    app.faults.arm(Fault("lose_response", count=1, method="POST", path="^/text$"))
    api = client(server, clock)
    for call in (
        lambda: api.get("/items"),
        lambda: api.get("/secure"),
        lambda: api.get("/broken"),
        lambda: api.post("/text", json={"a": 1}),
    ):
        with pytest.raises(Exception) as info:
            call()
        failures.append(info.value)
    app.valid_token = TOKEN
    assert [type(f).__name__ for f in failures] == [
        "RemoteUnavailable",
        "AuthError",
        "RemoteError",
        "ResponseLost",
    ]
    for failure in failures:
        assert TOKEN not in str(failure) and TOKEN not in repr(failure)
        assert TOKEN not in repr(vars(failure))
        assert failure.__cause__ is None or TOKEN not in str(failure.__cause__)
    assert TOKEN not in caplog.text
    assert "500 on GET /items" in caplog.text  # the retries were logged


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds({"Retry-After": when}) <= 31


@pytest.mark.parametrize("attempts", [1, 2])
def test_the_retry_after_a_refresh_is_not_an_attempt(server, app, clock, attempts) -> None:  # type: ignore[no-untyped-def]
    """Renewing credentials must not use up the retry budget: with one attempt allowed, a
    401 fixed by refresh_auth() still gets its answer (not 'unavailable after 1 attempts')."""
    if attempts == 2:
        app.faults.arm(Fault("status", count=1, path="^/secure$", status=503))
    api = client(server, clock, token="expired-token", new_token=TOKEN, retry=RetryPolicy(attempts))
    assert api.get("/secure").body == {"ok": True}
    assert api.refreshes == 1
