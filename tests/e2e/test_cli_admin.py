"""The installed ``wisesync`` command: help that teaches, exit codes scripts rely on
(0 ok, 1 work ran but something failed, 2 usage or configuration error)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wisesync.store.embedded import EmbeddedPostgres

WISESYNC = Path(sys.executable).with_name("wisesync")
SCHEMAS_V2 = Path(__file__).resolve().parents[1] / "fixtures" / "schemas_v2"
SECRET = "e2e-s3cret-never-printed"


def wisesync(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in ``cwd`` with a clean wisesync environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
    return subprocess.run(
        [str(WISESYNC), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def test_help_teaches_the_first_steps(work: Path) -> None:
    result = wisesync("--help", cwd=work)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for phrase in (
        "wisesync demo",
        "wisesync sync-all",
        "wisesync results",
        "wisesync replay",
        "wisesync config check",
        "wisesync run",
        "WISESYNC_CONFIG",
    ):
        assert phrase in text, phrase
    for command in ("config", "db", "options", "plugins", "schemas"):
        assert f"\n  {command} " in text, command
    assert wisesync("-h", cwd=work).stdout == text


def test_version(work: Path) -> None:
    result = wisesync("--version", cwd=work)
    assert result.returncode == 0
    assert result.stdout.startswith("wisesync, version ")


def test_usage_errors_exit_2(work: Path) -> None:
    unknown = wisesync("no-such-command", cwd=work)
    assert unknown.returncode == 2
    assert "No such command 'no-such-command'" in unknown.stderr
    bad_option = wisesync("config", "check", "--colour", cwd=work)
    assert bad_option.returncode == 2 and "--colour" in bad_option.stderr
    nothing = wisesync(cwd=work)
    assert nothing.returncode == 2 and "Usage: wisesync" in nothing.stdout + nothing.stderr


def test_config_check_exit_codes(work: Path) -> None:
    missing = wisesync("config", "check", cwd=work)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (work / "wisesync.toml").write_text(
        '[store]\ndsn_env = "E2E_DSN"\n\n'
        '[[companies]]\nkey = "acme"\nledger = "hello"\nsource = "hello"\n'
        '[companies.hello]\nclient_secret_env = "E2E_SECRET"\n'
    )
    env = {"E2E_SECRET": SECRET, "E2E_DSN": f"postgresql://u:{SECRET}@db/x"}
    ok = wisesync("config", "check", cwd=work, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "ok, 1 company(ies): acme (hello)" in ok.stdout
    bad = work / "bad.toml"
    bad.write_text('[[companies]]\nkey = "acme"\nlegder = "xero"\n')
    # --config and $WISESYNC_CONFIG both select the file
    outputs = [ok.stdout + ok.stderr]
    for args, extra in (
        (("--config", str(bad), "config", "check"), {}),
        (("config", "check"), {"WISESYNC_CONFIG": str(bad)}),
    ):
        result = wisesync(*args, cwd=work, env={**env, **extra})
        assert result.returncode == 2
        assert f"{bad}: companies[0].legder: unknown setting" in result.stderr
        assert "did you mean 'ledger'?" in result.stderr
        outputs.append(result.stdout + result.stderr)
    as_json = wisesync("--config", str(bad), "config", "check", "--json", cwd=work, env=env)
    assert as_json.returncode == 2
    keys = {p["key"] for p in json.loads(as_json.stdout)["problems"]}
    assert {"companies[0].legder", "companies[0].ledger"} <= keys
    outputs.append(as_json.stdout + as_json.stderr)
    assert not [o for o in outputs if SECRET in o]


def test_configuration_errors_in_commands_exit_2(work: Path) -> None:
    (work / "wisesync.toml").write_text(
        '[[companies]]\nkey = "acme"\nledger = "hello"\nsource = "hello"\n'
    )
    result = wisesync("options", "show", "--company", "nope", cwd=work)
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "'nope' is not a configured company (configured: acme)" in result.stderr
    assert "Traceback" not in result.stderr


def test_schemas_check_exit_codes(work: Path) -> None:
    released = wisesync("schemas", "check", cwd=work)
    assert released.returncode == 0, released.stderr
    assert "RecordEvent: v1" in released.stdout
    evolved = wisesync("schemas", "check", "--dir", str(SCHEMAS_V2), cwd=work)
    assert evolved.returncode == 0 and "v2" in evolved.stdout
    broken = work / "broken"
    shutil.copytree(SCHEMAS_V2, broken)
    v2 = broken / "wisesync.RecordEvent.v2.avsc"
    raw = json.loads(v2.read_text())
    raw["fields"].append({"name": "approved_by", "type": "string"})
    v2.write_text(json.dumps(raw))
    failed = wisesync("schemas", "check", "--dir", str(broken), cwd=work)
    assert failed.returncode == 1
    assert "approved_by" in failed.stderr and "without a default" in failed.stderr


def test_plugins_lists_installed_distributions(work: Path) -> None:
    result = wisesync("plugins", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["hello"]["distribution"] == "wisesync-hello"
    assert all(p["distribution"] for p in plugins.values()), plugins


def test_db_stop_stops_the_server_a_command_started_and_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "wisesync.toml").write_text('data_dir = "data"\n')
    server = EmbeddedPostgres(tmp_path / "data" / "postgres")
    try:
        started = wisesync("db", "migrate", cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        assert server.is_running()

        stopped = wisesync("db", "stop", cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("stopped the embedded Postgres in ")
        assert not server.is_running()

        again = wisesync("db", "stop", "--json", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        doc = json.loads(again.stdout)
        assert (doc["was_running"], doc["stopped"], doc["error"]) == (False, False, None)
        assert doc["path"] == str((tmp_path / "data" / "postgres").resolve())
    finally:
        server.stop()


def test_db_stop_refuses_a_configured_server_and_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "wisesync.toml").write_text('data_dir = "data"\n[store]\ndsn_env = "MY_DSN"\n')
    result = wisesync("db", "stop", cwd=tmp_path, env={"MY_DSN": "postgresql://u:pw@127.0.0.1:1/x"})
    assert result.returncode == 2
    assert result.stderr.startswith("a Postgres DSN is configured")
    assert "pw@" not in result.stderr + result.stdout
    assert not (tmp_path / "data" / "postgres").exists()
