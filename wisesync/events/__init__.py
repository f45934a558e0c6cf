"""Events: dataclass models, Avro schemas registry and the single-object codec."""

from wisesync.events.models import (
    Address,
    Contact,
    DeadLetter,
    Line,
    Payment,
    Person,
    PostingResult,
    PostOutcome,
    RecordEvent,
    RecordType,
    Status,
    SyncRun,
    Terms,
    Totals,
    Tracking,
    Trigger,
)

__all__ = [
    "Address",
    "Contact",
    "DeadLetter",
    "Line",
    "Payment",
    "Person",
    "PostOutcome",
    "PostingResult",
    "RecordEvent",
    "RecordType",
    "Status",
    "SyncRun",
    "Terms",
    "Totals",
    "Tracking",
    "Trigger",
]
