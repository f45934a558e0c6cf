"""``wisesync replay`` as an operator runs it: a real subprocess against a real Postgres, with
the ConnectWise and Xero sandboxes of a :class:`~wisesync.testing.stack.Stack` in this process.

- ``--dry-run`` lists what would be replayed and changes nothing;
- without ``--yes`` and without a terminal it refuses (exit 2), changing nothing;
- ``--yes`` re-extracts and posts the record whose ledger error was fixed, exactly once;
- ``--rewind`` is refused while the consumer group has live members and works once it has
  none, on the embedded transport and on Kafka.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wisesync.testing.stack import CompanySpec, Stack

WISESYNC = Path(sys.executable).with_name("wisesync")
COMPANY = "northwind"
SPEC = dict(
    name="Northwind IT",
    hold_billing_statuses=["Finance Hold"],
    options={"require_item_code": True},
)


class Deployment:
    """A stack, its config file and the environment a ``wisesync`` subprocess needs."""

    def __init__(self, stack: Stack, workdir: Path) -> None:
        self.stack = stack
        self.workdir = workdir
        self.config_file = workdir / "wisesync.toml"
        self.env = stack.write_config(self.config_file)

    def run(
        self, *args: str, drop_env: tuple[str, ...] = (), timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``wisesync --config <file> ARGS`` with no terminal on stdin."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
        env = {**base, **{k: v for k, v in self.env.items() if k not in drop_env}}
        return subprocess.run(
            [str(WISESYNC), "--config", str(self.config_file), *args],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def snapshot(stack: Stack) -> dict[str, Any]:
    """Everything a replay could change: the store, the transport log and offsets, Xero."""
    out: dict[str, Any] = {}
    with stack.db.connection() as conn:
        for table in ("sync_runs", "attempts", "acknowledgements", "transport_log"):
            out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        out["records"] = conn.execute(
            "SELECT record_type, source_id, status, attempts, last_result_id FROM records "
            "ORDER BY 1, 2"
        ).fetchall()
        out["journal"] = conn.execute(
            "SELECT record_type, source_id, state, attempts FROM posting_journal ORDER BY 1, 2"
        ).fetchall()
        out["offsets"] = conn.execute(
            "SELECT group_id, topic, partition, next_offset FROM transport_offsets ORDER BY 1, 2, 3"
        ).fetchall()
    out["xero_documents"] = stack.sandbox("xero", COMPANY).app.documents_count()
    return out


@pytest.fixture
def synced(pg_database: str, tmp_path: Path) -> Iterator[tuple[Deployment, Any]]:
    """A deployment after one Sync All of the seeded company (some records failed)."""
    with Stack([CompanySpec(COMPANY, **SPEC)], dsn=pg_database, partitions=2) as stack:
        with stack.service():
            review = stack.wait(stack.sync(COMPANY))
        yield Deployment(stack, tmp_path), review


def replayable(review: Any) -> list[Any]:
    """Failed and held records, but not one combined into another's document (an expense
    bill's expenses): the document's own record stands for it."""
    return [
        r
        for r in review.rows
        if r.status in ("failed", "held")
        and "SOURCE_RECORD_COMBINED" not in {m.code for m in r.messages}
    ]


def test_dry_run_lists_and_changes_nothing(synced: tuple[Deployment, Any]) -> None:
    deployment, review = synced
    wanted = replayable(review)
    assert len(wanted) >= 5
    before = snapshot(deployment.stack)

    shown = deployment.run("replay", "--failed", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert f"{len(wanted)} record(s) to replay" in shown.stdout
    assert "LEDGER_ACCOUNT_MISSING" in shown.stdout and COMPANY in shown.stdout

    as_json = deployment.run("replay", "--failed", "--dry-run", "--json")
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert listed["dry_run"] is True
    assert sorted((w["record_type"], w["source_id"]) for w in listed["records"]) == sorted(
        (r.record_type, r.source_id) for r in wanted
    )
    assert all(w["attempt"] == 2 for w in listed["records"])

    narrowed = deployment.run(
        "replay", "--failed", "--code", "GL_MAPPING_MISSING", "--dry-run", "--json"
    )
    gl = [r for r in wanted if any(m.code == "GL_MAPPING_MISSING" for m in r.errors())]
    assert len(json.loads(narrowed.stdout)["records"]) == len(gl) >= 1

    assert snapshot(deployment.stack) == before


def test_without_yes_and_no_terminal_it_refuses(synced: tuple[Deployment, Any]) -> None:
    deployment, _ = synced
    before = snapshot(deployment.stack)
    refused = deployment.run("replay", "--failed")
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert snapshot(deployment.stack) == before


def test_yes_replays_the_fixed_record_once(synced: tuple[Deployment, Any]) -> None:
    deployment, review = synced
    stack = deployment.stack
    missing = [
        r
        for r in review.rows
        if r.status == "failed" and any(m.code == "LEDGER_ACCOUNT_MISSING" for m in r.errors())
    ]
    on_4999 = [r for r in missing if any("4999" in m.text for m in r.errors())]
    assert on_4999 and len(missing) > len(on_4999)
    untouched = {r.source_id for r in replayable(review)} - {r.source_id for r in missing}
    before = snapshot(stack)
    xero = stack.sandbox("xero", COMPANY).app
    xero.create_account("4999", "Consulting Revenue", "REVENUE")  # the fix, at the ledger

    done = deployment.run("replay", "--failed", "--code", "LEDGER_ACCOUNT_MISSING", "--yes")
    # Exit 1: the other LEDGER_ACCOUNT_MISSING records still fail (their accounts are unfixed).
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    assert "Replay: " in done.stdout
    assert "before and after the replay" in done.stdout

    after = snapshot(stack)
    records = {(t, sid): (status, attempts) for t, sid, status, attempts, _ in after["records"]}
    for row in on_4999:
        assert records[(row.record_type, row.source_id)] == ("posted", 2)
        assert xero.invoice_by_number(row.document_number) is not None
    for row in missing:
        if row not in on_4999:
            assert records[(row.record_type, row.source_id)] == ("failed", 2)
    for t, sid, status, attempts, result_id in before["records"]:
        if sid in untouched:
            assert (t, sid, status, attempts, result_id) in after["records"]
    # Exactly once at the ledger: one new document per fixed record, nothing else.
    assert after["xero_documents"] == before["xero_documents"] + len(on_4999)
    with stack.db.connection() as conn:
        triggers = conn.execute(
            "SELECT DISTINCT trigger, requested_by FROM sync_runs WHERE run_id <> %s",
            (review.filter.run_id,),
        ).fetchall()
    assert [t for t, _ in triggers] == ["replay"]

    # Replaying again changes nothing at the ledger: the posted record is no longer selected.
    again = deployment.run("replay", "--failed", "--code", "LEDGER_ACCOUNT_MISSING", "--dry-run")
    assert f"{len(missing) - len(on_4999)} record(s) to replay" in again.stdout


@pytest.mark.parametrize("kind", ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_rewind_refused_while_the_group_is_live_then_done(
    kind: str, pg_database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bootstrap = request.getfixturevalue("kafka_bootstrap") if kind == "kafka" else None
    with Stack(
        [CompanySpec(COMPANY)], dsn=pg_database, transport=kind, kafka_bootstrap=bootstrap
    ) as stack:
        deployment = Deployment(stack, tmp_path)
        group = stack.config.group_for("poster")
        topic = stack.config.topics.records
        admin = stack.transport.admin()
        with stack.transport.producer() as producer:
            for p in range(stack.partitions):
                for i in range(3):
                    producer.send(topic, None, f"m{i}".encode(), partition=p)
            producer.flush(30)
        live = stack.transport.consumer(group, [topic], session_timeout_s=6.0)
        try:
            got = 0
            while got < 3 * stack.partitions:
                batch = live.poll(1.0)
                got += len(batch)
                live.commit_messages(batch)
            assert admin.committed(group, topic) == {p: 3 for p in range(stack.partitions)}
            # Kafka needs no store for a rewind: without a DSN nothing may start a Postgres.
            drop = ("WISESYNC_DSN",) if kind == "kafka" else ()
            refused = deployment.run(
                "replay", "--rewind", "--group", group, "--to-offset", "0", drop_env=drop
            )
            assert refused.returncode == 1, refused.stderr
            assert "cannot rewind" in refused.stderr and "live member" in refused.stderr
            assert admin.committed(group, topic) == {p: 3 for p in range(stack.partitions)}
        finally:
            live.close()
        assert not admin.group_has_live_members(group)
        done = deployment.run(
            "replay", "--rewind", "--group", group, "--to-offset", "0", drop_env=drop
        )
        assert done.returncode == 0, done.stderr
        assert f"{group} on wisesync.records.v1 rewound to 0" in done.stdout
        assert admin.committed(group, topic) == {p: 0 for p in range(stack.partitions)}
        assert not (tmp_path / ".wisesync").exists()

        usage = deployment.run("replay", "--rewind", "--group", group)
        assert usage.returncode == 2 and "--to-time, --to-offset" in usage.stderr
