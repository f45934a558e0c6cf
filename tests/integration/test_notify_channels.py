"""Notification channels against real local servers: SMTP with STARTTLS and AUTH (aiosmtpd),
and an HTTP receiver that verifies the HMAC signature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wisesync.notify.channels import DeliveryFailed, post_webhook, send_email, sign, verify
from wisesync.notify.events import Notice
from wisesync.notify.notifier import deliver
from wisesync.testing.notify_servers import SmtpServer, WebhookReceiver

PASSWORD = "smtp-canary-pw-7781"
HOOK_SECRET = "hook-canary-secret-5512"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path, users={"bot": PASSWORD}) as server:
        yield server


def test_email_goes_through_starttls_and_auth(smtp: SmtpServer) -> None:
    channel = smtp.channel(username="bot", password_env="SMTP_PW")
    notice = Notice("run_failed:r1", "run_failed", "acme", "acme: run r1 ended with failures")
    deliver(channel, "acme", [notice], environ={"SMTP_PW": PASSWORD})
    assert smtp.logins == [("bot", True)]
    (message,) = smtp.messages
    assert message["Subject"] == "wisesync: acme: run r1 ended with failures"
    assert message["To"] == "finance@example.com"
    assert "acme: run r1 ended with failures" in message.get_content()
    assert PASSWORD not in message.as_string()


def test_a_refused_login_names_the_variable_not_the_password(smtp: SmtpServer) -> None:
    channel = smtp.channel(username="bot", password_env="SMTP_PW")
    with pytest.raises(DeliveryFailed) as failed:
        send_email(channel, "s", "t", {"SMTP_PW": "wrong-" + PASSWORD})
    assert "refused the login of bot" in str(failed.value)
    assert "SMTP_PW" in str(failed.value) and PASSWORD not in str(failed.value)
    assert smtp.messages == []


def test_an_unset_password_variable_is_named(smtp: SmtpServer) -> None:
    with pytest.raises(DeliveryFailed, match="environment variable SMTP_PW is not set"):
        send_email(smtp.channel(username="bot", password_env="SMTP_PW"), "s", "t", {})


def test_without_starttls_the_server_refuses(smtp: SmtpServer) -> None:
    channel = smtp.channel(starttls=False, username="bot", password_env="SMTP_PW")
    with pytest.raises(DeliveryFailed):
        send_email(channel, "s", "t", {"SMTP_PW": PASSWORD})
    assert smtp.messages == []


def test_an_untrusted_certificate_is_refused(smtp: SmtpServer) -> None:
    channel = smtp.channel(ca_file=None, username="bot", password_env="SMTP_PW")
    with pytest.raises(DeliveryFailed, match="SSLCertVerificationError"):
        send_email(channel, "s", "t", {"SMTP_PW": PASSWORD})
    assert smtp.logins == []


def test_webhook_is_signed_retried_and_carries_a_text_field() -> None:
    with WebhookReceiver(HOOK_SECRET, fail_first=2) as hook:
        notice = Notice("dead_letters:t:0:5", "dead_letters", "acme", "acme: invoice 7 is stuck")
        deliver(hook.channel(), "acme", [notice], environ=hook.environ(), webhook_backoff_s=0.01)
    assert hook.attempts == [(503, True), (503, True), (200, True)]
    (payload,) = hook.received
    assert payload["text"].startswith("*wisesync: acme: invoice 7 is stuck*")
    assert payload["company"] == "acme" and payload["test"] is False
    assert payload["events"][0]["key"] == "dead_letters:t:0:5"


def test_a_receiver_refusing_the_signature_is_not_retried_and_the_url_not_shown() -> None:
    with WebhookReceiver("another-secret") as hook, pytest.raises(DeliveryFailed) as failed:
        post_webhook(
            hook.channel(),
            {"text": "x"},
            {**hook.environ(), "HOOK_SECRET": HOOK_SECRET},
            backoff_s=0.01,
        )
    assert hook.attempts == [(401, False)]
    assert "answered 401" in str(failed.value)
    assert "T0K3N" not in str(failed.value) and HOOK_SECRET not in str(failed.value)


def test_signature_covers_timestamp_and_body() -> None:
    body = b'{"text":"hi"}'
    signature = sign(HOOK_SECRET, "1700000000", body)
    assert verify(HOOK_SECRET, "1700000000", body, signature, now=1700000100)
    assert not verify(HOOK_SECRET, "1700000001", body, signature, now=1700000100)
    assert not verify(HOOK_SECRET, "1700000000", body + b" ", signature, now=1700000100)
    assert not verify(HOOK_SECRET, "1700000000", body, signature, now=1700009999)  # stale
