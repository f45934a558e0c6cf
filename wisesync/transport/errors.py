"""Typed transport errors.

Each message says what is wrong and how to fix it, names the config key when a setting is at
fault, and never carries a secret (a Postgres DSN is shown without its password).
"""

from __future__ import annotations

from collections.abc import Iterable

from wisesync.errors import WisesyncError

#: Config keys named in messages (see ``wisesync.config``).
KAFKA_BOOTSTRAP_KEY = "transport.kafka.bootstrap_servers"
TRANSPORT_KIND_KEY = "transport.kind"
STORE_DSN_KEY = "store.dsn_env"


class TransportError(WisesyncError):
    """Base class of every error raised by :mod:`wisesync.transport`."""


class TransportConfigError(TransportError):
    """A transport setting is missing or invalid (``key`` names it)."""

    def __init__(self, message: str, *, key: str | None = None):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class TransportUnavailable(TransportError):
    """The broker or the database cannot be reached."""


class BrokerUnavailable(TransportUnavailable):
    """No Kafka broker answered at the configured bootstrap address."""

    def __init__(self, bootstrap: str, detail: str = ""):
        self.bootstrap = bootstrap
        super().__init__(
            f"no Kafka broker reachable at {bootstrap}"
            + (f" ({detail})" if detail else "")
            + f"; check that Kafka is running and that {KAFKA_BOOTSTRAP_KEY} points at it "
            f'(or set {TRANSPORT_KIND_KEY} = "embedded" to use Postgres instead)'
        )


class DatabaseUnavailable(TransportUnavailable):
    """The Postgres database of the embedded transport cannot be reached."""

    def __init__(self, where: str, detail: str = ""):
        self.where = where
        super().__init__(
            f"embedded transport cannot reach Postgres at {where}"
            + (f" ({detail})" if detail else "")
            + f"; check that Postgres is running and that {STORE_DSN_KEY} names a variable "
            "holding a working DSN"
        )


class SchemaMissing(TransportError):
    """The embedded transport tables do not exist in the database."""

    def __init__(self, where: str):
        super().__init__(
            f"the embedded transport tables (transport_topics, transport_log, ...) are missing "
            f"in {where}; run `wisesync db migrate` (migration 0002_embedded_transport.sql)"
        )


class UnknownTopicError(TransportError):
    """A topic was used before it was created."""

    def __init__(self, topic: str, where: str = ""):
        self.topic = topic
        super().__init__(
            f"topic {topic!r} does not exist{f' on {where}' if where else ''}; create it first "
            f"with transport.admin().create_topics([{topic!r}], partitions=N) (topics are not "
            "auto-created, so a typo cannot create a stray topic)"
        )


class DeliveryError(TransportError):
    """Produced messages were not stored; ``failed`` counts them, ``__cause__`` is the first."""

    def __init__(self, failed: int, first: BaseException):
        self.failed = failed
        super().__init__(
            f"{failed} message(s) were not delivered: {first}; the producer cannot tell which "
            "later ones depended on them, so do not commit the input that produced them and "
            "retry the batch (consumers dedupe by event id)"
        )


class CommitFailedError(TransportError):
    """The offsets were not committed because this consumer no longer owns the partitions."""

    def __init__(self, group: str, partitions: Iterable[tuple[str, int]], reason: str):
        self.group = group
        self.partitions = sorted(partitions)
        names = ", ".join(f"{t}[{p}]" for t, p in self.partitions) or "(none)"
        super().__init__(
            f"commit for group {group!r} refused for {names}: {reason}; the group rebalanced "
            "and another member now owns them and will redeliver from the last committed "
            "offset, so drop the work in hand for those partitions and keep polling"
        )


class NotAssignedError(TransportError):
    """``seek`` named a partition this consumer does not currently own."""

    def __init__(self, group: str, topic: str, partition: int, assigned: Iterable[tuple[str, int]]):
        owned = ", ".join(f"{t}[{p}]" for t, p in sorted(assigned)) or "none yet"
        super().__init__(
            f"{topic}[{partition}] is not assigned to this consumer of group {group!r} "
            f"(assigned: {owned}); seek only after assignment, e.g. in on_assigned or after "
            "wait_for_assignment()"
        )


class GroupActiveError(TransportError):
    """An admin operation needs the consumer group to be stopped first."""

    def __init__(self, group: str, action: str, members: int | None = None):
        self.group = group
        count = f"{members} live member(s)" if members is not None else "live members"
        super().__init__(
            f"cannot {action} for group {group!r}: it has {count}; stop its consumers "
            "(e.g. the poster / reporter processes) and retry once their sessions have ended"
        )


class TransportClosedError(TransportError):
    """A producer, consumer, admin or transport was used after ``close()``."""

    def __init__(self, what: str):
        super().__init__(f"{what} is closed; open a new one from the transport")


class FencedInstanceError(TransportError):
    """Another process joined the consumer group under this process's static instance id
    (``transport.kafka.instance_id`` / ``wisesync run --instance-id``), taking its partitions:
    two processes running the same role on one host need different ids."""
