"""The wisesync hooks of the QuickBooks Online plugin (entry point ``qbo`` in group ``wisesync``).

Registers the ``qbo`` sandbox (``wisesync sandbox qbo``) with its
:class:`~wisesync.testing.ledger.LedgerSandbox` adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wisesync import hookimpl


def _start_sandbox(port: int = 0, seed: int | None = None, **options: Any) -> Any:
    from wisesync_qbo.sandbox import start_sandbox

    return start_sandbox(port=port, seed=seed or 0, **options)


def _ledger_sandbox(server: Any) -> Any:
    from wisesync_qbo.sandbox.ledger import QboLedgerSandbox

    return QboLedgerSandbox(server)


@hookimpl
def register_sandboxes(register: Callable[..., None]) -> None:
    """``qbo`` -> :func:`wisesync_qbo.sandbox.start_sandbox` (``wisesync sandbox qbo``)."""
    # ledger=_ledger_sandbox joins the ledger-neutral tests and the demo with the target
    register("qbo", _start_sandbox)
