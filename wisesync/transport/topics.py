"""Names of the topics wisesync uses (see ARCHITECTURE.md section 2).

A new incompatible layout is a new topic name (``.v2``), never a change to an existing one.
"""

from __future__ import annotations

#: RecordEvents extracted from a source, keyed by company id.
RECORDS = "wisesync.records.v1"
#: PostingResults from the poster, keyed by company id.
RESULTS = "wisesync.results.v1"
#: Undecodable / poison messages in a DLQ envelope.
DLQ = "wisesync.dlq.v1"
#: SyncRun manifests (what a sync run extracted).
RUNS = "wisesync.runs.v1"

#: Every topic a deployment needs, in creation order.
ALL = (RECORDS, RESULTS, DLQ, RUNS)


class Topics:
    """The topic names of one deployment: the names above behind an optional prefix.

    Several deployments (staging and production, or parallel test runs) can share
    one Kafka cluster by giving each its own ``transport.topic_prefix``.
    """

    __slots__ = ("dlq", "prefix", "records", "results", "runs")

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.records = prefix + RECORDS
        self.results = prefix + RESULTS
        self.dlq = prefix + DLQ
        self.runs = prefix + RUNS

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic, in creation order."""
        return (self.records, self.results, self.dlq, self.runs)

    def __repr__(self) -> str:
        return f"Topics(prefix={self.prefix!r})"


DEFAULT = Topics()
