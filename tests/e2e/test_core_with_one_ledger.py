"""The core installs and runs with any one ledger plugin alone: here with only the
ConnectWise plugin and the hello test plugin (the ledger distributions, Xero and
QuickBooks Online, hidden from entry points and imports by
tests/fixtures/without_distributions.py), the CLI, the sandbox group, the demo's refusal
and the core's plugin suites all work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HIDE = str(ROOT / "tests" / "fixtures" / "without_distributions.py")
CLI = "from wisesync.cli import main; main()"
#: every ledger distribution of the repository
LEDGERS = "wisesync-xero,wisesync-qbo"
#: the core's suites about plugins, hooks, messages and config, and ConnectWise's plugin tests
SUITES = (
    "tests/unit/test_core_plugins.py",
    "tests/unit/test_core_hooks.py",
    "tests/unit/test_core_messages.py",
    "tests/unit/test_core_config.py",
    "plugins/connectwise/tests/test_plugin.py",
)


def alone(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
    return subprocess.run(
        [sys.executable, HIDE, LEDGERS, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_the_ledger_distributions_are_really_gone() -> None:
    for package in ("wisesync_xero", "wisesync_qbo"):
        out = alone("-c", f"import {package}")
        assert out.returncode != 0 and f"{package} is not installed here" in out.stderr


def test_the_cli_runs_with_connectwise_and_hello_only() -> None:
    plugins = alone("-c", CLI, "plugins", "--json")
    assert plugins.returncode == 0, plugins.stderr
    names = {p["name"] for p in json.loads(plugins.stdout)["plugins"]}
    assert names == {"connectwise", "hello"}
    sandbox = alone("-c", CLI, "sandbox", "--help")
    assert sandbox.returncode == 0, sandbox.stderr
    assert "connectwise" in sandbox.stdout
    assert "xero" not in sandbox.stdout and "qbo" not in sandbox.stdout
    # no ledger sandbox installed: the demo says so before it starts anything
    demo = alone("-c", CLI, "demo")
    assert demo.returncode == 2, demo.stdout + demo.stderr
    assert "no ledger sandbox" in demo.stderr or "which ledger?" in demo.stderr


def test_the_core_suites_pass_without_the_ledger_plugins() -> None:
    out = alone("-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider", timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
