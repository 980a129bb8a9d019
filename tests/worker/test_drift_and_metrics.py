"""Drift (PSI on hand-made distributions, the drift.detected event) and the Prometheus series
the worker's issue added to /metrics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from model_service.drift import compare, record_drift_event
from model_service.served_metrics import served_versions
from shared import drift
from shared.db.session import session_scope
from shared.db.tables import JobRun, OutboxEvent, RiskScore
from shared.observability import count_predictions
from shared.tasks import BRAND_SWITCH
from tests.conftest import make_settings
from tests.survey_service.conftest import event


def test_psi_is_zero_for_identical_distributions() -> None:
    values = pd.Series(np.random.default_rng(1).normal(size=2000))
    reference = drift.numeric_reference(values)
    assert drift.column_psi(reference, values) == 0.0
    category = pd.Series(["a", "b", "b", None] * 50)
    assert drift.column_psi(drift.categorical_reference(category), category) == 0.0


def test_psi_of_a_shifted_distribution_has_its_known_value() -> None:
    # Two bins split at the median of 0..99; today 70 % fall below it instead of 50 %.
    reference = drift.numeric_reference(pd.Series(range(100)), bins=2)
    assert reference["edges"] == [49.5] and reference["shares"] == {"0": 0.5, "1": 0.5}
    today = pd.Series([10] * 70 + [90] * 30)
    expected = 0.2 * math.log(0.7 / 0.5) + (-0.2) * math.log(0.3 / 0.5)  # 0.16946
    assert drift.column_psi(reference, today) == pytest.approx(expected, abs=1e-12)
    # A category never seen in training counts as "other", missing values as their own bin.
    categories = drift.categorical_reference(pd.Series(["a", "b"] * 50))
    shares = drift.current_shares(categories, pd.Series(["a", "z", None, "b"]))
    assert shares == {"a": 0.25, drift.OTHER: 0.25, drift.MISSING: 0.25, "b": 0.25}


def _features(shift: float, rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = {}
    for column in BRAND_SWITCH.features:
        if column in BRAND_SWITCH.categorical:
            frame[column] = rng.choice(["x", "y"], size=rows)
        else:
            frame[column] = rng.normal(size=rows)
    frame = pd.DataFrame(frame)
    first_numeric = next(c for c in BRAND_SWITCH.features if c not in BRAND_SWITCH.categorical)
    frame[first_numeric] += shift
    return frame


def test_drift_above_the_threshold_writes_one_drift_detected_event(database_url: str) -> None:
    training = _features(0.0)
    scores = np.linspace(0, 1, len(training))
    reference = drift.drift_reference(training, BRAND_SWITCH.categorical, scores)
    unchanged = compare(BRAND_SWITCH, reference, training, scores, 0.2)
    assert unchanged["max_psi"] == 0.0 and unchanged["drifted"] == []
    shifted = _features(2.0)
    found = compare(BRAND_SWITCH, reference, shifted, scores, 0.2)
    moved = next(c for c in BRAND_SWITCH.features if c not in BRAND_SWITCH.categorical)
    assert found["drifted"] == [moved]
    assert list(found["psi"])[0] == moved  # worst first
    assert found["psi"][drift.SCORE] == 0.0
    summary = {"task": "brand_switch", "model_version": "3", "as_of": "2026-12-01", **found}
    assert record_drift_event(database_url, {**unchanged, **{"task": "brand_switch"}}) is False
    assert record_drift_event(database_url, summary) is True
    with session_scope(database_url) as session:
        events = session.scalars(select(OutboxEvent)).all()
    assert [e.event for e in events] == ["drift.detected"]
    assert events[0].payload["columns"] == {moved: found["psi"][moved]}
    assert events[0].payload["model_version"] == "3"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_show_the_new_series(database_url: str, tmp_path: Path) -> None:
    from survey_service.app import create_app

    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        session.add(
            OutboxEvent(event="drift.detected", payload={}, created_at=now - timedelta(minutes=5))
        )
        session.add(
            RiskScore(
                task="brand_switch", customer_id="c-1", probability=0.4, band="medium",
                model_name="m", model_version="1", as_of=now - timedelta(hours=2),
            )
        )  # fmt: skip
        session.add(JobRun(job="score", worker="w", result="ok", finished_at=now))
        session.add(JobRun(job="score", worker="w", result="failed", finished_at=now))
    from shared.auth import create_site

    site_key = create_site(database_url, "Shop", ["https://shop.example"])
    app = create_app(make_settings(tmp_path, database_url))
    client = app.test_client()
    sent = client.post(
        "/v1/events",
        json={"events": [event("e-m1"), event("e-m1"), event("e-m2")]},
        headers={"X-Site-Key": site_key, "Origin": "https://shop.example"},
    )
    assert sent.status_code == 202, sent.text
    count_predictions("brand_switch", ["high", "low", "high"])
    text = client.get("/metrics").text
    assert 'kundresa_ingested_total{kind="event",outcome="stored"}' in text
    assert 'kundresa_ingested_total{kind="event",outcome="duplicate"}' in text
    assert 'kundresa_predictions_total{band="high",task="brand_switch"}' in text
    assert "kundresa_metrics_database_up 1.0" in text
    assert "kundresa_outbox_backlog 1.0" in text
    oldest = _value(text, "kundresa_outbox_oldest_undelivered_seconds")
    assert 290 < oldest < 3600
    age = _value(text, 'kundresa_scores_age_seconds{task="brand_switch"}')
    assert 7100 < age < 7300 + 3600
    assert 'kundresa_job_runs{job="score",result="ok"} 1.0' in text
    assert 'kundresa_job_runs{job="score",result="failed"} 1.0' in text
    assert 'kundresa_job_last_finished_timestamp_seconds{job="score",result="ok"}' in text


def _value(text: str, series: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(series + " "))
    return float(line.rsplit(" ", 1)[1])


def test_the_served_version_per_task_is_a_gauge() -> None:
    class Served:
        name, version = "kundresa-brand-switch", "7"

    class Registry:
        def get(self, task: str):
            return Served() if task == "brand_switch" else None

    class App:
        extensions = {"kundresa_models": Registry()}

    (gauge,) = served_versions(App())
    assert [(s.labels, s.value) for s in gauge.samples] == [
        ({"task": "brand_switch", "model": "kundresa-brand-switch"}, 7.0)
    ]
