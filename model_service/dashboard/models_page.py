"""Models: the champion of each task, when it was trained, how well it does, how well its
probabilities are calibrated, and when customers were last scored."""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from flask import current_app, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required

from model_service import predict
from model_service.champions import ServedModel
from model_service.dashboard import bp, charts
from model_service.dashboard.formatting import BAND_LABELS, label, number, percent, probability
from model_service.dashboard.job_figures import (
    CHART_COLUMNS,
    latest_drift,
    psi_chart,
    recent_runs,
)
from model_service.dashboard.score_figures import SUMMARY_CACHE, last_scored, risk_distribution
from shared.db.session import session_scope
from shared.tasks import BANDS, TASKS, Task
from shared.web import current_settings

log = logging.getLogger(__name__)

# Metrics shown first, in this order, when the run has them; any others follow.
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "lift_top_decile", "log_loss", "positive_rate")
CALIBRATION_BINS = 10
DRIFTED_NAMED = 6  # drifted inputs named in the warning; the chart shows the worst


def _registry_status() -> dict[str, Any]:
    registry = current_app.extensions.get(predict.EXTENSION)
    return registry.status() if registry is not None else {}


def calibration_bins(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per equal-width probability bin that has rows."""
    index = np.minimum((probabilities * bins).astype(int), bins - 1)
    points = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if count:
            points.append((float(probabilities[mask].mean()), float(labels[mask].mean()), count))
    return points


# (run id, model version) → calibration points: a version's curve never changes.
_CALIBRATIONS: dict[tuple[str, str], tuple] = {}


def _calibration(tracking_uri: str, task: Task, run_id: str, served: ServedModel) -> tuple:
    """The calibration of the served champion on its own held-out evaluation rows (the later
    period of the time split), computed once per process and version."""
    key = (run_id, served.version)
    if key not in _CALIBRATIONS:
        _CALIBRATIONS[key] = _compute_calibration(tracking_uri, task, run_id, served)
    return _CALIBRATIONS[key]


def _compute_calibration(tracking_uri: str, task: Task, run_id: str, served: ServedModel) -> tuple:
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory(prefix="kundresa-eval-") as folder:
        try:
            path = download_artifacts(
                run_id=run_id,
                artifact_path=task.evaluation_artifact,
                dst_path=folder,
                tracking_uri=tracking_uri,
            )
        except Exception:  # not logged by this run: no curve, not an error
            return ()
        rows = pd.read_parquet(path)
    if "label" not in rows.columns or not set(served.feature_columns) <= set(rows.columns):
        return ()
    probabilities = served.predict_proba(rows)
    return tuple(calibration_bins(rows["label"].to_numpy(dtype=float), probabilities))


def champion_details(tracking_uri: str, model_name: str, alias: str) -> dict[str, Any] | None:
    """The champion version of one registered model with its run's metrics, or None when
    there is no champion (or the registry cannot be reached)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    except Exception as exc:  # an unreachable registry must not break the page
        log.warning("registry unreachable", extra={"error": type(exc).__name__})
        return None
    details: dict[str, Any] = {
        "name": model_name,
        "version": str(version.version),
        "registered_at": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
        "run_id": version.run_id,
        "trained_at": None,
        "metrics": [],
    }
    if not version.run_id:
        return details
    try:
        run = client.get_run(version.run_id)
    except MlflowException:
        return details
    details["trained_at"] = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    metrics = {k: v for k, v in run.data.metrics.items() if "." not in k and v == v}
    ordered = [k for k in HEADLINE_METRICS if k in metrics]
    ordered += sorted(k for k in metrics if k not in HEADLINE_METRICS)
    details["metrics"] = [(k, metrics[k]) for k in ordered]
    return details


@bp.get("/models")
@login_required
def models():
    settings = current_settings()
    status = _registry_status()
    with session_scope(settings.database_url) as session:
        scored = last_scored(session)
        distributions = {
            task: SUMMARY_CACHE.get(
                (settings.database_url, "distribution", task),
                lambda task=task: risk_distribution(session, task),
            )
            for task in TASKS
        }
        runs = recent_runs(session)
        drift = latest_drift(session)
    registry = current_app.extensions.get(predict.EXTENSION)
    cards = []
    for task, definition in TASKS.items():
        details = champion_details(
            settings.mlflow_tracking_uri, definition.model_name, definition.alias
        )
        served = registry.get(task) if registry is not None else None
        points: tuple = ()
        if details and details["run_id"] and served and served.version == details["version"]:
            points = _calibration(
                settings.mlflow_tracking_uri, definition, details["run_id"], served
            )
        calibration = None
        if points:
            calibration = charts.calibration_chart(
                points,
                title=_("Calibration"),
                x_title=_("Predicted probability"),
                y_title=_("Observed share"),
                perfect_label=_("Perfectly calibrated"),
            )
        distribution = distributions[task]
        histogram = None
        if distribution.total:
            histogram = charts.risk_histogram(
                distribution.counts,
                distribution.starts,
                title=_("Customers by risk"),
                band_labels={band: label(BAND_LABELS, band) for band in BANDS},
                value_fmt=lambda v: number(v),
                cut_fmt=lambda band, start: _(
                    "%(band)s from %(probability)s",
                    band=label(BAND_LABELS, band),
                    probability=probability(start),
                ),
            )
        cards.append(
            {
                "task": task,
                "details": details,
                "served": (status.get(task) or {}).get("loaded"),
                "state": status.get(task) or {},
                "scored": scored.get(task),
                "calibration": calibration,
                "distribution": histogram,
                "band_starts": distribution.starts,
                "definition": served.definition_text(str(get_locale() or "en")) if served else None,
                "base_rate": served.base_rate if served else None,
                "drift": _drift_card(drift.get(task)),
            }
        )
    return render_template("dashboard/models.html", cards=cards, percent=percent, runs=runs)


def _drift_card(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest drift check of a task with its PSI chart (worst column first)."""
    if not summary:
        return None
    threshold = float(summary.get("threshold") or 0.2)
    drifted = list(summary.get("drifted") or [])
    return {
        **summary,
        "drifted_shown": drifted[:DRIFTED_NAMED],
        "drifted_more": max(len(drifted) - DRIFTED_NAMED, 0),
        "columns_shown": min(len(summary["psi"]), CHART_COLUMNS),
        "columns_more": max(len(summary["psi"]) - CHART_COLUMNS, 0),
        "chart": psi_chart(
            summary["psi"],
            threshold,
            title=_("Drift per input (population stability index)"),
            threshold_label=_("threshold %(value)s", value=number(threshold, 2)),
        ),
    }
