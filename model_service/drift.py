"""The drift check the worker runs after each scoring (issue 15).

It compares the newest scoring of a task (its scores, and the feature rows rebuilt at the same
as-of time) with the champion's training data, column by column (``shared.drift``), logs the
figures and a bar chart to MLflow (experiment ``kundresa-monitoring``) and, above the
threshold, writes a ``drift.detected`` outbox event. The summary it returns is stored with the
job run; the Models page and the dashboard banner read it from there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from model_service.champions import ServedModel, load_version
from model_service.scoring import task_features
from shared import drift
from shared.db.session import session_scope
from shared.db.tables import RiskScore
from shared.journey_loader import load_journey_frames
from shared.outbox import enqueue
from shared.settings import Settings
from shared.tasks import Task, task_by_name

log = logging.getLogger(__name__)

MONITORING_EXPERIMENT = "kundresa-monitoring"
# Where the reference came from, recorded with each check: the rows the training run logged it
# from (drift.TEST_ROWS, or drift.TRAINING_ROWS for versions trained before the test window was
# used), or the held-out evaluation rows when the run logged none.
FROM_EVALUATION = "held-out evaluation rows"


class NoDriftCheck(Exception):
    """Nothing to compare: no champion, no scoring yet, or no reference at all."""


def check_drift(settings: Settings, task: str, threshold: float = drift.DEFAULT_THRESHOLD) -> dict:
    """PSI of the score and of each feature of ``task``'s newest scoring against its
    champion's training data; logs to MLflow, enqueues ``drift.detected`` above
    ``threshold``, and returns the summary stored with the job run."""
    spec = task_by_name(task)
    client = _client(settings)
    champion = _champion(client, spec)
    as_of, scores = _newest_scores(settings, spec)
    reference, source = _reference(settings, client, spec, champion)
    frames = load_journey_frames(settings.database_url, as_of)
    features, _context = task_features(spec, frames, as_of)
    del frames
    summary = compare(spec, reference, features, scores, threshold)
    summary = {
        "task": spec.name,
        "model_version": str(champion.version),
        "as_of": as_of.isoformat(),
        "reference": source,
        **summary,
    }
    summary["mlflow_run_id"] = _log_to_mlflow(settings, client, summary)
    record_drift_event(settings.database_url, summary)
    return summary


def compare(
    spec: Task,
    reference: dict,
    features: pd.DataFrame,
    scores: np.ndarray | None,
    threshold: float,
) -> dict[str, Any]:
    """PSI per feature of ``spec`` and of the score, worst first, and which pass
    ``threshold``."""
    columns = [c for c in spec.features if c in features.columns]
    by_column = drift.drift_by_column(reference, features[columns], scores)
    worst = max(by_column.values(), default=0.0)
    return {
        "rows": int(len(features)),
        "threshold": threshold,
        "max_psi": round(worst, 6),
        "drifted": [column for column, value in by_column.items() if value > threshold],
        "psi": {column: round(value, 6) for column, value in by_column.items()},
    }


def record_drift_event(database_url: str, summary: dict) -> bool:
    """A ``drift.detected`` outbox event when any column passed the threshold."""
    drifted = summary["drifted"]
    if not drifted:
        return False
    payload = {k: summary[k] for k in ("task", "model_version", "as_of", "threshold", "max_psi")}
    payload["columns"] = {column: summary["psi"][column] for column in drifted}
    with session_scope(database_url) as session:
        enqueue(session, "drift.detected", payload)
    log.warning("drift detected", extra={"task": summary["task"], "columns": drifted})
    return True


def _client(settings: Settings):
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = settings.mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion(client, spec: Task):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(spec.model_name, spec.alias)
    except MlflowException as exc:
        raise NoDriftCheck(f"{spec.model_name} has no {spec.alias}") from exc


def _newest_scores(settings: Settings, spec: Task) -> tuple[datetime, np.ndarray]:
    """The as-of time of the task's newest scoring and its probabilities."""
    with session_scope(settings.database_url) as session:
        as_of = session.scalar(select(func.max(RiskScore.as_of)).where(RiskScore.task == spec.name))
        if as_of is None:
            raise NoDriftCheck(f"{spec.name} has not been scored yet")
        scores = session.scalars(
            select(RiskScore.probability).where(
                RiskScore.task == spec.name, RiskScore.as_of == as_of
            )
        ).all()
    return as_of, np.asarray(scores, dtype=float)


def _reference(settings: Settings, client, spec: Task, champion) -> tuple[dict, str]:
    """The champion's reference: its ``drift_reference.json``; for a version trained before
    that was logged, one made now from its held-out evaluation rows (later than its training
    window, so a little drift is already in them: the check says which it used)."""
    from mlflow.artifacts import download_artifacts

    run_id = champion.run_id
    if not run_id:
        raise NoDriftCheck(f"{spec.model_name} v{champion.version} has no training run")
    uri = settings.mlflow_tracking_uri
    with tempfile.TemporaryDirectory(prefix="kundresa-drift-") as folder:
        try:
            path = download_artifacts(
                run_id=run_id,
                artifact_path=drift.REFERENCE_ARTIFACT,
                dst_path=folder,
                tracking_uri=uri,
            )
            reference = json.loads(Path(path).read_text())
            return reference, reference.get("made_from", drift.TRAINING_ROWS)
        except Exception:  # an older version: fall back on its evaluation rows
            log.info("no drift reference; using the evaluation rows", extra={"task": spec.name})
        try:
            path = download_artifacts(
                run_id=run_id,
                artifact_path=spec.evaluation_artifact,
                dst_path=folder,
                tracking_uri=uri,
            )
        except Exception as exc:
            raise NoDriftCheck(
                f"{spec.model_name} v{champion.version} has neither "
                f"{drift.REFERENCE_ARTIFACT} nor evaluation rows"
            ) from exc
        rows = pd.read_parquet(path)
    served: ServedModel = load_version(
        uri, spec.name, spec.model_name, str(champion.version), spec.features
    )
    features = rows[[c for c in spec.features if c in rows.columns]]
    scores = served.predict_proba(rows)
    return drift.drift_reference(features, spec.categorical, scores), FROM_EVALUATION


def _experiment(settings: Settings, client) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(MONITORING_EXPERIMENT)
    if found is not None:
        return found.experiment_id
    location = None
    if not settings.mlflow_tracking_uri.startswith(("http://", "https://", "databricks")):
        location = f"{settings.mlflow_artifact_root.rstrip('/')}/{MONITORING_EXPERIMENT}"
    try:
        return client.create_experiment(MONITORING_EXPERIMENT, artifact_location=location)
    except MlflowException:  # created by another worker meanwhile
        return client.get_experiment_by_name(MONITORING_EXPERIMENT).experiment_id


def _log_to_mlflow(settings: Settings, client, summary: dict) -> str:
    """A run per check: PSI per column as metrics, the summary and a bar chart as artifacts."""
    from mlflow.entities import Metric, Param

    run = client.create_run(
        _experiment(settings, client),
        run_name=f"drift-{summary['task']}",
        tags={"kundresa.task": summary["task"], "kundresa.kind": "drift"},
    )
    run_id = run.info.run_id
    status = "FINISHED"
    try:
        now = int(datetime.now().timestamp() * 1000)
        metrics = [Metric(f"psi.{c}", float(v), now, 0) for c, v in summary["psi"].items()]
        metrics.append(Metric("psi_max", float(summary["max_psi"]), now, 0))
        params = [
            Param(key, str(summary[key]))
            for key in ("task", "model_version", "as_of", "reference", "threshold", "rows")
        ]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.log_dict(run_id, summary, "drift.json")
        client.log_figure(run_id, psi_figure(summary), "drift_psi.png")
    except Exception:
        status = "FAILED"
        raise
    finally:
        client.set_terminated(run_id, status)
    return run_id


def psi_figure(summary: dict):
    """A horizontal bar per column, worst on top, with the threshold as a line."""
    from matplotlib.figure import Figure  # no pyplot: safe off the main thread

    items = list(summary["psi"].items())[::-1]
    figure = Figure(figsize=(7, 0.3 * len(items) + 1.2))
    axes = figure.add_subplot()
    threshold = summary["threshold"]
    colours = ["#c0392b" if value > threshold else "#2e86c1" for _, value in items]
    axes.barh([name for name, _ in items], [value for _, value in items], color=colours)
    axes.axvline(threshold, color="#555", linestyle="--", linewidth=1)
    axes.set_xlabel("population stability index")
    axes.set_title(f"{summary['task']} v{summary['model_version']}, as of {summary['as_of'][:10]}")
    figure.tight_layout()
    return figure
