"""The request log holds every call a run makes to ConnectWise and Xero, attributed to its
company, plugin and records, with nothing secret or personal in it (real Postgres, both
sandboxes, the embedded transport)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from wisesync.events.models import Status
from wisesync.requestlog.redact import configured_secrets
from wisesync.requestlog.store import RequestFilter, find
from wisesync.testing.stack import CompanySpec, Stack

SMALL = {"invoices": 8, "expenses": 2, "procurement": 2, "customers": 4, "cases": False}
WISESYNC = Path(sys.executable).with_name("wisesync")


def _stack(pg_database: str, **extra: object) -> Stack:
    spec = CompanySpec("acme", seed=5, sandbox_options={"connectwise": SMALL})
    return Stack([spec], dsn=pg_database, extra_config=dict(extra))


@pytest.fixture
def ran(pg_database: str) -> Iterator[tuple[Stack, object]]:
    """A stack after one Sync All that posted and acknowledged everything."""
    with _stack(pg_database) as stack:
        with stack.service():
            run = stack.sync("acme")
            review = stack.wait(run)
        yield stack, (run, review)


def _rows(stack: Stack, **flt: object) -> list[dict]:
    with psycopg.connect(stack.dsn) as conn:
        return find(conn, RequestFilter(limit=100_000, **flt))


def test_every_call_of_a_run_is_in_the_request_log(ran) -> None:
    stack, (run, _review) = ran
    served = Counter()
    for server in stack.sandboxes.values():
        served.update((m, urlsplit(p).path, s) for m, p, s in server.app.log)
    rows = _rows(stack)
    logged = Counter((r["method"], urlsplit(r["path"]).path, r["status"]) for r in rows)
    assert sum(served.values()) > 10
    assert logged == served
    assert {r["company"] for r in rows} == {"acme"}
    assert {r["plugin"] for r in rows} == {"connectwise", "xero"}
    extraction = [r for r in rows if r["run_id"] == run.run_id and r["plugin"] == "connectwise"]
    assert extraction, "the extraction's calls carry the run id"
    xero_api = [r for r in rows if r["plugin"] == "xero" and "/api.xro/" in r["path"]]
    assert xero_api and all(r["correlation_id"] for r in xero_api)
    assert all(r["request_body"] is None and r["response_body"] is None for r in rows)


def test_a_results_record_links_to_the_calls_that_posted_it(ran) -> None:
    stack, (_run, review) = ran
    posted = [r for r in review.rows if r.status == Status.POSTED and r.record_type == "invoice"]
    assert posted
    record = f"invoice:{posted[0].source_id}"
    calls = _rows(stack, record=record)
    assert any(r["plugin"] == "xero" and r["method"] in ("POST", "PUT") for r in calls)
    assert all(record in r["records"] for r in calls)
    assert any(posted[0].record_event_id in r["event_ids"] for r in calls)
    by_event = _rows(stack, event_id=posted[0].record_event_id)
    assert by_event and {r["id"] for r in by_event} <= {r["id"] for r in calls}


def test_nothing_secret_is_stored_even_with_debug_bodies(pg_database: str) -> None:
    with _stack(pg_database, requests={"debug_bodies": True}) as stack:
        with stack.service():
            stack.wait(stack.sync("acme"))
        secrets = configured_secrets(stack.config)
        with psycopg.connect(stack.dsn) as conn:
            dump = json.dumps(conn.execute("SELECT * FROM api_requests").fetchall(), default=str)
    assert secrets, "the sandboxes' credentials are configured secrets"
    assert '"request_body"' not in dump  # (a row dump, not a dict)
    assert "/api.xro/" in dump and "***" in dump
    for secret in secrets:
        assert secret not in dump
    assert "@" not in dump.replace("%40", ""), "no e-mail address survives redaction"


def test_requests_cli_filters_and_exit_codes(ran, tmp_path: Path) -> None:
    stack, (run, _review) = ran
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")},
        **stack.write_config(tmp_path / "wisesync.toml"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WISESYNC), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    listed = cli("requests", "--company", "acme", "--plugin", "xero", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)["requests"]
    assert doc and {r["plugin"] for r in doc} == {"xero"}
    assert cli("requests", "--status", "5xx").returncode == 1  # none matched
    bad = cli("requests", "--company", "nosuch")
    assert bad.returncode == 2 and "acme" in bad.stderr
    assert cli("requests", "--status", "teapot").returncode == 2
    assert cli("requests", "--record", "invoice").returncode == 2
    text = cli("requests", "--run", run.run_id, "--limit", "3")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 3

    before = {r["id"] for r in _rows(stack)}
    synced = cli("sync-all", "--company", "acme", "--json")
    assert synced.returncode == 0, synced.stderr
    new = [r for r in _rows(stack) if r["id"] not in before]
    assert new, "a command's own calls are recorded too"
    assert {r["company"] for r in new} == {"acme"}
    assert any(r["plugin"] == "connectwise" and r["run_id"] for r in new)


def test_entries_older_than_keep_are_pruned(pg_database: str) -> None:
    from datetime import UTC, datetime, timedelta

    from wisesync.requestlog.store import RequestEntry, RequestLogWriter
    from wisesync.store import migrate

    with psycopg.connect(pg_database) as conn:
        migrate.migrate(conn)

    def entry(age: timedelta) -> RequestEntry:
        return RequestEntry(
            datetime.now(UTC) - age, "acme", "xero", "Xero", "GET", "h", "/p", 200, None, 5, 0,
            None, None, [], [],
        )  # fmt: skip

    writer = RequestLogWriter(pg_database, keep_seconds=86400, prune_every_s=0)
    try:
        writer.put(entry(timedelta(days=3)))
        writer.put(entry(timedelta(hours=1)))
        assert writer.flush()
        assert writer.flush()  # the pass after the write prunes
    finally:
        writer.close()
    with psycopg.connect(pg_database) as conn:
        ages = conn.execute("SELECT now() - at FROM api_requests").fetchall()
    assert len(ages) == 1 and ages[0][0] < timedelta(days=1)
