"""A whole wisesync deployment on this machine: sandboxes, config, store, transport.

Used by ``wisesync demo``, the end-to-end tests and the benchmarks, so all three
run the same real parts: every company gets its own sandbox per plugin (source
and ledger), started through the plugins' ``register_sandboxes`` hook; the
configuration is built from what each sandbox says about connecting to it.

>>> with Stack([CompanySpec("acme")], dsn=dsn) as stack:      # doctest: +SKIP
...     with stack.service():
...         run = stack.sync("acme")
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wisesync.config import AppConfig, parse_config
from wisesync.events.models import RecordType, SyncRun, Trigger
from wisesync.plugins import Registry
from wisesync.plugins import registry as default_registry
from wisesync.ratelimit import Clock
from wisesync.store import migrate
from wisesync.store.db import Database
from wisesync.testing.ledger import LedgerSandbox, default_ledger, ledger_sandbox
from wisesync.transport.base import Transport


@dataclass
class CompanySpec:
    """One company of the stack and how to seed its sandboxes.

    ``sandbox_options`` maps a plugin name to the keyword options of its sandbox
    factory (e.g. ``{"connectwise": {"invoices": 500}, "<ledger>": {"contacts": 200}}``).
    """

    key: str
    #: the ledger plugin; None: the one installed ledger that provides a ledger sandbox
    ledger: str | None = None
    source: str = "connectwise"
    name: str | None = None
    record_types: list[str] | None = None
    hold_billing_statuses: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    sandbox_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    sync_all: bool = True
    interval: str = "1h"

    @classmethod
    def invoices_only(
        cls,
        key: str,
        *,
        ledger: str,
        invoices: int,
        customers: int,
        seed: int = 0,
        credit_memos: bool = False,
    ) -> CompanySpec:
        """A company whose ConnectWise holds only ``invoices`` generated invoices (no seeded
        cases, expenses or procurement) for ``customers`` customers, the ledger knowing each
        customer; it syncs invoices (and credit memos with ``credit_memos``)."""
        types = ["invoice", "credit_memo"] if credit_memos else ["invoice"]
        connectwise = dict(
            invoices=invoices, expenses=0, procurement=0, customers=customers, cases=False
        )
        return cls(
            key,
            ledger=ledger,
            record_types=types,
            options={"require_item_code": True},
            seed=seed,
            sandbox_options={"connectwise": connectwise, ledger: {"contacts": customers}},
        )


class Stack:
    """Sandboxes + configuration + Postgres + transport for a list of companies.

    Args:
        dsn: the Postgres database (created empty by the caller).
        transport: "embedded" or "kafka" (then ``kafka_bootstrap`` is required).
        namespace: topic prefix and consumer-group name, unique per stack by default,
            so stacks can share one Kafka broker.
    """

    def __init__(
        self,
        companies: list[CompanySpec],
        *,
        dsn: str,
        transport: str = "embedded",
        kafka_bootstrap: str | None = None,
        partitions: int = 3,
        namespace: str | None = None,
        registry: Registry | None = None,
        extra_config: dict[str, Any] | None = None,
    ):
        self.specs = companies
        self.dsn = dsn
        self.kind = transport
        self.kafka_bootstrap = kafka_bootstrap
        self.partitions = partitions
        self.namespace = namespace or f"t{uuid.uuid4().hex[:8]}"
        self.registry = registry or default_registry()
        self.extra_config = extra_config or {}
        self.sandboxes: dict[tuple[str, str], Any] = {}
        self.environ: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self.config: AppConfig | None = None
        self.db: Database | None = None
        self.transport: Transport | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Stack:
        """Start the sandboxes, export their secrets, build the config, open store and transport."""
        raw_companies = []
        for spec in self.specs:
            spec.ledger = spec.ledger or self.default_ledger()
            raw: dict[str, Any] = {
                "key": spec.key,
                "name": spec.name or spec.key.title(),
                "ledger": spec.ledger,
                "source": spec.source,
                "sync_all": spec.sync_all,
                "interval": spec.interval,
                "hold_billing_statuses": spec.hold_billing_statuses,
            }
            if spec.record_types is not None:
                raw["record_types"] = spec.record_types
            if spec.options:
                raw["options"] = spec.options
            for plugin in dict.fromkeys((spec.source, spec.ledger)):
                server = self.start_sandbox(plugin, spec)
                section, env = server.connection_settings(spec.key)
                raw[plugin] = section
                self.environ.update(env)
            raw_companies.append(raw)
        if not os.environ.get("WISESYNC_SECRET_KEY"):
            from cryptography.fernet import Fernet

            self.environ["WISESYNC_SECRET_KEY"] = Fernet.generate_key().decode()
        self._export(self.environ)
        data: dict[str, Any] = {
            "group": self.namespace,
            "transport": {
                "kind": self.kind,
                "topic_prefix": f"{self.namespace}.",
                "kafka": {"partitions": self.partitions},
            },
            # the sandboxes answer within a second or two (and the crash tests hold a write
            # for at most one): no write stays in flight longer
            "poster": {"in_flight": "3s"},
            "companies": raw_companies,
            **self.extra_config,
        }
        if self.kind == "kafka":
            data["transport"]["kafka"]["bootstrap_servers"] = self.kafka_bootstrap
        self.raw_config = data
        self.config = self.registry.checked(
            parse_config(data, environ={**os.environ, "WISESYNC_DSN": self.dsn})
        )
        self.db = Database(self.dsn, max_size=16)
        with self.db.connection() as conn:
            migrate.migrate(conn)
        from wisesync.daemon import connect_transport

        self.transport = connect_transport(self.config, self.dsn)
        self.transport.admin().create_topics(self.config.topics.all, partitions=self.partitions)
        return self

    def write_config(self, path: str | os.PathLike[str]) -> dict[str, str]:
        """Write this stack's configuration as a TOML file for a ``wisesync`` subprocess.

        Returns the environment the subprocess needs (the store DSN and the sandbox
        secrets the file names by variable).
        """
        import tomli_w

        with open(path, "wb") as fh:
            tomli_w.dump(self.raw_config, fh)
        return {
            **self.environ,
            "WISESYNC_DSN": self.dsn,
            "WISESYNC_SECRET_KEY": os.environ["WISESYNC_SECRET_KEY"],
        }

    def start_sandbox(self, plugin: str, spec: CompanySpec) -> Any:
        """Start (once) the sandbox of ``plugin`` for ``spec``'s company."""
        key = (plugin, spec.key)
        if key not in self.sandboxes:
            factory = self.registry.sandboxes[plugin]
            self.sandboxes[key] = factory(seed=spec.seed, **spec.sandbox_options.get(plugin, {}))
        return self.sandboxes[key]

    def sandbox(self, plugin: str, company: str) -> Any:
        """The running sandbox server of ``plugin`` for ``company`` (``.app`` has the helpers)."""
        return self.sandboxes[(plugin, company)]

    def ledger(self, company: str) -> LedgerSandbox:
        """The :class:`~wisesync.testing.ledger.LedgerSandbox` of ``company``'s ledger."""
        name = self.config.company(company).ledger if self.config else None
        name = name or next(s.ledger for s in self.specs if s.key == company)
        return ledger_sandbox(self.registry, name, self.sandbox(name, company))

    def default_ledger(self) -> str:
        """The one installed ledger with a ledger sandbox (see
        :func:`wisesync.testing.ledger.default_ledger`)."""
        return default_ledger(self.registry)

    def _export(self, env: dict[str, str]) -> None:
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def close(self) -> None:
        """Stop everything this stack started; restore the environment."""
        if self.transport is not None:
            self.transport.close()
        if self.db is not None:
            self.db.close()
        for server in self.sandboxes.values():
            server.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def assert_published_shapes(self) -> None:
        """Raise AssertionError when a sandbox that checks bodies against its vendor's
        published schema (``app.assert_published_shapes``, e.g. ConnectWise's) saw one
        that breaks it: every request a plugin sent and every response a sandbox served."""
        for server in self.sandboxes.values():
            check = getattr(getattr(server, "app", None), "assert_published_shapes", None)
            if check is not None:
                check()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
        if exc[0] is None:  # a failing test keeps its own error
            self.assert_published_shapes()

    # --- running -------------------------------------------------------------------------

    @contextmanager
    def service(
        self,
        roles: tuple[str, ...] = ("poster", "reporter", "acknowledger"),
        clock: Clock | None = None,
        **role_options: dict[str, Any],
    ) -> Iterator[Any]:
        """Run the given roles in this process for the duration of the block.

        ``clock`` (default: real time) is what their plugins pace calls by; pass the
        :class:`~wisesync.ratelimit.ScaledClock` the sandboxes run on to simulate a
        ledger's limits faster than real time.
        """
        from wisesync.daemon import Service

        service = Service(
            self.config,
            roles=roles,
            registry=self.registry,
            db=self.db,
            transport=self.transport,
            role_options=role_options,
            **({"clock": clock} if clock is not None else {}),
        )
        service.open().start()
        try:
            yield service
        finally:
            service.stop()
            if service.errors:
                raise service.errors[0]

    def sync(
        self,
        company: str,
        record_types: list[RecordType] | None = None,
        trigger: Trigger = Trigger.SYNC_ALL,
    ) -> SyncRun:
        """Extract and publish one company's records (what Sync All does)."""
        from wisesync.pipeline.extractor import Extractor

        extractor = Extractor(
            config=self.config, registry=self.registry, db=self.db, transport=self.transport
        )
        try:
            return extractor.sync(
                self.config.company(company), record_types, trigger=trigger, requested_by="test"
            )
        finally:
            extractor.close()

    def replay(self, selection: Any, requested_by: str = "test") -> list[Any]:
        """Replay ``selection`` (from :func:`wisesync.replay.select`) on this stack: what
        ``wisesync replay --yes`` does; the :class:`~wisesync.replay.ReplayOutcome` list."""
        from wisesync import replay

        return replay.replay(
            selection,
            config=self.config,
            registry=self.registry,
            db=self.db,
            transport=self.transport,
            requested_by=requested_by,
        )

    def wait(self, run: SyncRun, timeout: float = 120.0, *, acknowledged: bool = True) -> Any:
        """Wait until every record of ``run`` has a result; return the review."""
        from wisesync.review import ReviewFilter, load_review, wait_for_run

        progress = wait_for_run(self.db, run.run_id, timeout, acknowledged=acknowledged)
        if not progress.complete:
            raise TimeoutError(
                f"run {run.run_id}: {progress.done} of {progress.expected} "
                f"answered after {timeout}s"
            )
        return load_review(self.db, ReviewFilter(run_id=run.run_id))
