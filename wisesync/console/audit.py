"""The console's security audit (sign-ins, refusals, syncs, replays) and its Audit page data.

Option changes are not here: they go through :class:`wisesync.store.options.OptionsStore`
(the same audited store as ``wisesync options set``), recorded with the signed-in user.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wisesync.store.db import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the Audit page: an option change or a console event."""

    at: datetime
    who: str
    company: str | None
    what: str
    old: str | None = None
    new: str | None = None
    client: str | None = None


class ConsoleAudit:
    """Append console events; list them with the option changes."""

    def __init__(self, db: Database):
        self.db = db

    def record(
        self,
        action: str,
        *,
        username: str | None,
        company: str | None = None,
        detail: str = "",
        client: str | None = None,
    ) -> None:
        """Append one event (``action`` is a short word: signin, forbidden, csrf, sync_all...)."""
        with self.db.connection() as conn:
            conn.execute(
                """INSERT INTO console_audit (username, action, company, detail, client)
                   VALUES (%s,%s,%s,%s,%s)""",
                (username, action, company, detail[:500], client),
            )

    def entries(self, companies: tuple[str, ...] | None, limit: int = 500) -> list[AuditEntry]:
        """Newest first: option changes and console events, of ``companies`` (None = all;
        events that name no company are shown to super admins only)."""
        wanted = None if companies is None else list(companies)
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT at, who, company, what, old, new, client FROM (
                     SELECT changed_at AS at, changed_by AS who, company,
                            'option ' || name AS what, old_value AS old, new_value AS new,
                            NULL::text AS client
                       FROM options_audit
                      WHERE %(c)s::text[] IS NULL OR company = ANY(%(c)s)
                     UNION ALL
                     SELECT at, coalesce(username, '-'), company,
                            action || CASE WHEN detail <> '' THEN ': ' || detail ELSE '' END,
                            NULL, NULL, client
                       FROM console_audit
                      WHERE %(c)s::text[] IS NULL OR company = ANY(%(c)s)
                   ) e ORDER BY at DESC LIMIT %(n)s""",
                {"c": wanted, "n": limit},
            ).fetchall()
        return [AuditEntry(*r) for r in rows]

    def count(self, action: str) -> int:
        """How many events of ``action`` were recorded (tests, health)."""
        with self.db.connection() as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM console_audit WHERE action=%s", (action,)
            ).fetchone()
        return int(n)


def session_secret(db: Database) -> str:
    """The secret that signs session cookies: made once, stored, shared by every process.
    ``WISESYNC_CONSOLE_SECRET`` overrides it. Never rendered or logged."""
    import os

    configured = os.environ.get("WISESYNC_CONSOLE_SECRET")
    if configured:
        return configured
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO console_secrets (name, value) VALUES ('session', %s) "
            "ON CONFLICT (name) DO NOTHING",
            (secrets.token_urlsafe(48),),
        )
        (value,) = conn.execute("SELECT value FROM console_secrets WHERE name='session'").fetchone()
    return value
