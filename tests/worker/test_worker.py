"""``kundresa worker``: a scheduled job runs once per scheduled time however many workers share
the database, a job that raises is recorded failed and the worker goes on, and every run is
recorded in ``job_runs``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kundresa import job_runs
from kundresa.scheduled import ScheduledJob, scheduled_jobs
from kundresa.worker import Worker, scheduled_time, trigger_for
from shared.db.session import session_scope
from shared.db.tables import JobRun
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
EVERY_SECOND = "* * * * * *"
# A bound on how long a test waits for runs to appear, so a broken worker fails instead of
# hanging; not a speed requirement (the runs come once a second).
PATIENCE_SECONDS = 120


def _runs(database_url: str, job: str) -> list[JobRun]:
    with session_scope(database_url) as session:
        return list(
            session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)).all()
        )


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def test_two_worker_processes_run_each_scheduled_time_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two real `kundresa worker` processes started together, one job every second: each
    scheduled second has exactly one run, whichever worker took it."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "test-secret-key-long-enough-for-the-32-byte-rule",
        "KUNDRESA_SCHEDULE_SCORE": "off",
        "KUNDRESA_SCHEDULE_RETRAIN": "off",
        "KUNDRESA_SCHEDULE_DELIVER_WEBHOOKS": "off",
        "KUNDRESA_SCHEDULE_PRUNE_JOB_RUNS": EVERY_SECOND,
    }
    # The logs go to files: a pipe nobody reads while waiting would fill and stall a worker.
    logs = [(tmp_path / f"worker-{i}.log").open("w") for i in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "kundresa", "worker"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        for log in logs
    ]
    try:
        # Both are up once each has said which jobs it runs; then let a few seconds pass.
        for process in workers:
            assert "prune-job-runs" in process.stdout.readline()
        started = datetime.now(UTC)
        _wait_for(
            lambda: (
                sum(
                    1
                    for run in _runs(database_url, "prune-job-runs")
                    if run.scheduled_at > started + timedelta(seconds=1)
                )
                >= 3
            ),
            "three runs while both workers were up",
        )
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.communicate()
        for log in logs:
            log.close()
    logged = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
    assert [process.returncode for process in workers] == [0, 0], logged
    runs = [run for run in _runs(database_url, "prune-job-runs") if run.result != "skipped"]
    times = [run.scheduled_at for run in runs]
    assert len(times) == len(set(times)), "a scheduled time ran twice"
    assert {run.result for run in runs} == {"ok"}
    assert all(run.finished_at is not None for run in runs)
    # Every run was logged as one line, and shutdown waited for them.
    assert logged.count('"message": "job run"') >= len(runs)
    assert logged.count('"message": "worker stopped"') == 2


def test_a_job_that_raises_is_recorded_failed_and_the_worker_goes_on(
    sqlite_url: str, tmp_path: Path
) -> None:
    calls = []

    def flaky(_settings) -> dict:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the first run breaks")
        return {"calls": len(calls)}

    worker = Worker(
        make_settings(tmp_path, sqlite_url), [ScheduledJob("flaky", EVERY_SECOND, flaky)]
    )
    worker.start()
    try:
        _wait_for(
            lambda: (
                len(_runs(sqlite_url, "flaky")) >= 2 and _runs(sqlite_url, "flaky")[1].finished_at
            ),
            "a second run",
        )
    finally:
        worker.stop()
    first, second = _runs(sqlite_url, "flaky")[:2]
    assert first.result == "failed"
    assert "RuntimeError: the first run breaks" in first.error
    assert second.result == "ok" and second.summary == {"calls": 2}


def test_the_lease_takes_a_time_once_and_skips_a_job_still_running(database_url: str) -> None:
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert job_runs.take(database_url, "score", "a", at).state == "taken"
    assert job_runs.take(database_url, "score", "b", at).state == "done"
    # A's run has not finished when the next time comes: B records a skipped run.
    later = at + timedelta(days=1)
    assert job_runs.take(database_url, "score", "b", later).state == "running"
    assert job_runs.run_once(database_url, "score", dict, "b:x", later) == "skipped"
    job_runs.release(database_url, "score", "a")
    assert job_runs.run_once(database_url, "score", lambda: {"n": 1}, "b:x", later) == "ok"
    results = [run.result for run in _runs(database_url, "score")]
    assert results == ["skipped", "ok"]


def test_an_expired_lease_is_taken_over(sqlite_url: str) -> None:
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert job_runs.take(sqlite_url, "retrain", "dead-worker", at).state == "taken"
    with session_scope(sqlite_url) as session:
        from shared.db.tables import JobLock

        session.get(JobLock, "retrain").locked_until = datetime.now(UTC) - timedelta(seconds=1)
    assert job_runs.take(sqlite_url, "retrain", "alive", at + timedelta(days=7)).state == "taken"


def test_every_worker_finds_the_same_scheduled_time() -> None:
    every_ten = trigger_for("*/10 * * * * *")
    nightly = trigger_for("0 2 * * *")
    assert scheduled_time(every_ten, datetime(2026, 1, 1, 0, 0, 13, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 0, 10, tzinfo=UTC
    )
    assert scheduled_time(nightly, datetime(2026, 1, 1, 2, 0, 0, 40_000, tzinfo=UTC)) == datetime(
        2026, 1, 1, 2, 0, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="5 fields"):
        trigger_for("every day")


def test_schedules_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    defaults = {job.name: job.cron for job in scheduled_jobs(settings)}
    assert defaults["score"] == "0 2 * * *" and defaults["retrain"] == "0 3 * * 0"
    monkeypatch.setenv("KUNDRESA_SCHEDULE_SCORE", "15 1 * * *")
    monkeypatch.setenv("KUNDRESA_SCHEDULE_RETRAIN", "off")
    configured = {job.name: job.cron for job in scheduled_jobs(settings)}
    assert configured["score"] == "15 1 * * *"
    assert "retrain" not in configured


def test_job_runs_older_than_kept_are_pruned(sqlite_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    with session_scope(sqlite_url) as session:
        session.add(JobRun(job="score", worker="w", started_at=old, result="ok"))
        session.add(JobRun(job="score", worker="w", result="ok"))
    assert job_runs.prune(sqlite_url, 30)["deleted"] == 1
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_threads_of_one_process_share_the_lease(sqlite_url: str) -> None:
    """Many threads asking at once for the same time: exactly one takes it."""
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    states: list[str] = []
    barrier = threading.Barrier(6)

    def ask(holder: str) -> None:
        barrier.wait()
        states.append(job_runs.take(sqlite_url, "score", holder, at).state)

    threads = [threading.Thread(target=ask, args=(f"h{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states) == ["done"] * 5 + ["taken"]
