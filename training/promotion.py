"""Promotion: move a task's champion alias to a better version that answers the same question.

A version is compared with the champion only when both carry the same task definition, and
only on test rows neither was trained on, with a paired bootstrap of the differences.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from shared.tasks import META_FEATURES, Task, TaskDefinition, task_by_name
from training.evaluate import brier, classification_metrics, paired_bootstrap, roc_auc
from training.mlflow_io import (
    champion as current_champion,
)
from training.mlflow_io import (
    configure_mlflow,
    latest_version,
    load_registered_model,
    model_metadata,
    read_definition,
    read_evaluation_rows,
    version_train_end,
)
from training.progress import Steps
from training.promotion_events import announce_promotion

# Promotion compares on at least this many rows neither version was trained on, with at
# least MIN_PER_CLASS of each class, resampled this many times.
MIN_COMPARISON_ROWS = 200
MIN_PER_CLASS = 30
BOOTSTRAP_RESAMPLES = 500


@dataclass
class PromotionResult:
    """Whether ``promote`` moved the champion alias, and why."""

    task: str
    model_name: str
    version: str
    promoted: bool
    reason: str
    previous_champion: str | None = None
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    # roc_auc_difference (candidate - champion) with its 95 % interval (_low, _high), the
    # same for brier_difference, and the number of rows compared on.
    comparison: dict[str, float] = field(default_factory=dict)


def move_champion(
    client: MlflowClient, task: Task, version: str, reason: str, database_url: str | None = None
) -> None:
    """Point the task's alias at ``version`` and record why and when on the version."""
    client.set_registered_model_alias(task.model_name, task.alias, str(version))
    announce_promotion(task, version, reason, database_url)  # the model.promoted webhook
    client.set_model_version_tag(task.model_name, str(version), "promotion", reason)
    client.set_model_version_tag(
        task.model_name,
        str(version),
        "promoted_at",
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def promote(
    task: str,
    version: str | int | None = None,
    force: bool = False,
    tracking_uri: str | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
    reason: str | None = None,
    database_url: str | None = None,
) -> PromotionResult:
    """Move ``champion`` to ``version`` (default: the latest) when it answers the same question
    (task definition) as the current champion and is better on rows neither was trained on:
    the lower end of the 95 % bootstrap interval of the ROC-AUC difference above 0, and a
    Brier score not clearly worse. ``force`` (which needs a ``reason``) promotes anyway. The
    decision and its figures are recorded in the version's ``promotion`` tag either way.
    ``progress``/``say`` as for ``train``; ``database_url`` is where ``model.promoted`` is
    recorded (see ``training.promotion_events``)."""
    if force and not (reason and reason.strip()):
        raise ValueError("a forced promotion needs a reason")
    with Steps(progress, say) as steps:
        return _promote(task, version, force, reason, tracking_uri, steps, database_url)


def _promote(
    task: str,
    version: str | int | None,
    force: bool,
    force_reason: str | None,
    tracking_uri: str | None,
    steps: Steps,
    database_url: str | None = None,
) -> PromotionResult:
    spec = task_by_name(task)
    configure_mlflow(tracking_uri)
    client = MlflowClient()
    name = spec.model_name
    steps(f"finding {name}'s candidate and champion")
    version = str(version) if version is not None else latest_version(client, name)
    candidate = client.get_model_version(name, version)
    champion = current_champion(client, name, spec.alias)
    if champion is not None and str(champion.version) == version:
        return PromotionResult(spec.name, name, version, False, "already the champion", version)
    if champion is None:
        reason = "no champion yet"
        move_champion(client, spec, version, reason, database_url)
        return PromotionResult(spec.name, name, version, True, reason)
    champion_version = str(champion.version)

    def decide(better: bool, summary: str, **figures) -> PromotionResult:
        if better:
            reason = f"better: {summary}"
        elif force:
            reason = f"forced ({force_reason.strip()}): {summary}"
        else:
            reason = f"refused: {summary}"
        if better or force:
            move_champion(client, spec, version, reason, database_url)
        else:
            client.set_model_version_tag(name, version, "promotion", reason)
        return PromotionResult(
            spec.name, name, version, better or force, reason, champion_version, **figures
        )

    # Two definitions answer two questions: their metrics are not comparable.
    mine = read_definition(client, name, version)
    theirs = read_definition(client, name, champion_version)
    if mine is None or theirs is None or mine != theirs:
        return decide(
            False,
            f"the candidate predicts {_describe(mine)}, the champion v{champion_version} "
            f"{_describe(theirs)}; scores of different definitions are not comparable",
        )

    steps(f"downloading the evaluation rows of version {version}")
    rows = read_evaluation_rows(candidate.run_id, spec.evaluation_artifact)
    ends = [version_train_end(client, name, v) for v in (version, champion_version)]
    if "cutoff" not in rows or None in ends:
        return decide(
            False,
            "the candidate's test rows or either version's end of training data are not "
            "recorded (registered before they were); train the candidate again",
        )
    unseen_from = max(ends)
    rows = rows[pd.to_datetime(rows["cutoff"], utc=True) >= pd.Timestamp(unseen_from)]
    y = rows["label"].to_numpy().astype(int)
    positives = int(y.sum())
    if len(rows) < MIN_COMPARISON_ROWS or min(positives, len(y) - positives) < MIN_PER_CLASS:
        return decide(
            False,
            f"only {len(rows):,} test rows ({positives:,} positive) are after both versions' "
            f"training data (from {unseen_from:%Y-%m-%d}); a fair comparison needs "
            f"{MIN_COMPARISON_ROWS} rows with {MIN_PER_CLASS} of each class: run "
            f"`kundresa evaluate --task {spec.name}` on newer data, or train the candidate "
            "with a later --cutoff",
        )
    steps(f"scoring the candidate, version {version}, on {len(rows):,} rows")
    candidate_scores = _scores(name, version, rows)
    steps(f"scoring the champion, version {champion_version}, on the same rows")
    champion_scores = _scores(name, champion_version, rows)
    if candidate_scores is None or champion_scores is None:
        return decide(False, "the rows lack columns one of the versions needs")
    steps("bootstrapping the difference")
    auc = paired_bootstrap(y, candidate_scores, champion_scores, roc_auc, BOOTSTRAP_RESAMPLES)
    brier_diff = paired_bootstrap(y, candidate_scores, champion_scores, brier, BOOTSTRAP_RESAMPLES)
    comparison = {
        "rows": float(len(rows)),
        "roc_auc_difference": auc[0],
        "roc_auc_difference_low": auc[1],
        "roc_auc_difference_high": auc[2],
        "brier_difference": brier_diff[0],
        "brier_difference_low": brier_diff[1],
        "brier_difference_high": brier_diff[2],
    }
    candidate_metrics = classification_metrics(y, candidate_scores)
    champion_metrics = classification_metrics(y, champion_scores)
    comparison |= {
        "brier_candidate": candidate_metrics["brier"],
        "brier_champion": champion_metrics["brier"],
    }
    # Better ranking beyond resampling noise, and calibration not clearly worse.
    better = auc[1] > 0 and not brier_diff[1] > 0
    summary = _comparison_text(
        candidate_metrics, champion_metrics, champion_version, comparison, unseen_from
    )
    client.set_model_version_tag(
        name, version, "promotion.comparison", json.dumps(comparison | {"from": str(unseen_from)})
    )
    return decide(
        better,
        summary,
        candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics,
        comparison=comparison,
    )


def _describe(definition: TaskDefinition | None) -> str:
    if definition is None:
        return "an unknown definition (none recorded)"
    return f'"{definition.summary()}" (definition revision {definition.revision})'


def _scores(model_name: str, version: str, rows: pd.DataFrame) -> np.ndarray | None:
    """A registered version's scores of ``rows``; None when it needs columns they lack."""
    features = model_metadata(model_name, version).get(META_FEATURES) or []
    if not features or not set(features) <= set(rows.columns):
        return None
    model = load_registered_model(model_name, version)
    return model.predict_proba(rows[features])[:, 1]


def _comparison_text(
    candidate: dict[str, float],
    champion: dict[str, float],
    champion_version: str,
    comparison: dict[str, float],
    unseen_from: datetime,
) -> str:
    def fmt(metrics: dict[str, float]) -> str:
        auc, brier_score = metrics.get("roc_auc", math.nan), metrics.get("brier", math.nan)
        return f"ROC-AUC {auc:.4f}, Brier {brier_score:.4f}"

    return (
        f"candidate {fmt(candidate)} vs champion v{champion_version} {fmt(champion)}; "
        f"ROC-AUC difference {comparison['roc_auc_difference']:+.4f} "
        f"(95 % interval {comparison['roc_auc_difference_low']:+.4f} to "
        f"{comparison['roc_auc_difference_high']:+.4f}), Brier difference "
        f"{comparison['brier_difference']:+.4f} (95 % interval "
        f"{comparison['brier_difference_low']:+.4f} to "
        f"{comparison['brier_difference_high']:+.4f}); on {int(comparison['rows']):,} test "
        f"rows from {unseen_from:%Y-%m-%d}, after both versions' training data"
    )
