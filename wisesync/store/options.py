"""Run-time company options (``wisesync options set``) with an audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig
    from wisesync.store.db import Database


def _on_off(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return "on"
    if lowered in ("off", "false", "no", "0"):
        return "off"
    raise ValueError(f"expected on or off, got {value!r}")


KNOWN_OPTIONS: dict[str, Callable[[str], str]] = {"sync_all": _on_off}


class OptionsStore:
    """Options that override the config file's per-company defaults."""

    def __init__(self, db: Database):
        self.db = db

    def set(self, company: str, name: str, value: str, *, changed_by: str) -> None:
        """Set one option and append the change to ``options_audit``."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT value FROM company_options WHERE company=%s AND name=%s FOR UPDATE",
                (company, name),
            ).fetchone()
            conn.execute(
                """INSERT INTO company_options (company, name, value, updated_by)
                   VALUES (%s,%s,%s,%s)
                   ON CONFLICT (company, name) DO UPDATE
                   SET value=EXCLUDED.value, updated_by=EXCLUDED.updated_by, updated_at=now()""",
                (company, name, value, changed_by),
            )
            conn.execute(
                """INSERT INTO options_audit (company, name, old_value, new_value, changed_by)
                   VALUES (%s,%s,%s,%s,%s)""",
                (company, name, row[0] if row else None, value, changed_by),
            )

    def get(self, company: str, name: str) -> str | None:
        """The stored value, or None when never set."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT value FROM company_options WHERE company=%s AND name=%s", (company, name)
            ).fetchone()
        return row[0] if row else None

    def sync_all(self, company: CompanyConfig) -> bool:
        """Is Sync All enabled (stored option, else the config file, default off)?"""
        stored = self.get(company.key, "sync_all")
        return company.sync_all if stored is None else stored == "on"

    def effective(self, company: CompanyConfig) -> CompanyConfig:
        """``company`` with its stored options applied (see :func:`apply_stored`)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT name, value FROM company_options WHERE company=%s", (company.key,)
            ).fetchall()
        return apply_stored(company, dict(rows))

    def audit(self, company: str) -> list[dict[str, Any]]:
        """The company's option changes, oldest first."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT * FROM options_audit WHERE company=%s ORDER BY id", (company,))
            return cur.fetchall()


def apply_stored(company: CompanyConfig, stored: dict[str, str]) -> CompanyConfig:
    """``company`` with stored option values over its configuration: ``sync_all``,
    ``record_types`` and ``hold_billing_statuses`` (comma lists), and ``options.<field>`` over
    :class:`~wisesync.config.CompanyOptions` (set from the web console's Options page)."""
    import dataclasses
    from decimal import Decimal

    from wisesync.events.models import RecordType

    changes: dict[str, Any] = {}
    if "sync_all" in stored:
        changes["sync_all"] = stored["sync_all"] == "on"
    if stored.get("record_types"):
        changes["record_types"] = tuple(RecordType(t) for t in stored["record_types"].split(","))
    if "hold_billing_statuses" in stored:
        raw = stored["hold_billing_statuses"]
        changes["hold_billing_statuses"] = tuple(s for s in raw.split(",") if s)
    option_changes: dict[str, Any] = {}
    for f in dataclasses.fields(company.options):
        value = stored.get(f"options.{f.name}")
        if value is None:
            continue
        current = getattr(company.options, f.name)
        if isinstance(current, bool):
            option_changes[f.name] = value == "on"
        elif isinstance(current, Decimal):
            option_changes[f.name] = Decimal(value)
        else:
            option_changes[f.name] = value
    if option_changes:
        changes["options"] = dataclasses.replace(company.options, **option_changes)
    sections = _section_changes(company, stored)
    if sections:
        changes["settings"] = sections
    return dataclasses.replace(company, **changes) if changes else company


def _section_changes(company: CompanyConfig, stored: dict[str, str]) -> dict[str, Any]:
    """``company.settings`` with stored ``<plugin>.<key>`` values over each plugin's own
    section (``"on"``/``"off"`` become booleans); empty when nothing stored applies."""
    settings = {name: dict(section) for name, section in company.settings.items()}
    changed = False
    for name, value in stored.items():
        plugin, _, key = name.partition(".")
        if not key or plugin == "options" or plugin not in (company.ledger, company.source):
            continue
        settings.setdefault(plugin, {})[key] = {"on": True, "off": False}.get(value, value)
        changed = True
    return settings if changed else {}
