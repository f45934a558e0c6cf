"""``wisesync run``: the roles of the service, in one process or one per process.

Roles: ``extractor`` (the per-company schedule), ``poster``, ``reporter``,
``acknowledger`` and ``notifier`` (failure notifications, :mod:`wisesync.notify`). Each
runs in its own thread with its own consumer group member (the notifier reads Postgres
only); SIGTERM sets one stop event, every role finishes the batch in hand,
commits, and leaves its group. Scale-out is across companies: more partitions
and more poster processes (``--role poster``) in the same consumer group.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wisesync.config import AppConfig
from wisesync.events.codec import Codec
from wisesync.plugins import Registry, notify
from wisesync.plugins import registry as default_registry
from wisesync.protocols import PluginRuntime
from wisesync.ratelimit import Clock
from wisesync.store import migrate
from wisesync.store.db import Database, resolve_dsn
from wisesync.transport import open_transport
from wisesync.transport.base import Transport

log = logging.getLogger(__name__)

ROLES = ("extractor", "poster", "reporter", "acknowledger", "notifier")

#: Longest wait before a role that lost Postgres or the transport is started again.
MAX_RESTART_DELAY_S = 30.0


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors a role outlives: Postgres or the transport went away for a while (a restart, a
    failover, a network blip). Anything else is a bug and stops the service."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from wisesync.pipeline.journal import PostingLockLost
    from wisesync.transport.errors import CommitFailedError, DeliveryError, TransportUnavailable

    return (
        psycopg.OperationalError,
        PostingLockLost,
        PoolTimeout,
        TransportUnavailable,
        DeliveryError,
        CommitFailedError,
    )


def connect_transport(config: AppConfig, dsn: str) -> Transport:
    """The configured transport: Kafka, or the embedded one in the same Postgres."""
    if config.transport == "kafka":
        return open_transport(
            "kafka",
            bootstrap_servers=config.kafka.bootstrap_servers,
            client_id=config.kafka.client_id,
        )
    return open_transport("embedded", dsn=dsn)


@dataclass
class Service:
    """The running service: store, transport and the selected roles.

    ``role_options`` passes keyword options to a role's constructor by role name
    (tests use it for short timeouts; benchmarks for a scaled clock). On the embedded
    transport the service also prunes the log every ``retention_interval_s``
    (``transport.retention``; see :mod:`wisesync.transport.retention`).
    """

    config: AppConfig
    roles: tuple[str, ...] = ROLES
    registry: Registry | None = None
    role_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: Any = None
    db: Database | None = None
    transport: Transport | None = None
    codec: Codec = field(default_factory=Codec)
    #: the time source lent to every role's plugins (their call limiters and clients):
    #: a ScaledClock in benchmarks that simulate a ledger's limits faster than real time
    clock: Clock = field(default_factory=Clock)
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _role_objects: dict[str, Any] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    retention_interval_s: float = 600.0
    _retention: Any = None
    #: the request log (wisesync.requestlog), recording every API call while the service runs
    request_log: Any = None
    #: Kafka static membership for the consumer roles (``wisesync run`` turns it on): each
    #: joins as ``transport.kafka.instance_id``-``role`` (or ``instance_id``-``role`` when
    #: given), so the same daemon started again after a crash gets its partitions back at once
    #: instead of after a rebalance (see :meth:`consumer_options`).
    static_membership: bool = False
    instance_id: str | None = None

    def open(self) -> Service:
        """Connect to the store (migrating it) and the transport; create the topics."""
        unknown = set(self.roles) - set(ROLES)
        if unknown:
            from wisesync.errors import ConfigError

            raise ConfigError(
                f"unknown role(s) {sorted(unknown)}",
                key="--role",
                hint=f"choose from {', '.join(ROLES)}",
            )
        self.registry = self.registry or default_registry()
        if self.db is None:
            self.db = Database(resolve_dsn(self.config), max_size=16)
        with self.db.connection() as conn:
            migrate.migrate(conn)
        if self.request_log is None:
            from wisesync.requestlog.recorder import install

            self.request_log = install(self.config, self.db.dsn)
        if self.transport is None:
            self.transport = connect_transport(self.config, self.db.dsn)
        self.transport.admin().create_topics(
            self.config.topics.all, partitions=self.config.kafka.partitions
        )
        return self

    @property
    def runtime(self) -> PluginRuntime:
        """What the roles lend their plugins: config, store and clock."""
        return PluginRuntime(config=self.config, db=self.db, clock=self.clock)

    def build(self, role: str) -> Any:
        """Construct one role object (not started)."""
        common = dict(config=self.config, db=self.db, transport=self.transport, codec=self.codec)
        opts = self.role_options.get(role, {})
        if role in ("poster", "reporter"):
            opts = {**opts, "consumer_options": self.consumer_options(role)}
        if role == "poster":
            from wisesync.pipeline.poster import Poster

            return Poster(
                registry=self.registry, runtime=self.runtime, metrics=self.metrics, **common, **opts
            )
        if role == "reporter":
            from wisesync.pipeline.reporter import Reporter

            return Reporter(
                db=self.db,
                transport=self.transport,
                codec=self.codec,
                registry=self.registry,
                metrics=self.metrics,
                group=self.config.group_for("reporter"),
                topics=self.config.topics,
                **opts,
            )
        if role == "acknowledger":
            from wisesync.pipeline.acknowledger import Acknowledger

            return Acknowledger(
                db=self.db,
                registry=self.registry,
                config=self.config,
                codec=self.codec,
                runtime=self.runtime,
                metrics=self.metrics,
                **opts,
            )
        if role == "notifier":
            from wisesync.notify.notifier import Notifier
            from wisesync.observability import service_checks

            found = service_checks(self)
            checks = {
                "Postgres": found["store"],
                f"the {self.config.transport} transport": found["transport"],
            }
            lifetimes = {
                name: target.refresh_token_lifetime
                for name, target in self.registry.targets.items()
                if target.refresh_token_lifetime is not None
            }
            return Notifier(self.db, self.config, checks=checks, lifetimes=lifetimes, **opts)
        if role == "extractor":
            from wisesync.pipeline.extractor import Extractor, Scheduler

            extractor = Extractor(registry=self.registry, runtime=self.runtime, **common)
            return Scheduler(extractor, self.config)
        raise ValueError(role)

    def consumer_options(self, role: str) -> dict[str, Any]:
        """The consumer options of ``role``: its ``role_options``, plus with
        :attr:`static_membership` its instance id (unless the options name one): Kafka's
        ``group_instance_id``, the embedded transport's ``instance_id`` (the same idea: a
        member joining under a dead one's id takes its place at once)."""
        options = dict(self.role_options.get(role, {}).get("consumer_options") or {})
        instance = self.config.kafka.group_instance_id(role, self.instance_id)
        if not self.static_membership or instance is None:
            return options
        if self.config.transport != "kafka":
            options.setdefault("instance_id", instance)
            return options
        extra = dict(options.get("config") or {})
        if "group_instance_id" not in extra:
            extra["group_instance_id"] = instance
            options["config"] = extra
        return options

    def start(self) -> Service:
        """Start every role in its own thread."""
        for role in self.roles:
            obj = self.build(role)
            self._role_objects[role] = obj
            thread = threading.Thread(
                target=self._guard(role, obj), name=f"role-{role}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._start_retention()
        if self.registry is not None:
            notify(self.registry.manager.hook.on_startup, roles=list(self.roles))
        return self

    def _start_retention(self) -> None:
        from wisesync.transport.embedded import EmbeddedTransport

        if isinstance(self.transport, EmbeddedTransport) and self.config.retention_seconds > 0:
            from wisesync.transport.retention import RetentionLoop

            self._retention = RetentionLoop(
                self.transport,
                self.config.retention_seconds,
                self.stop_event,
                interval_s=self.retention_interval_s,
            ).start()

    def _guard(self, role: str, obj: Any) -> Callable[[], None]:
        """The thread body of ``role``: run it; when it lost Postgres or the transport
        (:func:`transient_errors`), wait (1 s, doubling up to MAX_RESTART_DELAY_S), drop the
        pool's dead connections, build the role again and run it: the new one resumes from the
        committed offsets, and the posting journal makes the redelivered batch harmless. Any
        other error stops the service."""
        transient = transient_errors()

        def run() -> None:
            current, delay = obj, 0.0
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    if current is None:
                        current = self._role_objects[role] = self.build(role)
                    current.run(self.stop_event)
                    return
                except transient as exc:
                    current = None
                    if time.monotonic() - started > 10 * MAX_RESTART_DELAY_S:
                        delay = 0.0  # it ran well for a while: a new outage starts over
                    delay = min(max(1.0, 2 * delay), MAX_RESTART_DELAY_S)
                    log.warning(
                        "role %s lost its store or transport (%s: %s); restarting it in %.0fs",
                        role,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    if self.stop_event.wait(delay):
                        return
                    if self.db is not None:
                        try:
                            self.db.pool.check()  # discard connections the outage broke
                        except Exception:  # still down: the next attempt says so
                            log.debug("pool check failed", exc_info=True)
                except BaseException as exc:  # a dead role must stop the service, loudly
                    log.exception("role %s stopped with an error", role)
                    self.errors.append(exc)
                    self.stop_event.set()
                    return

        return run

    def role(self, name: str) -> Any:
        """A started role object (tests, metrics)."""
        return self._role_objects[name]

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask every role to finish its batch, wait, and release the connections."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout_s)
        if self._retention is not None:
            self._retention.join(timeout_s)
            self._retention = None
        if self.registry is not None and self._threads:
            notify(self.registry.manager.hook.on_shutdown)
        self._threads.clear()
        if self.request_log is not None:
            self.request_log.close()
            self.request_log = None

    def close(self) -> None:
        """Stop roles and close transport and store."""
        self.stop()
        if self.transport is not None:
            self.transport.close()
        if self.db is not None:
            self.db.close()

    def alive(self) -> bool:
        """True while every started role thread runs."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def __enter__(self) -> Service:
        return self.open().start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_roles(values: Iterable[str]) -> tuple[str, ...]:
    """``--role poster --role reporter`` or ``--role poster,reporter``; empty = all."""
    roles = [r.strip() for v in values for r in v.split(",") if r.strip()]
    return tuple(roles) or ROLES
