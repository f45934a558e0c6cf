"""Metrics and health endpoints: one small HTTP server on one port (stdlib, a thread).

* ``/metrics`` - Prometheus text format (``prometheus_client``) from a :class:`Metrics`;
* ``/healthz`` - the process is alive: always 200 while the server answers;
* ``/readyz`` - 200 only when every readiness check passes (the store and the transport
  answer, the roles have started); 503 with a JSON body naming what is not ready.

>>> metrics = Metrics()                                                # doctest: +SKIP
>>> server = start_http_server(9464, metrics, ready=service.alive,
...                            checks=service_checks(service))        # doctest: +SKIP
>>> metrics.record_result(result)   # poster: records_total, api_calls_total
>>> server.shutdown()

Each :class:`Metrics` has its own ``CollectorRegistry``, so tests and several services in
one process never share counters. Consumer lag is read at scrape time from the transport's
admin (:meth:`Metrics.watch_lag`), so it is never stale and costs nothing between scrapes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: Posting latency buckets (seconds): a batch call to a ledger takes 0.1 s to a minute.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)

#: A readiness check: returns None/True when ready; False, a reason string, or raises when not.
Check = Callable[[], Any]


class _LagCollector(Collector):
    """Yields ``wisesync_consumer_lag`` from the registered watches at scrape time."""

    def __init__(self) -> None:
        self._watches: list[tuple[Callable[[], Any], str, tuple[str, ...]]] = []
        self._lock = threading.Lock()

    def add(self, admin: Any, group: str, topics: Iterable[str]) -> None:
        getter = admin if callable(admin) and not hasattr(admin, "lag") else (lambda: admin)
        with self._lock:
            key = (group, tuple(topics))
            if any((g, t) == key for _, g, t in self._watches):
                return
            self._watches.append((getter, *key))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wisesync_consumer_lag",
            "Messages not yet committed by a consumer group, per topic partition.",
            labels=["group", "topic", "partition"],
        )
        with self._lock:
            watches = list(self._watches)
        for getter, group, topics in watches:
            for topic in topics:
                try:
                    lag = getter().lag(group, topic)
                except Exception as exc:  # a scrape must not fail because Kafka is slow
                    log.debug("lag of %s on %s unavailable: %s", group, topic, exc)
                    continue
                for partition, value in sorted(lag.items()):
                    family.add_metric([group, topic, str(partition)], float(value))
        yield family


class Metrics:
    """The process's Prometheus metrics; the roles increment them.

    Counters: ``wisesync_records_total{company,status,code}`` (code: the first error code of
    a failed result, else empty), ``wisesync_messages_total{company,severity,code}``,
    ``wisesync_api_calls_total{company,target}``, ``wisesync_rate_limited_total{company,
    target}`` (429 answers), ``wisesync_reporter_messages_total{outcome}``,
    ``wisesync_acknowledgements_total{company,source,outcome}``. Histogram:
    ``wisesync_posting_seconds{target}``. Gauge: ``wisesync_consumer_lag{group,topic,
    partition}`` (see :meth:`watch_lag`). All methods are thread-safe.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = Counter(
            "wisesync_records", "Posting results by company, status and error code.",
            ["company", "status", "code"], registry=r,
        )  # fmt: skip
        self.messages = Counter(
            "wisesync_messages", "Result messages (errors and warnings) by code.",
            ["company", "severity", "code"], registry=r,
        )  # fmt: skip
        self.api_calls = Counter(
            "wisesync_api_calls", "API calls made to a target (ledger or source).",
            ["company", "target"], registry=r,
        )  # fmt: skip
        self.rate_limited = Counter(
            "wisesync_rate_limited", "429 answers received from a remote API.",
            ["company", "target"], registry=r,
        )  # fmt: skip
        self.posting_seconds = Histogram(
            "wisesync_posting_seconds", "Time to post one batch to a target.",
            ["target"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.reporter_messages = Counter(
            "wisesync_reporter_messages",
            "Messages the reporter handled: stored, skipped (redelivered) or dead-lettered.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.acknowledgements = Counter(
            "wisesync_acknowledgements", "Source acknowledgements by outcome (done, failed).",
            ["company", "source", "outcome"], registry=r,
        )  # fmt: skip
        self._lag = _LagCollector()
        r.register(self._lag)

    # --- poster ---------------------------------------------------------------------

    def record_result(self, result: Any) -> None:
        """Count one :class:`~wisesync.events.models.PostingResult` (status, first error
        code, every message, its API calls). The poster calls this as it emits a result."""
        company = result.company
        code = ""
        for m in result.messages:
            severity = str(m.severity)
            self.messages.labels(company, severity, m.code).inc()
            if not code and severity == "error":
                code = m.code
        self.records.labels(company, str(result.status), code).inc()
        if result.api_calls:
            self.api_calls.labels(company, result.target).inc(result.api_calls)

    def api_call(self, company: str, target: str, n: int = 1) -> None:
        """Count ``n`` API calls made outside a result (reference data loads, acknowledges)."""
        self.api_calls.labels(company, target).inc(n)

    def rate_limit_hit(self, company: str, target: str) -> None:
        """Count one 429 answer."""
        self.rate_limited.labels(company, target).inc()

    def observe_posting(self, target: str, seconds: float) -> None:
        """Record how long one batch post took."""
        self.posting_seconds.labels(target).observe(seconds)

    @contextmanager
    def time_posting(self, target: str) -> Iterator[None]:
        """``with metrics.time_posting("xero"): target.post(...)``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_posting(target, time.perf_counter() - start)

    # --- reporter / acknowledger ----------------------------------------------------------

    def reporter_stored(self, *, stored: int, skipped: int, dead_letters: int) -> None:
        """Count one reporter transaction's outcome."""
        for outcome, n in (("stored", stored), ("skipped", skipped), ("dead_letter", dead_letters)):
            if n:
                self.reporter_messages.labels(outcome).inc(n)

    def acknowledged(self, company: str, source: str, *, done: int, failed: int) -> None:
        """Count acknowledgement outcomes."""
        if done:
            self.acknowledgements.labels(company, source, "done").inc(done)
        if failed:
            self.acknowledgements.labels(company, source, "failed").inc(failed)

    # --- lag ----------------------------------------------------------------------------

    def watch_lag(self, admin: Any, group: str, topics: Iterable[str]) -> None:
        """Export the lag of ``group`` on ``topics`` at every scrape.

        ``admin`` is a :class:`~wisesync.transport.base.Admin` or a zero-argument callable
        returning one (e.g. ``transport.admin``). Registering the same group and topics
        twice is a no-op.
        """
        self._lag.add(admin, group, topics)

    # --- output -----------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """A sample's current value (tests): ``value("wisesync_records_total", {...})``."""
        return self.registry.get_sample_value(name, dict(labels or {}))


# --- readiness -------------------------------------------------------------------------------


def store_check(db: Any, *, timeout_s: float = 2.0) -> Check:
    """A readiness check that runs ``SELECT 1`` on the store.

    ``db`` is a :class:`~wisesync.store.db.Database` or a zero-argument callable returning
    one (None = not connected yet).
    """

    def check() -> Any:
        database = db() if callable(db) and not hasattr(db, "pool") else db
        if database is None:
            return "the store is not connected yet"
        with database.pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1").fetchone()
            conn.rollback()
        return True

    return check


def transport_check(transport: Any, topic: str = "wisesync.results.v1") -> Check:
    """A readiness check that asks the transport for ``topic``'s partition count.

    ``transport`` is a :class:`~wisesync.transport.base.Transport` or a zero-argument
    callable returning one (None = not connected yet).
    """

    def check() -> Any:
        t = transport() if callable(transport) and not hasattr(transport, "admin") else transport
        if t is None:
            return "the transport is not connected yet"
        t.admin().partition_count(topic)
        return True

    return check


def service_checks(service: Any) -> dict[str, Check]:
    """Readiness checks for a :class:`wisesync.daemon.Service`: store, transport, roles.

    The transport check asks for this deployment's results topic (``transport.topic_prefix``
    included), not the default name.
    """
    config = getattr(service, "config", None)
    results = config.topics.results if config is not None else "wisesync.results.v1"
    return {
        "store": store_check(lambda: getattr(service, "db", None)),
        "transport": transport_check(lambda: getattr(service, "transport", None), results),
        "roles": lambda: bool(service.alive()) or "the roles have not started (or one stopped)",
    }


def readiness(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run every check; returns (ready, {name: "ok" or the reason})."""
    report: dict[str, str] = {}
    ready = True
    for name, check in checks.items():
        try:
            outcome = check()
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        if outcome is None or outcome is True:
            report[name] = "ok"
        else:
            ready = False
            report[name] = outcome if isinstance(outcome, str) else "not ready"
    return ready, report


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/metrics":
            self._send(200, self.server.metrics.render(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(200, {"status": "alive"})
        elif path == "/readyz":
            ready, report = readiness(self.server.checks)
            self._json(200 if ready else 503, {"ready": ready, "checks": report})
        else:
            self._json(404, {"error": "not found", "paths": ["/metrics", "/healthz", "/readyz"]})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health server: " + format, *args)


class HealthServer(ThreadingHTTPServer):
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a daemon thread.

    ``port`` is the bound port (useful with port 0). :meth:`shutdown` stops it.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str = "0.0.0.0",
        port: int = 9464,
        checks: Mapping[str, Check] | None = None,
    ):
        super().__init__((host, port), _Handler)
        self.metrics = metrics
        self.checks: dict[str, Check] = dict(checks or {})
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        return self.server_address[1]

    def add_check(self, name: str, check: Check) -> None:
        """Add (or replace) a readiness check."""
        self.checks[name] = check

    def start(self) -> HealthServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="wisesync-health", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            super().shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()


def start_http_server(
    port: int,
    metrics: Metrics,
    *,
    ready: Callable[[], bool] | None = None,
    checks: Mapping[str, Check] | None = None,
    host: str = "0.0.0.0",
) -> HealthServer:
    """Start the health/metrics server on ``port`` (0 = any free port) and return it.

    ``ready`` is a shorthand check named ``roles`` (e.g. ``service.alive``); ``checks`` adds
    named checks (see :func:`service_checks`, :func:`store_check`, :func:`transport_check`).
    With no checks at all, ``/readyz`` answers 200 as soon as the server runs.
    """
    all_checks: dict[str, Check] = {}
    if ready is not None:
        all_checks["roles"] = lambda: bool(ready()) or "the roles have not started"
    all_checks.update(checks or {})
    return HealthServer(metrics, host=host, port=port, checks=all_checks).start()
