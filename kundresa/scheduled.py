"""The jobs `kundresa worker` runs on a schedule (issue 15).

Each job is a plain function of the settings, so it can be run by hand from the CLI and by the
worker alike. The worker owns the scheduler, the database lock that keeps a job from running
twice, and the record of each run; this module only says what runs and when.

Schedules are crontab lines in UTC, one environment variable per job, named after it
(``KUNDRESA_SCHEDULE_`` + the name in capitals with ``_`` for ``-``):

| job | default | what it does |
| --- | --- | --- |
| ``score`` (``KUNDRESA_SCHEDULE_SCORE``) | ``0 2 * * *`` | scores both tasks with their champions; after each, a drift check recorded as a ``drift`` run |
| ``retrain`` (``KUNDRESA_SCHEDULE_RETRAIN``) | ``0 3 * * 0`` | trains a candidate per task; promoted only when the promotion gate passes |
| ``deliver-webhooks`` (``KUNDRESA_SCHEDULE_DELIVER_WEBHOOKS``) | ``*/10 * * * * *`` | delivers due webhook deliveries (when the webhooks module is installed) |
| ``prune-job-runs`` (``KUNDRESA_SCHEDULE_PRUNE_JOB_RUNS``) | ``30 4 * * *`` | deletes job runs older than ``KUNDRESA_JOB_RUNS_KEEP_DAYS`` (30) |

A line of six fields has a leading seconds field. ``off`` disables a job.
``KUNDRESA_DRIFT_THRESHOLD`` (0.2) is the PSI above which a drift check writes a
``drift.detected`` event and the dashboard shows a banner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from shared.settings import Settings

log = logging.getLogger(__name__)

DISABLED = frozenset({"off", "none", "disabled", "false", "0"})
DEFAULT_KEEP_DAYS = 30


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # stable: the lock and the job-run records are keyed by it
    cron: str  # a crontab line (minute hour day month weekday), overridable per job in settings
    run: Callable[[Settings], dict]  # returns a small summary recorded with the run


def schedule_variable(name: str) -> str:
    return "KUNDRESA_SCHEDULE_" + name.upper().replace("-", "_")


def drift_threshold() -> float:
    from shared.drift import DEFAULT_THRESHOLD  # pandas: only when a drift check runs

    value = os.environ.get("KUNDRESA_DRIFT_THRESHOLD", "").strip()
    return float(value) if value else DEFAULT_THRESHOLD


def score_and_check_drift(settings: Settings) -> dict:
    """Score every task with its champion, then check its drift (a run of its own: ``drift``).
    A task that cannot be scored (no champion yet) fails the run after the others are done."""
    from kundresa.job_runs import JobFailed, record
    from model_service.drift import check_drift
    from model_service.scoring import score_all
    from shared.tasks import TASKS

    summary: dict[str, dict] = {}
    failures = []
    for task in TASKS:
        try:
            rows = score_all(settings, task, progress=False)
        except Exception as exc:
            log.exception("scoring failed", extra={"task": task})
            summary[task] = {"error": _first_line(exc)}
            failures.append(task)
            continue
        drift_result, drift_summary = record(
            settings.database_url,
            "drift",
            lambda task=task: check_drift(settings, task, drift_threshold()),
        )
        summary[task] = {
            "rows": rows,
            "drift": drift_result,
            "max_psi": (drift_summary or {}).get("max_psi"),
        }
    if failures:
        raise JobFailed(f"could not score {', '.join(failures)}", summary)
    return summary


def retrain_candidates(settings: Settings) -> dict:
    """Train a candidate per task and promote it only when the promotion gate passes."""
    from kundresa.job_runs import JobFailed
    from shared.db.session import session_scope
    from shared.outbox import enqueue
    from shared.tasks import TASKS
    from training.promotion import promote
    from training.train import train

    summary: dict[str, dict] = {}
    failures = []
    for task in TASKS:
        try:
            trained = train(
                settings.database_url, task, settings.mlflow_tracking_uri, register=True
            )
            entry = {
                "version": trained.version,
                "roc_auc": round(trained.metrics.get("roc_auc", float("nan")), 4),
                "promoted": trained.promoted,
                "reason": trained.note or ("first model" if trained.promoted else ""),
            }
            if not trained.promoted:
                # promote() records model.promoted itself when it moves the alias.
                decision = promote(
                    task,
                    version=trained.version,
                    tracking_uri=settings.mlflow_tracking_uri,
                    database_url=settings.database_url,
                )
                entry |= {"promoted": decision.promoted, "reason": decision.reason[:300]}
            elif entry["promoted"]:
                # A first model became champion inside train(), which records no event.
                with session_scope(settings.database_url) as session:
                    enqueue(
                        session,
                        "model.promoted",
                        {"task": task, "model": trained.model_name, "version": trained.version},
                    )
            summary[task] = entry
        except Exception as exc:
            log.exception("retraining failed", extra={"task": task})
            summary[task] = {"error": _first_line(exc)}
            failures.append(task)
    if failures:
        raise JobFailed(f"could not train {', '.join(failures)}", summary)
    return summary


def prune_job_runs(settings: Settings) -> dict:
    from kundresa.job_runs import prune

    keep = os.environ.get("KUNDRESA_JOB_RUNS_KEEP_DAYS", "").strip()
    return prune(settings.database_url, int(keep) if keep else DEFAULT_KEEP_DAYS)


def deliver_webhooks(settings: Settings) -> dict:
    from shared.webhooks.delivery import deliver_due

    return deliver_due(settings)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    """The jobs to schedule, in the order to list them, with their configured schedules;
    disabled ones left out."""
    jobs = [
        ScheduledJob("score", "0 2 * * *", score_and_check_drift),
        ScheduledJob("retrain", "0 3 * * 0", retrain_candidates),
    ]
    jobs.append(ScheduledJob("deliver-webhooks", "*/10 * * * * *", deliver_webhooks))
    jobs.append(ScheduledJob("prune-job-runs", "30 4 * * *", prune_job_runs))
    configured = []
    for job in jobs:
        cron = os.environ.get(schedule_variable(job.name), "").strip() or job.cron
        if cron.lower() in DISABLED:
            log.info("job disabled", extra={"job": job.name})
            continue
        configured.append(ScheduledJob(job.name, cron, job.run))
    return configured


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
