"""Evaluation of a registered version on the latest period the data allows."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from shared.journey_loader import load_journey_frames
from shared.tasks import META_DEFINITION, META_FEATURES, TaskDefinition, task_by_name
from training.evaluate import classification_metrics, flat_metrics, metrics_by_stage
from training.mlflow_io import (
    champion_version,
    configure_mlflow,
    load_registered_model,
    log_evaluation_run,
    model_metadata,
)
from training.progress import Steps
from training.recipes import recipe_for


def evaluate_version(
    database_url: str,
    task: str,
    version: str | int | None = None,
    tracking_uri: str | None = None,
    horizon_days: int | None = None,
    cutoff: datetime | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Score a registered version (default: the champion) on the latest evaluation period the
    data allows, with the horizon it was trained for unless ``horizon_days`` is given; logs an
    ``evaluate`` run and returns overall and per-stage metrics. ``progress``/``say`` as for
    ``train``."""
    with Steps(progress, say) as steps:
        return _evaluate_version(
            database_url, task, version, tracking_uri, horizon_days, cutoff, steps
        )


def _evaluate_version(
    database_url: str,
    task: str,
    version: str | int | None,
    tracking_uri: str | None,
    horizon_days: int | None,
    cutoff: datetime | None,
    steps: Steps,
) -> dict[str, object]:
    spec = task_by_name(task)
    recipe = recipe_for(spec)
    uri = configure_mlflow(tracking_uri)
    steps(f"looking up {spec.model_name} in the registry")
    if version is None:
        version = champion_version(spec)
        if version is None:
            raise LookupError(f"{spec.model_name} has no champion; run `kundresa promote`")
    version = str(version)
    metadata = model_metadata(spec.model_name, version)
    definition = (
        TaskDefinition.from_dict(metadata[META_DEFINITION]) if META_DEFINITION in metadata else None
    )
    horizon_days = horizon_days or int(metadata.get("horizon_days", spec.default_horizon_days))
    if definition is not None and spec.horizon_configurable:
        # A horizon other than the model's own asks another question of the same model.
        definition = spec.definition(horizon_days)
    steps("reading journey events")
    frames = load_journey_frames(database_url, datetime.now(UTC))
    rows, evaluation_cutoff = recipe.evaluation_rows(frames, horizon_days, cutoff, steps)
    y = rows["label"].to_numpy()
    features = metadata.get(META_FEATURES) or list(spec.features)
    steps(f"loading version {version}")
    model = load_registered_model(spec.model_name, version)
    steps(f"scoring {len(rows):,} rows")
    scores = model.predict_proba(rows[features])[:, 1]
    overall = classification_metrics(y, scores)
    by_stage = metrics_by_stage(y, scores, rows["stage"])
    steps("logging to MLflow")
    params = {
        "task": spec.name,
        "model_version": version,
        "horizon_days": spec.horizon_days(horizon_days),
        "evaluation_cutoff": f"{evaluation_cutoff:%Y-%m-%dT%H:%M:%SZ}",
        "evaluation_rows": len(rows),
        **({f"definition.{k}": v for k, v in definition.as_dict().items()} if definition else {}),
    }
    log_evaluation_run(spec, uri, version, params, flat_metrics(overall, by_stage), by_stage)
    return {
        "model_name": spec.model_name,
        "version": version,
        "evaluation_cutoff": evaluation_cutoff.to_pydatetime(),
        "horizon_days": horizon_days if spec.horizon_configurable else None,
        "rows": len(rows),
        "definition": definition,
        "base_rate": float(y.mean()) if len(y) else math.nan,
        "overall": overall,
        "by_stage": by_stage,
    }
