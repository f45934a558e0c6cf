"""What a thread is calling an API for: company, plugin, run and records.

The pipeline roles wrap their plugin calls in :func:`request_context`; the recorder reads it
for every exchange in that block. Calls made outside one are still recorded: the company and
plugin then come from the client (:func:`wisesync.requestlog.recorder.client_identity`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who the calls in a block are made for. ``records`` are ``"<record_type>:<source_id>"``."""

    company: str | None = None
    plugin: str | None = None
    run_id: str | None = None
    records: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()


_current: ContextVar[CallContext | None] = ContextVar("wisesync_request_context", default=None)


def current() -> CallContext | None:
    """The context of the calling thread, if any."""
    return _current.get()


def record_label(record_type: Any, source_id: str) -> str:
    """``invoice:1042``: how the request log names a record (``requests --record``)."""
    return f"{getattr(record_type, 'value', record_type)}:{source_id}"


@contextmanager
def request_context(
    company: str | None,
    plugin: str | None,
    *,
    run_id: str | None = None,
    events: Iterable[Any] = (),
) -> Iterator[CallContext]:
    """Attribute the API calls made in the block to ``company``/``plugin`` and the records of
    ``events`` (RecordEvents or PostingResults: anything with record_type, source_id, event_id
    or record_event_id, run_id)."""
    events = list(events)
    runs = {getattr(e, "run_id", None) for e in events} - {None, ""}
    ctx = CallContext(
        company=company,
        plugin=plugin,
        run_id=run_id or (runs.pop() if len(runs) == 1 else None),
        records=tuple(record_label(e.record_type, e.source_id) for e in events),
        event_ids=tuple(
            i for e in events if (i := getattr(e, "record_event_id", None) or e.event_id)
        ),
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
