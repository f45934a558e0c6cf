"""The ``notifier`` role: find new events, send each company one summary, remember it.

A pass (every ``notify.interval``) runs under a Postgres advisory lock, so two notifier
processes never both send. Per company it collects the events of the kinds the company
wants (:mod:`wisesync.notify.events`), drops those already sent on a channel (table
``notifications_sent``), sends the rest as one message per channel, and records each
event as sent on that channel. A channel that fails is tried again next pass; one that
succeeded is not sent the same event again, across restarts too.

Postgres and the transport are checked every pass as well: down longer than
``unreachable_after``, the global channels are told (remembered in memory until Postgres
can record it).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from wisesync.notify import events as found
from wisesync.notify.channels import DeliveryFailed, post_webhook, send_email
from wisesync.notify.events import Notice
from wisesync.notify.settings import EmailChannel, NotifyConfig, NotifySettings, WebhookChannel

log = logging.getLogger(__name__)

_LOCK_ID = 0x6E6F7469  # "noti"
#: events older than this are never announced (a first start, a long outage of the notifier)
LOOKBACK = timedelta(days=1)
#: how long a sent event is remembered; a state lasting longer (a connection still revoked
#: after 90 days) is announced again, as a reminder
SENT_KEEP = timedelta(days=90)


def channel_name(channel: EmailChannel | WebhookChannel) -> str:
    """``email`` or ``webhook``: the channel column of ``notifications_sent``."""
    return "email" if isinstance(channel, EmailChannel) else "webhook"


def compose(company: str | None, notices: list[Notice]) -> tuple[str, str]:
    """(subject, text) of one summary."""
    who = company or "wisesync"
    first = notices[0].title
    more = f" (+{len(notices) - 1} more)" if len(notices) > 1 else ""
    subject = f"wisesync: {first}{more}"
    if len(subject) > 180:
        subject = subject[:177] + "..."
    text = f"wisesync has {len(notices)} new event(s) for {who}:\n\n" + "\n\n".join(
        n.text() for n in notices
    )
    return subject, text


def deliver(
    channel: EmailChannel | WebhookChannel,
    company: str | None,
    notices: list[Notice],
    *,
    test: bool = False,
    environ: Mapping[str, str] | None = None,
    webhook_backoff_s: float = 1.0,
) -> None:
    """Send one summary of ``notices`` on ``channel`` (raises DeliveryFailed)."""
    subject, text = compose(company, notices)
    if isinstance(channel, EmailChannel):
        send_email(channel, subject, text, environ)
        return
    payload = {
        "text": f"*{subject}*\n{text}",
        "company": company,
        "test": test,
        "sent_at": datetime.now(UTC).isoformat(),
        "events": [n.as_dict() for n in notices],
    }
    post_webhook(channel, payload, environ, backoff_s=webhook_backoff_s)


class Notifier:
    """The role. ``checks`` are readiness checks (name -> callable returning True or the
    reason) of the services whose outage is announced (the service passes store, transport)."""

    def __init__(
        self,
        db: Any,
        config: Any,
        *,
        checks: Mapping[str, Callable[[], Any]] | None = None,
        interval_s: float | None = None,
        webhook_backoff_s: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        lifetimes: Mapping[str, timedelta] | None = None,
    ):
        self.db = db
        self.config = config
        self.notify: NotifyConfig = config.notify
        self.checks = dict(checks or {})
        #: refresh-token lifetime per ledger (its Target's ``refresh_token_lifetime``)
        self.lifetimes = dict(lifetimes or {})
        self.interval_s = interval_s if interval_s is not None else self.notify.default.interval_s
        self.webhook_backoff_s = webhook_backoff_s
        self.now = clock or (lambda: datetime.now(UTC))
        self._down_since: dict[str, datetime] = {}
        self._down_sent: set[str] = set()
        self.sent: list[tuple[str, str, list[str]]] = []  # (company, channel, keys) this process

    # -- the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Run a pass every ``interval_s`` until ``stop``."""
        if not self.notify.configured:
            log.info("notifier: no [notify] channel configured; nothing to send")
        while not stop.is_set():
            self.run_once()
            stop.wait(self.interval_s)

    def run_once(self) -> int:
        """One pass; the number of (event, channel) sends made."""
        if not self.notify.configured:
            return 0
        sent = self._check_services()
        import psycopg

        try:
            with self.db.connection() as conn:
                (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_ID,)).fetchone()
                conn.commit()
                if not got:
                    return sent  # another notifier is at it
                try:
                    sent += self._pass(conn)
                finally:
                    conn.rollback()
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
                    conn.commit()
        except psycopg.Error as exc:
            log.warning("notifier: the store failed during a pass (%s)", type(exc).__name__)
        return sent

    # -- one pass -----------------------------------------------------------------------------
    def _pass(self, conn: Any) -> int:
        now = self.now()
        conn.execute("DELETE FROM notifications_sent WHERE sent_at < %s", (now - SENT_KEEP,))
        conn.commit()
        by_company: dict[str | None, list[Notice]] = defaultdict(list)
        for notice in self._find(conn, now):
            by_company[notice.company].append(notice)
        sends = 0
        for company, notices in by_company.items():
            settings = self.notify.for_company(company)
            wanted = [n for n in notices if n.kind in settings.events]
            for channel in settings.channels:
                sends += self._send_new(conn, company, channel, wanted)
        return sends

    def _find(self, conn: Any, now: datetime) -> list[Notice]:
        since = now - LOOKBACK
        kinds = set(self.notify.default.events).union(
            *(s.events for s in self.notify.companies.values())
        )
        notices: list[Notice] = []
        if "run_failed" in kinds:
            notices += found.run_failures(conn, since)
        if "dead_letters" in kinds:
            notices += found.dead_letters(conn, since)
        if "connection" in kinds:
            notices += self._by_own_threshold(
                lambda s: found.connections(
                    conn, now, timedelta(seconds=s.connection_warn_s), self.lifetimes
                )
            )
        if "unreachable" in kinds:
            notices += self._by_own_threshold(
                lambda s: found.unreachable_apis(
                    conn, now, timedelta(seconds=s.unreachable_after_s)
                )
            )
        return notices

    def _by_own_threshold(self, find: Callable[[NotifySettings], list[Notice]]) -> list[Notice]:
        """The notices ``find`` gives with each company's own settings (a company may set its
        own ``unreachable_after`` or ``connection_warn``), each company's once."""
        out: dict[str, Notice] = {}
        for settings in [self.notify.default, *self.notify.companies.values()]:
            for notice in find(settings):
                if self.notify.for_company(notice.company) == settings:
                    out.setdefault(notice.key, notice)
        return list(out.values())

    def _send_new(
        self,
        conn: Any,
        company: str | None,
        channel: EmailChannel | WebhookChannel,
        notices: list[Notice],
    ) -> int:
        name = channel_name(channel)
        keys = [n.key for n in notices]
        if not keys:
            return 0
        done = {
            row[0]
            for row in conn.execute(
                "SELECT event_key FROM notifications_sent WHERE channel = %s "
                "AND event_key = ANY(%s)",
                (name, keys),
            )
        }
        new = [n for n in notices if n.key not in done]
        if not new:
            return 0
        try:
            deliver(channel, company, new, webhook_backoff_s=self.webhook_backoff_s)
        except DeliveryFailed as exc:
            log.warning("notifier: %s for %s not sent: %s", name, company or "wisesync", exc)
            return 0
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO notifications_sent (event_key, channel, company, kind, title) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(n.key, name, n.company, n.kind, n.title[:500]) for n in new],
            )
        conn.commit()
        self.sent.append((company or "", name, [n.key for n in new]))
        return len(new)

    # -- Postgres and the transport -----------------------------------------------------------
    def _check_services(self) -> int:
        """Track outages of the checked services; announce one that lasts too long."""
        now = self.now()
        after = timedelta(seconds=self.notify.default.unreachable_after_s)
        sends = 0
        for name, check in self.checks.items():
            try:
                outcome = check()
            except Exception as exc:
                outcome = type(exc).__name__
            if outcome is None or outcome is True:
                self._down_since.pop(name, None)
                continue
            since = self._down_since.setdefault(name, now)
            notice = found.service_down(name, since, str(outcome)[:300])
            if now - since < after or notice.key in self._down_sent:
                continue
            if "unreachable" not in self.notify.default.events:
                continue
            for channel in self.notify.default.channels:
                try:
                    deliver(channel, None, [notice], webhook_backoff_s=self.webhook_backoff_s)
                    sends += 1
                except DeliveryFailed as exc:
                    log.warning("notifier: outage of %s not announced: %s", name, exc)
            self._down_sent.add(notice.key)
        return sends

    def close(self) -> None:
        """Nothing held between passes."""
