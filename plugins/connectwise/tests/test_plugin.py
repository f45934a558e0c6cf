"""The plugin as the core sees it: entry point, registrations and the sandbox command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import requests
from click.testing import CliRunner

from wisesync.cli.sandbox import sandbox_group
from wisesync.plugins import build_registry
from wisesync_connectwise import plugin
from wisesync_connectwise.extract import ConnectWiseSource
from wisesync_connectwise.payments import ConnectWisePayments


def test_registered_through_the_entry_point():
    reg = build_registry()
    assert reg.sources["connectwise"] is ConnectWiseSource
    assert reg.targets["connectwise"] is ConnectWisePayments
    server = reg.sandboxes["connectwise"](port=0, seed=None)
    try:
        assert requests.get(server.url + "/login/companyinfo/wisesync_demo", timeout=5).ok
    finally:
        server.stop()


def test_the_core_sandbox_group_gets_the_connectwise_command_with_its_flags():
    group = sandbox_group(build_registry())
    assert group.commands["connectwise"] is plugin.sandbox_command
    result = CliRunner().invoke(group, ["connectwise", "--help"])
    assert result.exit_code == 0 and "--invoices" in result.output


def test_wisesync_sandbox_connectwise_runs_in_the_foreground():
    code = "from wisesync.cli import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "sandbox",
            "connectwise",
            "--port",
            "0",
            "--seed",
            "1",
            "--invoices",
            "12",
            "--no-cases",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        url = next(
            x.split(": ", 1)[1].strip() for x in lines if x.startswith("ConnectWise sandbox")
        )
        assert url.endswith("/v4_6_release/apis/3.0")
        assert "public key:" in text and "private key:" in text and "client id:" in text
        assert "unposted:" in text and "'expense'" in text
        host = url.split("/v4_6_release")[0]
        assert requests.get(host + "/login/companyinfo/wisesync_demo", timeout=5).ok
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read()
