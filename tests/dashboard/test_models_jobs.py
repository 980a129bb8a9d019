"""The worker's side of the Models page, on the live site's real champions: the drift check
run for real (reference logged by training, MLflow run, drift.detected event), the recent job
runs, and the drift banner a support agent sees on every page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from kundresa import job_runs
from model_service.dashboard.score_figures import SUMMARY_CACHE
from model_service.drift import check_drift
from shared.db.session import session_scope
from shared.db.tables import JobRun, OutboxEvent
from tests.conftest import make_settings
from tests.dashboard.conftest import AGENT, PASSWORD, LiveSite, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Low enough that the synthetic shop's inputs pass it somewhere: the banner must show.
THRESHOLD = 0.02


@pytest.fixture
def checked(live_site: LiveSite, tmp_path: Path):
    """Both tasks' drift checked and a few job runs recorded; all removed afterwards, so the
    other browser tests see the site as it was."""
    settings = make_settings(
        tmp_path,
        live_site.database_url,
        mlflow_tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
        mlflow_artifact_root=os.environ["MLFLOW_ARTIFACT_ROOT"],
    )
    url = live_site.database_url
    summaries = {}
    for task in ("brand_switch", "cart_abandonment"):
        result, summaries[task] = job_runs.record(
            url, "drift", lambda task=task: check_drift(settings, task, THRESHOLD)
        )
        assert result == "ok", summaries[task]
    job_runs.record(
        url, "score", lambda: {"brand_switch": {"rows": 180}, "cart_abandonment": {"rows": 12}}
    )

    def broken() -> dict:
        raise RuntimeError("no champion for a task nobody trained")

    job_runs.record(url, "retrain", broken)
    SUMMARY_CACHE.clear()
    yield summaries
    with session_scope(url) as session:
        session.execute(delete(JobRun))
        session.execute(delete(OutboxEvent).where(OutboxEvent.event == "drift.detected"))
    SUMMARY_CACHE.clear()


def test_models_page_shows_job_runs_and_drift(page, live_site: LiveSite, checked) -> None:
    for summary in checked.values():
        assert summary["reference"] == "training rows"  # train.py logged drift_reference.json
        assert "score" in summary["psi"] and summary["mlflow_run_id"]
        assert list(summary["psi"].values()) == sorted(summary["psi"].values(), reverse=True)
    drifted = [task for task, summary in checked.items() if summary["drifted"]]
    assert drifted, "the threshold is meant to be passed"
    with session_scope(live_site.database_url) as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.event == "drift.detected")
        ).all()
    assert sorted(e.payload["task"] for e in events) == sorted(drifted)  # one per drifted task

    page.goto(live_site.base_url + "/dashboard/models")
    page.fill("#email", AGENT)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".drift-banner").count() == 1
    assert page.locator(".model-card .drift svg.chart").count() == 2
    runs = page.locator("#job-runs tbody tr")
    assert runs.count() == 4
    assert page.locator("#job-runs", has_text="RuntimeError: no champion").count() == 1
    screenshot(page, "14-models-jobs-drift")
    # The banner is on every page for support, in their language.
    page.goto(live_site.base_url + "/dashboard/")
    assert page.locator(".drift-banner a").get_attribute("href").startswith("/dashboard/models#")
