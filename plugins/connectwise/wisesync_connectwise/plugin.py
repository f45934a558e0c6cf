"""The ``connectwise`` entry point: hook implementations that register the plugin's parts.

* source ``connectwise`` (:class:`~wisesync_connectwise.extract.ConnectWiseSource`):
  invoices, credit memos, expenses, procurement; acknowledges with accounting batches;
* target ``connectwise`` (:class:`~wisesync_connectwise.payments.ConnectWisePayments`):
  ledger payments applied to ConnectWise invoices;
* sandbox ``connectwise`` and the command ``wisesync sandbox connectwise``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from wisesync.hookspecs import hookimpl


@hookimpl
def register_sources(register: Callable[[type], None]) -> None:
    """Register the ConnectWise source."""
    from wisesync_connectwise.extract import ConnectWiseSource

    register(ConnectWiseSource)


@hookimpl
def register_targets(register: Callable[[type], None]) -> None:
    """Register ConnectWise as the target of PAYMENT records."""
    from wisesync_connectwise.payments import ConnectWisePayments

    register(ConnectWisePayments)


def start_sandbox(port: int = 0, seed: int | None = 0, **options: Any) -> Any:
    """Start the ConnectWise sandbox (imported only when a sandbox is wanted)."""
    from wisesync_connectwise.sandbox import start_sandbox as start

    return start(port=port, seed=seed, **options)


@hookimpl
def register_sandboxes(register: Callable[..., None]) -> None:
    """Register the ConnectWise sandbox factory and its command under ``connectwise``."""
    register("connectwise", start_sandbox, command=sandbox_command)


@click.command(
    "connectwise",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated data.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def sandbox_command(port: int, seed: int, extra: tuple[str, ...]) -> None:
    """Run the ConnectWise PSA sandbox in the foreground (Ctrl-C stops it), printing its URL
    and credentials.

    Further options go to the sandbox: --invoices N, --expenses N, --procurement N,
    --customers N, --no-cases, --max-page-size N, --rate-limit N (calls/s before a 429).

    \b
    Example:
      wisesync sandbox connectwise --port 8001 --invoices 500 --no-cases
    """
    from wisesync_connectwise.sandbox.__main__ import main

    main(["--port", str(port), "--seed", str(seed), *extra])
