"""What the demo and the ledger-neutral tests do to a ledger sandbox: :class:`LedgerSandbox`.

A ledger plugin provides it with its sandbox registration
(``register(name, factory, ledger=Adapter)``, see :mod:`wisesync.hookspecs`): the
adapter wraps the started sandbox server and speaks the ledger's own vocabulary
(account types, connection state, document kinds) behind these few verbs. The demo
(``wisesync demo --ledger NAME``) and the tests use only this protocol, so they import
no plugin module and run for every installed ledger that provides it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig
    from wisesync.protocols import PluginRuntime


@dataclass(frozen=True, slots=True)
class PostedDocument:
    """One document the ledger sandbox holds, as the ledger shows it.

    Attributes:
        kind: the ledger's document kind (an invoice type, "CreditNote", a journal...).
        number: its document number (what :class:`~wisesync.events.models.RecordEvent`
            ``document_number`` became).
        total: the document total the ledger shows.
        status: the ledger's status of the document (approved, draft, voided...).
        ledger_id: the ledger's own id of the document.
    """

    kind: str
    number: str
    total: Decimal
    status: str
    ledger_id: str


#: ledger-neutral account kinds :meth:`LedgerSandbox.create_account` understands
ACCOUNT_KINDS = ("revenue", "expense", "asset", "liability", "equity")


def check_account_kind(kind: str) -> None:
    """:class:`ValueError` unless ``kind`` is one of :data:`ACCOUNT_KINDS`."""
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"account kind {kind!r} is not one of {', '.join(ACCOUNT_KINDS)}")


class SandboxControls:
    """The common start of a plugin's :class:`LedgerSandbox` adapter: the started
    sandbox ``server`` and its ``app`` (the ledger's state and controls)."""

    def __init__(self, server: Any):
        self.server = server
        self.app = server.app


@runtime_checkable
class LedgerSandbox(Protocol):
    """The controls of one running ledger sandbox (one organisation / company file)."""

    #: the started :class:`~wisesync.testing.sandbox.SandboxServer`
    server: Any

    def create_account(self, code: str, name: str, kind: str = "revenue") -> None:
        """Create (or re-activate) the account ``code``; ``kind`` is one of
        :data:`ACCOUNT_KINDS`."""

    def archive_account(self, code: str) -> None:
        """Archive the account ``code`` so posting to it fails (LEDGER_ACCOUNT_MISSING)."""

    def revoke_connection(self) -> None:
        """The ledger user disconnects wisesync: every call fails as unauthorised."""

    def restore_connection(self) -> None:
        """The ledger user authorises wisesync again (a reconnect can then succeed)."""

    def connect(self, runtime: PluginRuntime, company: CompanyConfig) -> None:
        """What ``wisesync <ledger> connect --company KEY`` does: obtain and store the
        company's connection (in the runtime's token store), with no prompt."""

    def enable_currency(self, code: str) -> None:
        """Enable the ISO 4217 currency ``code`` in the organisation."""

    def posted_documents(self) -> list[PostedDocument]:
        """Every document the organisation holds, oldest first."""


@runtime_checkable
class EditConflicts(Protocol):
    """Optional controls of a ledger whose updates carry the version they change (QBO's
    SyncToken): a ledger user who keeps saving a customer makes every update wisesync
    sends stale, the "Sync Token Issue" its records fail with. The demo shows it for the
    ledgers whose sandbox adapter has these methods."""

    def keep_editing(self, customer: str) -> None:
        """A ledger user keeps saving customer ``customer`` (added first when absent, with
        details that differ from the source's, so wisesync updates it): every update of it
        meets a newer version, also after reading it again."""

    def stop_editing(self) -> None:
        """The ledger user finished: updates go through again."""


def require_ledger(registry: Any, name: str) -> Any:
    """The adapter ``name`` registered with its sandbox, or a
    :class:`~wisesync.errors.ConfigError` naming the ledgers that provide one."""
    from wisesync.errors import ConfigError

    adapter = registry.ledgers.get(name)
    if adapter is None:
        known = ", ".join(sorted(registry.ledgers)) or "none installed"
        raise ConfigError(
            f"no ledger sandbox named {name!r} (installed: {known})",
            hint="install a ledger plugin that registers its sandbox with ledger=...",
        )
    return adapter


#: Names the ledger the test stacks and tools use when several are installed.
LEDGER_ENV = "WISESYNC_LEDGER"


def default_ledger(registry: Any, environ: Mapping[str, str] | None = None) -> str:
    """The ledger sandbox to use when none is named: ``$WISESYNC_LEDGER`` when that ledger
    is installed, else the one installed ledger that provides a sandbox; a ConfigError when
    there are none, or several and no choice."""
    from wisesync.errors import ConfigError

    ledgers = sorted(registry.ledgers)
    chosen = (os.environ if environ is None else environ).get(LEDGER_ENV, "")
    if chosen in ledgers:
        return chosen
    if len(ledgers) != 1:
        raise ConfigError(
            f"which ledger? installed ledger sandboxes: {', '.join(ledgers) or 'none'}",
            hint=f"name one (--ledger NAME, CompanySpec(ledger=NAME), or {LEDGER_ENV}=NAME)",
        )
    return ledgers[0]


def ledger_sandbox(registry: Any, name: str, server: Any) -> LedgerSandbox:
    """The :class:`LedgerSandbox` of ``server``, the running sandbox of ledger ``name``."""
    return require_ledger(registry, name)(server)
