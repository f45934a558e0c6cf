"""``wisesync demo`` as a user runs it: a real subprocess on a machine with nothing configured.

It must finish in under a minute, print the Sync All review with the Wise-Sync error and
warning codes, fix one error at the ledger, replay, show that record posted; show the "Sync
Token Issue" (a second company's revoked ledger connection: AUTH_TOKEN_INVALID), reconnect,
replay, show those records posted; and leave nothing behind: no process (embedded Postgres)
and no directory. It runs once for every installed ledger that provides a ledger sandbox
(``wisesync demo --ledger NAME``).
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
from types import SimpleNamespace

import pytest

from wisesync.plugins import build_registry
from wisesync.testing.ledger import EditConflicts

WISESYNC = Path(sys.executable).with_name("wisesync")
#: every installed ledger the demo can drive (it registers a LedgerSandbox)
LEDGERS = sorted(build_registry().ledgers)
#: the ledgers whose updates carry a version (their adapter has EditConflicts): the demo
#: also shows a record failing SYNC_TOKEN_CONFLICT, the fix and the replay (an adapter
#: only keeps the server it wraps, so one around no server answers the question)
VERSIONED = {
    name
    for name, adapter in build_registry().ledgers.items()
    if isinstance(adapter(SimpleNamespace(app=None)), EditConflicts)
}

#: The seed article's record-stopping errors and the warnings on records that did post.
#: (the rounding and adjustment codes arise from consistent ConnectWise exports the ledger
#: computes differently: a 5-decimal price, tax codes whose rate is not the ledger's)
ERRORS = (
    "GL_MAPPING_MISSING",
    "LEDGER_ACCOUNT_MISSING",
    "ADJUSTMENT_OVER_CAP",
    "SOURCE_TOTALS_MISMATCH",
)
WARNINGS = (
    "ROUNDING_APPLIED",
    "ADJUSTMENT_APPLIED",
    "SOURCE_AMOUNT_ROUNDED",
    "TERMS_XREF",
    "NO_BILLING_CONTACT",
)


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


def table_column(text: str, title: str, column: int) -> list[str]:
    """The cells of ``column`` (0 = first) of the rich table titled ``title`` in ``text``,
    each cell's wrapped lines joined: at the 80 columns of a pipe, rich wraps long cells."""
    lines = text[text.index(title) :].splitlines()
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1 :]
    cells: list[str] = []
    for line in body:
        if line.startswith("└"):
            break
        parts = [part.strip() for part in line.split("│")]
        if len(parts) < 3:  # a rule between groups of rows
            continue
        if parts[1]:  # the first column is filled on a row's first line only
            cells.append(parts[column + 1])
        elif parts[column + 1]:
            cells[-1] = f"{cells[-1]} {parts[column + 1]}".strip()
    return cells


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


def test_every_installed_ledger_has_a_demo() -> None:
    assert LEDGERS, "no installed ledger plugin registers a LedgerSandbox"


@pytest.mark.parametrize("ledger", LEDGERS)
def test_demo_runs_fixes_replays_and_leaves_nothing_running(scratch: Path, ledger: str) -> None:
    tmp_path = scratch
    title = ledger.title()
    # where the demo turns to the company whose ledger connection was revoked
    token_step = f"Step 4: Sync Token Issue — contoso's {title} connection was revoked"
    # A fresh machine: no wisesync settings, no config file; the demo's temp dir goes here.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WISESYNC_") and k not in ("COLUMNS", "LINES")
    }
    env["TMPDIR"] = str(tmp_path)
    # wide enough for the review's four-column error table (below 100 columns it is stacked,
    # tests/unit/test_review.py), which table_column reads
    env["COLUMNS"] = "120"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    started = time.monotonic()
    result = subprocess.run(
        [str(WISESYNC), "demo", "--ledger", ledger],
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
    assert token_step in out, out[-3000:]
    northwind, token = out.split(token_step)

    # Step 1: the review of Sync All, with every error and warning code of the seed article.
    assert "Sync All: Northwind IT (demo)" in northwind
    assert "sync_all by demo" in northwind and "replay by demo" in northwind
    first = re.search(r"(\d+) record\(s\): (\d+) posted, (\d+) held, (\d+) failed", northwind)
    assert first, northwind[:3000]
    total, posted, held, failed = map(int, first.groups())
    assert total == posted + held + failed and failed >= len(ERRORS) and held >= 1
    for code in ERRORS + WARNINGS:
        assert code in northwind, f"{code} missing from the review"
    # the foreign-currency customer's invoice posted in its currency; inventory adjustments
    # and transfers posted as journals
    assert re.search(
        rf"posted a customer billed in a foreign currency: invoice \S+ -> {title} \S+ \S+ \(NZD \d",
        northwind,
    ), northwind[-3000:]
    assert re.search(
        rf"posted an inventory adjustment, as a journal: procurement \S+ -> {title}", northwind
    )
    assert re.search(
        rf"posted an inventory transfer, as a journal: procurement \S+ -> {title}", northwind
    )
    assert f"not in {title}: " not in northwind
    # Step 2 and 3: account 4999 created, the replay posts the record that failed on it.
    fixed = re.search(r"(\d+) record\(s\) failed on account 4999: (.+)", northwind)
    assert fixed and int(fixed.group(1)) >= 1
    assert "wisesync replay --failed --code LEDGER_ACCOUNT_MISSING" in northwind
    shown = re.findall(
        rf"posted (invoice|expense|credit_memo|procurement) (\S+) -> {title} (\S+)", northwind
    )
    assert len(shown) == int(fixed.group(1))
    assert {f"{t} {n}" for t, n, _ in shown} == set(fixed.group(2).split(", "))
    now = re.search(r"Now: (\d+) posted", northwind)
    assert now and int(now.group(1)) == posted + len(shown)
    # Step 3a and 3b, on a versioned ledger: a customer someone kept editing in the ledger
    # failed its record SYNC_TOKEN_CONFLICT in the review; the editing done, the replay
    # posts it.
    conflicts = re.findall(r"(\w+ \S+) failed SYNC_TOKEN_CONFLICT: ", northwind)
    if ledger in VERSIONED:
        review = northwind.split("Step 2: fix at the ledger", 1)[0]
        assert "SYNC_TOKEN_CONFLICT" in review, review[-3000:]
        assert conflicts, northwind[-3000:]
        assert "Step 3b: wisesync replay --failed --code SYNC_TOKEN_CONFLICT" in northwind
        for label in conflicts:
            assert re.search(rf"{re.escape(label)} posted -> {title} \S+", northwind), label
    else:
        assert not conflicts and "SYNC_TOKEN_CONFLICT" not in northwind

    # Step 4: the Sync Token Issue. contoso's ledger connection was revoked: every record of its
    # Sync All failed with AUTH_TOKEN_INVALID, whose message says how to reconnect and replay.
    assert "Sync All: Contoso Ltd (demo)" in token and "sync_all by demo" in token
    revoked = re.search(r"(\d+) record\(s\): (\d+) failed · (\d+) error\(s\)", token)
    assert revoked and int(revoked.group(1)) == int(revoked.group(2)) >= 1, token[:3000]
    errors = f"Errors ({revoked.group(1)})"
    codes, messages = table_column(token, errors, 1), table_column(token, errors, 2)
    assert codes and set(codes) == {"AUTH_TOKEN_INVALID"}
    for message in messages:
        assert f"`wisesync {ledger} connect --company contoso`" in message, message
        assert "`wisesync replay --failed --company contoso`" in message, message
    # Step 5: doing what it says (reconnect, replay the failed records) posts every one of them.
    step5 = f"Step 5: wisesync {ledger} connect --company contoso"
    assert step5 in token
    replayed = token.split(step5, 1)[1]
    assert "wisesync replay --failed --company contoso" in replayed
    assert f"contoso reconnected to {title}; replaying its {revoked.group(1)} failed" in replayed
    after = re.findall(rf"posted (invoice|credit_memo) (\S+) -> {title} (\S+)", replayed)
    assert len(after) == int(revoked.group(1))
    assert {f"{t} {n}" for t, n, _ in after} >= set(table_column(token, errors, 0))
    assert re.search(r"demo finished in \d+\.\ds", out)

    # Nothing left: no process mentions the demo's directory, which is gone; sandboxes closed.
    assert processes_mentioning(str(workdir)) == []
    assert not workdir.exists()
    assert list(tmp_path.iterdir()) == [cwd] and list(cwd.iterdir()) == []
    urls = re.findall(rf"sandboxes: ConnectWise (http://\S+), {title} (http://\S+)", out)
    assert len(urls) == 2 and not any(port_open(u) for pair in urls for u in pair)
