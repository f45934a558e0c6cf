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

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from wisesync.config import AppConfig

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
    "ensure_topics",
    "open_from_config",
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


def open_from_config(config: AppConfig, dsn: str | None = None) -> Transport:
    """Open the transport ``config.transport`` names (``[transport]`` in the config file).

    kafka uses ``transport.kafka.bootstrap_servers`` / ``client_id``; embedded uses ``dsn``
    (the store's DSN, e.g. the one the embedded Postgres was started with) or ``config.dsn``.
    """
    if config.transport == "kafka":
        return open_transport(
            "kafka",
            bootstrap_servers=config.kafka.bootstrap_servers,
            client_id=config.kafka.client_id,
        )
    return open_transport(config.transport, dsn=dsn or config.dsn)


def ensure_topics(
    transport: Transport, partitions: int, names: Iterable[str] = topics.ALL
) -> dict[str, int]:
    """Create wisesync's topics if missing (``names``: e.g. ``config.topics.all`` when a
    ``transport.topic_prefix`` is set); return their partition counts.

    ``partitions`` is ``transport.kafka.partitions`` (also used for embedded, so a company maps
    to the same partition number on both). Existing topics keep their partition count.
    """
    return transport.admin().create_topics(names, partitions=partitions)
