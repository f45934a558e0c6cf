"""The Runs page's data: run history, the daemon's health, the ledger connections' state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wisesync.config import CompanyConfig
    from wisesync.console.jobs import Backend
    from wisesync.store.db import Database

#: An access token this close to expiry is shown as "expiring" (it is refreshed on use).
EXPIRING_WITHIN = timedelta(minutes=5)


def run_history(db: Database, company: str, limit: int = 50) -> list[dict[str, Any]]:
    """The company's latest runs: who, why, counts per status, duration."""
    with db.connection() as conn:
        rows = conn.execute(
            """SELECT r.run_id, r.trigger, r.requested_by, r.started_at, r.finished_at,
                      r.extracted, r.held, r.error,
                      (SELECT json_object_agg(status, n) FROM (
                          SELECT status, count(*) AS n FROM (
                              SELECT DISTINCT ON (record_event_id) status FROM attempts a
                               WHERE a.run_id = r.run_id
                               ORDER BY record_event_id, finished_at DESC) x
                          GROUP BY status) y),
                      (SELECT max(finished_at) FROM attempts a WHERE a.run_id = r.run_id)
                 FROM sync_runs r WHERE r.company = %s
                ORDER BY r.started_at DESC LIMIT %s""",
            (company, limit),
        ).fetchall()
    out = []
    for run_id, trigger, who, started, finished, extracted, held, error, counts, last in rows:
        end = max(t for t in (finished, last) if t is not None) if (finished or last) else None
        out.append(
            {
                "run_id": run_id,
                "trigger": trigger,
                "manual": trigger != "schedule",
                "requested_by": who,
                "started_at": started,
                "duration_s": (end - started).total_seconds() if end else None,
                "records": sum((extracted or {}).values()) + sum((held or {}).values()),
                "counts": counts or {},
                "error": error,
            }
        )
    return out


def daemon_health(backend: Backend) -> list[dict[str, Any]]:
    """Each pipeline role's consumer group: does a live member consume it?"""
    if backend.health is not None:
        return backend.health()
    out = []
    for role in ("poster", "reporter"):
        group = backend.config.group_for(role)
        try:
            alive = backend.transport.admin().group_has_live_members(group)
            state = "running" if alive else "not running"
        except Exception as exc:  # the transport itself is down: say so, do not fail the page
            alive, state = False, f"unknown ({type(exc).__name__})"
        out.append({"role": role, "alive": alive, "state": state})
    out.append(acknowledger_health(backend.db))
    return out


#: Acknowledgements due this long without being tried mean no acknowledger is working.
ACK_OVERDUE = timedelta(minutes=2)


def acknowledger_health(db: Database) -> dict[str, Any]:
    """The acknowledger works from the store (no consumer group): it is "running" unless
    acknowledgements have been due for longer than :data:`ACK_OVERDUE` without a try."""
    with db.connection() as conn:
        (overdue,) = conn.execute(
            """SELECT count(*) FROM acknowledgements
                WHERE state = 'pending' AND next_attempt_at < now() - %s""",
            (ACK_OVERDUE,),
        ).fetchone()
    if overdue:
        minutes = int(ACK_OVERDUE.total_seconds() // 60)
        state = f"not running? {overdue} acknowledgement(s) due for over {minutes} minutes"
        return {"role": "acknowledger", "alive": False, "state": state}
    return {"role": "acknowledger", "alive": True, "state": "keeping up"}


def last_result(db: Database, company: str) -> dict[str, Any]:
    """When the service last stored a result for ``company`` and how many dead letters wait
    for a replay: the Service box's store-side line."""
    with db.connection() as conn:
        at, letters = conn.execute(
            """SELECT (SELECT max(finished_at) FROM attempts WHERE company = %(c)s),
                      (SELECT count(*) FROM dead_letters
                        WHERE company = %(c)s AND replayed_at IS NULL)""",
            {"c": company},
        ).fetchone()
    return {"at": at, "dead_letters": int(letters)}


def connections(db: Database, company: CompanyConfig) -> list[dict[str, Any]]:
    """The company's stored ledger connections: connected, expiring or revoked (with the
    reconnect instruction). Never any token material."""
    with db.connection() as conn:
        rows = conn.execute(
            """SELECT provider, status, status_reason, expires_at, updated_at
                 FROM oauth_tokens WHERE company=%s ORDER BY provider""",
            (company.key,),
        ).fetchall()
    now = datetime.now(UTC)
    out = []
    for provider, status, reason, expires_at, updated_at in rows:
        plugin = provider.split(":", 1)[0]
        if status != "active":
            state = "revoked"
            note = (
                f"{reason or 'the ledger refused the connection'}; reconnect: "
                f"wisesync {plugin} connect --company {company.key}, then replay the failed "
                "records"
            )
        elif expires_at is not None and expires_at - now < EXPIRING_WITHIN:
            state, note = "expiring", "refreshed automatically on the next call"
        else:
            state, note = "connected", ""
        out.append({"provider": provider, "state": state, "note": note, "updated_at": updated_at})
    if not out:
        out.append(
            {
                "provider": company.ledger,
                "state": "no stored connection",
                "note": f"connect with: wisesync {company.ledger} connect --company {company.key}"
                " (not needed for ledgers that use client credentials)",
                "updated_at": None,
            }
        )
    return out
