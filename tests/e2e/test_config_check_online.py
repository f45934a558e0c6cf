"""``wisesync config check --online`` against the sandboxes and a real Postgres: each
connection ok, or the reason it is not (never a secret), for every installed ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisesync.cli import _add_core_commands, _add_plugin_commands, cli
from wisesync.config import AppConfig, KafkaSettings
from wisesync.plugins import registry
from wisesync.preflight import online_checks
from wisesync.protocols import PluginRuntime
from wisesync.testing.stack import CompanySpec, Stack

_add_core_commands()
_add_plugin_commands()
LEDGERS = sorted(registry().ledgers)
WRONG_KEY = "wrong-private-key-4c1d"


@pytest.fixture(params=LEDGERS)
def stack(request: pytest.FixtureRequest, pg_database: str) -> Iterator[Stack]:
    """Two companies on ``ledger``: acme connected to it, bare's connection revoked by the
    ledger user (and, in the test, its app secret wrong)."""
    ledger = request.param
    specs = [CompanySpec("acme", ledger=ledger), CompanySpec("bare", ledger=ledger)]
    with Stack(specs, dsn=pg_database) as s:
        s.ledger("acme").connect(PluginRuntime(config=s.config, db=s.db), s.config.company("acme"))
        s.ledger("bare").revoke_connection()
        yield s


def test_online_says_ok_or_why_for_each_connection(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "wisesync.toml"
    env = stack.write_config(config)
    bare_key = stack.config.company("bare").section("connectwise")["private_key_env"]
    env[bare_key] = WRONG_KEY  # bare's ConnectWise keys are wrong
    ledger = stack.config.company("acme").ledger
    env[stack.config.company("bare").section(ledger)["client_secret_env"]] = WRONG_KEY
    argv = ["--config", str(config), "config", "check", "--online"]

    result = CliRunner().invoke(cli, [*argv, "--json"], env=env)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["problems"] == []
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["postgres"]["ok"] is True
    assert checks["acme: ConnectWise"]["ok"] is True
    assert checks["bare: ConnectWise"]["ok"] is False
    assert "401" in checks["bare: ConnectWise"]["detail"]
    (acme_ledger,) = [c for n, c in checks.items() if n.startswith("acme: ") and "Connect" not in n]
    (bare_ledger,) = [c for n, c in checks.items() if n.startswith("bare: ") and "Connect" not in n]
    assert acme_ledger["ok"] is True, acme_ledger
    assert bare_ledger["ok"] is False
    assert bare_ledger["detail"], bare_ledger  # the reason, e.g. the ledger's 401

    people = CliRunner().invoke(cli, argv, env=env)
    assert people.exit_code == 1
    assert people.output.splitlines()[0].endswith(
        "ok, 2 company(ies): acme (" + ledger + "), bare (" + ledger + ")"
    )
    assert "  acme: ConnectWise: ok (" in people.output
    assert "  bare: ConnectWise: FAILED (" in people.output
    assert "2 connection(s) failed" in people.output
    secrets = [v for k, v in env.items() if k.endswith(("_KEY", "_SECRET", "_ID")) and len(v) > 6]
    for text in (result.output, people.output):
        assert not [s for s in secrets if s in text]


def test_an_unreachable_kafka_and_postgres_are_failed_checks(pg_database: str) -> None:
    down = "postgresql://wisesync:pw-never-shown@127.0.0.1:1/wisesync"
    config = AppConfig(
        dsn=down, transport="kafka", kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1")
    )
    checks = {c.name: c for c in online_checks(config, registry(), timeout_s=1)}
    assert not checks["postgres"].ok and "OperationalError" in checks["postgres"].detail
    assert "pw-never-shown" not in checks["postgres"].detail
    assert not checks["kafka"].ok and checks["kafka"].detail.startswith("127.0.0.1:1: ")
    ok = {c.name: c for c in online_checks(AppConfig(dsn=pg_database), registry(), timeout_s=5)}
    assert ok["postgres"].ok and "kafka" not in ok
