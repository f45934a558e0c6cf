"""Every wisesync hook, declared in one place.

Plugins implement these with ``@wisesync.hookimpl`` and are found through the
``wisesync`` entry-point group (built-ins are registered the same way). Call
hooks with keyword arguments. Registration hooks hand back classes; behaviour
lives in the protocols of :mod:`wisesync.protocols`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from wisesync.events.models import PostingResult
    from wisesync.protocols import Source, Target

hookspec = pluggy.HookspecMarker("wisesync")
hookimpl = pluggy.HookimplMarker("wisesync")

# --- registration -------------------------------------------------------------


@hookspec
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Register source classes (:class:`wisesync.protocols.Source`).

    Called once when the plugin manager is built. Call ``register(cls)`` for each
    source the plugin provides; two sources with the same ``name`` are an error.
    Returns nothing; results of all implementations are ignored.
    """


@hookspec
def register_targets(register: Callable[[type[Target]], None]) -> None:
    """Register target classes (:class:`wisesync.protocols.Target`): a ledger, or
    ConnectWise as the target of payments.

    Called once when the plugin manager is built. Call ``register(cls)`` for each
    target; two targets with the same ``name`` are an error. The poster dispatches
    on a record's ``target`` and knows no ledger by name.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``wisesync`` command line
    (e.g. ``wisesync xero connect``, ``wisesync sandbox xero``).

    Called once when the CLI is built, with the root group. Every implementation runs.
    """


@hookspec
def register_sandboxes(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register a sandbox factory: ``register(name, factory)``.

    ``factory(port=0, seed=None, **options)`` returns a started
    :class:`wisesync.testing.sandbox.SandboxServer` simulating the plugin's remote
    API. ``wisesync sandbox <name>`` and ``wisesync demo`` use these. Every
    implementation runs.
    """


# --- observation (never changes flow) -------------------------------------------


@hookspec
def on_result(result: PostingResult) -> None:
    """Called by the reporter for each result it stored (notifications, metrics).

    Every implementation runs; return values are ignored and exceptions are
    logged, never raised into the pipeline.
    """


@hookspec
def on_startup(roles: list[str]) -> None:
    """Called once when ``wisesync run`` has started its roles. Observer only."""


@hookspec
def on_shutdown() -> None:
    """Called once when ``wisesync run`` stops, after the last batch. Observer only."""
