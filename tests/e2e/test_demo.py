"""``wisesync demo`` as a user runs it: a real subprocess on a machine with nothing configured.

It must finish in under a minute, print the Sync All review with the Wise-Sync error and
warning codes, fix one error at the ledger, replay, show that record posted, and leave
nothing behind: no process (embedded Postgres) and no directory.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

WISESYNC = Path(sys.executable).with_name("wisesync")

#: The seed article's record-stopping errors and the warnings on records that did post.
ERRORS = ("GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "ADJUSTMENT_OVER_CAP")
WARNINGS = ("ROUNDING_APPLIED", "ADJUSTMENT_APPLIED", "TERMS_XREF", "NO_BILLING_CONTACT")


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if text in cmdline and state != "Z":
            found.append((int(entry.name), cmdline.strip()))
    return found


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def scratch() -> Iterator[Path]:
    """The demo's TMPDIR: a directory of its own under /tmp, not pytest's ``tmp_path``.

    Run as root, the demo's Postgres runs as an unprivileged user that must traverse every
    parent directory; pytest resets ``/tmp/pytest-of-<user>`` to 0700 whenever a session
    starts, which would lock that user out mid-run.
    """
    path = Path(tempfile.mkdtemp(prefix="wisesync-e2e-demo-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_demo_runs_fixes_replays_and_leaves_nothing_running(scratch: Path) -> None:
    tmp_path = scratch
    # A fresh machine: no wisesync settings, no config file; the demo's temp dir goes here.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WISESYNC_") and k not in ("COLUMNS", "LINES")
    }
    env["TMPDIR"] = str(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    started = time.monotonic()
    result = subprocess.run(
        [str(WISESYNC), "demo"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{out[-3000:]}\n{result.stderr}"
    assert elapsed < 60, f"the demo took {elapsed:.1f}s (promise: under a minute)"

    workdir = Path(re.search(r"working in (\S+)", out).group(1))
    assert workdir.parent == tmp_path

    # Step 1: the review of Sync All, with every error and warning code of the seed article.
    assert "Sync All: Northwind IT (demo)" in out
    assert "sync_all by demo" in out and "replay by demo" in out
    first = re.search(r"(\d+) record\(s\): (\d+) posted, (\d+) held, (\d+) failed", out)
    assert first, out[:3000]
    total, posted, held, failed = map(int, first.groups())
    assert total == posted + held + failed and failed >= len(ERRORS) and held >= 1
    for code in ERRORS + WARNINGS:
        assert code in out, f"{code} missing from the review"
    # Step 2 and 3: account 4999 created, the replay posts the record that failed on it.
    fixed = re.search(r"(\d+) record\(s\) failed on account 4999: (.+)", out)
    assert fixed and int(fixed.group(1)) >= 1
    assert "wisesync replay --failed --code LEDGER_ACCOUNT_MISSING" in out
    shown = re.findall(r"posted (invoice|expense|credit_memo|procurement) (\S+) -> Xero (\S+)", out)
    assert len(shown) == int(fixed.group(1))
    assert {f"{t} {n}" for t, n, _ in shown} == set(fixed.group(2).split(", "))
    now = re.search(r"Now: \{'posted': (\d+)", out)
    assert now and int(now.group(1)) == posted + len(shown)
    assert re.search(r"demo finished in \d+\.\ds", out)

    # Nothing left: no process mentions the demo's directory, which is gone; sandboxes closed.
    assert processes_mentioning(str(workdir)) == []
    assert not workdir.exists()
    assert list(tmp_path.iterdir()) == [cwd] and list(cwd.iterdir()) == []
    urls = re.search(r"sandboxes: ConnectWise (http://\S+), Xero (http://\S+)", out)
    assert urls and not any(port_open(u) for u in urls.groups())
