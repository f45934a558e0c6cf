"""``wisesync notify test``: a test message on each channel, exit codes scripts can use, and
no secret in any output (real SMTP server with STARTTLS and AUTH, real webhook receiver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tomli_w

from wisesync.testing.notify_servers import SmtpServer, WebhookReceiver

WISESYNC = Path(sys.executable).with_name("wisesync")
PASSWORD = "smtp-canary-pw-6120"
SECRET = "hook-canary-secret-3380"


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")}
    return subprocess.run(
        [str(WISESYNC), *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True
    )


def test_notify_test_sends_on_every_channel_and_says_how_each_went(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, users={"bot": PASSWORD}) as smtp, WebhookReceiver(SECRET) as hook:
        notify = {
            "email": smtp.table("SMTP_PW"),
            "webhook": {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
        }
        (tmp_path / "wisesync.toml").write_bytes(tomli_w.dumps({"notify": notify}).encode())
        env = {**hook.environ(), "SMTP_PW": PASSWORD}

        ok = _run(tmp_path, env, "notify", "test")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.splitlines() == ["email: sent", "webhook: sent"]
        assert smtp.messages[0]["Subject"].endswith("test notification from `wisesync notify test`")
        assert hook.received[0]["test"] is True and hook.received[0]["text"]

        wrong = _run(tmp_path, {**env, "SMTP_PW": "nope"}, "notify", "test", "--json")
        assert wrong.returncode == 1
        report = json.loads(wrong.stdout)["channels"]
        assert report["webhook"] == "ok" and "refused the login of bot" in report["email"]

        unset = _run(tmp_path, hook.environ(), "notify", "test", "--channel", "email")
        assert unset.returncode == 1
        assert "environment variable SMTP_PW is not set" in unset.stderr

        for out in (ok, wrong, unset):
            text = out.stdout + out.stderr
            assert PASSWORD not in text and SECRET not in text and "T0K3N" not in text


def test_notify_test_without_a_channel_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "wisesync.toml").write_text("")
    result = _run(tmp_path, {}, "notify", "test")
    assert result.returncode == 2
    assert result.stderr.startswith("no channel is configured in [notify]")
    helped = _run(tmp_path, {}, "notify", "test", "--help")
    assert "wisesync notify test --company acme --channel webhook --json" in helped.stdout
