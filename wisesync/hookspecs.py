"""Every wisesync hook, declared in one place.

Plugins implement these with ``@wisesync.hookimpl`` and are found through the
``wisesync`` entry-point group (built-ins are registered the same way). Call
hooks with keyword arguments. Registration hooks hand back classes; behaviour
lives in the protocols of :mod:`wisesync.protocols`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from wisesync.events.models import PostingResult
    from wisesync.messages import Code
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
def register_message_codes(register: Callable[[Code], None]) -> None:
    """Register the plugin's own result message codes: ``register(Code(...))``.

    A :class:`wisesync.messages.Code` has the fields of the core's: name, severity,
    title, one-line fix hint and the Wise-Sync seed issue it maps to (or None). The
    core catalog holds the ledger-neutral codes; a ledger's own go here. A malformed
    code, or one registered twice or clashing with the catalog, stops the registry
    from being built (a :class:`wisesync.messages.BadCode` naming the plugin). Every
    implementation runs.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``wisesync`` command line
    (e.g. ``wisesync <ledger> connect``).

    Called once when the CLI is built, with the root group. Every implementation runs.
    Sandboxes are not added here: the core builds ``wisesync sandbox <name>`` from
    :func:`register_sandboxes`.
    """


@hookspec
def register_sandboxes(register: Callable[..., None]) -> None:
    """Register a sandbox: ``register(name, factory, *, command=None, ledger=None)``.

    ``factory(port=0, seed=None, **options)`` returns a started
    :class:`wisesync.testing.sandbox.SandboxServer` simulating the plugin's remote
    API. ``command`` is the click command the core adds as ``wisesync sandbox
    <name>`` (None: a plain one with ``--port`` and ``--seed``). A ledger plugin
    passes ``ledger``, a callable taking the started server and returning a
    :class:`wisesync.testing.ledger.LedgerSandbox` (what ``wisesync demo`` and the
    tests do to the ledger). Two sandboxes with one name are an error. Every
    implementation runs.
    """


# --- observation (never changes flow) -------------------------------------------


@hookspec
def on_result(result: PostingResult) -> None:
    """Called by the reporter for each result it stored (notifications, metrics).

    Every implementation runs; return values are ignored and exceptions are
    logged, never raised into the pipeline (:func:`wisesync.plugins.notify`).
    """


@hookspec
def on_startup(roles: list[str]) -> None:
    """Called once when ``wisesync run`` has started its roles. Observer only: an
    exception is logged and the service goes on."""


@hookspec
def on_shutdown() -> None:
    """Called once when ``wisesync run`` stops, after the last batch. Observer only: an
    exception is logged and the service goes on."""
