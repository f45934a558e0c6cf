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
        assert any("options.adjustment_cap None -> 25.00" in line for line in shown)
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
