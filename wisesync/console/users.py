"""Console users: argon2 password hashes in Postgres, roles, companies, sign-in throttling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wisesync.errors import WisesyncError

if TYPE_CHECKING:
    from wisesync.store.db import Database


class Role(StrEnum):
    """The product's three roles, most powerful first."""

    SUPER_ADMIN = "super_admin"
    ACCOUNT_ADMIN = "account_admin"
    USER = "user"

    @property
    def label(self) -> str:
        """How the console names the role."""
        return self.value.replace("_", " ")

    @property
    def is_admin(self) -> bool:
        """Super admins and account admins manage options and the Sync All switch."""
        return self in (Role.SUPER_ADMIN, Role.ACCOUNT_ADMIN)


#: Failed sign-ins within THROTTLE_WINDOW_S that lock a username (and, x4, a client address).
THROTTLE_FAILURES = 5
THROTTLE_WINDOW_S = 15 * 60
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,100}")

_hasher = PasswordHasher()
#: verified against when the username is unknown, so both cases take the same time
_DUMMY_HASH = _hasher.hash("wisesync-no-such-user")


class UserError(WisesyncError):
    """A user command that cannot be done (unknown user, weak password, bad role)."""


class SignInThrottled(WisesyncError):
    """Too many failed sign-ins for this username or address recently."""


@dataclass(frozen=True, slots=True)
class User:
    """A console user (never carries the password hash out of this module)."""

    id: int
    username: str
    role: Role
    companies: tuple[str, ...]
    disabled: bool

    def can_see(self, company: str) -> bool:
        """Super admins see every company; others those of their account."""
        return self.role is Role.SUPER_ADMIN or company in self.companies

    def company_scope(self) -> str:
        """ "every company" or the comma list of the account's companies."""
        if self.role is Role.SUPER_ADMIN:
            return "every company"
        return ", ".join(self.companies) or "no company"


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (the library's recommended parameters)."""
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches the argon2 ``stored_hash``."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def parse_role(value: str) -> Role:
    """The :class:`Role` named ``value`` (``super_admin``, ``account-admin``, ``user``...);
    UserError naming the roles otherwise."""
    try:
        return Role(value.replace("-", "_").replace(" ", "_").lower())
    except ValueError:
        raise UserError(
            f"unknown role {value!r}: choose super_admin, account_admin or user"
        ) from None


_COLUMNS = "id, username, role, companies, disabled"


def _user(row: tuple) -> User:
    return User(row[0], row[1], Role(row[2]), tuple(row[3] or ()), bool(row[4]))


class UserStore:
    """Add, list, change and authenticate console users."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, username: str, password: str, role: str, companies: tuple[str, ...] = ()) -> User:
        """Create a user; raises UserError when the name is taken or the password too short."""
        username = username.strip()
        if not _USERNAME.fullmatch(username):
            raise UserError(
                f"username {username[:40]!r}: use 1 to 100 letters, digits and . _ @ - "
                "(it is part of page addresses and the audit)"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
        parsed = parse_role(role)
        if parsed is not Role.SUPER_ADMIN and not companies:
            raise UserError(
                f"a {parsed.label} needs the companies of their account: add --company KEY"
            )
        with self.db.connection() as conn:
            row = conn.execute(
                f"""INSERT INTO console_users (username, password_hash, role, companies)
                    VALUES (%s,%s,%s,%s) ON CONFLICT (username) DO NOTHING
                    RETURNING {_COLUMNS}""",
                (username, hash_password(password), parsed.value, list(companies)),
            ).fetchone()
        if row is None:
            raise UserError(f"user {username!r} already exists")
        return _user(row)

    def list(self) -> list[User]:
        """Every user, by name."""
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM console_users ORDER BY username")
            return [_user(r) for r in rows.fetchall()]

    def count_active(self) -> int:
        """How many users can sign in."""
        with self.db.connection() as conn:
            (n,) = conn.execute("SELECT count(*) FROM console_users WHERE NOT disabled").fetchone()
        return int(n)

    def by_name(self, username: str) -> User | None:
        """The user called ``username``, or None."""
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM console_users WHERE username=%s", (username.strip(),)
            ).fetchone()
        return _user(row) if row else None

    def get(self, user_id: int) -> User | None:
        """The user with ``user_id``, or None."""
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM console_users WHERE id=%s", (user_id,)
            ).fetchone()
        return _user(row) if row else None

    def _update(self, username: str, sql: str, params: tuple) -> User:
        with self.db.connection() as conn:
            row = conn.execute(
                f"UPDATE console_users SET {sql}, updated_at=now() WHERE username=%s "
                f"RETURNING {_COLUMNS}",
                (*params, username),
            ).fetchone()
        if row is None:
            raise UserError(f"no user {username!r} (`wisesync users list` shows them)")
        return _user(row)

    def set_role(self, username: str, role: str, companies: tuple[str, ...] | None = None) -> User:
        """Change a user's role (and, when given, the companies of their account)."""
        parsed = parse_role(role)
        if companies is None:
            return self._update(username, "role=%s", (parsed.value,))
        return self._update(username, "role=%s, companies=%s", (parsed.value, list(companies)))

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        """Disable (or enable again) a user: a disabled user's sessions stop at once."""
        return self._update(username, "disabled=%s", (disabled,))

    def set_password(self, username: str, password: str) -> User:
        """Replace a user's password."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
        return self._update(username, "password_hash=%s", (hash_password(password),))

    def authenticate(self, username: str, password: str, client: str) -> User | None:
        """The user when the password matches and the account is enabled, else None.

        Raises SignInThrottled (without checking the password) after THROTTLE_FAILURES
        failures for the username, or four times that many from the client address, within
        THROTTLE_WINDOW_S. Every failure is recorded; a success clears the username's."""
        username = username.strip()
        with self.db.connection() as conn:
            (by_user, by_client) = conn.execute(
                """SELECT count(*) FILTER (WHERE username = %(u)s),
                          count(*) FILTER (WHERE client = %(c)s)
                     FROM console_signin_failures
                    WHERE at > now() - make_interval(secs => %(w)s)
                      AND (username = %(u)s OR client = %(c)s)""",
                {"u": username, "c": client, "w": THROTTLE_WINDOW_S},
            ).fetchone()
            if by_user >= THROTTLE_FAILURES or by_client >= 4 * THROTTLE_FAILURES:
                raise SignInThrottled(
                    "too many failed sign-ins: wait 15 minutes, or ask an admin to check "
                    "the audit page"
                )
            row = conn.execute(
                f"SELECT {_COLUMNS}, password_hash FROM console_users WHERE username=%s",
                (username,),
            ).fetchone()
            ok = check_password(row[5] if row else _DUMMY_HASH, password) and bool(row)
            if not ok or row[4]:
                conn.execute(
                    "INSERT INTO console_signin_failures (username, client) VALUES (%s,%s)",
                    (username, client),
                )
                return None
            conn.execute("DELETE FROM console_signin_failures WHERE username=%s", (username,))
            if _hasher.check_needs_rehash(row[5]):
                conn.execute(
                    "UPDATE console_users SET password_hash=%s WHERE id=%s",
                    (hash_password(password), row[0]),
                )
        return _user(row[:5])
