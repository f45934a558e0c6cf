"""Typed errors shared by the core and plugins.

Every message says what is wrong and how to fix it, and never carries a secret.
The poster maps them to result codes: :class:`AuthError` -> AUTH_TOKEN_INVALID,
:class:`RemoteUnavailable` -> LEDGER_UNAVAILABLE / SOURCE_UNAVAILABLE,
:class:`DailyLimitReached` pauses the company without failing its records.
"""

from __future__ import annotations

from datetime import datetime


class WisesyncError(Exception):
    """Base class of every error wisesync raises on purpose."""


class ConfigError(WisesyncError):
    """The configuration is invalid. ``key`` names the offending setting."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        self.key = key
        self.hint = hint
        text = f"{key}: {message}" if key else message
        super().__init__(f"{text} ({hint})" if hint else text)


class RemoteError(WisesyncError):
    """A remote API answered with an error we cannot retry away.

    ``status`` is the HTTP status, ``code``/``field`` the API's own error code
    and the field it blames, when it says.
    """

    def __init__(
        self,
        system: str,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        body: object = None,
    ):
        self.system = system
        self.status = status
        self.code = code
        self.field = field
        self.body = body
        #: the message alone, without "<system> answered <status>"
        self.detail = message
        parts = [f"{system} answered {status}"]
        if code:
            parts.append(f"[{code}]")
        parts.append(message)
        if field:
            parts.append(f"(field: {field})")
        super().__init__(" ".join(parts))


class AuthError(RemoteError):
    """Credentials or the OAuth connection are invalid, expired or revoked."""


class RemoteUnavailable(WisesyncError):
    """A remote API kept failing (5xx, timeouts, connection errors) after retries."""

    def __init__(self, system: str, message: str):
        self.system = system
        super().__init__(f"{system} is unavailable: {message}")


class RateLimited(WisesyncError):
    """The remote API said 429 and retries ran out; ``retry_after`` in seconds."""

    def __init__(self, system: str, retry_after: float | None):
        self.system = system
        self.retry_after = retry_after
        super().__init__(f"{system} rate limit hit; retry after {retry_after or 'a while'} s")


class DailyLimitReached(WisesyncError):
    """The per-organisation daily API cap is spent until ``reset_at``."""

    def __init__(self, system: str, reset_at: datetime | None):
        self.system = system
        self.reset_at = reset_at
        super().__init__(
            f"{system} daily API limit reached; the company is paused until "
            f"{reset_at.isoformat() if reset_at else 'the limit resets'}"
        )
