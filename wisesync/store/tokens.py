"""OAuth token store for ledger plugins (Xero, QBO): encrypted at rest, refreshed once.

One row per (company, provider) in ``oauth_tokens`` (migration 0003). The whole
token set (access and refresh token, expiry, scope, and provider data such as the
Xero tenant id or the QBO realm id) is encrypted with Fernet using the key in the
environment variable ``WISESYNC_SECRET_KEY`` (several comma-separated keys rotate:
the first encrypts, all decrypt).

Xero and QBO rotate the refresh token on every use, so two processes refreshing
the same connection at once would spend one refresh token twice and lose the
connection. :meth:`TokenStore.refresh` therefore runs the provider's refresh call
inside ``SELECT ... FOR UPDATE`` on the row: the second process waits, then finds
the token already renewed and uses it without calling the provider.

A refresh the provider refuses (``invalid_grant``: revoked, expired, reused) marks
the row ``invalid``; every later use raises :class:`~wisesync.errors.AuthError`
until the company is reconnected (:meth:`TokenStore.save`).

Usage (a plugin)::

    store = token_store(runtime.db)
    token = store.refresh("acme", "xero", refresher)   # valid for 60 s more at least
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from wisesync.errors import AuthError, ConfigError

SECRET_KEY_ENV = "WISESYNC_SECRET_KEY"
ACTIVE, INVALID = "active", "invalid"


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """An OAuth2 token set. ``data`` holds provider extras (tenant id, realm id...).

    ``repr`` never shows the tokens.
    """

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    scope: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        """True when the access token is expired or will be within ``seconds``."""
        now = now or datetime.now(UTC)
        return self.expires_at <= now + timedelta(seconds=seconds)

    @classmethod
    def from_response(
        cls,
        body: Mapping[str, Any],
        *,
        now: datetime | None = None,
        previous: OAuthToken | None = None,
    ) -> OAuthToken:
        """Parse an RFC 6749 token response. A response without a refresh token keeps
        the previous one; provider data is carried over from ``previous``."""
        now = now or datetime.now(UTC)
        access = body.get("access_token")
        if not access:
            raise AuthError("oauth", 400, "the token response has no access_token")
        expires_in = int(body.get("expires_in") or 1800)
        return cls(
            access_token=str(access),
            expires_at=now + timedelta(seconds=expires_in),
            refresh_token=body.get("refresh_token")
            or (previous.refresh_token if previous else None),
            token_type=str(body.get("token_type") or "Bearer"),
            scope=body.get("scope") or (previous.scope if previous else None),
            data=dict(previous.data) if previous else {},
        )

    def with_data(self, **data: Any) -> OAuthToken:
        """A copy with ``data`` merged in."""
        return replace(self, data={**self.data, **data})

    def to_json(self) -> bytes:
        """The token set as JSON bytes (to encrypt)."""
        return json.dumps(
            {
                "access_token": self.access_token,
                "expires_at": self.expires_at.isoformat(),
                "refresh_token": self.refresh_token,
                "token_type": self.token_type,
                "scope": self.scope,
                "data": self.data,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> OAuthToken:
        """The inverse of :meth:`to_json`."""
        d = json.loads(raw)
        return cls(
            access_token=d["access_token"],
            expires_at=datetime.fromisoformat(d["expires_at"]),
            refresh_token=d.get("refresh_token"),
            token_type=d.get("token_type") or "Bearer",
            scope=d.get("scope"),
            data=d.get("data") or {},
        )


Refresher = Callable[[OAuthToken | None], OAuthToken]
"""Gets a new token from the provider, given the current one (None: there is none
yet, for grants that need no stored secret such as client credentials). Raises
:class:`~wisesync.errors.AuthError` when the provider refuses."""


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A row of the store: the token, whether it is usable, and its version."""

    token: OAuthToken
    status: str = ACTIVE
    reason: str | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Locked:
    """A row as :meth:`TokenStore.refresh` reads it under the lock, and how it writes it."""

    row: StoredToken | None
    save: Callable[[OAuthToken], None]
    """Store a token as the active connection."""
    invalidate: Callable[[str], None]
    """Mark the connection unusable, with a reason."""


class TokenMissing(AuthError):
    """No connection is stored for (company, provider)."""


class Cipher:
    """Fernet encryption with the key(s) from ``WISESYNC_SECRET_KEY``."""

    def __init__(self, keys: str | None = None):
        from cryptography.fernet import Fernet, MultiFernet

        raw = keys if keys is not None else os.environ.get(SECRET_KEY_ENV, "")
        parts = [k.strip() for k in raw.split(",") if k.strip()]
        if not parts:
            raise ConfigError(
                f"{SECRET_KEY_ENV} is not set: OAuth tokens are stored encrypted with it",
                key=SECRET_KEY_ENV,
                hint=f"export {SECRET_KEY_ENV}=$(python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())') and keep it safe",
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError):
            raise ConfigError(
                f"{SECRET_KEY_ENV} is not a valid Fernet key (32 url-safe base64 bytes)",
                key=SECRET_KEY_ENV,
            ) from None

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt with the first key."""
        return self._fernet.encrypt(data)

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt with any key; ConfigError when none fits."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(bytes(data))
        except InvalidToken:
            raise ConfigError(
                f"a stored OAuth token cannot be decrypted with {SECRET_KEY_ENV}",
                key=SECRET_KEY_ENV,
                hint="restore the key the tokens were stored with (list it after the new "
                "one, comma-separated), or reconnect the company",
            ) from None


class TokenStore(ABC):
    """Where OAuth connections live. See the module docstring for the refresh rule."""

    @abstractmethod
    def get(self, company: str, provider: str) -> StoredToken | None:
        """The stored row, or None."""

    @abstractmethod
    def save(self, company: str, provider: str, token: OAuthToken) -> None:
        """Store ``token`` as the active connection (after a consent or reconnect)."""

    @abstractmethod
    def delete(self, company: str, provider: str) -> None:
        """Forget the connection."""

    @abstractmethod
    def mark_invalid(self, company: str, provider: str, reason: str) -> None:
        """Mark the connection unusable until it is saved again."""

    @abstractmethod
    def _locked(
        self, company: str, provider: str, *, create: bool
    ) -> AbstractContextManager[Locked]:
        """Hold the row's lock (with ``create``, also while the row does not exist yet)
        and give the row as read under it; what :class:`Locked` writes lasts only if the
        block ends without an exception."""

    def refresh(
        self,
        company: str,
        provider: str,
        refresher: Refresher,
        *,
        margin: float = 60.0,
        stale_access_token: str | None = None,
        create: bool = False,
    ) -> OAuthToken:
        """A token valid for at least ``margin`` seconds, renewing it under the row lock.

        The provider is called only when the stored token (read under the lock) is
        still the one that needs renewing: expiring within ``margin``, or equal to
        ``stale_access_token`` (the token a 401 was just received with). With
        ``create`` a missing row is created by ``refresher(None)``; otherwise a
        missing row raises :class:`TokenMissing`. A refusal marks the row invalid.
        """
        refused: AuthError | None = None
        with self._locked(company, provider, create=create) as locked:
            if locked.row is None and create:
                token = refresher(None)
                locked.save(token)
                return token
            row = _usable(locked.row, company, provider)
            if not _needs_refresh(row.token, margin, stale_access_token):
                return row.token
            try:
                token = refresher(row.token)
            except AuthError as exc:
                # raised once the block is left: raising inside it would undo the mark
                refused = exc
                locked.invalidate(str(exc)[:500])
            else:
                locked.save(token)
                return token
        assert refused is not None
        raise refused

    def current(self, company: str, provider: str) -> OAuthToken:
        """The stored token (no refresh); AuthError when missing or invalid."""
        return _usable(self.get(company, provider), company, provider).token


def _usable(row: StoredToken | None, company: str, provider: str) -> StoredToken:
    """``row`` when it is there and active; else the AuthError to raise."""
    if row is None:
        raise TokenMissing(provider, 401, f"company {company} has no {provider} connection")
    if row.status != ACTIVE:
        raise AuthError(
            provider,
            401,
            f"the {provider} connection of company {company} is invalid "
            f"({row.reason or 'refused by the provider'})",
        )
    return row


def _needs_refresh(token: OAuthToken, margin: float, stale: str | None) -> bool:
    if stale is not None:
        return token.access_token == stale or token.expires_within(0)
    return token.expires_within(margin)


class MemoryTokenStore(TokenStore):
    """An in-process store (tests, and commands run without a database)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], StoredToken] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, company: str, provider: str) -> StoredToken | None:
        return self._rows.get((company, provider))

    def save(self, company: str, provider: str, token: OAuthToken) -> None:
        key = (company, provider)
        old = self._rows.get(key)
        self._rows[key] = StoredToken(token, ACTIVE, None, (old.version + 1) if old else 1)

    def delete(self, company: str, provider: str) -> None:
        self._rows.pop((company, provider), None)

    def mark_invalid(self, company: str, provider: str, reason: str) -> None:
        key = (company, provider)
        old = self._rows.get(key)
        if old is not None:
            self._rows[key] = replace(old, status=INVALID, reason=reason)

    @contextmanager
    def _locked(self, company: str, provider: str, *, create: bool) -> Iterator[Locked]:
        key = (company, provider)
        with self._lock(key):
            yield Locked(
                self._rows.get(key),
                lambda token: self.save(company, provider, token),
                lambda reason: self.mark_invalid(company, provider, reason),
            )


@contextmanager
def connection(db: Any) -> Iterator[Any]:
    """A psycopg connection from ``db``: a :class:`wisesync.store.db.Database` (or any
    object with a ``connection()`` context manager), or a DSN string."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db) as conn:
            yield conn
    else:
        with db.connection() as conn:
            yield conn


_SELECT = (
    "SELECT token, status, status_reason, version FROM oauth_tokens "
    "WHERE company = %s AND provider = %s"
)


class PostgresTokenStore(TokenStore):
    """The ``oauth_tokens`` table. ``db`` is a Database or a DSN."""

    def __init__(self, db: Any, cipher: Cipher | None = None, *, lock_timeout_s: int = 60):
        self.db = db
        self.cipher = cipher or Cipher()
        self.lock_timeout_s = lock_timeout_s

    def _row(self, raw: tuple) -> StoredToken:
        token = OAuthToken.from_json(self.cipher.decrypt(raw[0]))
        return StoredToken(token, raw[1], raw[2], raw[3])

    def get(self, company: str, provider: str) -> StoredToken | None:
        with connection(self.db) as conn:
            raw = conn.execute(_SELECT, (company, provider)).fetchone()
            conn.commit()
        return self._row(raw) if raw else None

    def _upsert(self, conn: Any, company: str, provider: str, token: OAuthToken) -> None:
        conn.execute(
            """INSERT INTO oauth_tokens (company, provider, token, expires_at)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (company, provider) DO UPDATE SET
                   token = EXCLUDED.token, expires_at = EXCLUDED.expires_at,
                   status = 'active', status_reason = NULL,
                   version = oauth_tokens.version + 1, updated_at = now()""",
            (company, provider, self.cipher.encrypt(token.to_json()), token.expires_at),
        )

    def save(self, company: str, provider: str, token: OAuthToken) -> None:
        with connection(self.db) as conn, conn.transaction():
            self._upsert(conn, company, provider, token)

    def delete(self, company: str, provider: str) -> None:
        with connection(self.db) as conn, conn.transaction():
            conn.execute(
                "DELETE FROM oauth_tokens WHERE company = %s AND provider = %s",
                (company, provider),
            )

    @staticmethod
    def _invalidate(conn: Any, company: str, provider: str, reason: str) -> None:
        conn.execute(
            "UPDATE oauth_tokens SET status = 'invalid', status_reason = %s, "
            "updated_at = now() WHERE company = %s AND provider = %s",
            (reason[:500], company, provider),
        )

    def mark_invalid(self, company: str, provider: str, reason: str) -> None:
        with connection(self.db) as conn, conn.transaction():
            self._invalidate(conn, company, provider, reason)

    @contextmanager
    def _locked(self, company: str, provider: str, *, create: bool) -> Iterator[Locked]:
        """The row under ``SELECT ... FOR UPDATE`` in one transaction."""
        select = _SELECT + " FOR UPDATE"
        with connection(self.db) as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{int(self.lock_timeout_s)}s'")
            raw = conn.execute(select, (company, provider)).fetchone()
            if raw is None and create:
                # no row to lock yet: serialise creators on an advisory lock
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"oauth_tokens:{company}:{provider}",),
                )
                raw = conn.execute(select, (company, provider)).fetchone()
            yield Locked(
                self._row(raw) if raw else None,
                lambda token: self._upsert(conn, company, provider, token),
                lambda reason: self._invalidate(conn, company, provider, reason),
            )


def token_store(db: Any = None) -> TokenStore:
    """The Postgres store when a database is available, else an in-memory one."""
    return MemoryTokenStore() if db is None else PostgresTokenStore(db)
