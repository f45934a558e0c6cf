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
