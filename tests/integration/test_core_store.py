"""Store on a real Postgres: migrations (once, recorded, checksummed, concurrent), audited
options, and ``wisesync db migrate`` / ``db status`` / ``options`` through the CLI."""

from __future__ import annotations

import getpass
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from wisesync.cli import _add_core_commands, cli
from wisesync.config import parse_config
from wisesync.plugins import registry
from wisesync.store import db as store_db
from wisesync.store.db import Database
from wisesync.store.migrate import MIGRATIONS_DIR, MigrationError, available, migrate, status
from wisesync.store.options import OptionsStore

pytestmark = pytest.mark.postgres

_add_core_commands()


@pytest.fixture
def conn(pg_database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_database) as connection:
        yield connection


def applied_versions(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version")
    result = [(r[0], r[1]) for r in rows]
    conn.commit()
    return result


# --- migrations -------------------------------------------------------------------------------


def test_migrate_applies_every_file_once_and_records_it(conn: psycopg.Connection) -> None:
    files = available()
    assert files, "no migration files found"
    assert [m.path.name for m in files] == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    before = status(conn)
    assert all(m.applied_at is None for m in before)
    done = migrate(conn)
    assert [m.version for m in done] == [m.version for m in files]
    assert applied_versions(conn) == [(m.version, m.checksum) for m in files]
    assert all(m.applied_at is not None for m in status(conn))
    # the tables exist
    tables = {
        r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    }
    assert {"company_options", "options_audit", "schema_migrations"} <= tables
    conn.commit()
    assert migrate(conn) == []  # second run: nothing to do
    assert len(applied_versions(conn)) == len(files)


def test_edited_applied_migration_is_refused_naming_the_file(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    migrate(conn, directory)
    edited = sorted(directory.glob("*.sql"))[0]
    edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(MigrationError) as info:
        migrate(conn, directory)
    assert edited.name in str(info.value)
    assert "new migration" in str(info.value)  # says how to fix it
    with pytest.raises(MigrationError, match=edited.name):
        status(conn, directory)


def test_a_failing_migration_is_rolled_back_and_named(
    conn: psycopg.Connection, tmp_path: Path, pg_database: str
) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE first_table (id int);")
    bad = tmp_path / "0002_bad.sql"
    bad.write_text("CREATE TABLE second_table (id int);\nSELECT no_such_column FROM first_table;")
    with pytest.raises(MigrationError) as info:
        migrate(conn, tmp_path)
    assert "0002_bad.sql" in str(info.value) and "no_such_column" in str(info.value)
    assert [v for v, _ in applied_versions(conn)] == ["0001"]
    exists = conn.execute("SELECT to_regclass('second_table') IS NOT NULL").fetchone()[0]
    conn.commit()
    assert exists is False  # the failed file left nothing behind
    with psycopg.connect(pg_database, autocommit=True) as other:  # the lock was released
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (0x77697365,)).fetchone()[0]
        other.execute("SELECT pg_advisory_unlock(%s)", (0x77697365,))
    bad.write_text("CREATE TABLE second_table (id int);")
    assert [m.name for m in migrate(conn, tmp_path)] == ["bad"]


def test_concurrent_migrate_applies_each_file_once(pg_database: str) -> None:
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(pg_database) as connection:
                barrier.wait(10)
                results.append([m.version for m in migrate(connection)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 2
    versions = [m.version for m in available()]
    assert sorted(results[0] + results[1]) == sorted(versions)  # once in total
    assert [] in results  # the second migrator found nothing left
    with psycopg.connect(pg_database) as connection:
        assert [v for v, _ in applied_versions(connection)] == versions


# --- options ------------------------------------------------------------------------------


@pytest.fixture
def database(migrated_database: Database) -> Database:
    return migrated_database


def test_options_set_get_and_audit(database: Database) -> None:
    store = OptionsStore(database)
    assert store.get("acme", "sync_all") is None
    store.set("acme", "sync_all", "on", changed_by="alice")
    assert store.get("acme", "sync_all") == "on"
    store.set("acme", "sync_all", "off", changed_by="bob")
    store.set("globex", "sync_all", "on", changed_by="carol")
    assert store.get("acme", "sync_all") == "off"
    assert store.get("globex", "sync_all") == "on"
    audit = store.audit("acme")
    assert [(r["name"], r["old_value"], r["new_value"], r["changed_by"]) for r in audit] == [
        ("sync_all", None, "on", "alice"),
        ("sync_all", "on", "off", "bob"),
    ]
    assert audit[0]["changed_at"] <= audit[1]["changed_at"]
    assert [r["changed_by"] for r in store.audit("globex")] == ["carol"]


def test_sync_all_stored_option_overrides_the_file(database: Database) -> None:
    config = parse_config(
        {
            "companies": [
                {"key": "acme", "ledger": "x"},
                {"key": "beta", "ledger": "x", "sync_all": True},
            ]
        },
        environ={},
    )
    acme, beta = config.companies
    store = OptionsStore(database)
    assert store.sync_all(acme) is False  # disabled by default
    assert store.sync_all(beta) is True  # the file enables it
    store.set("acme", "sync_all", "on", changed_by="admin")
    store.set("beta", "sync_all", "off", changed_by="admin")
    assert store.sync_all(acme) is True
    assert store.sync_all(beta) is False


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli_env(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the CLI in an empty directory against the test database; close what it opens."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WISESYNC_CONFIG", raising=False)
    monkeypatch.setenv("WISESYNC_DSN", pg_database)
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    registry.cache_clear()
    opened: list[Database] = []
    real = store_db.open_database

    def tracking(config, **pool):  # type: ignore[no-untyped-def]
        db = real(config, **pool)
        opened.append(db)
        return db

    monkeypatch.setattr(store_db, "open_database", tracking)
    yield tmp_path
    for db in opened:
        db.close()
    registry.cache_clear()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_db_status_migrate_status(cli_env: Path, pg_database: str) -> None:
    files = available()
    pending = invoke("db", "status")
    assert pending.exit_code == 1  # pending migrations
    assert pending.output.count("PENDING") == len(files)
    migrated = invoke("db", "migrate")
    assert migrated.exit_code == 0, migrated.output
    for m in files:
        assert f"applied {m.path.name}" in migrated.output
    assert f"({len(files)} applied now)" in migrated.output
    again = invoke("db", "migrate")
    assert again.exit_code == 0 and "(0 applied now)" in again.output
    done = invoke("db", "status", "--json")
    assert done.exit_code == 0
    rows = json.loads(done.stdout)
    assert [r["version"] for r in rows] == [m.version for m in files]
    assert all(r["applied_at"] for r in rows)
    text = invoke("db", "status")
    assert text.exit_code == 0 and "PENDING" not in text.output
    with psycopg.connect(pg_database) as connection:
        assert len(applied_versions(connection)) == len(files)


def test_cli_options_set_and_show_audit(cli_env: Path) -> None:
    (cli_env / "wisesync.toml").write_text(
        '[[companies]]\nkey = "acme"\nledger = "hello"\nsource = "hello"\n'
    )
    assert "acme: sync_all = off" in invoke("options", "show").output.splitlines()
    result = invoke("options", "set", "sync_all=yes")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "acme: sync_all = on"  # normalised
    shown = invoke("options", "show", "--company", "acme", "--audit")
    assert "acme: sync_all = on" in shown.output
    assert f"{getpass.getuser()}: set sync_all to on (was the default)" in shown.output
    bad = CliRunner().invoke(cli, ["options", "set", "colour=blue"])
    assert bad.exit_code == 2 and "sync_all" in bad.output


def test_cli_options_set_refuses_a_bad_value_as_a_usage_error(cli_env: Path) -> None:
    (cli_env / "wisesync.toml").write_text(
        '[[companies]]\nkey = "acme"\nledger = "hello"\nsource = "hello"\n'
    )
    result = CliRunner().invoke(cli, ["options", "set", "sync_all=banana"])
    assert result.exit_code == 2, result.output
    assert "expected on or off" in result.output and "'banana'" in result.output
    assert "acme: sync_all = off" in invoke("options", "show").output.splitlines()  # unchanged
