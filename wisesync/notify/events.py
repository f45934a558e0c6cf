"""Finding what to tell people: each kind of event, read from the store.

Every :class:`Notice` has a ``key`` that names the event itself (a run, a dead letter, a
connection's state since a time, an outage since a time), so the notifier sends it once
however many times it is found. Only events newer than ``lookback`` are looked at, so a
first start does not announce last month's failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Notice:
    """One event to tell a company about."""

    key: str
    kind: str
    company: str | None
    title: str
    detail: str = ""
    hint: str = ""

    def text(self) -> str:
        """The event as plain text lines (title, detail, what to do)."""
        lines = [self.title]
        if self.detail:
            lines.append(f"  {self.detail}")
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The webhook's ``events[]`` element."""
        return {
            "key": self.key,
            "kind": self.kind,
            "company": self.company,
            "title": self.title,
            "detail": self.detail,
            "hint": self.hint,
        }


def run_failures(conn: Any, since: datetime) -> list[Notice]:
    """Runs finished after ``since`` whose every record is accounted for, and that failed
    records, dead-lettered records or failed extraction."""
    from wisesync.review import run_progress

    notices = []
    runs = conn.execute(  # only runs with something wrong: most runs are clean
        """SELECT r.run_id, r.company, r.trigger FROM sync_runs r
            WHERE r.finished_at >= %s
              AND (r.error IS NOT NULL
                   OR EXISTS (SELECT 1 FROM attempts a
                               WHERE a.run_id = r.run_id AND a.status = 'failed')
                   OR EXISTS (SELECT 1 FROM dead_letters d WHERE d.run_id = r.run_id))
            ORDER BY r.finished_at""",
        (since,),
    ).fetchall()
    for run_id, company, trigger in runs:
        progress = run_progress(conn, run_id)
        if not (progress.complete or (progress.finished and progress.error)):
            continue
        (failed,) = conn.execute(
            "SELECT count(DISTINCT record_event_id) FROM attempts WHERE run_id = %s "
            "AND status = 'failed'",
            (run_id,),
        ).fetchone()
        if not (failed or progress.dead_lettered or progress.error):
            continue
        codes = conn.execute(
            """SELECT m.code, count(*) FROM result_messages m JOIN attempts a USING (result_id)
                WHERE a.run_id = %s AND a.status = 'failed' AND m.severity = 'error'
                GROUP BY m.code ORDER BY count(*) DESC, m.code LIMIT 5""",
            (run_id,),
        ).fetchall()
        parts = [f"{failed} of {progress.expected or 0} records failed"]
        if progress.dead_lettered:
            parts.append(f"{progress.dead_lettered} dead-lettered")
        if progress.error:
            parts.append(f"extraction failed: {progress.error}")
        notices.append(
            Notice(
                key=f"run_failed:{run_id}",
                kind="run_failed",
                company=company,
                title=f"{company}: run {run_id[:8]} ({trigger}) ended with failures: "
                + "; ".join(parts),
                detail=", ".join(f"{code} x{n}" for code, n in codes),
                hint=f"wisesync results --run {run_id} --status failed",
            )
        )
    return notices


def dead_letters(conn: Any, since: datetime) -> list[Notice]:
    """Dead letters first seen after ``since`` and not replayed."""
    rows = conn.execute(
        """SELECT topic, partition, "offset", company, error_class, record_type, source_id
             FROM dead_letters WHERE replayed_at IS NULL AND first_seen >= %s
            ORDER BY first_seen""",
        (since,),
    ).fetchall()
    notices = []
    for topic, partition, offset, company, error_class, record_type, source_id in rows:
        what = f"{record_type} {source_id}" if source_id else f"{topic}[{partition}]@{offset}"
        notices.append(
            Notice(
                key=f"dead_letters:{topic}:{partition}:{offset}",
                kind="dead_letters",
                company=company,
                title=f"{company or 'no company'}: {what} is in the dead-letter topic "
                f"({error_class})",
                hint="wisesync results --status failed, then wisesync replay --dlq",
            )
        )
    return notices


def connections(
    conn: Any, now: datetime, warn: timedelta, lifetimes: Mapping[str, timedelta]
) -> list[Notice]:
    """Ledger connections marked invalid (revoked, refused), or unused for so long that
    their refresh token expires within ``warn``."""
    notices = []
    rows = conn.execute(
        "SELECT company, provider, status, status_reason, updated_at FROM oauth_tokens"
    ).fetchall()
    for company, provider, status, reason, updated_at in rows:
        reconnect = f"wisesync {provider} connect --company {company}"
        if status == "invalid":
            notices.append(
                Notice(
                    key=f"connection:{company}:{provider}:invalid:{updated_at.isoformat()}",
                    kind="connection",
                    company=company,
                    title=f"{company}: the {provider} connection was revoked or refused",
                    detail=reason or "",
                    hint=f"{reconnect}, then wisesync replay --failed --company {company}",
                )
            )
            continue
        lifetime = lifetimes.get(provider)
        if lifetime is None or warn <= timedelta(0):
            continue
        expires = updated_at + lifetime
        if expires - now <= warn:
            notices.append(
                Notice(
                    key=f"connection:{company}:{provider}:expiring:{updated_at.isoformat()}",
                    kind="connection",
                    company=company,
                    title=f"{company}: the {provider} connection expires "
                    f"{expires:%Y-%m-%d %H:%M} UTC unless it is used or renewed",
                    hint=reconnect,
                )
            )
    return notices


def unreachable_apis(conn: Any, now: datetime, after: timedelta) -> list[Notice]:
    """(company, plugin) pairs whose calls have all failed (no answer or 5xx) for longer
    than ``after`` (read from the request log)."""
    rows = conn.execute(
        """SELECT r.company, r.plugin, min(r.at), count(*), (array_agg(
                  coalesce(r.status::text, r.error) ORDER BY r.at DESC))[1]
             FROM api_requests r
            WHERE (r.status IS NULL OR r.status >= 500)
              AND r.at > coalesce((SELECT max(s.at) FROM api_requests s
                                    WHERE s.company IS NOT DISTINCT FROM r.company
                                      AND s.plugin = r.plugin AND s.status < 500),
                                  '-infinity')
            GROUP BY r.company, r.plugin
           HAVING min(r.at) <= %s""",
        (now - after,),
    ).fetchall()
    return [
        Notice(
            key=f"unreachable:{company}:{plugin}:{since.isoformat()}",
            kind="unreachable",
            company=company,
            title=f"{company or 'wisesync'}: {plugin} has not answered since "
            f"{since:%Y-%m-%d %H:%M} UTC ({count} failed calls, last: {last})",
            hint=f"wisesync requests --plugin {plugin} --status failed --since 1d",
        )
        for company, plugin, since, count, last in rows
    ]


def service_down(service: str, since: datetime, reason: str) -> Notice:
    """Postgres or the transport unreachable from the daemon since ``since``."""
    return Notice(
        key=f"unreachable:{service}:{since.isoformat()}",
        kind="unreachable",
        company=None,
        title=f"wisesync cannot reach {service} since {since:%Y-%m-%d %H:%M} UTC",
        detail=reason,
        hint=f"check that {service} runs and accepts wisesync's connections; "
        "GET /readyz of wisesync run says what it sees",
    )
