"""Console test and benchmark helpers: a backend without sandboxes, results fed to the real
reporter, signed-in test clients.

>>> backend = offline_backend(dsn, ["acme", "globex"])              # doctest: +SKIP
>>> feed(backend.db, seeded_run("acme", 10_000))                     # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from wisesync.config import parse_config
from wisesync.events.codec import Codec
from wisesync.events.models import (
    PostingResult,
    RecordType,
    Status,
    SyncRun,
    Trigger,
    new_id,
    utcnow,
)
from wisesync.messages import message
from wisesync.store import migrate
from wisesync.store.db import Database
from wisesync.transport.base import Message as BusMessage

CODEC = Codec()
#: The Wise-Sync cases a seeded run cycles through: (status, codes).
CASES: tuple[tuple[Status, tuple[str, ...]], ...] = (
    (Status.POSTED, ()),
    (Status.POSTED, ("ROUNDING_APPLIED",)),
    (Status.POSTED, ("ADJUSTMENT_APPLIED",)),
    (Status.POSTED, ("TERMS_XREF",)),
    (Status.POSTED, ("NO_BILLING_CONTACT",)),
    (Status.FAILED, ("GL_MAPPING_MISSING",)),
    (Status.FAILED, ("LEDGER_ACCOUNT_MISSING",)),
    (Status.FAILED, ("AUTH_TOKEN_INVALID",)),
    (Status.HELD, ("BILLING_STATUS_HOLD",)),
    (Status.POSTED, ()),
)


def offline_backend(dsn: str, companies: Iterable[str], **company_options: Any) -> Any:
    """A console :class:`~wisesync.console.jobs.Backend` on ``dsn`` (migrated) with the
    embedded transport and ``companies`` (the installed ledger; no sandbox, no plugin
    checks)."""
    from wisesync.console.jobs import Backend
    from wisesync.daemon import connect_transport
    from wisesync.plugins import registry
    from wisesync.testing.ledger import default_ledger

    ledger = default_ledger(registry())
    config = parse_config(
        {
            "companies": [
                {"key": k, "name": k.title(), "ledger": ledger, **company_options}
                for k in companies
            ]
        },
        environ={"WISESYNC_DSN": dsn},
    )
    db = Database(dsn, max_size=8)
    with db.connection() as conn:
        migrate.migrate(conn)
    return Backend(
        config=config, db=db, registry=registry(), transport=connect_transport(config, dsn)
    )


def seeded_run(
    company: str,
    records: int,
    *,
    run_id: str | None = None,
    description: str | None = None,
    target: str | None = None,
) -> list[Any]:
    """A finished Sync All of ``records`` invoices cycling through :data:`CASES` (its
    manifest last). ``description`` replaces the first failed record's message text."""
    from wisesync.plugins import registry
    from wisesync.testing.ledger import default_ledger

    ledger = default_ledger(registry())
    run_id = run_id or new_id()
    items: list[Any] = []
    counts = {"invoice": 0}
    held = 0
    for i in range(records):
        status, codes = CASES[i % len(CASES)]
        sid = str(1000 + i)
        text = f"{{code}} on invoice INV-{sid}"
        if description is not None and status is Status.FAILED and i == 5:
            text = description
        items.append(
            PostingResult(
                record_event_id=new_id(),
                run_id=run_id,
                company=company,
                record_type=RecordType.INVOICE,
                source="connectwise",
                source_id=sid,
                target=target or ledger,
                status=status,
                trigger=Trigger.SYNC_ALL,
                document_number=f"INV-{sid}",
                ledger_id=f"x-{sid}" if status is Status.POSTED else None,
                ledger_number=f"INV-{sid}" if status is Status.POSTED else None,
                messages=[message(c, text.format(code=c.lower())) for c in codes],
                finished_at=utcnow(),
            )
        )
        if status is Status.HELD:
            held += 1
        else:
            counts["invoice"] += 1
    items.append(
        SyncRun(
            run_id,
            company,
            Trigger.SYNC_ALL,
            "test",
            ["invoice"],
            counts,
            {"invoice": held} if held else {},
            finished_at=utcnow(),
        )
    )
    return items


def feed(db: Database, items: list[Any], *, batch: int = 2000) -> None:
    """Store results and run manifests through the real reporter (no transport)."""
    from wisesync.pipeline.reporter import Reporter

    class _NoPlugins:
        sources: dict = {}
        manager = None

    reporter = Reporter(db, None, CODEC, registry=_NoPlugins(), ack_sources=())
    topic = {PostingResult: "wisesync.results.v1", SyncRun: "wisesync.runs.v1"}
    offset = _next_offset(db)
    for start in range(0, len(items), batch):
        msgs = []
        for obj in items[start : start + batch]:
            msgs.append(
                BusMessage(
                    topic[type(obj)], 0, offset, obj.company.encode(), CODEC.encode(obj), [], 0
                )
            )
            offset += 1
        reporter.store(msgs)


def _next_offset(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute(
            "SELECT max(next_offset) FROM reporter_offsets WHERE group_id = 'wisesync-reporter'"
        ).fetchone()
    return int(row[0] or 0) if row else 0


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: Any, username: str, password: str) -> Any:
    """Sign ``client`` (a Starlette TestClient or httpx client) in; the response."""
    token = csrf_of(client.get("/signin").text)
    return client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
