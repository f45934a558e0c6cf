"""Sync All and replays started from the console, run in the background with progress.

A job extracts and publishes in a thread (the same :class:`~wisesync.pipeline.extractor.
Extractor` and :func:`wisesync.replay.replay` the CLI uses), then waits for the runs'
results. Its state lives in Postgres (``console_jobs``), not in the process: the thread
writes it (at the first record at once, then every :data:`HEARTBEAT_S`), and every page reads
it, so the progress page works after a console restart and from any console process.
:meth:`Job.progress` is what the progress page shows: records extracted (counted as they are
published), then posted, failed and held as the reporter stores their results.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
#: How often the process running a job writes its state (and so proves it is alive).
HEARTBEAT_S = 0.5
#: A job not finished whose state was not written for this long lost its process (restart).
STALE_AFTER_S = 30.0
#: Jobs older than this are forgotten (their runs stay on the Runs page).
KEEP_DAYS = 30
#: What the progress page says of such a job when it was still extracting.
STOPPED_WHILE_EXTRACTING = (
    "the console process running this stopped during extraction (restarted?): the records "
    "published so far still post and show on the Runs page; press Sync All again for the rest"
)


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
    """One Sync All or replay started from the console (a ``console_jobs`` row)."""

    id: str
    kind: str  # "sync_all" or "replay"
    company: str
    username: str
    run_ids: list[str] = field(default_factory=list)
    extracted: int = 0
    extracting: bool = True
    finished: bool = False
    error: str | None = None
    started_at: datetime | None = None
    first_update_at: datetime | None = None
    #: seconds since the running process last wrote the job (read from the store)
    silent_s: float = 0.0

    @property
    def stale(self) -> bool:
        """Unfinished, and the process running it stopped writing (it was restarted)."""
        return not self.finished and self.silent_s > STALE_AFTER_S

    def progress(self, db: Database) -> dict[str, Any]:
        """The numbers of the progress page (JSON)."""
        counts = _status_counts(db, self.run_ids) if self.run_ids else {}
        extracting, finished, error = self.extracting, self.finished, self.error
        if self.stale:  # nobody runs it any more: what the store says is all there is
            if extracting:
                extracting, finished, error = False, True, error or STOPPED_WHILE_EXTRACTING
            else:
                finished = _runs_complete(db, self.run_ids)
        return {
            "job": self.id,
            "kind": self.kind,
            "company": self.company,
            "extracted": self.extracted,
            "extracting": extracting,
            "posted": counts.get("posted", 0) + counts.get("skipped_already_posted", 0),
            "failed": counts.get("failed", 0),
            "held": counts.get("held", 0),
            "expected": None if extracting else self.extracted,
            "finished": finished,
            "error": error,
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


def _runs_complete(db: Database, run_ids: list[str]) -> bool:
    from wisesync.review.progress import run_progress

    with db.connection() as conn:
        return all(run_progress(conn, run_id).complete for run_id in run_ids)


_COLUMNS = (
    "id, kind, company, username, run_ids, extracted, extracting, finished, error, "
    "started_at, first_update_at, extract(epoch FROM now() - heartbeat_at)"
)


def _job(row: tuple) -> Job:
    *head, silent = row
    job = Job(*head)
    job.run_ids = list(job.run_ids or ())
    job.silent_s = float(silent)
    return job


class Jobs:
    """Start jobs, and read any job (of this process or another) from ``console_jobs``."""

    def __init__(self, backend: Backend):
        self.backend = backend

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is no such job."""
        with self.backend.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM console_jobs WHERE id=%s", (job_id[:64],)
            ).fetchone()
        return _job(row) if row else None

    def active(self, company: str) -> list[Job]:
        """The company's jobs still running (their process alive), newest first."""
        with self.backend.db.connection() as conn:
            rows = conn.execute(
                f"""SELECT {_COLUMNS} FROM console_jobs
                     WHERE company=%s AND NOT finished
                       AND heartbeat_at > now() - make_interval(secs => %s)
                     ORDER BY started_at DESC""",
                (company, STALE_AFTER_S),
            ).fetchall()
        return [_job(r) for r in rows]

    def _save(self, job: Job) -> None:
        """Write the job's state (and the heartbeat that says its process is alive)."""
        with self.backend.db.connection() as conn:
            conn.execute(
                """UPDATE console_jobs SET run_ids=%s, extracted=%s, extracting=%s,
                          finished=%s, error=%s, first_update_at=%s, heartbeat_at=now()
                    WHERE id=%s""",
                (
                    job.run_ids,
                    job.extracted,
                    job.extracting,
                    job.finished,
                    job.error,
                    job.first_update_at,
                    job.id,
                ),
            )

    def _add(self, job: Job, work: Any) -> Job:
        with self.backend.db.connection() as conn:
            conn.execute(
                "DELETE FROM console_jobs WHERE started_at < now() - make_interval(days => %s)",
                (KEEP_DAYS,),
            )
            (job.started_at,) = conn.execute(
                """INSERT INTO console_jobs (id, kind, company, username, run_ids)
                   VALUES (%s,%s,%s,%s,%s) RETURNING started_at""",
                (job.id, job.kind, job.company, job.username, job.run_ids),
            ).fetchone()
        threading.Thread(
            target=self._run, args=(job, work), name=f"console-{job.kind}", daemon=True
        ).start()
        return job

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_S):
            try:
                self._save(job)
            except Exception as exc:  # the store is briefly away: the next beat retries
                log.warning("console job %s: state not saved: %s", job.id, exc)

    def _run(self, job: Job, work: Any) -> None:
        from wisesync.pipeline.extractor import SyncInProgress
        from wisesync.review import wait_for_run

        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done), daemon=True)
        beat.start()
        try:
            try:
                work(job)
            except SyncInProgress as exc:  # nothing was extracted: no run to wait for
                job.error = str(exc)
                job.run_ids.clear()
            except Exception as exc:  # shown on the progress page; what was published posts
                log.warning("console %s for %s stopped: %s", job.kind, job.company, exc)
                job.error = str(exc)
            finally:
                job.extracting = False
                self._save(job)
            for run_id in job.run_ids:
                wait_for_run(self.backend.db, run_id, RESULTS_TIMEOUT_S, acknowledged=True)
        finally:
            job.finished = True
            done.set()
            beat.join()
            self._save(job)

    def _counter(self, job: Job):
        def seen(_: object) -> None:
            job.extracted += 1
            if job.first_update_at is None:
                job.first_update_at = datetime.now(UTC)
                self._save(job)  # the first progress shows at once, not at the next beat

        return seen

    def sync_all(
        self, company: CompanyConfig, record_types: list[RecordType], username: str
    ) -> Job:
        """Start Sync All for ``company`` (the types ticked), requested by ``username``."""
        from wisesync.pipeline.extractor import Extractor

        b = self.backend
        run_id = new_id()
        job = Job(uuid.uuid4().hex, "sync_all", company.key, username, run_ids=[run_id])
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
