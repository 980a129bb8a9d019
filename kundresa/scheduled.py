"""The jobs `kundresa worker` runs on a schedule (issue 15).

Each job is a plain function of the settings, so it can be run by hand from the CLI and by the
worker alike. The worker owns the scheduler, the database lock that keeps a job from running
twice, and the record of each run; this module only says what runs and when.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.settings import Settings


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # stable: the lock and the job-run records are keyed by it
    cron: str  # a crontab line (minute hour day month weekday), overridable per job in settings
    run: Callable[[Settings], dict]  # returns a small summary recorded with the run


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    """The jobs to schedule, in the order to list them."""
    return []
