"""Test helpers for code that talks to the ConnectWise sandbox (this plugin's tests, the
pipeline's and the demo's): a company and a runtime pointing at a running sandbox, the
result the poster would emit for an event, and a clock that records sleeps."""

from __future__ import annotations

from typing import Any

from wisesync.config import CompanyConfig, CompanyOptions
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import Clock
from wisesync.testing.clock import ManualClock
from wisesync.testing.records import posting_result
from wisesync.testing.sandbox import SandboxServer

ALL_TYPES = ["invoice", "credit_memo", "expense", "procurement"]


#: records every sleep and advances its own time instead of waiting
RecordingClock = ManualClock


def runtime_for(server: SandboxServer, clock: Clock | None = None, **env: str) -> PluginRuntime:
    """A runtime whose environment holds the sandbox's keys (overridable)."""
    creds = server.app.credentials
    environ = {
        "CW_PUB": creds.public_key,
        "CW_PRIV": creds.private_key,
        "CW_CLIENT": creds.client_id,
        **env,
    }
    return PluginRuntime(config=None, clock=clock or Clock(), environ=environ)


def company_for(
    server: SandboxServer,
    *,
    key: str = "demo",
    holds: tuple[str, ...] = ("Finance Hold",),
    options: CompanyOptions | None = None,
    **section: Any,
) -> CompanyConfig:
    """A company reading from ``server``; ``section`` overrides ``[companies.connectwise]``."""
    cw = {
        "base_url": server.url,
        "company_id": server.app.credentials.company_id,
        "public_key_env": "CW_PUB",
        "private_key_env": "CW_PRIV",
        "client_id_env": "CW_CLIENT",
        "calls_per_second": 0,
        **section,
    }
    return CompanyConfig(
        key=key,
        name="Demo MSP",
        ledger="xero",
        hold_billing_statuses=holds,
        options=options or CompanyOptions(),
        settings={"connectwise": cw},
    )


#: the result the poster would emit for an event
posted = posting_result
