"""What the scheduled jobs do, with the expensive parts (fitting, batch scoring) replaced: the
retraining candidate is promoted only through the promotion gate, and a task that cannot be
scored fails the scoring run after the other task was scored and checked for drift."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

import model_service.drift
import model_service.scoring
import training.promotion
import training.train
from kundresa import job_runs
from kundresa.scheduled import retrain_candidates, score_and_check_drift
from shared.db.session import session_scope
from shared.db.tables import JobRun, OutboxEvent
from tests.conftest import make_settings


@dataclass
class Trained:
    version: str
    model_name: str
    promoted: bool = False
    note: str = ""
    metrics: dict | None = None

    def __post_init__(self) -> None:
        self.metrics = {"roc_auc": 0.7}


@dataclass
class Decision:
    promoted: bool
    reason: str


def test_a_candidate_is_promoted_only_when_the_gate_passes(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(
        training.train, "train", lambda _db, task, *a, **k: Trained("5", f"kundresa-{task}")
    )

    def gate(task: str, version: str, tracking_uri: str, database_url: str) -> Decision:
        asked.append((task, version))
        if task == "brand_switch":
            return Decision(True, "better: ROC-AUC +0.02")
        return Decision(False, "refused: not better beyond the interval")

    monkeypatch.setattr(training.promotion, "promote", gate)
    summary = retrain_candidates(make_settings(tmp_path, sqlite_url))
    assert asked == [("brand_switch", "5"), ("cart_abandonment", "5")]
    assert summary["brand_switch"]["promoted"] is True
    assert summary["cart_abandonment"] == {
        "version": "5",
        "roc_auc": 0.7,
        "promoted": False,
        "reason": "refused: not better beyond the interval",
    }
    with session_scope(sqlite_url) as session:
        events = session.scalars(select(OutboxEvent)).all()
    # promote() records model.promoted itself (tests/webhooks); the stand-in gate records none.
    assert [(e.event, e.payload["task"]) for e in events] == []


def test_scoring_goes_on_past_a_task_it_cannot_score(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    def score_all(_settings, task: str, progress: bool = True) -> int:
        if task == "cart_abandonment":
            raise LookupError("no champion for cart_abandonment")
        return 42

    checked: list[str] = []

    def check_drift(_settings, task: str, threshold: float) -> dict:
        checked.append(task)
        return {"task": task, "max_psi": 0.05, "psi": {"score": 0.05}, "drifted": []}

    monkeypatch.setattr(model_service.scoring, "score_all", score_all)
    monkeypatch.setattr(model_service.drift, "check_drift", check_drift)
    settings = make_settings(tmp_path, sqlite_url)
    result, summary = job_runs.record(sqlite_url, "score", lambda: score_and_check_drift(settings))
    assert result == "failed"
    assert summary["brand_switch"] == {"rows": 42, "drift": "ok", "max_psi": 0.05}
    assert "no champion" in summary["cart_abandonment"]["error"]
    assert checked == ["brand_switch"]
    with session_scope(sqlite_url) as session:
        runs = session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert [(r.job, r.result) for r in runs] == [("score", "failed"), ("drift", "ok")]
    assert "could not score cart_abandonment" in runs[0].error
