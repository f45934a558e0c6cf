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
