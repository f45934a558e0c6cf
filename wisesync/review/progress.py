"""Waiting for a run: how far its results (and owed acknowledgements) have arrived."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wisesync.review.queries import _answered, get_run
from wisesync.store.db import Database

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run's results have arrived.

    ``expected`` is None until the manifest is stored (the extractor sends it when
    extraction ends). ``answered`` counts record events with a result, ``dead_lettered``
    those that only reached the dead-letter topic.
    """

    run_id: str
    expected: int | None
    answered: int
    dead_lettered: int
    finished: bool
    error: str | None = None
    acks_untried: int = 0

    @property
    def done(self) -> int:
        """Record events accounted for."""
        return self.answered + self.dead_lettered

    @property
    def complete(self) -> bool:
        """Every record event of the finished run is accounted for."""
        return self.finished and self.expected is not None and self.done >= self.expected


def run_progress(conn: Any, run_id: str) -> RunProgress:
    """The current :class:`RunProgress` of ``run_id``."""
    run = get_run(conn, run_id)
    answered = _answered(conn, run_id)
    (letters,) = conn.execute(
        """SELECT count(*) FROM dead_letters d
            WHERE d.run_id = %s
              AND (d.record_event_id IS NULL OR NOT EXISTS (
                   SELECT 1 FROM attempts a WHERE a.record_event_id = d.record_event_id))""",
        (run_id,),
    ).fetchone()
    (untried,) = conn.execute(
        """SELECT count(*) FROM acknowledgements k JOIN attempts a USING (result_id)
            WHERE a.run_id = %s AND k.state = 'pending' AND k.tries = 0""",
        (run_id,),
    ).fetchone()
    return RunProgress(
        run_id=run_id,
        expected=run.expected if run else None,
        answered=answered,
        dead_lettered=int(letters),
        finished=bool(run and run.finished_at),
        error=run.error if run else None,
        acks_untried=int(untried),
    )


def wait_for_run(
    db: Database,
    run_id: str,
    timeout: float,
    progress_cb: Callable[[RunProgress], None] | None = None,
    *,
    poll_s: float = 0.25,
    acknowledged: bool = False,
) -> RunProgress:
    """Wait until every record event of ``run_id`` has a result (or a dead letter).

    The run's manifest says how many records were extracted and held; results carrying the
    run id answer them (held records arrive as ``held`` results). With ``acknowledged``,
    also wait until each owed acknowledgement was tried once (so the review shows
    ACKNOWLEDGE_PENDING only for real failures). ``progress_cb`` gets the progress whenever
    it changes. Returns the last progress: check ``.complete`` (False on timeout).
    """
    return _poll(
        db,
        lambda conn: run_progress(conn, run_id),
        lambda p: p.complete and (not acknowledged or p.acks_untried == 0),
        timeout,
        progress_cb,
        poll_s,
    )


def _poll(
    db: Database,
    read: Callable[[Any], _T],
    done: Callable[[_T], bool],
    timeout: float,
    progress_cb: Callable[[_T], None] | None,
    poll_s: float,
) -> _T:
    """Read ``read(conn)`` every ``poll_s`` until ``done`` says so or ``timeout`` passes;
    ``progress_cb`` gets each new value. Returns the last value read."""
    deadline = time.monotonic() + timeout
    last: _T | None = None
    while True:
        with db.connection() as conn:
            value = read(conn)
            conn.rollback()
        if progress_cb is not None and value != last:
            progress_cb(value)
        last = value
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def acknowledgements_to_go(conn: Any, run_id: str) -> dict[str, int]:
    """``{source: n}``: the records of ``run_id`` whose acknowledgement at the source is still
    pending (the same count as :meth:`Review.acknowledging` for the run's review)."""
    rows = conn.execute(
        """SELECT k.source, count(DISTINCT (k.record_type, k.source_id))
             FROM acknowledgements k JOIN attempts a USING (result_id)
            WHERE a.run_id = %s AND k.state = 'pending'
            GROUP BY k.source""",
        (run_id,),
    ).fetchall()
    return {source: int(n) for source, n in rows}


def wait_for_acknowledgements(
    db: Database,
    run_id: str,
    timeout: float,
    progress_cb: Callable[[dict[str, int]], None] | None = None,
    *,
    poll_s: float = 0.5,
) -> dict[str, int]:
    """Wait until every acknowledgement ``run_id`` owes its source is done (``sync-all
    --wait-ack``). ``progress_cb`` gets :func:`acknowledgements_to_go` whenever it changes.
    Returns what is still to go (empty when done; not empty on timeout)."""
    return _poll(
        db,
        lambda conn: acknowledgements_to_go(conn, run_id),
        lambda to_go: not to_go,
        timeout,
        progress_cb,
        poll_s,
    )
