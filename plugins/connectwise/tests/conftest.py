"""Fixtures for the ConnectWise plugin tests: an in-process sandbox (one per module, reset
before each test), a company pointing at it and a source reading from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wisesync.config import CompanyConfig
from wisesync.testing.sandbox import SandboxServer
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.sandbox import start_sandbox
from wisesync_connectwise.testing import company_for, runtime_for


@pytest.fixture(scope="module")
def cw_server() -> Iterator[SandboxServer]:
    """One demo sandbox per module (stopping one takes up to half a second)."""
    server = start_sandbox(seed=0)
    yield server
    server.stop()


@pytest.fixture
def server(cw_server: SandboxServer) -> Iterator[SandboxServer]:
    """The module's sandbox, reset to its seeded state before each test.

    At teardown no request the plugin sent and no response the sandbox served may break
    ConnectWise's published models (the sandbox checks every body, see
    ``wisesync_connectwise.sandbox.schema``).
    """
    cw_server.app.reset()
    yield cw_server
    cw_server.app.assert_published_shapes()


@pytest.fixture
def company(server: SandboxServer) -> CompanyConfig:
    return company_for(server)


@pytest.fixture
def source(server: SandboxServer) -> ConnectWiseSource:
    return ConnectWiseSource(runtime_for(server))
