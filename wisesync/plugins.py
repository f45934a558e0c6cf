"""Build the plugin manager and the registries of sources, targets and sandboxes.

Plugins are found in the ``wisesync`` entry-point group: built-in plugins
(ConnectWise, Xero, QBO) are separate distributions registered exactly like
third-party ones. ``WISESYNC_LOAD_PLUGINS`` (comma list of entry-point names)
restricts which are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pluggy

from wisesync import hookspecs
from wisesync.console import hookspecs as console_hookspecs
from wisesync.errors import ConfigError
from wisesync.protocols import Source, Target

ENTRY_POINT_GROUP = "wisesync"


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

    def source(self, name: str) -> type[Source]:
        """The source class called ``name``, or a ConfigError listing the known ones."""
        return _lookup(self.sources, name, "source")

    def target(self, name: str) -> type[Target]:
        """The target class called ``name``, or a ConfigError listing the known ones."""
        return _lookup(self.targets, name, "target")

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
    return pm


def build_registry(extra_plugins: tuple[object, ...] = ()) -> Registry:
    """Load plugins and collect what they register."""
    pm = build_manager(extra_plugins)
    reg = Registry(manager=pm)
    pm.hook.register_sources(register=_register_into(reg.sources, "source"))
    pm.hook.register_targets(register=_register_into(reg.targets, "target"))

    def register_sandbox(name: str, factory: Callable[..., Any]) -> None:
        reg.sandboxes[name] = factory

    pm.hook.register_sandboxes(register=register_sandbox)
    return reg


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry (built once)."""
    return build_registry()
