"""``kundresa worker``: run the scheduled jobs (``kundresa.scheduled``) until told to stop.

APScheduler fires each job on its cron trigger (UTC) in a thread of its own; a job still
running when its next time comes is not started again in this process (``max_instances=1``),
and the ``job_locks`` lease (``kundresa.job_runs``) keeps any other worker on the same database
from starting it too. Every run is recorded in ``job_runs`` and logged as one line. SIGTERM or
SIGINT stops the scheduler and waits for running jobs to finish; a second signal exits at once
(the lease of a job cut short expires by itself).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from kundresa import job_runs
from kundresa.scheduled import ScheduledJob, scheduled_jobs
from shared.settings import Settings

log = logging.getLogger(__name__)

# A run may start this late after its time and still run (a busy machine, a slow start).
MISFIRE_GRACE_SECONDS = 60


def trigger_for(cron: str) -> CronTrigger:
    """A crontab line in UTC; six fields have a leading seconds field."""
    fields = cron.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(cron, timezone=UTC)
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone=UTC,
        )
    raise ValueError(f"a schedule has 5 fields (or 6 with seconds first), not {cron!r}")


def scheduled_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The time this run was scheduled for: the trigger's latest time at or before ``now``.

    Every worker firing for the same time finds the same one, which is what the lease is
    keyed on; the scheduler does not hand it to the job."""
    latest = None
    moment = trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_GRACE_SECONDS))
    while moment is not None and moment <= now:
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return (latest or now).astimezone(UTC)


class Worker:
    """A scheduler running ``jobs`` (default: the configured ones) under one lease holder."""

    def __init__(self, settings: Settings, jobs: Sequence[ScheduledJob] | None = None) -> None:
        self.settings = settings
        self.jobs = list(scheduled_jobs(settings) if jobs is None else jobs)
        self.holder = job_runs.new_holder()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            },
        )
        for job in self.jobs:
            trigger = trigger_for(job.cron)
            self.scheduler.add_job(
                self.run_job, trigger, args=(job, trigger), id=job.name, name=job.name
            )

    def run_job(self, job: ScheduledJob, trigger: CronTrigger) -> str | None:
        """One firing of ``job``: run and record it unless another worker has it."""
        at = scheduled_time(trigger, datetime.now(UTC))
        try:
            return job_runs.run_once(
                self.settings.database_url,
                job.name,
                lambda: job.run(self.settings),
                self.holder,
                at,
            )
        except Exception:  # the database itself failed: log, and try at the next time
            log.exception("job not run", extra={"job": job.name})
            return None

    def start(self) -> None:
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info(
                "job scheduled",
                extra={"job": job.id, "next_run": job.next_run_time.isoformat()},
            )

    def stop(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


@click.command()
def worker() -> None:
    """Run the scheduled jobs (scoring, retraining, drift, webhooks) until SIGTERM/SIGINT.

    Schedules: KUNDRESA_SCHEDULE_<JOB> (crontab, UTC; "off" disables), see kundresa/scheduled.py.
    Several workers may share a database: each job runs once per scheduled time.
    """
    from shared.observability import configure_logging

    configure_logging()
    # APScheduler logs two lines per firing; ours says the same once, with the result.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = Settings.from_env()
    running = Worker(settings)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stopping.is_set():
            log.warning("second signal: exiting without waiting for running jobs")
            sys.exit(1)
        log.info("stopping: waiting for running jobs", extra={"signal": signum})
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running.start()
    log.info("worker started", extra={"jobs": [job.name for job in running.jobs]})
    click.echo(f"kundresa worker: {', '.join(j.name for j in running.jobs) or 'no jobs'}")
    while not stopping.wait(1.0):
        pass
    running.stop(wait=True)
    log.info("worker stopped")
