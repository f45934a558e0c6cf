"""Sessions, CSRF tokens and security headers of the console.

* Sessions are Starlette's signed cookie (itsdangerous): HttpOnly, SameSite=Lax, Secure when
  the console is behind TLS (``secure_cookies``). The session holds the user id, a CSRF token
  and two times: it expires after IDLE_S without a request or ABSOLUTE_S after sign-in; the
  user row is read again on every request, so disabling a user or changing a role takes
  effect at once.
* Every form carries the session's CSRF token; every POST without the right one is refused
  (403) and audited.
* Every response carries a CSP without inline script or style, frame denial and nosniff.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600
CSRF_FIELD = "csrf_token"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    """True when ``sent`` is the session's CSRF token (constant-time comparison)."""
    token = session.get("csrf")
    return bool(token and sent) and hmac.compare_digest(str(token), str(sent))


def start_session(session: dict[str, Any], user_id: int, now: float | None = None) -> None:
    """Sign ``user_id`` in: a fresh session (new CSRF token) with its times."""
    now = time.time() if now is None else now
    session.clear()
    session.update({"uid": user_id, "since": now, "seen": now})
    csrf_token(session)


def session_user_id(session: dict[str, Any], now: float | None = None) -> int | None:
    """The signed-in user id, or None when signed out or expired (then the session is
    cleared). Refreshes the idle clock."""
    now = time.time() if now is None else now
    uid = session.get("uid")
    if uid is None:
        return None
    if now - float(session.get("seen", 0)) > IDLE_S or now - float(session.get("since", 0)) > (
        ABSOLUTE_S
    ):
        session.clear()
        return None
    session["seen"] = now
    return int(uid)


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` (and no-store on pages) to every response, and
    a ``Server-Timing: app;dur=<ms>`` header with the time the server spent on it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        began = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # the server's own time for the request (bench/console.py reads it)
                spent_ms = (time.perf_counter() - began) * 1000
                headers.append((b"server-timing", f"app;dur={spent_ms:.1f}".encode()))
                names = {k.lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class SecureCookiesOverTLS:
    """ASGI middleware marking every cookie ``Secure`` on requests that arrived over TLS
    (``https``: served with TLS, or behind a proxy whose ``X-Forwarded-Proto`` uvicorn trusts,
    see its ``--forwarded-allow-ips``). Used when Secure cookies are neither forced on nor off.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v + b"; secure")
                    if k.lower() == b"set-cookie" and b"secure" not in v.lower()
                    else (k, v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, secure)
