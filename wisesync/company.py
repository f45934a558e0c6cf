"""What a company is, shared by the core's config parser and the plugins that check it.

:class:`CompanyConfig` (one ``[[companies]]`` table, with each plugin's own section in
``settings``), its ledger-neutral :class:`CompanyOptions`, and :class:`ConfigProblem` /
:class:`ConfigInvalid`, the problems a parser or a plugin's ``check_company`` reports.
This module imports neither side: :mod:`wisesync.config` builds these objects and the
plugin registry (:mod:`wisesync.plugins`) asks plugins to check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wisesync.errors import ConfigError
from wisesync.events.models import RecordType


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration."""

    key: str
    message: str
    hint: str = ""
    file: str = ""

    def __str__(self) -> str:
        where = "".join(f"{part}: " for part in (self.file, self.key) if part)
        hint = f"\n    fix: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class ConfigInvalid(ConfigError):
    """The configuration has one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class CompanyOptions:
    """Ledger-neutral posting options of one company (Wise-Sync's company settings).

    What only one ledger understands (approval status, its "sent" flag, tracking-category
    names) lives in that ledger's section, ``[companies.<ledger>]``, checked by its plugin.

    Attributes:
        adjustment_cap: largest adjustment line added automatically; 0 = no limit.
        adjustment_item_code: item code on adjustment lines.
        adjustment_sales_account / adjustment_purchase_account: account codes for
            adjustment lines on sales / purchase documents (None = the rounding account).
        rounding_account: account code for rounding lines (None = the ledger's own).
        tracking_missing: ``warn`` or ``halt`` when a tracking option is missing.
        require_item_code: lines need an item / Non-Product ID (some ledgers always do).
        ack_batch_per_record: one ConnectWise accounting batch per record (Wise-Sync's
            1:1 audit trail); False groups a run's records into one batch.
        contact_name_pattern: the ledger name of a customer or vendor whose name another
            ledger contact already has (ledgers keep contact names unique): ``{name}`` plus
            ``{account}`` (account number, else source id) and/or ``{id}`` (source id).
    """

    adjustment_cap: Decimal = Decimal("10.00")
    adjustment_item_code: str = "WISESYNC_ADJUSTMENT"
    adjustment_sales_account: str | None = None
    adjustment_purchase_account: str | None = None
    rounding_account: str | None = None
    tracking_missing: str = "warn"
    require_item_code: bool = False
    ack_batch_per_record: bool = True
    contact_name_pattern: str = "{name} ({account})"


@dataclass(frozen=True, slots=True)
class CompanyConfig:
    """One wisesync company: a ConnectWise connection plus one ledger organisation.

    ``settings`` holds each plugin's own section (``settings["xero"]``,
    ``settings["connectwise"]``), validated by that plugin's ``check_company``.
    """

    key: str
    name: str
    ledger: str
    source: str = "connectwise"
    record_types: tuple[RecordType, ...] = tuple(RecordType)
    enabled: bool = True
    sync_all: bool = False
    hold_billing_statuses: tuple[str, ...] = ()
    interval_seconds: int = 900
    options: CompanyOptions = field(default_factory=CompanyOptions)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, plugin: str) -> dict[str, Any]:
        """The settings table a plugin owns (empty when absent)."""
        return self.settings.get(plugin, {})

    def target_for(self, record_type: RecordType) -> str:
        """Where a record of this type goes: payments to the source, the rest to the ledger."""
        return self.source if record_type is RecordType.PAYMENT else self.ledger

    def source_for(self, record_type: RecordType) -> str:
        """Where a record of this type comes from."""
        return self.ledger if record_type is RecordType.PAYMENT else self.source
