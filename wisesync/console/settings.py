"""The Options page's fields: the core ones and those each ledger plugin declares.

Values are stored in the audited :class:`~wisesync.store.options.OptionsStore` (what
``wisesync options`` uses), with the signed-in user as ``changed_by``;
:meth:`~wisesync.store.options.OptionsStore.effective` applies them wherever a company's
configuration is used (extraction, posting, the console).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from wisesync.events.models import RecordType
from wisesync.store.options import KNOWN_OPTIONS, OptionsStore

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig
    from wisesync.plugins import Registry


@dataclass(frozen=True)
class OptionField:
    """One field of the Options page.

    Attributes:
        name: the stored option name; ``options.<field>`` overrides ``CompanyOptions.<field>``.
        label: what the page shows.
        kind: ``bool`` (a checkbox), ``choice`` (``choices``), ``multi`` (checkboxes of
            ``choices``, stored comma-separated), ``list`` (free text, comma-separated) or
            ``decimal``.
        current: the value in force from the configuration (before stored overrides), as text.
        help: one line under the field.
    """

    name: str
    label: str
    kind: str
    current: Callable[[CompanyConfig], str]
    help: str = ""
    choices: tuple[str, ...] = ()

    def normalise(self, raw: str) -> str:
        """The value to store for what the form sent; ValueError naming what is wrong."""
        text = raw.strip()
        if self.kind == "bool":
            return KNOWN_OPTIONS["sync_all"](text or "off")
        if self.kind == "choice":
            if text not in self.choices:
                raise ValueError(f"{self.label}: choose one of {', '.join(self.choices)}")
            return text
        if self.kind == "multi":
            items = [i.strip() for i in text.split(",") if i.strip()]
            bad = [i for i in items if i not in self.choices]
            if bad or not items:
                raise ValueError(f"{self.label}: tick at least one of {', '.join(self.choices)}")
            return ",".join(i for i in self.choices if i in items)
        if self.kind == "list":
            return ",".join(i.strip() for i in text.split(",") if i.strip())
        if self.kind == "decimal":
            try:
                value = Decimal(text)
            except InvalidOperation:
                raise ValueError(f"{self.label}: {text!r} is not an amount like 10.00") from None
            if value < 0 or value != value.quantize(Decimal("0.01")):
                raise ValueError(f"{self.label}: an amount of 0 or more with 2 decimals")
            return f"{value:.2f}"
        raise ValueError(f"unknown option kind {self.kind}")


#: The switch people look for. The product's checkbox is labelled "Hide 'Sync All' Button"
#: and ticking it SHOWS the button; we label it by what it does.
SYNC_ALL_LABEL = "Show the Sync All button"


def core_fields() -> list[OptionField]:
    """The fields every company has, whatever its ledger."""
    return [
        OptionField(
            "sync_all",
            SYNC_ALL_LABEL,
            "bool",
            lambda c: "on" if c.sync_all else "off",
            "Off by default. When on, users of this company see the Sync All button on the "
            "Sync page (Wise-Sync calls this checkbox \"Hide 'Sync All' Button\").",
        ),
        OptionField(
            "record_types",
            "Default record types",
            "multi",
            lambda c: ",".join(str(t) for t in c.record_types),
            "Ticked on the Sync page and synced on schedule.",
            tuple(t.value for t in RecordType),
        ),
        OptionField(
            "hold_billing_statuses",
            "Billing statuses to hold",
            "list",
            lambda c: ",".join(c.hold_billing_statuses),
            "Invoices in these ConnectWise billing statuses are held, not posted (comma list).",
        ),
        OptionField(
            "options.adjustment_cap",
            "Adjustment cap",
            "decimal",
            lambda c: f"{c.options.adjustment_cap:.2f}",
            "Largest adjustment line added automatically when totals differ; 0 = no limit.",
        ),
    ]


def company_fields(company: CompanyConfig, registry: Registry | None) -> list[OptionField]:
    """The core fields, then those the company's plugins declare (no duplicates)."""
    fields = core_fields()
    if registry is not None:
        for answer in registry.manager.hook.console_company_options(company=company):
            fields.extend(answer or ())
    seen: set[str] = set()
    return [f for f in fields if not (f.name in seen or seen.add(f.name))]


def values(store: OptionsStore, company: CompanyConfig, fields: list[OptionField]) -> dict:
    """Each field's value in force: stored, else the configuration's."""
    return {f.name: _stored(store, company.key, f.name) or f.current(company) for f in fields}


def _stored(store: OptionsStore, company: str, name: str) -> str | None:
    return store.get(company, name)
