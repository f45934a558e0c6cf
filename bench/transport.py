"""Transport throughput: produce + consume N realistic ~2 KB events, printed as JSON.

Runs the same workload on the ``kafka`` and ``embedded`` transports and, as a baseline, on a
raw kafka-python loop with the same producer settings and no wrapper. Each run uses a fresh
topic (``--partitions``, keyed by company id like ``wisesync.records.v1``) and a fresh consumer
group that commits after every polled batch, as the poster does.

Services: ``WISESYNC_TEST_KAFKA_BOOTSTRAP`` / ``WISESYNC_TEST_POSTGRES_DSN`` when set, otherwise
started here the way the tests start them (``wisesync.testing.services``: a local KRaft broker
from Maven jars, an embedded Postgres) and stopped at the end.

Codec: by default the events are pre-encoded JSON bytes (no codec cost). ``--codec
module:attr`` plugs in an encoder: ``attr`` is an object (or a zero-argument factory returning
one) with ``encode(event) -> bytes`` and ``decode(bytes) -> event``; encoding then happens
inside the produce timing and decoding inside the consume timing. ``make_event`` builds the
event dicts; an adapter for ``wisesync.events.codec`` maps them to its event type.

    python bench/transport.py                       # 20,000 events, all three
    python bench/transport.py --events 5000 --transports embedded
    python bench/transport.py --codec mypkg.bench_codec:JsonCodec
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

KAFKA_ENV = "WISESYNC_TEST_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "WISESYNC_TEST_POSTGRES_DSN"


# -- workload ------------------------------------------------------------------------------------
def make_event(i: int, companies: int) -> dict[str, Any]:
    """A RecordEvent-shaped invoice (ARCHITECTURE.md section 4) of roughly 2 KB as JSON."""
    company = f"company-{i % companies:03d}"
    lines = [
        {
            "description": f"Managed services - workstation support tier {n} ({i})",
            "quantity": "3.00",
            "unit_amount": "125.50",
            "line_amount": "376.50",
            "gl_account": "4000",
            "item_code": f"MS-{n:03d}",
            "tax_code": "OUTPUT2",
            "tax_amount": "56.48",
            "tracking": {"department": "Managed", "location": "HQ", "class": None},
        }
        for n in range(4)
    ]
    return {
        "event_id": str(uuid.UUID(int=i + 1)),
        "produced_at": "2026-11-25T18:00:00.000000+00:00",
        "run_id": "00000000-0000-0000-0000-00000000beef",
        "trigger": "schedule",
        "attempt": 1,
        "company": company,
        "source": "connectwise",
        "target": "xero",
        "record_type": "invoice",
        "source_id": str(100000 + i),
        "source_batch_ids": [f"GL-{100000 + i}-{k}" for k in range(3)],
        "document_number": f"INV-{100000 + i}",
        "reference": f"PO-{i:06d}",
        "dates": {"issued": "2026-11-20", "due": "2026-12-20"},
        "terms": {"name": "Net 30", "xref": "NET30", "due_days": 30},
        "currency": "AUD",
        "contact": {
            "source_id": str(5000 + i % companies),
            "name": f"Customer {i % companies} Pty Ltd",
            "account_number": f"C{i % companies:05d}",
            "primary": {"name": "Pat Primary", "email": "pat@example.com"},
            "billing": {"name": "Bill Billing", "email": "billing@example.com"},
            "address": {"line1": "1 Example St", "city": "Sydney", "postcode": "2000"},
        },
        "lines": lines,
        "totals": {"subtotal": "1882.50", "tax": "282.40", "total": "2164.90"},
        "content_hash": f"{i:064x}",
    }


class JsonCodec:
    """Plain JSON, the shape the pre-encoded payloads have (useful to test ``--codec``)."""

    def encode(self, event: Any) -> bytes:
        """Event dict -> bytes."""
        return json.dumps(event, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        """Bytes -> event dict."""
        return json.loads(data)


def load_codec(spec: str) -> Any:
    """``module:attr`` -> an object with encode/decode (instantiating a class or factory)."""
    module, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(module), attr or "codec")
    if not (hasattr(obj, "encode") and hasattr(obj, "decode")) or isinstance(obj, type):
        obj = obj()
    return obj


@dataclass
class Workload:
    """What every transport moves."""

    events: list[Any]
    payloads: list[bytes] | None  # pre-encoded (no codec)
    keys: list[bytes]
    headers: list[tuple[str, bytes]]
    codec: Any | None
    partitions: int

    def value(self, i: int) -> bytes:
        """The bytes to send for event ``i`` (encoding it when a codec is plugged in)."""
        if self.codec is not None:
            return self.codec.encode(self.events[i])
        assert self.payloads is not None
        return self.payloads[i]

    def accept(self, value: bytes) -> None:
        """Consume side of the codec."""
        if self.codec is not None:
            self.codec.decode(value)


# -- services ------------------------------------------------------------------------------------
@contextlib.contextmanager
def services(need_kafka: bool, need_pg: bool) -> Iterator[dict[str, Any]]:
    """Kafka bootstrap and Postgres DSN: from the env vars, or started like the tests do."""
    found: dict[str, Any] = {}
    stops: list[Callable[[], None]] = []
    try:
        from wisesync.testing import services as svc
    except ImportError:  # pragma: no cover - the plugin ships with wisesync
        svc = None
    try:
        if need_kafka:
            if os.environ.get(KAFKA_ENV):
                found["kafka"], found["kafka_from"] = os.environ[KAFKA_ENV], f"${KAFKA_ENV}"
            elif svc is not None:
                started = time.monotonic()
                found["kafka"], stop = svc._start_local_kafka()
                stops.append(stop)
                found["kafka_from"] = f"local broker ({time.monotonic() - started:.1f} s)"
            else:
                raise SystemExit(f"set {KAFKA_ENV}")
        if need_pg:
            if os.environ.get(POSTGRES_ENV):
                found["postgres"], found["postgres_from"] = (
                    os.environ[POSTGRES_ENV],
                    f"${POSTGRES_ENV}",
                )
            elif svc is not None:
                started = time.monotonic()
                found["postgres"], stop = svc._start_embedded_postgres()
                stops.append(stop)
                found["postgres_from"] = f"embedded Postgres ({time.monotonic() - started:.1f} s)"
            else:
                raise SystemExit(f"set {POSTGRES_ENV}")
        yield found
    finally:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()


@contextlib.contextmanager
def bench_database(server_dsn: str) -> Iterator[str]:
    """A fresh migrated database for the embedded run (dropped afterwards)."""
    import psycopg

    from wisesync.store.migrate import migrate
    from wisesync.testing.services import temporary_database

    with temporary_database(server_dsn, "bench_transport") as dsn:
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        yield dsn


def pg_settings(dsn: str) -> dict[str, str]:
    """Durability settings that decide the embedded numbers."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("server_version", "fsync", "synchronous_commit")
        }


# -- runs ----------------------------------------------------------------------------------------
def rates(n: int, nbytes: int, seconds: float) -> dict[str, float]:
    """Messages and MB per second."""
    seconds = max(seconds, 1e-9)
    return {
        "seconds": round(seconds, 3),
        "msgs_per_s": round(n / seconds),
        "mb_per_s": round(nbytes / seconds / 1e6, 2),
    }


def run_transport(kind: str, settings: dict[str, Any], w: Workload) -> dict[str, Any]:
    """Produce everything, then consume it in a new group committing per batch."""
    from wisesync.transport import open_transport

    topic = f"bench.transport.{uuid.uuid4().hex[:8]}"
    group = f"bench-{uuid.uuid4().hex[:8]}"
    n = len(w.keys)
    with open_transport(kind, **settings) as transport:
        transport.admin().create_topics([topic], partitions=w.partitions)
        nbytes = 0
        with transport.producer() as producer:
            started = time.perf_counter()
            for i in range(n):
                value = w.value(i)
                nbytes += len(value)
                producer.send(topic, w.keys[i], value, w.headers)
            producer.flush()
            produce_s = time.perf_counter() - started
        consumer = transport.consumer(group, [topic])
        got = 0
        got_bytes = 0
        started = time.perf_counter()
        first = None
        while got < n:
            batch = consumer.poll(1.0)
            if not batch:
                if time.perf_counter() - started > 120:
                    raise RuntimeError(f"{kind}: only {got}/{n} consumed after 120 s")
                continue
            if first is None:
                first = time.perf_counter() - started
            for m in batch:
                w.accept(m.value)
                got_bytes += len(m.value)
            got += len(batch)
            consumer.commit_messages(batch)
        consume_s = time.perf_counter() - started
        lag = sum(transport.admin().lag(group, topic).values())
        consumer.close()
    assert got == n and got_bytes == nbytes and lag == 0, (got, n, got_bytes, nbytes, lag)
    return {
        "produce": rates(n, nbytes, produce_s),
        "consume": {**rates(n, nbytes, consume_s), "first_message_s": round(first or 0.0, 3)},
        "total_seconds": round(produce_s + consume_s, 3),
    }


def run_raw_kafka(bootstrap: str, w: Workload) -> dict[str, Any]:
    """kafka-python directly, same settings, no wrapper, no codec: the floor for ``kafka``."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.structs import OffsetAndMetadata, TopicPartition

    payloads = w.payloads or [JsonCodec().encode(e) for e in w.events]
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics(
        {topic: {"num_partitions": w.partitions, "replication_factor": 1}}, wait_for_metadata=True
    )
    admin.close()
    n = len(payloads)
    nbytes = sum(len(p) for p in payloads)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
    )
    started = time.perf_counter()
    for i in range(n):
        producer.send(topic, value=payloads[i], key=w.keys[i], headers=w.headers)
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    got = 0
    started = time.perf_counter()
    first = None
    while got < n:
        batch = consumer.poll(timeout_ms=1000, max_records=500)
        if not batch:
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"raw kafka: only {got}/{n} consumed after 120 s")
            continue
        if first is None:
            first = time.perf_counter() - started
        offsets = {}
        for tp, records in batch.items():
            got += len(records)
            offsets[TopicPartition(tp.topic, tp.partition)] = OffsetAndMetadata(
                records[-1].offset + 1, "", -1
            )
        consumer.commit(offsets)
    consume_s = time.perf_counter() - started
    consumer.close(autocommit=False)
    return {
        "produce": rates(n, nbytes, produce_s),
        "consume": {**rates(n, nbytes, consume_s), "first_message_s": round(first or 0.0, 3)},
        "total_seconds": round(produce_s + consume_s, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the selected transports, print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--companies", type=int, default=50, help="distinct keys")
    parser.add_argument(
        "--transports",
        default="kafka,embedded,raw-kafka",
        help="comma list of kafka, embedded, raw-kafka",
    )
    parser.add_argument("--codec", default=None, help="module:attr with encode/decode")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; each result is the median round"
    )
    args = parser.parse_args(argv)
    chosen = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = set(chosen) - {"kafka", "embedded", "raw-kafka"}
    if unknown:
        parser.error(f"unknown transports {sorted(unknown)}")

    codec = load_codec(args.codec) if args.codec else None
    events = [make_event(i, args.companies) for i in range(args.events)]
    payloads = None if codec else [JsonCodec().encode(e) for e in events]
    sizes = [len(p) for p in payloads] if payloads else [len(codec.encode(e)) for e in events[:200]]
    workload = Workload(
        events=events,
        payloads=payloads,
        keys=[e["company"].encode() for e in events],
        headers=[("event_type", b"RecordEvent"), ("schema_fp", b"\x00" * 8)],
        codec=codec,
        partitions=args.partitions,
    )
    try:
        import crc32c  # noqa: F401

        crc_c = True
    except ImportError:
        crc_c = False
    import kafka

    report: dict[str, Any] = {
        "bench": "transport",
        "events": args.events,
        "event_bytes_avg": round(sum(sizes) / len(sizes)),
        "partitions": args.partitions,
        "keys": args.companies,
        "codec": args.codec,
        "python": platform.python_version(),
        "kafka_python": kafka.__version__,
        "crc32c_c_extension": crc_c,
        "cpus": os.cpu_count(),
        "results": {},
    }
    need_kafka = bool({"kafka", "raw-kafka"} & set(chosen))
    with services(need_kafka, "embedded" in chosen) as svc:
        report["services"] = {k: v for k, v in svc.items() if k.endswith("_from")}
        rounds: dict[str, list[dict[str, Any]]] = {}
        for _ in range(max(1, args.repeat)):  # interleaved, so drift hits every transport
            for name in chosen:
                if name == "kafka":
                    result = run_transport("kafka", {"bootstrap_servers": svc["kafka"]}, workload)
                elif name == "raw-kafka":
                    name = "raw_kafka_python"
                    result = run_raw_kafka(svc["kafka"], workload)
                else:
                    with bench_database(svc["postgres"]) as dsn:
                        report["postgres"] = pg_settings(dsn)
                        result = run_transport("embedded", {"dsn": dsn}, workload)
                rounds.setdefault(name, []).append(result)
        for name, results in rounds.items():
            ordered = sorted(results, key=lambda r: r["total_seconds"])
            report["results"][name] = {
                **ordered[len(ordered) // 2],
                "rounds_total_seconds": [r["total_seconds"] for r in results],
            }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
