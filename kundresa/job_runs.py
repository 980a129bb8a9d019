"""The database side of ``kundresa worker``: the lease that runs a job once, and its record.

A job is taken with one conditional UPDATE of its ``job_locks`` row: the lease must be free or
expired, and the scheduled time must be later than the last one taken. Every backend makes a
single UPDATE atomic (SQLite by its one writer, PostgreSQL by re-checking the condition on the
locked row), so of two workers firing for the same time exactly one gets the row; the other
sees that time taken and does nothing, or, when the job is still running from an earlier time,
records a skipped run. The holder renews the lease while the job runs, and a worker that dies
holding it loses it when it expires.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from shared.db.session import get_engine, session_scope
from shared.db.tables import JobLock, JobRun

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
RENEW_EVERY_SECONDS = LEASE.total_seconds() / 3
OK, FAILED, SKIPPED = "ok", "failed", "skipped"
# What a job run's error keeps: the exception's type and message, not a whole traceback.
ERROR_CHARS = 2000


class JobFailed(Exception):
    """A job that did part of its work: recorded failed, with what it did as the summary."""

    def __init__(self, message: str, summary: dict) -> None:
        super().__init__(message)
        self.summary = summary


def worker_name() -> str:
    """Who runs a job, as recorded: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def new_holder() -> str:
    """A lease holder id, unique per worker even within one process (tests run two)."""
    return f"{worker_name()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Taken:
    """The outcome of asking for a job's lease: taken, or why not."""

    state: str  # "taken", "done" (this scheduled time was taken by a worker) or "running"


def take(database_url: str, job: str, holder: str, scheduled_at: datetime) -> Taken:
    """Take ``job``'s lease for the run scheduled at ``scheduled_at``."""
    now = datetime.now(UTC)
    _ensure_row(database_url, job)
    with session_scope(database_url) as session:
        taken = session.execute(
            update(JobLock)
            .where(
                JobLock.job == job,
                or_(JobLock.locked_until.is_(None), JobLock.locked_until < now),
                or_(JobLock.last_scheduled_at.is_(None), JobLock.last_scheduled_at < scheduled_at),
            )
            .values(holder=holder, locked_until=now + LEASE, last_scheduled_at=scheduled_at)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken == 1:
            return Taken("taken")
        last = session.scalar(select(JobLock.last_scheduled_at).where(JobLock.job == job))
    return Taken("done" if last is not None and last >= scheduled_at else "running")


def _ensure_row(database_url: str, job: str) -> None:
    # INSERT … ON CONFLICT DO NOTHING on both backends: two workers may create it at once.
    dialect = get_engine(database_url).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    with session_scope(database_url) as session:
        session.execute(insert(JobLock).values(job=job).on_conflict_do_nothing())


def renew(database_url: str, job: str, holder: str) -> bool:
    with session_scope(database_url) as session:
        return (
            session.execute(
                update(JobLock)
                .where(JobLock.job == job, JobLock.holder == holder)
                .values(locked_until=datetime.now(UTC) + LEASE)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )


def release(database_url: str, job: str, holder: str) -> None:
    with session_scope(database_url) as session:
        session.execute(
            update(JobLock)
            .where(JobLock.job == job, JobLock.holder == holder)
            .values(locked_until=None, holder=None)
            .execution_options(synchronize_session=False)
        )


@contextmanager
def _renewing(database_url: str, job: str, holder: str) -> Iterator[None]:
    """Renew the lease in the background while the block runs (training takes minutes)."""
    stop = threading.Event()

    def renew_until_stopped() -> None:
        while not stop.wait(RENEW_EVERY_SECONDS):
            try:
                renew(database_url, job, holder)
            except Exception:  # the database is away: the next renewal tries again
                log.warning("could not renew the job lease", extra={"job": job}, exc_info=True)

    thread = threading.Thread(target=renew_until_stopped, name=f"lease-{job}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def record(
    database_url: str,
    job: str,
    run: Callable[[], dict],
    worker: str | None = None,
    scheduled_at: datetime | None = None,
) -> tuple[str, dict | None]:
    """Run ``run`` and record it in ``job_runs``: ok with its summary, or failed with its error
    (the worker goes on either way). Returns (result, summary)."""
    worker = worker or worker_name()
    with session_scope(database_url) as session:
        row = JobRun(
            job=job,
            worker=worker,
            scheduled_at=scheduled_at,
            started_at=datetime.now(UTC),
            result="running",
        )
        session.add(row)
        session.flush()
        run_id = row.id
    started = time.perf_counter()
    summary: dict | None = None
    error: str | None = None
    try:
        summary = run()
        result = OK
    except Exception as exc:
        result = FAILED
        summary = getattr(exc, "summary", None)
        error = "".join(traceback.format_exception_only(exc)).strip()[:ERROR_CHARS]
        log.exception("job failed", extra={"job": job})
    seconds = time.perf_counter() - started
    with session_scope(database_url) as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(finished_at=datetime.now(UTC), result=result, summary=summary, error=error)
            .execution_options(synchronize_session=False)
        )
    log.info(
        "job run", extra={"job": job, "result": result, "seconds": round(seconds, 3), "run": run_id}
    )
    return result, summary


def record_skipped(
    database_url: str, job: str, worker: str, reason: str, scheduled_at: datetime | None = None
) -> None:
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        session.add(
            JobRun(
                job=job,
                worker=worker,
                scheduled_at=scheduled_at,
                started_at=now,
                finished_at=now,
                result=SKIPPED,
                summary={"reason": reason},
            )
        )
    log.info("job run", extra={"job": job, "result": SKIPPED, "reason": reason})


def run_once(
    database_url: str, job: str, run: Callable[[], dict], holder: str, scheduled_at: datetime
) -> str | None:
    """Run ``job`` for ``scheduled_at`` unless another worker has it: the result recorded, or
    None when another worker already took this scheduled time (nothing to record)."""
    taken = take(database_url, job, holder, scheduled_at)
    if taken.state == "done":
        log.debug("job taken by another worker", extra={"job": job})
        return None
    worker = holder.rsplit(":", 1)[0]
    if taken.state == "running":
        record_skipped(
            database_url, job, worker, "still running from an earlier time", scheduled_at
        )
        return SKIPPED
    try:
        with _renewing(database_url, job, holder):
            result, _summary = record(database_url, job, run, worker, scheduled_at)
    finally:
        release(database_url, job, holder)
    return result


def prune(database_url: str, keep_days: int) -> dict:
    """Delete job runs older than ``keep_days`` (a 10-second job makes 8,640 a day)."""
    cutoff = datetime.now(UTC) - timedelta(days=keep_days)
    with session_scope(database_url) as session:
        deleted = session.execute(
            delete(JobRun)
            .where(JobRun.started_at < cutoff)
            .execution_options(synchronize_session=False)
        ).rowcount
    return {"deleted": int(deleted or 0), "keep_days": keep_days}
