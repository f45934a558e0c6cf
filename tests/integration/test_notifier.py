"""The notifier role on a real run: each company is told once per event, by e-mail (a real
SMTP server with STARTTLS and AUTH) and by a signed webhook, and a restart sends nothing
again (real Postgres, both sandboxes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from wisesync.config import parse_config
from wisesync.notify.notifier import Notifier
from wisesync.testing.notify_servers import SmtpServer, WebhookReceiver
from wisesync.testing.stack import CompanySpec, Stack
from wisesync_xero.target import XeroTarget

PASSWORD = "smtp-canary-pw-4410"
SECRET = "hook-canary-secret-9023"
#: when the notifier looks: ConnectWise has failed for longer than unreachable_after by then
LATER = timedelta(minutes=20)
#: a few ordinary records plus the seeded cases, some of which fail
BOOKS = {"invoices": 4, "expenses": 1, "procurement": 1, "customers": 3, "cases": True}


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    with SmtpServer(tmp_path, users={"bot": PASSWORD}) as smtp, WebhookReceiver(SECRET) as hook:
        for name, value in {**hook.environ(), "SMTP_PW": PASSWORD}.items():
            monkeypatch.setenv(name, value)
        yield smtp, hook


def _notify_config(smtp: SmtpServer) -> dict:
    return {
        "unreachable_after": "10m",
        "email": smtp.table("SMTP_PW"),
        "webhook": {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    }


#: what the daemon reads from the installed targets
LIFETIMES = {"xero": XeroTarget.refresh_token_lifetime}


def _later() -> datetime:
    return datetime.now(UTC) + LATER


def _dead_letter(conn: psycopg.Connection, offset: int) -> None:
    conn.execute(
        """INSERT INTO dead_letters (topic, partition, "offset", original_topic,
               original_partition, original_offset, company, error_class, error_text,
               consumer_group, first_seen, record_type, source_id)
           VALUES ('wisesync.dlq.v1', 0, %s, 'wisesync.records.v1', 0, %s, 'acme',
                   'DecodeError', 'bad bytes', 'g', now(), 'invoice', %s)""",
        (offset, offset, f"99{offset}"),
    )


def _plant_events(conn: psycopg.Connection) -> None:
    """What the run did not produce by itself: a dead letter, a revoked connection, and
    ConnectWise failing from a minute after the run on (the notifier looks 20 minutes
    later: :data:`LATER`)."""
    _dead_letter(conn, 1)
    revoked = conn.execute(  # what the token store does when Xero refuses the refresh
        "UPDATE oauth_tokens SET status = 'invalid', status_reason = 'invalid_grant', "
        "updated_at = now() WHERE company = 'acme' AND provider = 'xero'"
    )
    assert revoked.rowcount == 1
    start = datetime.now(UTC) + timedelta(minutes=1)
    for i in range(3):
        conn.execute(
            """INSERT INTO api_requests (at, company, plugin, system, method, host, path,
                   status, error, duration_ms, retry)
               VALUES (%s, 'acme', 'connectwise', 'ConnectWise', 'GET', 'h', '/x', NULL,
                       'ConnectionError', 5, 0)""",
            (start + timedelta(minutes=5 * i),),
        )


def test_each_event_is_sent_once_per_channel_even_after_a_restart(pg_database, servers) -> None:
    smtp, hook = servers
    spec = CompanySpec("acme", seed=3, sandbox_options={"connectwise": BOOKS})
    with Stack([spec], dsn=pg_database, extra_config={"notify": _notify_config(smtp)}) as stack:
        with stack.service():
            run = stack.sync("acme")
            review = stack.wait(run)
        assert any(r.status == "failed" for r in review.rows), "the seeded cases fail"
        with psycopg.connect(pg_database, autocommit=True) as conn:
            _plant_events(conn)

        notifier = Notifier(
            stack.db, stack.config, lifetimes=LIFETIMES, webhook_backoff_s=0.01, clock=_later
        )
        sends = notifier.run_once()

        (mail,) = smtp.messages
        body = mail.get_content()
        (payload,) = hook.received
        kinds = sorted(e["kind"] for e in payload["events"])
        assert kinds == ["connection", "dead_letters", "run_failed", "unreachable"]
        assert sends == 8  # four events, two channels
        assert f"wisesync results --run {run.run_id} --status failed" in body
        assert "the xero connection was revoked or refused" in body
        assert "invoice 991 is in the dead-letter topic" in body
        assert "connectwise has not answered since" in body
        assert payload["text"].startswith(f"*{mail['Subject']}*\nwisesync has 4 new event(s)")
        assert PASSWORD not in body and SECRET not in str(payload)

        assert notifier.run_once() == 0
        restarted = Notifier(
            stack.db, stack.config, lifetimes=LIFETIMES, webhook_backoff_s=0.01, clock=_later
        )
        assert restarted.run_once() == 0
        assert (len(smtp.messages), len(hook.received)) == (1, 1)

        with psycopg.connect(pg_database, autocommit=True) as conn:
            _dead_letter(conn, 2)
        assert restarted.run_once() == 2
        assert [e["key"] for e in hook.received[1]["events"]] == [
            "dead_letters:wisesync.dlq.v1:0:2"
        ]
        assert "invoice 992" in smtp.messages[1].get_content()


def test_a_failing_channel_is_tried_again_and_the_other_is_not_repeated(
    pg_database, servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp, hook = servers
    spec = CompanySpec("acme", seed=3, sandbox_options={"connectwise": BOOKS})
    with Stack([spec], dsn=pg_database, extra_config={"notify": _notify_config(smtp)}) as stack:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            _dead_letter(conn, 7)
        monkeypatch.setenv("SMTP_PW", "wrong")
        notifier = Notifier(stack.db, stack.config, lifetimes=LIFETIMES, webhook_backoff_s=0.01)
        assert notifier.run_once() == 1  # the webhook only
        assert smtp.messages == [] and len(hook.received) == 1
        monkeypatch.setenv("SMTP_PW", PASSWORD)
        assert notifier.run_once() == 1  # now the e-mail, and the webhook not again
        assert len(smtp.messages) == 1 and len(hook.received) == 1


def test_the_notifier_role_of_the_service_sends(pg_database, servers) -> None:
    smtp, hook = servers
    spec = CompanySpec("acme", seed=3, sandbox_options={"connectwise": BOOKS})
    with Stack([spec], dsn=pg_database, extra_config={"notify": _notify_config(smtp)}) as stack:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            _dead_letter(conn, 11)
        options = {"interval_s": 0.2, "webhook_backoff_s": 0.01}
        with stack.service(roles=("notifier",), notifier=options) as service:
            deadline = time.monotonic() + 60
            while not hook.received and time.monotonic() < deadline and service.alive():
                time.sleep(0.1)
        assert [e["key"] for e in hook.received[0]["events"]] == [
            "dead_letters:wisesync.dlq.v1:0:11"
        ]


def test_an_outage_of_postgres_is_announced_once_after_the_threshold(servers) -> None:
    smtp, hook = servers

    class Unreachable:  # what the pool does while Postgres is down
        def connection(self):
            raise psycopg.OperationalError("connection refused")

    now = [datetime(2026, 1, 1, 9, 0, tzinfo=UTC)]
    config = parse_config({"notify": _notify_config(smtp)}, environ={})
    notifier = Notifier(
        Unreachable(),
        config,
        checks={"Postgres": lambda: "connection refused"},
        webhook_backoff_s=0.01,
        clock=lambda: now[0],
    )
    assert notifier.run_once() == 0  # down since 09:00
    now[0] += timedelta(minutes=9)
    assert notifier.run_once() == 0  # not yet ten minutes
    now[0] += timedelta(minutes=2)
    assert notifier.run_once() == 2  # e-mail and webhook
    assert notifier.run_once() == 0
    assert hook.received[0]["events"][0]["title"] == (
        "wisesync cannot reach Postgres since 2026-01-01 09:00 UTC"
    )
    assert "connection refused" in smtp.messages[0].get_content()


def test_expiring_connections_and_each_companys_own_outage_threshold(pg_database, servers) -> None:
    from wisesync.store import migrate
    from wisesync.store.db import Database

    smtp, hook = servers
    config = parse_config(
        {
            "notify": _notify_config(smtp),
            "companies": [
                {"key": "acme", "ledger": "xero"},
                {"key": "globex", "ledger": "xero", "notify": {"unreachable_after": "1h"}},
            ],
        },
        environ={},
    )
    now = datetime.now(UTC)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        migrate.migrate(conn)
        for company, idle_days in (("acme", 55), ("globex", 40)):  # Xero: 60 days unused
            conn.execute(
                "INSERT INTO oauth_tokens (company, provider, token, updated_at) "
                "VALUES (%s, 'xero', '\\x00', %s)",
                (company, now - timedelta(days=idle_days)),
            )
        for company in ("acme", "globex"):  # both down for 20 minutes
            conn.execute(
                """INSERT INTO api_requests (at, company, plugin, system, method, host, path,
                       status, duration_ms, retry)
                   VALUES (%s, %s, 'xero', 'Xero', 'GET', 'h', '/x', 503, 5, 0)""",
                (now - timedelta(minutes=20), company),
            )
    with Database(pg_database) as db:
        Notifier(db, config, lifetimes=LIFETIMES, webhook_backoff_s=0.01).run_once()
    events = [e for payload in hook.received for e in payload["events"]]
    assert sorted((e["company"], e["kind"]) for e in events) == [
        ("acme", "connection"),
        ("acme", "unreachable"),
    ]
    expiring = next(e for e in events if e["kind"] == "connection")
    assert expiring["title"].startswith("acme: the xero connection expires ")
    assert expiring["hint"] == "wisesync xero connect --company acme"
