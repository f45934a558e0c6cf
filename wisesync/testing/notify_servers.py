"""Real local receivers for notification tests: an SMTP server that insists on STARTTLS and
AUTH (aiosmtpd), and an HTTP webhook receiver that verifies the signature.

>>> with SmtpServer(tmp_path, users={"bot": "pw"}) as smtp:      # doctest: +SKIP
...     send_email(smtp.channel(username="bot", password_env="PW"), "s", "t", {"PW": "pw"})
...     smtp.messages[0]["Subject"]
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from wisesync.notify.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from wisesync.notify.settings import EmailChannel, WebhookChannel


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS before anything and AUTH before mail.

    ``messages`` holds what was delivered; ``logins`` every (user, accepted) tried.
    """

    def __init__(self, directory: Path, users: dict[str, str]):
        self.cert_file, key_file = self_signed_cert(directory)
        self.users = users
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []
        self.port = _free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(data, LoginPassword)
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd handler hook: keep the message."""
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def channel(self, **kw: Any) -> EmailChannel:
        """An :class:`EmailChannel` pointing here (trusting this server's certificate)."""
        base = dict(
            host="localhost",
            port=self.port,
            to=("finance@example.com",),
            sender="wisesync@example.com",
            ca_file=str(self.cert_file),
            timeout_s=10.0,
        )
        return EmailChannel(**{**base, **kw})

    def table(self, password_env: str) -> dict[str, Any]:
        """The ``[notify.email]`` table of a config that sends here as user ``bot``."""
        return {
            "host": "localhost",
            "port": self.port,
            "username": "bot",
            "password_env": password_env,
            "from": "wisesync@example.com",
            "to": ["finance@example.com"],
            "ca_file": str(self.cert_file),
        }

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class WebhookReceiver:
    """An HTTP server that accepts POSTs whose signature verifies with ``secret``.

    ``fail_first`` requests are answered 503 first (to exercise retries); a bad signature
    is answered 401. ``received`` holds the verified JSON bodies, ``attempts`` every try.
    """

    secret: str
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[tuple[int, bool]] = field(default_factory=list)  # (status sent, signed ok)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = verify(
                    receiver.secret,
                    self.headers.get(TIMESTAMP_HEADER, "0"),
                    body,
                    self.headers.get(SIGNATURE_HEADER, ""),
                )
                if not ok:
                    status = 401
                elif len(receiver.attempts) < receiver.fail_first:
                    status = 503
                else:
                    status = 200
                    receiver.received.append(json.loads(body))
                receiver.attempts.append((status, ok))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST (a path with a token in it, like a Slack webhook URL)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/T0K3N-in-the-url"

    def channel(self) -> WebhookChannel:
        """A :class:`WebhookChannel` reading ``HOOK_URL`` and ``HOOK_SECRET``."""
        return WebhookChannel(url_env="HOOK_URL", secret_env="HOOK_SECRET", timeout_s=10.0)

    def environ(self) -> dict[str, str]:
        """The variables :meth:`channel` names."""
        return {"HOOK_URL": self.url, "HOOK_SECRET": self.secret}

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
