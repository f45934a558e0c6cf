"""A tiny key-value store for plugin state (watermarks, cursors), one row per
(company, plugin, key) in ``plugin_state`` (migration 0003).

Values are text; use JSON for anything structured. ``set`` is an upsert.

>>> state = plugin_state(runtime.db, "xero")          # doctest: +SKIP
>>> state.set("acme", "payments_watermark", "2026-01-31T10:00:00+00:00")  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

from wisesync.store.tokens import connection


class PluginState(ABC):
    """Per-company key-value state of one plugin."""

    def __init__(self, plugin: str):
        self.plugin = plugin

    @abstractmethod
    def get(self, company: str, key: str, default: str | None = None) -> str | None:
        """The value stored under ``key`` for ``company``, else ``default``."""

    @abstractmethod
    def set(self, company: str, key: str, value: str) -> None:
        """Store ``value`` under ``key`` for ``company`` (replacing any value)."""

    @abstractmethod
    def delete(self, company: str, key: str) -> None:
        """Remove ``key`` for ``company``."""


class PostgresPluginState(PluginState):
    """``plugin_state`` rows in Postgres; ``db`` is a Database or a DSN."""

    def __init__(self, db: Any, plugin: str):
        super().__init__(plugin)
        self.db = db

    def get(self, company: str, key: str, default: str | None = None) -> str | None:
        with connection(self.db) as conn:
            row = conn.execute(
                "SELECT value FROM plugin_state WHERE company = %s AND plugin = %s AND key = %s",
                (company, self.plugin, key),
            ).fetchone()
            conn.commit()
        return row[0] if row else default

    def set(self, company: str, key: str, value: str) -> None:
        with connection(self.db) as conn, conn.transaction():
            conn.execute(
                """INSERT INTO plugin_state (company, plugin, key, value) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (company, plugin, key)
                   DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
                (company, self.plugin, key, value),
            )

    def delete(self, company: str, key: str) -> None:
        with connection(self.db) as conn, conn.transaction():
            conn.execute(
                "DELETE FROM plugin_state WHERE company = %s AND plugin = %s AND key = %s",
                (company, self.plugin, key),
            )


class MemoryPluginState(PluginState):
    """In-process state (tests, runs without a database)."""

    def __init__(self, plugin: str):
        super().__init__(plugin)
        self._values: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, company: str, key: str, default: str | None = None) -> str | None:
        with self._lock:
            return self._values.get((company, key), default)

    def set(self, company: str, key: str, value: str) -> None:
        with self._lock:
            self._values[(company, key)] = value

    def delete(self, company: str, key: str) -> None:
        with self._lock:
            self._values.pop((company, key), None)


def plugin_state(db: Any, plugin: str) -> PluginState:
    """Postgres-backed state when ``db`` is given, else in-memory."""
    return MemoryPluginState(plugin) if db is None else PostgresPluginState(db, plugin)
