"""Hooks the console calls on ledger plugins (declared by :func:`wisesync.plugins.build_manager`).

A plugin implements them with ``@wisesync.hookspecs.hookimpl`` like any other hook; a plugin
that does not is simply not asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wisesync.hookspecs import hookspec

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig


@hookspec
def console_company_options(company: CompanyConfig) -> list[Any] | None:
    """The company options this plugin's ledger adds to the console's Options page.

    Called for each company whose ledger (or source) is the plugin's; return a list of
    :class:`wisesync.console.settings.OptionField` (or None when the company is not yours).
    Stored values are the same audited options ``wisesync options`` keeps, under the
    field's ``name`` (``options.<CompanyOptions field>`` overrides that config option).
    """


@hookspec
def console_document_url(
    company: CompanyConfig, target: str, record_type: str, ledger_id: str
) -> str | None:
    """A link to the document ``ledger_id`` in the ledger's own web app, or None.

    The review shows it beside the ledger number of each posted record. First answer wins.
    """
