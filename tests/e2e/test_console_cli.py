"""``wisesync users`` and ``wisesync console`` / ``wisesync run --role console`` as installed
commands: people are managed from the shell, and the console refuses to start without anyone
who could sign in, saying how to add the first one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from wisesync.testing.stack import CompanySpec, Stack

WISESYNC = Path(sys.executable).with_name("wisesync")
sys.path.insert(0, str(Path(__file__).parent))
from test_run_cli import free_port, wait_for  # noqa: E402


def test_users_commands_and_the_console_refusing_to_start_without_users(
    pg_database: str, tmp_path: Path
) -> None:
    with Stack([CompanySpec("acme")], dsn=pg_database, partitions=2) as stack:
        config_file = tmp_path / "wisesync.toml"
        env = {**os.environ, **stack.write_config(config_file), "WISESYNC_CONFIG": str(config_file)}

        def wisesync(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(WISESYNC), *args],
                env=env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
            )

        for command in (
            ["console", "--port", str(free_port())],
            ["run", "--role", "console", "--metrics-port", "0"],
        ):
            refused = wisesync(*command)
            assert refused.returncode == 2, refused.stderr
            assert "wisesync users add NAME --role super_admin" in refused.stderr

        password = "a long enough password"

        def add(name: str, role: str, *companies: str, secret: str = password):
            flags = [arg for key in companies for arg in ("--company", key)]
            return wisesync(
                "users",
                "add",
                name,
                "--role",
                role,
                *flags,
                "--password-stdin",
                stdin=secret + "\n",
            )

        assert add("root", "super_admin").returncode == 0
        no_company = add("bob", "user")
        assert no_company.returncode == 2 and "--company" in no_company.stderr
        short = add("bob", "user", "acme", secret="short")
        assert short.returncode == 2 and "at least 10 characters" in short.stderr
        assert add("bob", "user", "acme").returncode == 0
        assert wisesync("users", "set-role", "bob", "account_admin").returncode == 0
        assert wisesync("users", "disable", "bob").returncode == 0
        listed = json.loads(wisesync("users", "list", "--json").stdout)
        assert listed == [
            {"username": "bob", "role": "account_admin", "companies": ["acme"], "disabled": True},
            {"username": "root", "role": "super_admin", "companies": [], "disabled": False},
        ]
        assert password not in json.dumps(listed)
        last = wisesync("users", "disable", "root")
        assert last.returncode == 2 and "last enabled super admin" in last.stderr
        with stack.db.connection() as conn:
            audited = conn.execute(
                "SELECT username, action, detail FROM console_audit ORDER BY id"
            ).fetchall()
        assert [a for _, a, _ in audited] == [
            "user_added",
            "user_added",
            "user_role",
            "user_disabled",
        ]
        assert all(who.startswith("cli:") for who, _, _ in audited)
        assert audited[2][2] == "bob: user of acme -> account admin of acme"

        # every option of the console's Options page, validated the same way, audited
        from wisesync.console import settings

        acme = stack.config.company("acme")
        ok = wisesync(
            "options",
            "set",
            "--company",
            "acme",
            "record_types=expense,invoice",
            "options.adjustment_cap=25",
            "hold_billing_statuses=Finance Hold, Review",
        )
        assert ok.returncode == 0, ok.stderr
        shown = wisesync("options", "show", "--company", "acme", "--audit").stdout.splitlines()
        assert "acme: record_types = invoice,expense" in shown  # the catalog's order
        assert "acme: options.adjustment_cap = 25.00" in shown
        assert "acme: hold_billing_statuses = Finance Hold,Review" in shown
        for field in settings.company_fields(acme, stack.registry):  # the plugin's too
            assert any(line.startswith(f"acme: {field.name} = ") for line in shown), field.name
        assert any(
            "set options.adjustment_cap to 25.00 (was the default)" in line for line in shown
        )
        bad = wisesync(
            "options",
            "set",
            "--company",
            "acme",
            "record_types=payment",
            "options.adjustment_cap=1.234",
        )
        assert bad.returncode == 2 and "2 decimals" in bad.stderr
        again = wisesync("options", "show", "--company", "acme").stdout.splitlines()
        assert "acme: record_types = invoice,expense" in again  # none stored: one was bad

        for command in (
            ["run", "--role", "console", "--metrics-port", "0", "--console-port"],
            ["console", "--port"],
        ):
            port = free_port()
            proc = subprocess.Popen(
                [str(WISESYNC), *command, str(port)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                page = wait_for(f"http://127.0.0.1:{port}/signin", 200, proc)
                assert 'name="csrf_token"' in page
            finally:
                proc.send_signal(signal.SIGTERM)
                _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert f"console on http://127.0.0.1:{port}" in err


def test_demo_serve_prints_one_sign_in_per_role_and_serves_until_ctrl_c() -> None:
    """`wisesync demo --serve` (the only test of it: it runs the demo once, ~40 s)."""
    import queue
    import re
    import shutil
    import tempfile
    import threading
    import time

    import httpx2

    from wisesync.testing.console import sign_in

    scratch = Path(tempfile.mkdtemp(prefix="wisesync-e2e-serve-"))
    scratch.chmod(0o711)  # the demo's Postgres user must traverse it when run as root
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
    env["TMPDIR"] = str(scratch)
    port = free_port()
    proc = subprocess.Popen(
        [str(WISESYNC), "demo", "--ledger", "xero", "--serve", "--port", str(port)],
        env={**env, "COLUMNS": "120"},
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    role_line = re.compile(r"^\s*(super admin|account admin|user)\s+(\S+)\s+password (\S+)")
    logins: dict[str, tuple[str, str]] = {}
    url = None
    try:
        deadline = time.monotonic() + 240
        while len(logins) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, (url, logins)
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if found := re.search(r"Console: (http://\S+)", line):
                url = found.group(1)
            elif url and (role := role_line.match(line)):
                logins[role.group(1)] = (role.group(2), role.group(3))
        assert url == f"http://127.0.0.1:{port}"
        assert set(logins) == {"super admin", "account admin", "user"}
        with httpx2.Client(base_url=url) as client:
            for name, password in logins.values():
                client.cookies.clear()
                assert sign_in(client, name, password).status_code == 303, name
            assert client.get("/sync").status_code == 200
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)
