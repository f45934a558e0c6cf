"""``[notify]`` (every company) and ``[companies.notify]`` (one company; replaces what it sets).

::

    [notify]
    events = ["run_failed", "connection", "dead_letters", "unreachable"]   # the default: all
    interval = "1m"              # how often the notifier looks
    unreachable_after = "15m"    # how long a service may fail before anyone is told
    connection_warn = "7d"       # warn this long before a ledger connection expires
    [notify.email]
    host = "smtp.example.com"
    port = 587                   # STARTTLS on 587 (starttls = true, the default)
    username = "wisesync@example.com"
    password_env = "SMTP_PASSWORD"
    from = "wisesync@example.com"
    to = ["finance@example.com"]
    # ca_file = "/etc/ssl/internal-ca.pem"   # a private CA for the server's certificate
    [notify.webhook]
    url_env = "NOTIFY_WEBHOOK_URL"     # Slack/Teams URLs hold a secret: named by variable
    secret_env = "NOTIFY_WEBHOOK_SECRET"

Secrets are named by environment variable (``*_env``), never written in the file; a value
that is not a variable name is refused without being shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

EVENT_KINDS = ("run_failed", "connection", "dead_letters", "unreachable")


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """SMTP delivery. ``password_env`` names the variable holding the password."""

    host: str
    to: tuple[str, ...]
    sender: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """A JSON POST signed with HMAC-SHA256 (``secret_env``) over ``timestamp + "." + body``."""

    url_env: str
    secret_env: str
    attempts: int = 5
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """What one company (or, as ``[notify]``, every company) is told and how."""

    events: tuple[str, ...] = EVENT_KINDS
    interval_s: int = 60
    unreachable_after_s: int = 900
    connection_warn_s: int = 7 * 86400
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None

    @property
    def channels(self) -> list[EmailChannel | WebhookChannel]:
        """The configured channels (email first)."""
        return [c for c in (self.email, self.webhook) if c is not None]


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """``[notify]`` plus each company's overrides."""

    default: NotifySettings = field(default_factory=NotifySettings)
    companies: dict[str, NotifySettings] = field(default_factory=dict)

    def for_company(self, key: str | None) -> NotifySettings:
        """The settings in force for ``key`` (None: events of no company: the global ones)."""
        return self.companies.get(key or "", self.default)

    @property
    def configured(self) -> bool:
        """True when any company has a channel (else the notifier has nothing to do)."""
        return bool(self.default.channels) or any(s.channels for s in self.companies.values())


def _env_name(chk: Any, table: dict, key: str, prefix: str, required: bool) -> str | None:
    from wisesync.fields import is_env_name  # (wisesync.fields imports the config module)

    value = table.get(key)
    if value is None:
        if required:
            chk.problem(prefix + key, "missing", f'{key} = "NAME" of the environment variable')
        return None
    if not is_env_name(value):
        chk.problem(
            prefix + key,
            "expected the NAME of an environment variable (A-Z, 0-9, _), not its value "
            "(the value given is not shown)",
            f'{key} = "MY_VARIABLE" and export MY_VARIABLE=<the secret>',
        )
        return None
    return value


def _duration(chk: Any, table: dict, key: str, prefix: str, default: int) -> int:
    from wisesync.config import parse_duration

    if key not in table:
        return default
    try:
        if isinstance(table[key], bool):
            raise ValueError(f"{table[key]!r} is not a duration like 30s, 15m, 1h")
        return parse_duration(table[key])
    except ValueError as exc:
        chk.problem(prefix + key, str(exc))
        return default


def _email(raw: Any, prefix: str, chk: Any) -> EmailChannel | None:
    if not isinstance(raw, dict):
        chk.problem(prefix.rstrip("."), "expected a table")
        return None
    allowed = {"host", "port", "starttls", "username", "password_env", "from", "to", "ca_file"}
    chk.unknown(raw, allowed, prefix)
    if "password" in raw:
        return None  # reported as unknown; its value is never echoed
    to = raw.get("to", [])
    to = [to] if isinstance(to, str) else to
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        chk.problem(prefix + "to", "expected one or more e-mail addresses", 'to = ["a@b.com"]')
        to = []
    host = chk.typed(raw, "host", prefix, str, "")
    if not host:
        chk.problem(prefix + "host", "missing", 'host = "smtp.example.com"')
    sender = chk.typed(raw, "from", prefix, str, "")
    if "@" not in sender:
        chk.problem(prefix + "from", "expected the sender's e-mail address", 'from = "a@b.com"')
    username = chk.typed(raw, "username", prefix, str, None)
    password_env = _env_name(chk, raw, "password_env", prefix, required=username is not None)
    return EmailChannel(
        host=host,
        to=tuple(to),
        sender=sender,
        port=chk.typed(raw, "port", prefix, int, 587),
        starttls=chk.typed(raw, "starttls", prefix, bool, True),
        username=username,
        password_env=password_env,
        ca_file=chk.typed(raw, "ca_file", prefix, str, None),
    )


def _webhook(raw: Any, prefix: str, chk: Any) -> WebhookChannel | None:
    if not isinstance(raw, dict):
        chk.problem(prefix.rstrip("."), "expected a table")
        return None
    chk.unknown(raw, {"url_env", "secret_env"}, prefix)
    url_env = _env_name(chk, raw, "url_env", prefix, required=True)
    secret_env = _env_name(chk, raw, "secret_env", prefix, required=True)
    if url_env is None or secret_env is None:
        return None
    return WebhookChannel(url_env=url_env, secret_env=secret_env)


def _settings(raw: Any, prefix: str, chk: Any, base: NotifySettings) -> NotifySettings:
    if not isinstance(raw, dict):
        chk.problem(prefix.rstrip("."), "expected a table")
        return base
    allowed = {"events", "interval", "unreachable_after", "connection_warn", "email", "webhook"}
    chk.unknown(raw, allowed, prefix)
    events = base.events
    if "events" in raw:
        given = raw["events"]
        if not isinstance(given, list) or any(e not in EVENT_KINDS for e in given):
            chk.problem(
                prefix + "events",
                f"expected a list of event kinds, got {given!r}",
                f"choose from {', '.join(EVENT_KINDS)}",
            )
        else:
            events = tuple(given)
    settings = replace(
        base,
        events=events,
        interval_s=_duration(chk, raw, "interval", prefix, base.interval_s),
        unreachable_after_s=_duration(
            chk, raw, "unreachable_after", prefix, base.unreachable_after_s
        ),
        connection_warn_s=_duration(chk, raw, "connection_warn", prefix, base.connection_warn_s),
    )
    if "email" in raw:
        settings = replace(settings, email=_email(raw["email"], prefix + "email.", chk))
    if "webhook" in raw:
        settings = replace(settings, webhook=_webhook(raw["webhook"], prefix + "webhook.", chk))
    return settings


def parse_notify(raw: Any, companies: Any, chk: Any) -> NotifyConfig:
    """Read ``[notify]`` and every ``[companies.notify]``; problems go to ``chk``."""
    default = NotifySettings() if raw is None else _settings(raw, "notify.", chk, NotifySettings())
    per_company = {}
    for index, company in enumerate(companies):
        own = company.settings.get("notify")
        if own is not None:
            per_company[company.key] = _settings(own, f"companies[{index}].notify.", chk, default)
    return NotifyConfig(default, per_company)
