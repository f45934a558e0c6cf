"""The plugin's hooks: target, payments source, sandbox and CLI commands."""

from __future__ import annotations

import click
import requests
from click.testing import CliRunner

from wisesync.cli.sandbox import sandbox_group
from wisesync.plugins import build_registry
from wisesync_xero import plugin
from wisesync_xero.payments import XeroPaymentsSource
from wisesync_xero.target import XeroTarget


def test_registers_target_source_and_sandbox(monkeypatch):
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "xero")
    reg = build_registry()
    assert reg.target("xero") is XeroTarget
    assert reg.source("xero") is XeroPaymentsSource
    assert XeroTarget.name == "xero"
    assert {t.value for t in XeroTarget.record_types} == {
        "invoice",
        "credit_memo",
        "expense",
        "procurement",
    }
    assert {t.value for t in XeroPaymentsSource.record_types} == {"payment"}
    server = reg.sandboxes["xero"](port=0, seed=3)
    try:
        body = requests.post(
            f"{server.url}/connect/token",
            data={"grant_type": "client_credentials"},
            auth=(server.app.credentials().client_id, server.app.credentials().client_secret),
            timeout=5,
        ).json()
        assert body["expires_in"] == 1800
    finally:
        server.stop()


def test_commands_join_the_root_group_and_the_core_sandbox_group_runs_xeros_command(monkeypatch):
    root = click.Group("wisesync")
    plugin.register_commands(cli=root)
    plugin.register_commands(cli=root)  # twice is harmless
    assert "connect" in root.commands["xero"].commands
    assert "sandbox" not in root.commands  # the core owns it
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "xero")
    root.add_command(sandbox_group(build_registry()))
    result = CliRunner().invoke(root, ["sandbox", "xero", "--help"])
    assert result.exit_code == 0 and "--contacts" in result.output  # the plugin's own flags
    result = CliRunner().invoke(root, ["xero", "connect", "--help"])
    assert result.exit_code == 0 and "--company" in result.output and "--tenant" in result.output
