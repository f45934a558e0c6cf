"""``wisesync sandbox <name>``: the group of API simulators, built from registered sandboxes.

The core owns the group; each plugin's ``register_sandboxes`` names its sandbox and may
hand its own click command (with the sandbox's flags). A sandbox registered without one
gets :func:`plain_command`: ``--port`` and ``--seed``, prints the URL, runs until Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def plain_command(name: str, factory: Callable[..., Any]) -> click.Command:
    """A ``wisesync sandbox <name>`` command that starts ``factory`` in the foreground."""

    @click.command(
        name,
        help=f"Run the {name} sandbox until Ctrl-C, printing its URL.\n\n\b\nExample:\n"
        f"  wisesync sandbox {name} --port 8001 --seed 7",
    )
    @click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Deterministic seed.")
    def run(port: int, seed: int) -> None:
        server = factory(port=port, seed=seed)
        click.echo(f"{name} sandbox on {server.url}")
        server.serve_until_stopped()

    return run


def sandbox_group(registry: Any) -> click.Group:
    """The ``sandbox`` group with one command per registered sandbox."""
    first = min(registry.sandboxes, default="NAME")
    group = click.Group(
        "sandbox",
        help="Run a plugin's API simulator (sandbox) in the foreground.\n\n\b\nExample:\n"
        f"  wisesync sandbox {first} --port 8001",
    )
    for name in sorted(registry.sandboxes):
        command = registry.sandbox_commands.get(name) or plain_command(
            name, registry.sandboxes[name]
        )
        command.name = name
        group.add_command(command, name)
    return group
