"""Build the plugin manager and the registries of sources, targets and sandboxes.

Plugins are found in the ``wisesync`` entry-point group: built-in plugins
are separate distributions registered exactly like third-party ones.
``WISESYNC_LOAD_PLUGINS`` (comma list of entry-point names) restricts which are
loaded; ``WISESYNC_TRACE_PLUGINS=1`` logs every hook call (pluggy's tracing) on the
``wisesync.plugins`` logger at INFO.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pluggy

from wisesync import hookspecs, messages
from wisesync.company import ConfigInvalid, ConfigProblem
from wisesync.console import hookspecs as console_hookspecs
from wisesync.errors import ConfigError
from wisesync.protocols import Source, Target

if TYPE_CHECKING:
    from wisesync.config import AppConfig

ENTRY_POINT_GROUP = "wisesync"
TRACE_ENV = "WISESYNC_TRACE_PLUGINS"
log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """What ``wisesync plugins`` shows for one loaded plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]


@dataclass
class Registry:
    """Everything the plugins registered, by name."""

    manager: pluggy.PluginManager
    sources: dict[str, type[Source]] = field(default_factory=dict)
    targets: dict[str, type[Target]] = field(default_factory=dict)
    sandboxes: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: ``wisesync sandbox <name>`` commands a plugin supplied (others get a plain one)
    sandbox_commands: dict[str, Any] = field(default_factory=dict)
    #: ledger sandboxes' control adapters: ``ledgers[name](server)`` is a
    #: :class:`wisesync.testing.ledger.LedgerSandbox`
    ledgers: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: message codes the plugins registered (also installed in the catalog)
    message_codes: dict[str, messages.Code] = field(default_factory=dict)

    def source(self, name: str) -> type[Source]:
        """The source class called ``name``, or a ConfigError listing the known ones."""
        return _lookup(self.sources, name, "source")

    def target(self, name: str) -> type[Target]:
        """The target class called ``name``, or a ConfigError listing the known ones."""
        return _lookup(self.targets, name, "target")

    def check_config(self, config: AppConfig) -> list[ConfigProblem]:
        """Ask each company's source and target plugins to check their sections of a
        parsed ``config`` (``check_company``, no I/O); every problem, keyed from the file."""
        from wisesync.protocols import PluginRuntime

        file = config.source_file
        runtime = PluginRuntime(config=config)
        problems: list[ConfigProblem] = []
        for i, company in enumerate(config.companies):
            for attr, table in (("ledger", self.targets), ("source", self.sources)):
                name = getattr(company, attr)
                if name not in table:
                    problems.append(
                        ConfigProblem(
                            f"companies[{i}].{attr}",
                            f"no plugin named {name!r} is installed",
                            f"installed: {', '.join(sorted(table)) or 'none'}",
                            file,
                        )
                    )
                    continue
                for p in table[name](runtime).check_company(company):
                    problems.append(
                        ConfigProblem(f"companies[{i}].{p.key}", p.message, p.hint, file)
                    )
        return problems

    def checked(self, config: AppConfig) -> AppConfig:
        """``config`` when its plugins find nothing wrong, else :class:`ConfigInvalid`."""
        problems = self.check_config(config)
        if problems:
            raise ConfigInvalid(problems)
        return config

    def plugins(self) -> list[PluginInfo]:
        """Describe every registered plugin, with the hooks it implements."""
        dists = {
            id(plugin): dist
            for dist_info in self.manager.list_plugin_distinfo()
            for plugin, dist in [dist_info]
        }
        infos = []
        for name, plugin in sorted(self.manager.list_name_plugin(), key=lambda x: x[0]):
            if plugin is None:
                continue
            dist = dists.get(id(plugin))
            hooks = sorted(h.name for h in self.manager.get_hookcallers(plugin) or [])
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=dist.metadata["name"] if dist else None,
                    version=dist.version if dist else None,
                    hooks=hooks,
                )
            )
        return infos


def _lookup(table: dict[str, Any], name: str, kind: str) -> Any:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none installed"
        raise ConfigError(
            f"no {kind} plugin named {name!r} (installed: {known})",
            hint=f"pip install the wisesync-{name} plugin or fix the name",
        ) from None


def _register_into(table: dict[str, Any], kind: str) -> Callable[[type], None]:
    def register(cls: type) -> None:
        name = getattr(cls, "name", None)
        if not name:
            raise TypeError(f"{kind} {cls!r} has no `name`")
        if name in table and table[name] is not cls:
            raise ConfigError(f"two {kind} plugins are named {name!r}: {table[name]!r} and {cls!r}")
        table[name] = cls

    return register


def build_manager(extra_plugins: tuple[object, ...] = ()) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, every entry-point plugin and ``extra_plugins``."""
    pm = pluggy.PluginManager("wisesync")
    pm.add_hookspecs(hookspecs)
    pm.add_hookspecs(console_hookspecs)
    allow = os.environ.get("WISESYNC_LOAD_PLUGINS")
    if allow is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    else:
        wanted = {n.strip() for n in allow.split(",") if n.strip()}
        for name in sorted(wanted):  # through pluggy, so distribution and version are kept
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    if os.environ.get(TRACE_ENV, "") not in ("", "0"):
        pm.trace.root.setwriter(lambda text: log.info("%s", text.rstrip()))
        pm.enable_tracing()
    return pm


def build_registry(extra_plugins: tuple[object, ...] = ()) -> Registry:
    """Load plugins and collect what they register (message codes go into the catalog)."""
    pm = build_manager(extra_plugins)
    reg = Registry(manager=pm)
    pm.hook.register_sources(register=_register_into(reg.sources, "source"))
    pm.hook.register_targets(register=_register_into(reg.targets, "target"))
    pm.hook.register_sandboxes(register=_sandbox_registrar(reg))
    codes: list[tuple[str, messages.Code]] = []
    for impl in pm.hook.register_message_codes.get_hookimpls():
        # one plugin at a time (through pluggy, so it is traced) to name the owner of each code
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        only = pm.subset_hook_caller("register_message_codes", remove_plugins=others)
        only(register=lambda code, _name=impl.plugin_name: codes.append((_name, code)))
    messages.install(codes)
    reg.message_codes = {code.name: code for _, code in codes}
    return reg


def _sandbox_registrar(reg: Registry) -> Callable[..., None]:
    def register(
        name: str,
        factory: Callable[..., Any],
        *,
        command: Any = None,
        ledger: Callable[[Any], Any] | None = None,
    ) -> None:
        if name in reg.sandboxes and reg.sandboxes[name] is not factory:
            raise ConfigError(
                f"two plugins register a sandbox named {name!r}",
                hint="uninstall one of them or rename its sandbox",
            )
        reg.sandboxes[name] = factory
        if command is not None:
            reg.sandbox_commands[name] = command
        if ledger is not None:
            reg.ledgers[name] = ledger

    return register


def notify(hook: Any, **kwargs: Any) -> int:
    """Call every implementation of an observer ``hook`` (``on_result``, ``on_startup``,
    ``on_shutdown``) with ``kwargs``; an exception is logged with the plugin's name and
    never raised. Returns how many implementations failed."""
    failed = 0
    for impl in reversed(hook.get_hookimpls()):  # pluggy's own call order
        try:
            impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
        except Exception:  # observers never change flow
            failed += 1
            log.exception("%s hook of plugin %s failed", hook.name, impl.plugin_name)
    return failed


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry (built once)."""
    return build_registry()
