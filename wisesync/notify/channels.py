"""Delivery: e-mail over SMTP (STARTTLS, AUTH) and a signed JSON webhook, with retries.

Secrets (the SMTP password, the webhook URL and signing secret) are read from the
environment at send time; errors name the variable, never its value, and never carry
the URL (a Slack or Teams webhook URL is itself a credential).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from wisesync.errors import WisesyncError
from wisesync.logmask import mask_in_logs
from wisesync.notify.settings import EmailChannel, WebhookChannel

#: Request headers of the webhook: the Unix time the body was signed at, and
#: ``sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``.
TIMESTAMP_HEADER = "X-Wisesync-Timestamp"
SIGNATURE_HEADER = "X-Wisesync-Signature"


class DeliveryFailed(WisesyncError):
    """A channel could not deliver (the message says why, without secrets)."""


def _secret(name: str | None, what: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name or "")
    if not value:
        raise DeliveryFailed(f"{what}: environment variable {name} is not set")
    return value


def send_email(
    channel: EmailChannel,
    subject: str,
    text: str,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Send ``text`` to ``channel.to``: STARTTLS (certificate verified, ``ca_file`` for a
    private CA), then AUTH when a username is set."""
    environ = os.environ if environ is None else environ
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = (
        subject,
        channel.sender,
        ", ".join(channel.to),
    )
    message.set_content(text)
    password = (
        _secret(channel.password_env, "notify e-mail password", environ)
        if channel.username
        else None
    )
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
            smtp.ehlo()
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
                smtp.ehlo()
            if channel.username:
                smtp.login(channel.username, password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(
            f"SMTP {channel.host}:{channel.port} refused the login of {channel.username} "
            f"({exc.smtp_code}); check {channel.password_env}"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(
            f"SMTP {channel.host}:{channel.port}: {type(exc).__name__}: {exc}"
        ) from None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 over ``timestamp.body``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
           tolerance_s: float = 300.0) -> bool:  # fmt: skip
    """What a receiver does: the signature matches and the timestamp is recent."""
    fresh = abs((time.time() if now is None else now) - float(timestamp)) <= tolerance_s
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _session(attempts: int, backoff_s: float) -> requests.Session:
    """A session that retries connection errors, 429 and 5xx (POST included: the receiver
    dedupes by the payload's event keys) with exponential backoff, honouring Retry-After."""
    retry = Retry(
        total=attempts - 1,
        backoff_factor=backoff_s,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def post_webhook(
    channel: WebhookChannel,
    payload: dict[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    backoff_s: float = 1.0,
) -> int:
    """POST ``payload`` as JSON, signed; return the status. Raises :class:`DeliveryFailed`
    when every try failed or the receiver refused (4xx)."""
    environ = os.environ if environ is None else environ
    url = _secret(channel.url_env, "notify webhook URL", environ)
    target = urlsplit(url)
    # urllib3 logs the request line at DEBUG: the URL (a credential) must not be in it
    mask_in_logs(url, target.path + (f"?{target.query}" if target.query else ""))
    secret = _secret(channel.secret_env, "notify webhook secret", environ)
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    with _session(channel.attempts, backoff_s) as session:
        try:
            response = session.post(url, data=body, headers=headers, timeout=channel.timeout_s)
        except requests.RequestException as exc:
            raise DeliveryFailed(
                f"webhook ({channel.url_env}): {type(exc).__name__} after {channel.attempts} tries"
            ) from None
    if response.status_code >= 300:
        raise DeliveryFailed(
            f"webhook ({channel.url_env}) answered {response.status_code} "
            f"after up to {channel.attempts} tries"
        )
    return response.status_code
