"""Metrics and health endpoints: /metrics in Prometheus text format (records, API calls,
429s, latency, the reporter's consumer lag from a real transport), /healthz, and /readyz that
answers 200 only when the store and the transport answer and the roles have started."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wisesync.events.codec import Codec
from wisesync.events.models import PostingResult, RecordType, Status, new_id
from wisesync.messages import message
from wisesync.observability import (
    Metrics,
    readiness,
    service_checks,
    start_http_server,
    store_check,
    transport_check,
)
from wisesync.pipeline.reporter import Reporter
from wisesync.store.db import Database
from wisesync.store.migrate import migrate
from wisesync.transport import open_transport
from wisesync.transport.topics import Topics

CODEC = Codec()


def get(server: Any, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def posting(status: Status, *codes: str, company: str = "acme", calls: int = 0) -> PostingResult:
    return PostingResult(
        record_event_id=new_id(),
        run_id="r",
        company=company,
        record_type=RecordType.INVOICE,
        source="connectwise",
        source_id=new_id()[:6],
        target="xero",
        status=status,
        messages=[message(c, "x") for c in codes],
        api_calls=calls,
    )


@pytest.fixture
def server() -> Iterator[Any]:
    metrics = Metrics()
    srv = start_http_server(0, metrics, host="127.0.0.1")
    yield srv
    srv.shutdown()


def test_metrics_endpoint_exports_records_calls_429s_and_latency(server: Any) -> None:
    m: Metrics = server.metrics
    m.record_result(posting(Status.POSTED, "ROUNDING_APPLIED", calls=2))
    m.record_result(posting(Status.POSTED, calls=1))
    m.record_result(posting(Status.FAILED, "GL_MAPPING_MISSING", "TERMS_XREF"))
    m.rate_limit_hit("acme", "xero")
    m.api_call("acme", "connectwise", 3)
    with m.time_posting("xero"):
        pass
    m.observe_posting("xero", 4.0)

    status, ctype, body = get(server, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    s = samples(body)
    lab = (("code", ""), ("company", "acme"), ("status", "posted"))
    assert s[("wisesync_records_total", lab)] == 2
    failed = (("code", "GL_MAPPING_MISSING"), ("company", "acme"), ("status", "failed"))
    assert s[("wisesync_records_total", failed)] == 1
    warn = (("code", "TERMS_XREF"), ("company", "acme"), ("severity", "warning"))
    assert s[("wisesync_messages_total", warn)] == 1
    assert s[("wisesync_api_calls_total", (("company", "acme"), ("target", "xero")))] == 3
    assert s[("wisesync_api_calls_total", (("company", "acme"), ("target", "connectwise")))] == 3
    assert s[("wisesync_rate_limited_total", (("company", "acme"), ("target", "xero")))] == 1
    assert s[("wisesync_posting_seconds_count", (("target", "xero"),))] == 2
    assert s[("wisesync_posting_seconds_bucket", (("le", "5.0"), ("target", "xero")))] == 2
    assert s[("wisesync_posting_seconds_bucket", (("le", "2.0"), ("target", "xero")))] == 1


def test_two_metrics_objects_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.rate_limit_hit("acme", "qbo")
    assert a.value("wisesync_rate_limited_total", {"company": "acme", "target": "qbo"}) == 1
    assert b.value("wisesync_rate_limited_total", {"company": "acme", "target": "qbo"}) is None


def test_healthz_is_always_200_and_readyz_follows_the_checks() -> None:
    state = {"roles": False}
    srv = start_http_server(
        0,
        Metrics(),
        host="127.0.0.1",
        ready=lambda: state["roles"],
        checks={"store": lambda: None, "transport": lambda: True},
    )
    try:
        assert get(srv, "/healthz")[0] == 200
        code, ctype, body = get(srv, "/readyz")
        assert (code, ctype) == (503, "application/json")
        assert json.loads(body) == {
            "ready": False,
            "checks": {"roles": "the roles have not started", "store": "ok", "transport": "ok"},
        }
        state["roles"] = True
        assert get(srv, "/readyz")[0] == 200
        srv.add_check("store", lambda: 1 / 0)
        code, _, body = get(srv, "/readyz")
        assert code == 503 and json.loads(body)["checks"]["store"].startswith("ZeroDivision")
        assert get(srv, "/nope")[0] == 404
    finally:
        srv.shutdown()


class _Service:
    """The parts of wisesync.daemon.Service the checks read."""

    def __init__(self) -> None:
        self.db = None
        self.transport = None
        self.started = False

    def alive(self) -> bool:
        return self.started


@pytest.mark.postgres
def test_readiness_of_a_service_needs_store_transport_and_started_roles(pg_database: str) -> None:
    service = _Service()
    checks = service_checks(service)
    ready, report = readiness(checks)
    assert not ready and report["store"] == "the store is not connected yet"

    service.db = Database(pg_database, max_size=2)
    with service.db.connection() as conn:
        migrate(conn)
    service.transport = open_transport("embedded", dsn=pg_database)
    try:
        ready, report = readiness(checks)
        assert report["store"] == "ok" and not ready
        assert "wisesync.results.v1" in report["transport"]  # topic not created yet
        service.transport.admin().create_topics(["wisesync.results.v1"], partitions=1)
        service.started = True
        assert readiness(checks) == (
            True,
            {"store": "ok", "transport": "ok", "roles": "ok"},
        )
        service.db.close()  # the store goes away
        ready, report = readiness({"store": store_check(service.db, timeout_s=0.5)})
        assert not ready and report["store"] != "ok"
    finally:
        service.transport.close()


@pytest.mark.postgres
def test_consumer_lag_of_the_reporter_is_read_from_the_transport_at_scrape(
    pg_database: str,
) -> None:
    db = Database(pg_database, max_size=2)
    with db.connection() as conn:
        migrate(conn)
    transport = open_transport("embedded", dsn=pg_database)
    tag = uuid.uuid4().hex[:6]
    names = Topics(f"t{tag}.")
    transport.admin().create_topics([names.results, names.runs, names.dlq], partitions=2)
    metrics = Metrics()

    class NoPlugins:
        sources: dict = {}
        manager = None

    reporter = Reporter(
        db, transport, CODEC, group=f"g-{tag}", registry=NoPlugins(), metrics=metrics, topics=names
    )
    try:
        with transport.producer() as producer:
            for company in ("acme", "globex", "initech", "umbrella"):
                r = posting(Status.POSTED, company=company)
                producer.send(names.results, company.encode(), CODEC.encode(r))
        lag = _lag(metrics, f"g-{tag}", names.results)
        assert sum(lag.values()) == 4 and set(lag) <= {"0", "1"}

        reporter.drain(idle_s=0.5, timeout_s=30)
        assert sum(_lag(metrics, f"g-{tag}", names.results).values()) == 0
        assert metrics.value("wisesync_reporter_messages_total", {"outcome": "stored"}) == 4
        assert transport_check(transport, names.results)() is True
    finally:
        reporter.close()
        transport.close()
        db.close()


def _lag(metrics: Metrics, group: str, topic: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            labels = s.labels
            if s.name == "wisesync_consumer_lag" and (labels["group"], labels["topic"]) == (
                group,
                topic,
            ):
                out[labels["partition"]] = s.value
    return out
