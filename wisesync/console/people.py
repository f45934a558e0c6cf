"""Managing console users, audited: what the Users page and ``wisesync users`` both do.

Each change is checked (known companies, never the last enabled super admin locked out),
made through :class:`~wisesync.console.users.UserStore` and recorded in the console audit
with who did it, the old and the new state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wisesync.console.audit import ConsoleAudit
from wisesync.console.users import Role, User, UserError, UserStore, parse_role


def describe(user: User | None) -> str:
    """``"account admin of acme, globex"`` / ``"super admin"`` (+ ``", disabled"``)."""
    if user is None:
        return "-"
    text = user.role.label
    if user.role is not Role.SUPER_ADMIN:
        text += f" of {', '.join(user.companies) or 'no company'}"
    return text + (", disabled" if user.disabled else "")


@dataclass
class People:
    """Add users, change their role and companies, disable and enable them; audited.

    ``actor`` (``console:<name>`` or ``cli:<os user>``) is who the audit names; ``known``
    the configured company keys a user's companies must come from."""

    users: UserStore
    audit: ConsoleAudit
    known: tuple[str, ...]

    def _companies(self, companies: Iterable[str]) -> tuple[str, ...]:
        wanted = tuple(dict.fromkeys(c.strip() for c in companies if c.strip()))
        unknown = [c for c in wanted if c not in self.known]
        if unknown:
            raise UserError(
                f"unknown company {', '.join(unknown)}: choose from {', '.join(self.known)}"
            )
        return wanted

    def _find(self, username: str) -> User:
        user = self.users.by_name(username)
        if user is None:
            raise UserError(f"no user {username!r} (`wisesync users list` shows them)")
        return user

    def _keeps_a_super_admin(self, before: User, after_role: Role, after_disabled: bool) -> None:
        """Refuse a change that leaves nobody able to manage users."""
        losing = before.role is Role.SUPER_ADMIN and not before.disabled
        if losing and (after_role is not Role.SUPER_ADMIN or after_disabled):
            others = [
                u
                for u in self.users.list()
                if u.role is Role.SUPER_ADMIN and not u.disabled and u.id != before.id
            ]
            if not others:
                raise UserError(
                    f"{before.username} is the last enabled super admin: make another user "
                    "super admin first"
                )

    def _record(self, action: str, actor: str, before: User | None, after: User, client: str):
        self.audit.record(
            action,
            username=actor,
            detail=f"{after.username}: {describe(before)} -> {describe(after)}",
            client=client,
        )

    def add(
        self,
        actor: str,
        username: str,
        password: str,
        role: str,
        companies: Iterable[str] = (),
        client: str | None = None,
    ) -> User:
        """Add a user (UserError naming what is wrong)."""
        user = self.users.add(username, password, role, self._companies(companies))
        self._record("user_added", actor, None, user, client)
        return user

    def set_role(
        self,
        actor: str,
        username: str,
        role: str,
        companies: Iterable[str] | None = None,
        client: str | None = None,
    ) -> User:
        """Change a user's role (and, when given, the companies of their account)."""
        before = self._find(username)
        parsed = parse_role(role)
        wanted = None if companies is None else self._companies(companies)
        if parsed is not Role.SUPER_ADMIN and not (
            wanted if wanted is not None else before.companies
        ):
            raise UserError(f"a {parsed.label} needs at least one company of their account")
        self._keeps_a_super_admin(before, parsed, before.disabled)
        after = self.users.set_role(username, parsed.value, wanted)
        if after != before:
            self._record("user_role", actor, before, after, client)
        return after

    def set_disabled(
        self, actor: str, username: str, disabled: bool, client: str | None = None
    ) -> User:
        """Disable (their sessions end at once) or enable a user."""
        before = self._find(username)
        if disabled:
            self._keeps_a_super_admin(before, before.role, True)
        after = self.users.set_disabled(username, disabled)
        if after != before:
            self._record(
                "user_disabled" if disabled else "user_enabled", actor, before, after, client
            )
        return after
