"""The wisesync hooks of the QuickBooks Online plugin (entry point ``qbo`` in group ``wisesync``).

Registers the ``qbo`` target, the ``qbo`` payments source, the SYNC_TOKEN_CONFLICT code, the ``wisesync qbo connect`` command, the ``qbo`` sandbox (``wisesync sandbox qbo``) with its
:class:`~wisesync.testing.ledger.LedgerSandbox` adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from wisesync import hookimpl
from wisesync.messages import Code
from wisesync.protocols import Source, Target
from wisesync_qbo.console import console_company_options, console_document_url

__all__ = ["console_company_options", "console_document_url"]  # the console's hooks


def _start_sandbox(port: int = 0, seed: int | None = None, **options: Any) -> Any:
    from wisesync_qbo.sandbox import start_sandbox

    # the scenario's MSP bills a customer in NZD: its QuickBooks company has multi-currency
    # on (home AUD, USD and NZD added), as the Xero organisation has those currencies
    options.setdefault("multicurrency", True)
    return start_sandbox(port=port, seed=seed or 0, **options)


def _ledger_sandbox(server: Any) -> Any:
    from wisesync_qbo.sandbox.ledger import QboLedgerSandbox

    return QboLedgerSandbox(server)


@hookimpl
def register_sandboxes(register: Callable[..., None]) -> None:
    """``qbo`` -> :func:`wisesync_qbo.sandbox.start_sandbox` (``wisesync sandbox qbo``)."""
    from wisesync_qbo.connect_cli import sandbox_qbo

    register("qbo", _start_sandbox, command=sandbox_qbo, ledger=_ledger_sandbox)


@hookimpl
def register_targets(register: Callable[[type[Target]], None]) -> None:
    """The QuickBooks Online target."""
    from wisesync_qbo.target import QboTarget

    register(QboTarget)


@hookimpl
def register_message_codes(register: Callable[[Code], None]) -> None:
    """SYNC_TOKEN_CONFLICT (the Sync Token Issue, QBO's flavour)."""
    from wisesync_qbo.codes import CODES

    for code in CODES:
        register(code)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``wisesync qbo connect``."""
    from wisesync_qbo.connect_cli import add_commands

    add_commands(cli)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """The QBO payments source."""
    from wisesync_qbo.payments import QboPaymentsSource

    register(QboPaymentsSource)
