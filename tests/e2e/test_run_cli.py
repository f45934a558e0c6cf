"""``wisesync run`` as a daemon: a real subprocess on a real Postgres (embedded transport),
with the sandboxes of a :class:`~wisesync.testing.stack.Stack` in this process.

It must serve ``/healthz`` and ``/readyz`` (200) and ``/metrics`` on the metrics port, do the
work (its extractor's scheduled run is posted, reported and acknowledged), and on SIGTERM
finish, leave its consumer groups and exit 0 within a few seconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from wisesync.review import wait_for_run
from wisesync.testing.stack import CompanySpec, Stack

WISESYNC = Path(sys.executable).with_name("wisesync")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (HTTP errors included); (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_for(url: str, status: int, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        got, body = get(url)
        if got == status:
            return body
        assert proc.poll() is None, f"wisesync run exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{url}: {got} {body}"
        time.sleep(0.2)


def test_run_serves_health_and_metrics_works_and_stops_on_sigterm(
    pg_database: str, tmp_path: Path
) -> None:
    with Stack([CompanySpec("acme")], dsn=pg_database, partitions=2) as stack:
        config_file = tmp_path / "wisesync.toml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
        env.update(stack.write_config(config_file))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with open(tmp_path / "stderr.log", "w+") as err:
            proc = subprocess.Popen(
                [str(WISESYNC), "--config", str(config_file), "run", "--metrics-port", str(port)],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                assert wait_for(f"{base}/healthz", 200, proc) == '{"status": "alive"}'
                ready = wait_for(f"{base}/readyz", 200, proc)
                assert '"store": "ok"' in ready and '"roles": "ok"' in ready

                # The extractor role syncs the company at start; the other roles finish it.
                deadline = time.monotonic() + 60
                run_id = None
                while run_id is None and time.monotonic() < deadline:
                    with stack.db.connection() as conn:
                        row = conn.execute(
                            "SELECT run_id FROM sync_runs WHERE trigger = 'schedule'"
                        ).fetchone()
                    run_id = row[0] if row else time.sleep(0.2)
                assert run_id, "no scheduled run started"
                progress = wait_for_run(stack.db, run_id, 90, acknowledged=True)
                assert progress.complete and progress.expected > 0

                status, metrics = get(f"{base}/metrics")
                assert status == 200
                posted = re.search(
                    r'wisesync_records_total\{code="",company="acme",status="posted"\} (\S+)',
                    metrics,
                )
                assert posted and float(posted.group(1)) >= 1
                assert "wisesync_consumer_lag{" in metrics
                assert get(f"{base}/nothing")[0] == 404

                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=30)
                stopped_in = time.monotonic() - started
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err.seek(0)
            log = err.read()
        assert code == 0, log
        assert stopped_in < 5, f"SIGTERM took {stopped_in:.1f}s"
        assert "wisesync running: roles extractor, poster, reporter, acknowledger" in log
        assert "stopping: finishing the batch in hand" in log
        assert "Traceback" not in log
        assert get(f"{base}/healthz")[0] == 0  # the port is closed
        admin = stack.transport.admin()
        for role in ("poster", "reporter"):
            assert not admin.group_has_live_members(stack.config.group_for(role))
