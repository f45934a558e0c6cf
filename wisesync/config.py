"""Configuration: one TOML file plus ``WISESYNC_*`` environment overrides.

The file names secrets by environment variable (``*_env`` keys), never holds
them. :func:`load_config` validates the core's part and raises :class:`ConfigInvalid`
with every problem found (file, key, what is wrong, how to fix it); the plugin
registry checks each plugin's section of a parsed config
(:meth:`wisesync.plugins.Registry.checked`). ``wisesync config check`` prints every
problem of both and exits 2.

Example::

    data_dir = ".wisesync"              # embedded Postgres + state when no DSN is set

    [store]
    dsn_env = "WISESYNC_DSN"            # optional: without it, embedded Postgres; named but
                                        # unset is an error (never a silent fallback)

    [transport]
    kind = "embedded"                   # or "kafka"
    retention = "7d"                    # embedded log: prune read messages older than this
    [transport.kafka]
    bootstrap_servers = "127.0.0.1:9092"
    partitions = 6

    [[companies]]
    key = "acme"
    name = "Acme MSP"
    ledger = "xero"
    record_types = ["invoice", "credit_memo", "expense", "procurement", "payment"]
    sync_all = false
    hold_billing_statuses = ["Finance Hold"]
    interval = "15m"
    [companies.options]
    adjustment_cap = "10.00"
    [companies.connectwise]
    base_url = "https://api-na.myconnectwise.net"
    company_id = "acme"
    public_key_env = "ACME_CW_PUBLIC_KEY"
    private_key_env = "ACME_CW_PRIVATE_KEY"
    client_id_env = "ACME_CW_CLIENT_ID"
    [companies.xero]
    client_id_env = "ACME_XERO_CLIENT_ID"
    client_secret_env = "ACME_XERO_CLIENT_SECRET"
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from wisesync.company import CompanyConfig, CompanyOptions, ConfigInvalid, ConfigProblem
from wisesync.errors import ConfigError
from wisesync.events.models import RecordType
from wisesync.notify.settings import NotifyConfig, parse_notify
from wisesync.requestlog.settings import RequestLogSettings, parse_request_log
from wisesync.transport.topics import Topics

__all__ = [
    "AppConfig",
    "CompanyConfig",
    "CompanyOptions",
    "ConfigInvalid",
    "ConfigProblem",
    "KafkaSettings",
    "load_config",
    "parse_config",
    "parse_duration",
]

ENV_PREFIX = "WISESYNC_"
DEFAULT_CONFIG_FILE = "wisesync.toml"


_INSTANCE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def valid_instance_id(value: str) -> bool:
    """True when ``value`` can name a process in Kafka's static membership."""
    return bool(re.fullmatch(r"[A-Za-z0-9._-]{1,200}", value or ""))


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """``[transport.kafka]``."""

    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = 6
    client_id: str = "wisesync"
    #: ``transport.kafka.instance_id``: the stable name of this process in its consumer
    #: groups (Kafka static membership, ``group.instance.id`` = ``<instance_id>-<role>``), so a
    #: restarted daemon takes its partitions back without a rebalance. ``"host"`` (default):
    #: the host name; ``"off"``: dynamic membership. Two processes running the same role on
    #: one host need different ids (``wisesync run --instance-id``).
    instance_id: str = "host"

    def group_instance_id(self, role: str, instance_id: str | None = None) -> str | None:
        """The ``group.instance.id`` of ``role`` in this process (None: static membership
        off). ``instance_id`` overrides the configured one (``wisesync run --instance-id``)."""
        name = instance_id or self.instance_id
        if name == "off":
            return None
        if name == "host":
            import socket

            name = _INSTANCE_UNSAFE.sub("-", socket.gethostname()).strip("-") or "wisesync"
        return f"{name}-{role}"


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The whole validated configuration."""

    data_dir: Path = Path(".wisesync")
    dsn: str | None = None
    #: ``store.dsn_env``: the variable the DSN is read from (None: not configured)
    dsn_env: str | None = None
    transport: str = "embedded"
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    group: str = "wisesync"
    topic_prefix: str = ""
    #: ``transport.retention``: the embedded transport prunes log rows older than this once
    #: every consumer group has read them (0 = keep forever). Kafka: the topics' retention.ms.
    retention_seconds: int = 7 * 86400
    metrics_port: int = 9464
    #: ``poster.in_flight``: how old a ``claimed`` journal row must be before a poster asks
    #: the ledger whether it holds the record (None: each target's ``limits.in_flight_s``).
    poster_in_flight_s: float | None = None
    #: ``poster.outage_wait`` / ``poster.outage_retry``: how long a company's records wait
    #: out a ledger outage, and how often it is tried meanwhile (None: the poster's default).
    poster_outage_wait_s: float | None = None
    poster_outage_retry_s: float | None = None
    #: ``poster.workers``: companies one poster process posts at the same time (None: 32)
    poster_workers: int | None = None
    companies: tuple[CompanyConfig, ...] = ()
    source_file: str = ""
    #: ``[requests]``: the request log's retention and debug bodies (wisesync.requestlog)
    requests: RequestLogSettings = field(default_factory=RequestLogSettings)
    #: ``[notify]`` and each ``[companies.notify]`` (wisesync.notify)
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    @property
    def topics(self) -> Topics:
        """This deployment's topic names (``transport.topic_prefix`` + the standard names)."""
        return Topics(self.topic_prefix)

    def group_for(self, role: str) -> str:
        """The consumer group of a role: ``<group>-<role>`` (e.g. ``wisesync-poster``)."""
        return f"{self.group}-{role}"

    def company(self, key: str | None) -> CompanyConfig:
        """The company ``key``; with None, the first (Wise-Sync's default selection)."""
        if key is None:
            if not self.companies:
                raise ConfigError(
                    "no companies are configured",
                    key="companies",
                    hint="add a [[companies]] table to the config file",
                )
            return self.companies[0]
        for c in self.companies:
            if c.key == key:
                return c
        from wisesync.names import not_one_of

        keys = [c.key for c in self.companies]
        raise ConfigError(
            not_one_of("a configured company", key, keys, noun="configured"), key="--company"
        )


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """``"15m"`` -> 900 seconds; ints are seconds."""
    if isinstance(text, int):
        return text
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h")
    return int(m.group(1)) * _UNITS[m.group(2)]


class _Checker:
    """Collects problems while reading the raw TOML tables."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str, hint: str = "") -> None:
        self.problems.append(ConfigProblem(key, message, hint, self.file))

    def typed(self, table: dict, key: str, prefix: str, kind: type, default: Any) -> Any:
        if key not in table:
            return default
        value = table[key]
        if kind is bool and not isinstance(value, bool):
            self.problem(f"{prefix}{key}", f"expected true or false, got {value!r}")
            return default
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.problem(f"{prefix}{key}", f"expected a whole number, got {value!r}")
            return default
        if kind is str and not isinstance(value, str):
            self.problem(f"{prefix}{key}", f"expected a string, got {value!r}")
            return default
        return value

    def unknown(self, table: dict, allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                close = _closest(key, allowed)
                self.problem(
                    f"{prefix}{key}",
                    "unknown setting",
                    f"did you mean {close!r}?"
                    if close
                    else f"known settings: {', '.join(sorted(allowed))}",
                )


def _closest(word: str, choices: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(choices), n=1)
    return found[0] if found else None


_COMPANY_KEYS = {
    "key",
    "name",
    "ledger",
    "source",
    "record_types",
    "enabled",
    "sync_all",
    "hold_billing_statuses",
    "interval",
    "options",
}
#: options that were once core options and now belong to a ledger's own section
MOVED_TO_LEDGER = ("invoice_status", "bill_status", "mark_sent")


CONTACT_PATTERN_FIELDS = ("name", "account", "id")
CONTACT_PATTERN_HINT = 'e.g. contact_name_pattern = "{name} ({account})"'


def contact_pattern_problem(value: Any) -> str | None:
    """What is wrong with a ``contact_name_pattern`` (None when it is usable): a string
    with ``{name}`` and at least one of ``{account}`` / ``{id}`` (else two same-named
    customers would still get one name), and no other placeholder."""
    if not isinstance(value, str):
        return f"expected a string, got {value!r}"
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        return f"not a valid pattern ({exc})"
    unknown = used - set(CONTACT_PATTERN_FIELDS)
    if unknown:
        return f"unknown placeholder(s) {sorted(unknown)}; use {{name}}, {{account}}, {{id}}"
    if "name" not in used or not used & {"account", "id"}:
        return "needs {name} and at least one of {account} or {id}"
    return None


def _options(raw: Any, prefix: str, chk: _Checker, ledger: str) -> CompanyOptions:
    if raw is None:
        return CompanyOptions()
    if not isinstance(raw, dict):
        chk.problem(prefix.rstrip("."), "expected a table")
        return CompanyOptions()
    defaults = CompanyOptions()
    allowed = {f.name for f in fields(CompanyOptions)}
    section = ledger or "<ledger>"
    for key in MOVED_TO_LEDGER:
        if key in raw:
            chk.problem(
                prefix + key,
                f"this option is the ledger's now: it moved to [companies.{section}]",
                f"move `{key} = {raw[key]!r}` from [companies.options] to "
                f"[companies.{section}] (key {prefix.removesuffix('options.')}{section}.{key})",
            )
    chk.unknown({k: v for k, v in raw.items() if k not in MOVED_TO_LEDGER}, allowed, prefix)
    values: dict[str, Any] = {}
    for f in fields(CompanyOptions):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(defaults, f.name)
        if f.name == "adjustment_cap":
            try:
                cap = Decimal(str(value))
                if cap < 0 or isinstance(value, float):
                    raise InvalidOperation
                values[f.name] = cap
            except InvalidOperation:
                chk.problem(
                    prefix + f.name,
                    f'expected a non-negative amount as a string like "10.00", got {value!r}',
                )
        elif f.name == "tracking_missing":
            if value not in ("warn", "halt"):
                chk.problem(prefix + f.name, f'expected "warn" or "halt", got {value!r}')
            else:
                values[f.name] = value
        elif f.name == "contact_name_pattern":
            problem = contact_pattern_problem(value)
            if problem:
                chk.problem(prefix + f.name, problem, CONTACT_PATTERN_HINT)
            else:
                values[f.name] = value
        elif isinstance(default, bool):
            values[f.name] = chk.typed(raw, f.name, prefix, bool, default)
        else:
            values[f.name] = chk.typed(raw, f.name, prefix, str, default)
    return CompanyOptions(**values)


def _company(raw: Any, index: int, chk: _Checker, seen: set[str]) -> CompanyConfig | None:
    prefix = f"companies[{index}]."
    if not isinstance(raw, dict):
        chk.problem(f"companies[{index}]", "expected a table ([[companies]])")
        return None
    key = raw.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,30}", key or ""):
        chk.problem(
            prefix + "key",
            f"expected a short id of a-z, 0-9, - or _ (got {key!r})",
            'e.g. key = "acme"; it is the Kafka message key and the --company value',
        )
        key = f"#{index}"
    elif key in seen:
        chk.problem(prefix + "key", f"company key {key!r} is used twice", "keys must be unique")
    seen.add(key)
    ledger = raw.get("ledger")
    if not isinstance(ledger, str) or not ledger:
        chk.problem(prefix + "ledger", "missing", 'ledger = "<plugin name>" (wisesync plugins)')
        ledger = ""
    types: list[RecordType] = []
    for t in raw.get("record_types", [t.value for t in RecordType]):
        try:
            types.append(RecordType(t))
        except ValueError:
            chk.problem(
                prefix + "record_types",
                f"unknown record type {t!r}",
                f"choose from {', '.join(t.value for t in RecordType)}",
            )
    interval = 900
    if "interval" in raw:
        try:
            interval = parse_duration(raw["interval"])
        except ValueError as exc:
            chk.problem(prefix + "interval", str(exc))
    holds = raw.get("hold_billing_statuses", [])
    if not isinstance(holds, list) or not all(isinstance(h, str) for h in holds):
        chk.problem(prefix + "hold_billing_statuses", "expected a list of billing status names")
        holds = []
    plugin_sections = {k: v for k, v in raw.items() if isinstance(v, dict) and k != "options"}
    chk.unknown({k: v for k, v in raw.items() if k not in plugin_sections}, _COMPANY_KEYS, prefix)
    return CompanyConfig(
        key=key,
        name=chk.typed(raw, "name", prefix, str, key),
        ledger=ledger,
        source=chk.typed(raw, "source", prefix, str, "connectwise"),
        record_types=tuple(types),
        enabled=chk.typed(raw, "enabled", prefix, bool, True),
        sync_all=chk.typed(raw, "sync_all", prefix, bool, False),
        hold_billing_statuses=tuple(holds),
        interval_seconds=interval,
        options=_options(raw.get("options"), prefix + "options.", chk, ledger),
        settings=plugin_sections,
    )


def _env_overrides(data: dict, environ: dict[str, str], chk: _Checker) -> dict:
    """Apply ``WISESYNC_A__B=value`` as ``data[a][b] = value`` (TOML-typed when it parses).

    A single-segment name that is not a top-level setting (``WISESYNC_SCHEMAS_DIR``,
    ``WISESYNC_POSTGRES_USER``, ...) configures another part of wisesync and is skipped.
    """
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("WISESYNC_CONFIG", "WISESYNC_LOAD_PLUGINS"):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] in ("test_kafka_bootstrap", "test_postgres_dsn", "cache_dir", "dsn"):
            continue
        if len(path) == 1 and path[0] not in _TOP_KEYS:
            continue
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        table = data
        for part in path[:-1]:
            table = table.setdefault(part, {}) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            chk.problem(
                name,
                "this environment variable does not name a table setting",
                "arrays of tables ([[companies]]) can only be set in the config file",
            )
            continue
        table[path[-1]] = parsed
    return data


_TOP_KEYS = {
    "data_dir",
    "store",
    "transport",
    "group",
    "metrics_port",
    "poster",
    "companies",
    "requests",
    "notify",
}


#: ``[poster]`` durations: key -> (AppConfig field, example for the hint).
_POSTER_DURATIONS = {
    "in_flight": (
        "poster_in_flight_s",
        'e.g. in_flight = "90s": longer than the ledger client\'s read timeout (60 s)',
    ),
    "outage_wait": ("poster_outage_wait_s", 'e.g. outage_wait = "1h"; "0s" fails at once'),
    "outage_retry": ("poster_outage_retry_s", 'e.g. outage_retry = "5m"'),
}


#: ``[poster] workers``: the most a poster may run (each holds a Postgres session)
MAX_POSTER_WORKERS = 512


def _poster_settings(data: dict, chk: _Checker) -> dict[str, float | int]:
    """``[poster]``: its durations and ``workers`` as AppConfig fields (only those set)."""
    poster = data.get("poster", {}) or {}
    chk.unknown(poster, {*_POSTER_DURATIONS, "workers"}, "poster.")
    out: dict[str, float | int] = {}
    if "workers" in poster:
        workers = poster["workers"]
        if (
            isinstance(workers, int)
            and not isinstance(workers, bool)
            and (1 <= workers <= MAX_POSTER_WORKERS)
        ):
            out["poster_workers"] = workers
        else:
            chk.problem(
                "poster.workers",
                f"expected a whole number from 1 to {MAX_POSTER_WORKERS}, got {workers!r}",
                "e.g. workers = 64: companies posted at once; each needs a Postgres "
                "connection beside the pool's 16",
            )
    for key, (attr, example) in _POSTER_DURATIONS.items():
        if key not in poster:
            continue
        raw = poster[key]
        try:
            if isinstance(raw, bool):
                raise ValueError(f"{raw!r} is not a duration like 90s or 2m")
            out[attr] = float(parse_duration(raw))
        except ValueError as exc:
            chk.problem(f"poster.{key}", str(exc), example)
    return out


def parse_config(
    data: dict,
    *,
    file: str = "",
    environ: dict[str, str] | None = None,
    require_dsn: bool = True,
) -> AppConfig:
    """Validate raw config tables into an :class:`AppConfig` or raise :class:`ConfigInvalid`.

    Loads no plugin: the plugins' own sections are checked by the registry
    (:meth:`wisesync.plugins.Registry.check_config`) once the config is parsed.
    ``require_dsn=False`` lets a named but unset ``store.dsn_env`` through (``config
    check`` reports it with the other variables a start needs); every other caller gets a
    problem, never a silent fallback to the embedded Postgres.
    """
    env = dict(os.environ if environ is None else environ)
    chk = _Checker(file)
    data = _env_overrides(dict(data), env, chk)
    chk.unknown(data, _TOP_KEYS, "")
    store = data.get("store", {}) or {}
    chk.unknown(store, {"dsn_env", "dsn"}, "store.")
    dsn = dsn_env = None
    if "dsn_env" in store:
        from wisesync.fields import is_env_name

        if is_env_name(store["dsn_env"]):
            dsn_env = store["dsn_env"]
            dsn = env.get(dsn_env) or None
            unset = dsn_env_problem(dsn_env, env) if require_dsn else None
            if unset is not None:  # never fall back to the embedded Postgres: not production
                chk.problem(unset.key, unset.message, unset.hint)
        else:  # most likely the DSN itself, password included: never echo it
            chk.problem(
                "store.dsn_env",
                "expected the NAME of an environment variable ([A-Z_][A-Z0-9_]*), not the DSN "
                "itself (the value is not shown)",
                'store.dsn_env = "WISESYNC_DSN" and export WISESYNC_DSN=postgresql://...',
            )
    elif "dsn" in store:
        chk.problem(
            "store.dsn",
            "a DSN holds a password; do not put it in the file",
            'set store.dsn_env = "NAME" and export NAME=postgresql://...',
        )
    dsn = dsn or env.get("WISESYNC_DSN") or None
    transport = data.get("transport", {}) or {}
    kind = transport.get("kind", "embedded")
    if kind not in ("embedded", "kafka"):
        chk.problem("transport.kind", f'expected "embedded" or "kafka", got {kind!r}')
    chk.unknown(transport, {"kind", "kafka", "topic_prefix", "retention"}, "transport.")
    retention = 7 * 86400
    if "retention" in transport:
        try:
            retention = parse_duration(transport["retention"])
            if retention < 0 or isinstance(transport["retention"], bool):
                raise ValueError(f"{transport['retention']!r} is not a duration like 7d or 12h")
        except ValueError as exc:
            chk.problem("transport.retention", str(exc), 'e.g. retention = "7d"; "0" keeps forever')
    prefix = chk.typed(transport, "topic_prefix", "transport.", str, "")
    if prefix and not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", prefix):
        chk.problem(
            "transport.topic_prefix",
            f"{prefix!r} is not usable in a topic name",
            "use letters, digits, '.', '_' or '-'",
        )
    kraw = transport.get("kafka", {}) or {}
    chk.unknown(kraw, {f.name for f in fields(KafkaSettings)}, "transport.kafka.")
    kafka = KafkaSettings(
        bootstrap_servers=chk.typed(
            kraw, "bootstrap_servers", "transport.kafka.", str, "127.0.0.1:9092"
        ),
        partitions=chk.typed(kraw, "partitions", "transport.kafka.", int, 6),
        client_id=chk.typed(kraw, "client_id", "transport.kafka.", str, "wisesync"),
        instance_id=chk.typed(kraw, "instance_id", "transport.kafka.", str, "host"),
    )
    if not valid_instance_id(kafka.instance_id):
        chk.problem(
            "transport.kafka.instance_id",
            f"{kafka.instance_id!r} is not usable as a Kafka group.instance.id",
            'use 1-200 letters, digits, ".", "_" or "-"; "host" (the host name) or "off"',
        )
    if kafka.partitions < 1:
        chk.problem("transport.kafka.partitions", "must be at least 1")
    seen: set[str] = set()
    raw_companies = data.get("companies", [])
    if not isinstance(raw_companies, list):
        chk.problem("companies", "expected an array of tables ([[companies]])")
        raw_companies = []
    companies = [
        c for i, raw in enumerate(raw_companies) if (c := _company(raw, i, chk, seen)) is not None
    ]
    config = AppConfig(
        data_dir=Path(chk.typed(data, "data_dir", "", str, ".wisesync")),
        dsn=dsn,
        dsn_env=dsn_env,
        transport=kind,
        kafka=kafka,
        group=chk.typed(data, "group", "", str, "wisesync"),
        topic_prefix=prefix,
        retention_seconds=retention,
        metrics_port=chk.typed(data, "metrics_port", "", int, 9464),
        **_poster_settings(data, chk),
        companies=tuple(companies),
        source_file=file,
        requests=parse_request_log(data.get("requests"), chk),
        notify=parse_notify(data.get("notify"), companies, chk),
    )
    if chk.problems:
        raise ConfigInvalid(chk.problems)
    return config


def dsn_env_problem(name: str, environ: dict[str, str]) -> ConfigProblem | None:
    """``store.dsn_env`` names ``name`` but it is unset: a problem (None when set)."""
    from wisesync.preflight import unset_env_problem

    return unset_env_problem(
        "store.dsn_env",
        name,
        environ,
        " (without it wisesync would run on a local embedded Postgres instead)",
    )


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to read: the argument, ``$WISESYNC_CONFIG``, or ./wisesync.toml."""
    return Path(path or os.environ.get("WISESYNC_CONFIG") or DEFAULT_CONFIG_FILE)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    required: bool = False,
    environ: dict[str, str] | None = None,
    require_dsn: bool = True,
) -> AppConfig:
    """Read and validate the config file (absent and not required: defaults, no companies).
    ``require_dsn``: see :func:`parse_config`."""
    file = config_path(path)
    if not file.exists():
        if required or path is not None:
            raise ConfigInvalid(
                [
                    ConfigProblem(
                        "",
                        f"config file {file} does not exist",
                        "create it (see README, Configuration) or pass --config",
                        str(file),
                    )
                ]
            )
        return parse_config({}, environ=environ, require_dsn=require_dsn)
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(
            [
                ConfigProblem(
                    "", f"not valid TOML: {exc}", "fix the syntax at the line named", str(file)
                )
            ]
        ) from None
    return parse_config(data, file=str(file), environ=environ, require_dsn=require_dsn)
