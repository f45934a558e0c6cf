"""Target instances and their per-company contexts, as the poster uses them.

One :class:`~wisesync.protocols.Target` instance per plugin per process; one
:class:`~wisesync.protocols.TargetContext` (reference data + call limiter) per
(company, target), prepared on first use and again after ``ttl_s`` or after the
connection failed, so a reconnect or a new ledger account takes effect.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from wisesync.config import CompanyConfig
from wisesync.plugins import Registry
from wisesync.protocols import PluginRuntime, Target, TargetContext
from wisesync.ratelimit import CallLimiter, Clock


@dataclass
class _Prepared:
    context: TargetContext
    at: float


class TargetPool:
    """Caches target instances, limiters and prepared contexts. Thread-safe."""

    def __init__(
        self,
        registry: Registry,
        runtime: PluginRuntime,
        *,
        ttl_s: float = 900.0,
        clock: Clock | None = None,
    ):
        self.registry = registry
        self.runtime = runtime
        self.ttl_s = ttl_s
        self.clock = clock or runtime.clock
        self._targets: dict[str, Target] = {}
        self._limiters: dict[tuple[str, str], CallLimiter] = {}
        self._contexts: dict[tuple[str, str], _Prepared] = {}
        self._preparing: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def target(self, name: str) -> Target:
        """The instance of target ``name`` (ConfigError when no plugin provides it)."""
        with self._lock:
            if name not in self._targets:
                self._targets[name] = self.registry.target(name)(self.runtime)
            return self._targets[name]

    def limiter(self, company: str, target: Target) -> CallLimiter:
        """The call limiter of (company, target): the target's declared limits, shared."""
        key = (company, target.name)
        with self._lock:
            if key not in self._limiters:
                self._limiters[key] = CallLimiter(target.limits, self.clock, system=target.name)
            return self._limiters[key]

    def context(self, company: CompanyConfig, target: Target) -> TargetContext:
        """A prepared context, re-prepared when older than the TTL. Chunks of one company
        posted at the same time wait for one preparation instead of each loading the
        reference data."""
        key = (company.key, target.name)
        with self._lock:
            preparing = self._preparing.setdefault(key, threading.Lock())
        with preparing:
            prepared = self._contexts.get(key)
            now = time.monotonic()
            stale = prepared is None or now - prepared.at > self.ttl_s
            # an option changed since (the console's Options page): prepare with the new ones
            if stale or prepared.context.company != company:
                context = target.prepare(company, self.limiter(company.key, target))
                prepared = _Prepared(context, now)
                self._contexts[key] = prepared
            return prepared.context

    def forget(self, company: CompanyConfig, target: Target) -> None:
        """Drop a context and the target's own cache for ``company`` (after an auth
        failure, before a replay) so the next batch prepares afresh."""
        self._contexts.pop((company.key, target.name), None)
        target.invalidate(company)
