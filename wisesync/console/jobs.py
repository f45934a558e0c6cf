"""Sync All and replays started from the console, run in the background with progress.

A job extracts and publishes in a thread (the same :class:`~wisesync.pipeline.extractor.
Extractor` and :func:`wisesync.replay.replay` the CLI uses), then waits for the runs'
results. :meth:`Job.progress` is what the progress page shows: records extracted (counted as
they are published), then posted, failed and held as the reporter stores their results.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wisesync.events.models import RecordType, Trigger, new_id

if TYPE_CHECKING:
    from wisesync.config import AppConfig, CompanyConfig
    from wisesync.plugins import Registry
    from wisesync.replay import Selection
    from wisesync.store.db import Database
    from wisesync.transport.base import Transport

log = logging.getLogger(__name__)

#: How long a job waits for the results of its runs.
RESULTS_TIMEOUT_S = 1800.0


@dataclass
class Backend:
    """What the console works on: the config, store, plugins and transport the CLI uses."""

    config: AppConfig
    db: Database
    registry: Registry
    transport: Transport
    #: () -> {role: alive}: the daemon's roles as the console can see them
    health: Any = None


@dataclass
class Job:
    """One Sync All or replay started from the console."""

    id: str
    kind: str  # "sync_all" or "replay"
    company: str
    username: str
    started_at: float = field(default_factory=time.time)
    run_ids: list[str] = field(default_factory=list)
    extracted: int = 0
    extracting: bool = True
    finished: bool = False
    error: str | None = None
    first_update_at: float | None = None

    def progress(self, db: Database) -> dict[str, Any]:
        """The numbers of the progress page (JSON)."""
        counts = _status_counts(db, self.run_ids) if self.run_ids else {}
        expected = None if self.extracting else self.extracted
        return {
            "job": self.id,
            "kind": self.kind,
            "company": self.company,
            "extracted": self.extracted,
            "extracting": self.extracting,
            "posted": counts.get("posted", 0) + counts.get("skipped_already_posted", 0),
            "failed": counts.get("failed", 0),
            "held": counts.get("held", 0),
            "expected": expected,
            "finished": self.finished,
            "error": self.error,
            "run_ids": list(self.run_ids),
        }


def _status_counts(db: Database, run_ids: list[str]) -> dict[str, int]:
    with db.connection() as conn:
        rows = conn.execute(
            """SELECT status, count(*) FROM (
                 SELECT DISTINCT ON (record_event_id) status FROM attempts
                  WHERE run_id = ANY(%s)
                  ORDER BY record_event_id, finished_at DESC) x
               GROUP BY status""",
            (run_ids,),
        ).fetchall()
    return {s: int(n) for s, n in rows}


class Jobs:
    """The console's running and recent jobs (kept in memory by the console process)."""

    def __init__(self, backend: Backend, keep: int = 200):
        self.backend = backend
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        """The job, or None (unknown, or forgotten after ``keep`` newer ones)."""
        return self._jobs.get(job_id)

    def _add(self, job: Job, work: Any) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.pop(next(iter(self._jobs)))
        threading.Thread(
            target=self._run, args=(job, work), name=f"console-{job.kind}", daemon=True
        ).start()
        return job

    def _run(self, job: Job, work: Any) -> None:
        from wisesync.pipeline.extractor import SyncInProgress
        from wisesync.review import wait_for_run

        try:
            work(job)
        except SyncInProgress as exc:  # nothing was extracted: no run to wait for
            job.error = str(exc)
            job.run_ids.clear()
        except Exception as exc:  # shown on the progress page; what was published still posts
            log.warning("console %s for %s stopped: %s", job.kind, job.company, exc)
            job.error = str(exc)
        finally:
            job.extracting = False
        try:
            for run_id in job.run_ids:
                wait_for_run(self.backend.db, run_id, RESULTS_TIMEOUT_S, acknowledged=True)
        finally:
            job.finished = True

    def _counter(self, job: Job):
        def seen(_: object) -> None:
            job.extracted += 1
            if job.first_update_at is None:
                job.first_update_at = time.time()

        return seen

    def sync_all(
        self, company: CompanyConfig, record_types: list[RecordType], username: str
    ) -> Job:
        """Start Sync All for ``company`` (the types ticked), requested by ``username``."""
        from wisesync.pipeline.extractor import Extractor

        b = self.backend
        job = Job(uuid.uuid4().hex, "sync_all", company.key, username)
        run_id = new_id()
        job.run_ids.append(run_id)
        trigger = (
            Trigger.SYNC_ALL
            if set(record_types) == set(company.record_types)
            else Trigger.SYNC_TYPE
        )

        def work(job: Job) -> None:
            extractor = Extractor(
                config=b.config, registry=b.registry, db=b.db, transport=b.transport
            )
            try:
                extractor.sync(
                    company,
                    record_types,
                    trigger=trigger,
                    requested_by=f"console:{username}",
                    run_id=run_id,
                    on_record=self._counter(job),
                )
            finally:
                extractor.close()

        return self._add(job, work)

    def replay(self, selection: Selection, company: str, username: str) -> Job:
        """Start a replay of ``selection`` (from :func:`wisesync.replay.select`)."""
        from wisesync import replay

        b = self.backend
        job = Job(uuid.uuid4().hex, "replay", company, username)

        def work(job: Job) -> None:
            outcomes = replay.replay(
                selection,
                config=b.config,
                registry=b.registry,
                db=b.db,
                transport=b.transport,
                requested_by=f"console:{username}",
                on_record=self._counter(job),
            )
            job.run_ids.extend(o.run.run_id for o in outcomes)

        return self._add(job, work)
