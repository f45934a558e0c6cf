"""The ``api_requests`` table: written off the calling thread, pruned, queried.

API calls happen on the poster's and extractor's threads, some inside a transaction that
holds a pool connection; the log must neither slow them nor take their connections. A
:class:`RequestLogWriter` queues entries and one thread of its own writes them in batches
on its own connection. A full queue or a lost database drops entries (counted in
``dropped`` and logged), never the call; a process killed outright loses what it had not
written yet (at most ``interval_s`` worth).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """One HTTP exchange as stored (column order of ``api_requests``)."""

    at: datetime
    company: str | None
    plugin: str
    system: str
    method: str
    host: str
    path: str
    status: int | None
    error: str | None
    duration_ms: int
    retry: int
    correlation_id: str | None
    run_id: str | None
    records: list[str]
    event_ids: list[str]
    request_body: str | None = None
    response_body: str | None = None


_COLUMNS = ", ".join(f.name for f in fields(RequestEntry))
_INSERT = f"INSERT INTO api_requests ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(fields(RequestEntry)))})"


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class RequestLogWriter:
    """Queue entries; a thread writes them every ``interval_s`` and prunes every hour."""

    def __init__(
        self,
        dsn: str,
        keep_seconds: int,
        *,
        interval_s: float = 0.5,
        batch: int = 500,
        max_queue: int = 20_000,
        prune_every_s: float = 3600.0,
    ):
        self.dsn = dsn
        self.keep_seconds = keep_seconds
        self.interval_s = interval_s
        self.batch = batch
        self.prune_every_s = prune_every_s
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[Any] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._conn: Any = None
        self._next_prune = 0.0
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def put(self, entry: RequestEntry) -> None:
        """Queue one entry (never blocks; a full queue drops it)."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the thread, close the connection."""
        if self._thread.is_alive():
            self.flush(timeout)
            self._stop.set()
            self._thread.join(timeout)

    # -- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                items = self._take()
                entries = [i for i in items if isinstance(i, RequestEntry)]
                if entries:
                    self._write(entries)
                for item in items:
                    if isinstance(item, _Flush):
                        item.done.set()
                if time.monotonic() >= self._next_prune:
                    self._prune()
        finally:
            if self._conn is not None:
                self._conn.close()

    def _take(self) -> list[Any]:
        try:
            items = [self._queue.get(timeout=self.interval_s)]
        except queue.Empty:
            return []
        while len(items) < self.batch:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
        return self._conn

    def _write(self, entries: list[RequestEntry]) -> None:
        import psycopg

        try:
            with self._connection().cursor() as cur:
                cur.executemany(_INSERT, [astuple(e) for e in entries])
            self.written += len(entries)
        except psycopg.Error as exc:
            self.dropped += len(entries)
            self._conn = None
            log.warning(
                "request log: %d entries not written (%s)", len(entries), type(exc).__name__
            )

    def _prune(self) -> None:
        import psycopg

        self._next_prune = time.monotonic() + self.prune_every_s
        if self.keep_seconds <= 0:
            return
        try:
            prune(self._connection(), self.keep_seconds)
        except psycopg.Error as exc:
            self._conn = None
            log.warning("request log: pruning failed (%s)", type(exc).__name__)


def prune(conn: Any, keep_seconds: int) -> int:
    """Delete entries older than ``keep_seconds``; the number deleted."""
    cur = conn.execute(
        "DELETE FROM api_requests WHERE at < now() - make_interval(secs => %s)", (keep_seconds,)
    )
    return cur.rowcount


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """What ``wisesync requests`` asks for (every field optional)."""

    company: str | None = None
    plugin: str | None = None
    status: str | None = None  # "200", "4xx", "5xx", "error" (no response), "failed" (>=400|error)
    since: datetime | None = None
    record: str | None = None  # "invoice:1042"
    event_id: str | None = None  # a result's record_event_id (the review's JSON has it)
    run_id: str | None = None
    limit: int = 100


def _status_clause(status: str) -> tuple[str, list[Any]]:
    if status == "error":
        return "status IS NULL", []
    if status == "failed":
        return "(status IS NULL OR status >= 400)", []
    if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
        low = int(status[0]) * 100
        return "status >= %s AND status < %s", [low, low + 100]
    return "status = %s", [int(status)]


def find(conn: Any, flt: RequestFilter) -> list[dict[str, Any]]:
    """The newest ``flt.limit`` entries matching ``flt``, newest first, as dicts."""
    where, args = [], []
    for column, value in (("company", flt.company), ("plugin", flt.plugin), ("run_id", flt.run_id)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if flt.status is not None:
        clause, more = _status_clause(flt.status)
        where.append(clause)
        args.extend(more)
    if flt.since is not None:
        where.append("at >= %s")
        args.append(flt.since)
    for column, value in (("records", flt.record), ("event_ids", flt.event_id)):
        if value is not None:
            where.append(f"{column} @> ARRAY[%s]::text[]")
            args.append(value)
    sql = f"SELECT id, {_COLUMNS} FROM api_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY at DESC, id DESC LIMIT %s"
    args.append(flt.limit)
    cur = conn.execute(sql, args)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
