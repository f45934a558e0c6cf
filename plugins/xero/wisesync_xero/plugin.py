"""The wisesync hooks of the Xero plugin (entry point ``xero`` in group ``wisesync``).

Registers the ``xero`` target (invoices, credit memos, expenses, procurement), the
``xero`` payments source, the ``xero`` sandbox and the ``wisesync xero connect`` /
``wisesync sandbox xero`` commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from wisesync import hookimpl
from wisesync.protocols import Source, Target
from wisesync_xero.console import console_company_options, console_document_url

__all__ = ["console_company_options", "console_document_url"]  # the console's hooks


@hookimpl
def register_targets(register: Callable[[type[Target]], None]) -> None:
    """The Xero target."""
    from wisesync_xero.target import XeroTarget

    register(XeroTarget)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """The Xero payments source."""
    from wisesync_xero.payments import XeroPaymentsSource

    register(XeroPaymentsSource)


def _start_sandbox(port: int = 0, seed: int | None = None, **options: Any) -> Any:
    from wisesync_xero.sandbox import start_sandbox

    return start_sandbox(port=port, seed=seed or 0, **options)


@hookimpl
def register_sandboxes(register: Callable[..., None]) -> None:
    """``xero`` -> :func:`wisesync_xero.sandbox.start_sandbox`, with the ``wisesync sandbox
    xero`` command."""
    from wisesync_xero.connect_cli import sandbox_xero

    register("xero", _start_sandbox, command=sandbox_xero, ledger=_ledger_sandbox)


def _ledger_sandbox(server: Any) -> Any:
    from wisesync_xero.sandbox.ledger import XeroLedgerSandbox

    return XeroLedgerSandbox(server)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``wisesync xero connect``."""
    from wisesync_xero.connect_cli import add_commands

    add_commands(cli)
