"""What a start would need, checked before it: ``wisesync config check`` (and ``--online``).

:func:`readiness` (no I/O) finds what a well-formed config still lacks to start: an
environment variable a ``*_env`` setting names but nobody exported, ``WISESYNC_SECRET_KEY``
missing or not a Fernet key when a plugin keeps OAuth tokens, and each plugin's own needs
(:meth:`wisesync.protocols.Source.check_ready`, :meth:`~wisesync.protocols.Target.check_ready`).
:func:`online_checks` tries each connection: Postgres, Kafka, and every plugin's
(:meth:`~wisesync.protocols.Source.check_online`): each answer is a :class:`Check`, ok or the
reason, never a secret.

The core names no plugin here: a plugin contributes through those two protocol methods.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from wisesync.company import ConfigProblem

if TYPE_CHECKING:
    from wisesync.config import AppConfig
    from wisesync.plugins import Registry
    from wisesync.protocols import PluginRuntime

SECRET_KEY_ENV = "WISESYNC_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class Check:
    """One connection tried by ``config check --online``: ``ok`` or the reason it is not."""

    name: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}" + (
            f" ({self.detail})" if self.detail else ""
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def unset_env_problem(
    key: str, name: str, environ: Mapping[str, str], why: str = ""
) -> ConfigProblem | None:
    """A problem when the environment variable ``name`` (named by setting ``key``) is unset
    or empty; the hint suggests a close, set variable (a typo in the name)."""
    if environ.get(name):
        return None
    from wisesync.fields import might_be_key

    if might_be_key(name):
        return ConfigProblem(
            key,
            f"the environment variable it names is not set{why}; the name is not shown: "
            "it looks like a pasted secret, not a variable name",
            "name a variable such as ACME_SECRET and export it; if a secret was pasted into "
            "the file, rotate it",
        )
    close = difflib.get_close_matches(name, [k for k, v in environ.items() if v], n=1, cutoff=0.85)
    hint = f"export {name}=..." + (f", or did you mean {close[0]}?" if close else "")
    return ConfigProblem(key, f"environment variable {name} is not set{why}", hint)


def env_problems(
    section: str, table: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """A problem for every ``*_env`` setting of a plugin's table (nested tables too) whose
    environment variable is unset. Keys are relative to the company (``<section>.<key>``).
    Malformed names are the settings check's job (refused there without echo): skipped."""
    from wisesync.fields import is_env_name

    env = os.environ if environ is None else environ
    out: list[ConfigProblem] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            out += env_problems(f"{section}.{key}", value, env)
        elif key.endswith("_env") and is_env_name(value):
            problem = unset_env_problem(f"{section}.{key}", value, env)
            if problem is not None:
                out.append(problem)
    return out


def secret_key_problem(environ: Mapping[str, str] | None = None) -> ConfigProblem | None:
    """``WISESYNC_SECRET_KEY`` missing or not a valid Fernet key (the value is never shown)."""
    from wisesync.errors import ConfigError
    from wisesync.store.tokens import Cipher

    env = os.environ if environ is None else environ
    raw = env.get(SECRET_KEY_ENV, "")
    if not raw.strip():
        return ConfigProblem(
            SECRET_KEY_ENV,
            "not set: the ledgers' OAuth tokens are stored encrypted with it",
            _KEY_HINT,
        )
    try:
        Cipher(raw)
    except ConfigError:
        return ConfigProblem(
            SECRET_KEY_ENV,
            "not a valid Fernet key (32 url-safe base64 bytes; the value is not shown)",
            _KEY_HINT,
        )
    return None


_KEY_HINT = (
    f"export {SECRET_KEY_ENV}=$(python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())') and keep it safe"
)


def _notify_env_names(config: AppConfig) -> Iterable[tuple[str, str]]:
    """``(key, variable)`` of every ``*_env`` setting of ``[notify]`` and the companies'."""
    scopes = [("notify", config.notify.default)]
    scopes += [(f"companies.{k}.notify", s) for k, s in config.notify.companies.items()]
    for prefix, settings in scopes:
        for channel_name in ("email", "webhook"):
            channel = getattr(settings, channel_name)
            if channel is None or not is_dataclass(channel):
                continue
            for f in fields(channel):
                value = getattr(channel, f.name)
                if f.name.endswith("_env") and value:
                    yield f"{prefix}.{channel_name}.{f.name}", value


def _plugins_of(config: AppConfig, registry: Registry, runtime: PluginRuntime):
    """``(index, company, plugin instance)`` for each company's source and ledger plugin
    (one instance per class)."""
    made: dict[type, Any] = {}
    for i, company in enumerate(config.companies):
        for cls in (registry.sources.get(company.source), registry.targets.get(company.ledger)):
            if cls is None:
                continue
            if cls not in made:
                made[cls] = cls(runtime)
            yield i, company, made[cls]


def readiness(
    config: AppConfig, registry: Registry, environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Everything a start would need that is missing (no I/O), each problem once: the
    variable ``store.dsn_env`` names, every plugin's (:meth:`~wisesync.protocols.Preflight.
    check_ready`) and ``[notify]``'s ``*_env`` variables, ``WISESYNC_SECRET_KEY``."""
    from wisesync.protocols import PluginRuntime

    env = dict(os.environ if environ is None else environ)
    runtime = PluginRuntime(config=config, environ=env)
    problems: list[ConfigProblem] = []
    if config.dsn_env:
        from wisesync.config import dsn_env_problem

        problem = dsn_env_problem(config.dsn_env, env)
        if problem is not None:
            problems.append(problem)
    needs_key = False
    for i, company, plugin in _plugins_of(config, registry, runtime):
        needs_key = needs_key or bool(getattr(plugin, "uses_token_store", False))
        for p in plugin.check_ready(company):
            problems.append(ConfigProblem(f"companies[{i}].{p.key}", p.message, p.hint))
    for key, name in _notify_env_names(config):
        problem = unset_env_problem(key, name, env)
        if problem is not None:
            problems.append(problem)
    if needs_key:
        problem = secret_key_problem(env)
        if problem is not None:
            problems.append(problem)
    file = config.source_file
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(ConfigProblem(p.key, p.message, p.hint, file))
    return out


def online_checks(config: AppConfig, registry: Registry, *, timeout_s: float = 10.0) -> list[Check]:
    """Try every connection a start makes: Postgres, Kafka (when configured) and each
    plugin's, per company. Never raises for a failed connection: it is a failed Check."""
    from wisesync.protocols import PluginRuntime

    postgres, dsn = _postgres(config, timeout_s)
    checks = [postgres]
    if config.transport == "kafka":
        checks.append(_kafka(config, timeout_s))
    db = _database(dsn) if dsn else None
    try:
        runtime = PluginRuntime(config=config, db=db)
        for _, company, plugin in _plugins_of(config, registry, runtime):
            try:
                found = plugin.check_online(company)
            except Exception as exc:  # a plugin's probe failing is a failed check
                found = [Check(f"{company.key}: {plugin.name}", False, failure_reason(exc, config))]
            checks.extend(found)
    finally:
        if db is not None:
            db.close()
    return checks


def failure_reason(exc: BaseException, config: AppConfig) -> str:
    """A failed connection's reason on one line, every configured secret scrubbed out."""
    from wisesync.requestlog.redact import configured_secrets, scrub

    text = str(exc).splitlines()[0] if str(exc) else ""
    return scrub(
        f"{type(exc).__name__}: {text}" if text else type(exc).__name__, configured_secrets(config)
    )


def _postgres(config: AppConfig, timeout_s: float) -> tuple[Check, str | None]:
    """Connect to the configured Postgres (the embedded one is started, as a start would):
    the check, and the DSN when it answered."""
    import psycopg

    from wisesync.store.db import _safe_dsn, resolve_dsn

    try:
        dsn = config.dsn or resolve_dsn(config, announce=False)
    except Exception as exc:
        return Check("postgres", False, failure_reason(exc, config)), None
    where = _safe_dsn(dsn) if config.dsn else f"embedded in {config.data_dir / 'postgres'}"
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return Check("postgres", False, f"{where}: {type(exc).__name__}"), None
    return Check("postgres", True, where), dsn


def _database(dsn: str):
    from wisesync.store.db import Database

    try:
        return Database(dsn, min_size=1, max_size=2, name="wisesync-config-check")
    except Exception:
        return None


def _kafka(config: AppConfig, timeout_s: float) -> Check:
    servers = config.kafka.bootstrap_servers
    try:
        from kafka import KafkaAdminClient

        ms = int(timeout_s * 1000)
        admin = KafkaAdminClient(
            bootstrap_servers=servers.split(","),
            client_id=config.kafka.client_id,
            request_timeout_ms=ms,
            api_version_auto_timeout_ms=ms,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
    except Exception as exc:
        return Check("kafka", False, f"{servers}: {type(exc).__name__}")
    return Check("kafka", True, servers)


def try_connection(name: str, attempt: Callable[[], str]) -> list[Check]:
    """A plugin's :meth:`~wisesync.protocols.Preflight.check_online` in one line:
    ``attempt()`` makes the cheap read and returns what to show on success (an API root, a
    tenant id); a :class:`~wisesync.errors.WisesyncError` it raises is the reason it failed
    (wisesync's errors never carry a secret)."""
    from wisesync.errors import WisesyncError

    try:
        detail = attempt()
    except WisesyncError as exc:
        return [Check(name, False, str(exc).splitlines()[0])]
    return [Check(name, True, detail)]


def try_session(name: str, sessions: Any, company: Any, read: Callable[[Any], str]) -> list[Check]:
    """:func:`try_connection` for a ledger on OAuth: ``sessions.client(company,
    limiter=None)`` (its :class:`wisesync.oauth.Sessions`: the stored token, refreshed
    when due) then ``read(client)``, one cheap read returning what to show."""
    return try_connection(name, lambda: read(sessions.client(company, limiter=None)))
