"""Message transport: one small interface, two implementations (ARCHITECTURE.md section 6).

>>> transport = open_transport("embedded", dsn="postgresql://...")   # or "kafka", bootstrap_servers=...
>>> transport.admin().create_topics(topics.ALL, partitions=6)
>>> with transport.producer() as producer:
...     producer.send(topics.RECORDS, b"acme", payload, [("event_type", b"RecordEvent")])
>>> with transport.consumer("wisesync-poster", [topics.RECORDS]) as consumer:
...     batch = consumer.poll(timeout_s=1.0)
...     consumer.commit_messages(batch)      # after the work is durable

See :mod:`wisesync.transport.base` for the semantics both implementations guarantee.
"""

from __future__ import annotations

from typing import Any

from wisesync.transport import topics
from wisesync.transport.base import (
    Admin,
    Consumer,
    ConsumerOptions,
    DeliveryFuture,
    Headers,
    Message,
    Producer,
    RecordMetadata,
    TopicPartition,
    Transport,
    partition_for,
)
from wisesync.transport.errors import TRANSPORT_KIND_KEY, TransportConfigError

__all__ = [
    "Admin",
    "Consumer",
    "ConsumerOptions",
    "DeliveryFuture",
    "Headers",
    "Message",
    "Producer",
    "RecordMetadata",
    "TopicPartition",
    "Transport",
    "open_transport",
    "partition_for",
    "topics",
]

KINDS = ("kafka", "embedded")


def open_transport(kind: str = "auto", **settings: Any) -> Transport:
    """Open the transport ``kind``: "kafka", "embedded", or "auto" (kafka when
    ``bootstrap_servers`` is given, else embedded).

    kafka settings: ``bootstrap_servers`` (required), ``client_id``, ``replication_factor``,
    ``connect_timeout_s``, ``request_timeout_s``, ``client_config``
    (:class:`~wisesync.transport.kafka.KafkaTransport`).
    embedded settings: ``dsn`` (required), ``pool``, ``pool_max_size``, ``connect_timeout_s``,
    ``client_id`` (:class:`~wisesync.transport.embedded.EmbeddedTransport`).
    """
    if kind == "auto":
        kind = "kafka" if settings.get("bootstrap_servers") else "embedded"
        if kind == "embedded":
            settings.pop("bootstrap_servers", None)
    if kind == "kafka":
        from wisesync.transport.kafka import KafkaTransport

        return KafkaTransport(**settings)
    if kind == "embedded":
        from wisesync.transport.embedded import EmbeddedTransport

        if not settings.get("dsn"):
            raise TransportConfigError(
                "the embedded transport needs a Postgres DSN (dsn=...)", key="store.dsn_env"
            )
        return EmbeddedTransport(**settings)
    raise TransportConfigError(
        f'expected "kafka" or "embedded", got {kind!r}', key=TRANSPORT_KIND_KEY
    )
