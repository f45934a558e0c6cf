"""The ConnectWise sandbox's rate limit runs on the shared window limiter and its clock."""

from __future__ import annotations

import functools

import pytest
import requests

from wisesync.testing.clock import ManualClock
from wisesync_connectwise.sandbox import start_sandbox


@pytest.fixture
def make_server(sandbox_factory):
    return functools.partial(sandbox_factory, start_sandbox)


def test_calls_over_the_rate_are_refused_until_the_sandbox_clock_moves(make_server) -> None:
    clock = ManualClock()
    server = make_server(rate_limit=2, clock=clock, warm=False)
    url = f"{server.api_url}/system/info"

    def get() -> requests.Response:
        return requests.get(url, headers=server.credentials.headers(), timeout=10)

    assert [get().status_code, get().status_code] == [200, 200]
    refused = get()
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clock.advance(0.5)
    assert get().status_code == 429  # the window has not moved on yet
    clock.advance(0.5)
    assert get().status_code == 200
