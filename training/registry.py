"""Train, log, register and promote models in MLflow.

One training run builds the time-split dataset, fits the calibrated HistGradientBoosting
pipeline and the logistic baseline, measures one-model-with-stage against one-model-per-stage
(and, for brand switch, the BG/NBD baseline) on the same later period, logs metrics per stage
and plots, and registers the better of the two pipelines with the metadata the model service
reads (``shared.tasks``). The evaluation rows are logged with the run, so ``promote`` can score
the candidate and the champion on exactly the same period without touching the database.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from shared.features import (
    CART_FEATURES,
    CUSTOMER_FEATURES,
    JourneyFrames,
    load_journey_frames,
)
from shared.settings import Settings
from shared.tasks import (
    CHAMPION_ALIAS,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    task_by_name,
)
from training import bgnbd
from training.datasets import (
    Dataset,
    brand_switch_dataset,
    brand_switch_evaluation,
    cart_abandonment_dataset,
    cart_abandonment_evaluation,
)
from training.evaluate import (
    PRIMARY_METRIC,
    classification_metrics,
    feature_importance,
    flat_metrics,
    is_better,
    metrics_by_stage,
    save_plots,
)
from training.pipelines import calibrated, make_classifier_pipeline

EVALUATION_ARTIFACT = "evaluation/rows.parquet"
# Risk bands: the share of a stage's training customers above each threshold.
BAND_QUANTILES = {"medium": 0.70, "high": 0.90}
MIN_ROWS_PER_STAGE_MODEL = 200
# Below this many training rows the fit is quick anyway; above it, fewer boosting rounds.
SMALL_DATA_ROWS = 20_000


@dataclass
class TrainResult:
    """What one training run produced."""

    task: str
    model_name: str
    version: str | None
    run_id: str
    estimator: str
    metrics: dict[str, float]
    comparison: dict[str, dict[str, float]]
    train_rows: int
    evaluation_rows: int
    evaluation_cutoff: datetime
    promoted: bool = False
    seconds: float = 0.0
    stage_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


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


# ---------------------------------------------------------------------------------------------
# MLflow plumbing
# ---------------------------------------------------------------------------------------------


def configure_mlflow(tracking_uri: str | None = None) -> str:
    """Point MLflow at ``tracking_uri``, else MLFLOW_TRACKING_URI, else the local store in var/."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or _settings().mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _settings() -> Settings:
    # No secret is needed to train; passing one keeps Settings from creating var/secret_key.
    return Settings.from_env(secret_key="unused-by-training")


def _experiment(task: str, tracking_uri: str) -> str:
    """The experiment of a task; a local store keeps its artifacts under MLFLOW_ARTIFACT_ROOT."""
    name = f"kundresa-{task.replace('_', '-')}"
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if not tracking_uri.startswith(("http://", "https://", "databricks")):
        root = os.environ.get("MLFLOW_ARTIFACT_ROOT") or _settings().mlflow_artifact_root
        location = f"{root.rstrip('/')}/{name}"
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:  # created by a concurrent run
        return mlflow.get_experiment_by_name(name).experiment_id


def load_registered_model(model_name: str, version: str):
    """Load a registered scikit-learn model of ours.

    MLflow refuses to deserialize any model unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true;
    our own registry is the trusted source it asks for, so it is allowed here.
    """
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def _skops_trusted_types(model) -> list[str]:
    """Every type skops does not trust by default that the fitted model contains."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def _pip_requirements() -> list[str]:
    # Given explicitly: MLflow's inference of requirements loads the model in a subprocess.
    return [
        f"{name}=={installed_version(name)}"
        for name in ("scikit-learn", "pandas", "numpy", "scipy", "skops")
    ]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def train_task(
    database_url: str,
    task: str,
    tracking_uri: str | None = None,
    cutoff: datetime | None = None,
    horizon_days: int = 90,
    progress: bool = False,
) -> tuple[str, str]:
    """Train and register ``task``; returns (registered model name, version). The first version
    of a model becomes champion; later ones only through ``promote``."""
    result = train(database_url, task, tracking_uri, cutoff, horizon_days, progress)
    return result.model_name, str(result.version)


def train(
    database_url: str,
    task: str,
    tracking_uri: str | None = None,
    cutoff: datetime | None = None,
    horizon_days: int = 90,
    progress: bool = False,
    seed: int = 0,
    register: bool = True,
    say: Callable[[str], None] | None = None,
    frames: JourneyFrames | None = None,
) -> TrainResult:
    """Build the dataset, fit and compare the models, log everything and register the best.

    ``frames`` lets a caller training both tasks read the events once."""
    started = time.perf_counter()
    with _Steps(progress, say) as steps:
        result = _train(
            database_url, task, tracking_uri, cutoff, horizon_days, seed, register, frames, steps
        )
    result.seconds = time.perf_counter() - started
    return result


def _train(
    database_url: str,
    task: str,
    tracking_uri: str | None,
    cutoff: datetime | None,
    horizon_days: int,
    seed: int,
    register: bool,
    frames: JourneyFrames | None,
    steps: _Steps,
) -> TrainResult:
    spec = task_by_name(task)
    uri = configure_mlflow(tracking_uri)

    if frames is None:
        steps("reading journey events")
        frames = load_journey_frames(database_url, datetime.now(UTC))
    if spec.name == "brand_switch":
        dataset = brand_switch_dataset(
            frames, horizon_days=horizon_days, cutoff=cutoff, seed=seed, progress=steps
        )
    else:
        dataset = cart_abandonment_dataset(frames, cutoff=cutoff, seed=seed, progress=steps)

    X_train, y_train = dataset.train[dataset.features], dataset.train["label"].to_numpy()
    X_eval, y_eval = dataset.evaluation[dataset.features], dataset.evaluation["label"].to_numpy()
    max_iter = 150 if len(X_train) <= SMALL_DATA_ROWS else 100

    candidates: dict[str, object] = {}
    scores: dict[str, np.ndarray] = {}
    for estimator in ("hgb", "logistic"):
        steps(f"fitting {estimator}")
        model = calibrated(
            make_classifier_pipeline(
                _informative(X_train, dataset.numeric),
                dataset.categorical,
                estimator,
                seed,
                max_iter,
            )  # fmt: skip
        )
        model.fit(X_train, y_train)
        candidates[estimator] = model
        scores[estimator] = model.predict_proba(X_eval)[:, 1]
    comparison = {name: classification_metrics(y_eval, s) for name, s in scores.items()}
    chosen = "hgb" if is_better(comparison["hgb"], comparison["logistic"]) else "logistic"
    model = candidates[chosen]

    steps("fitting one model per stage")
    per_stage = _per_stage_scores(dataset, scores[chosen], chosen, seed, max_iter)
    comparison["per_stage"] = classification_metrics(y_eval, per_stage)
    if spec.name == "brand_switch":
        steps("fitting the BG/NBD baseline")
        baseline, fitted = bgnbd.churn_scores(
            frames, dataset.evaluation_cutoff, X_eval.index, horizon_days
        )
        comparison["bgnbd"] = classification_metrics(y_eval, baseline.to_numpy())
        scores["bgnbd"] = baseline.to_numpy()

    overall = comparison[chosen]
    by_stage = metrics_by_stage(y_eval, scores[chosen], X_eval["stage"])
    steps("feature importance")
    importance = feature_importance(model, X_eval, y_eval, seed=seed)

    steps("logging to MLflow")
    experiment_id = _experiment(spec.name, uri)
    version = None
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{spec.name}") as run:
        params = {
            "task": spec.name,
            "estimator": chosen,
            "horizon_days": horizon_days if spec.name == "brand_switch" else 1,
            "evaluation_cutoff": f"{dataset.evaluation_cutoff:%Y-%m-%dT%H:%M:%SZ}",
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in dataset.train_cutoffs),
            "train_rows": len(X_train),
            "evaluation_rows": len(X_eval),
            "dataset_fingerprint": dataset.fingerprint(),
            "max_iter": max_iter,
            "seed": seed,
            **dataset.params,
        }
        mlflow.log_params(params)
        for context, part in (("training", dataset.train), ("evaluation", dataset.evaluation)):
            mlflow.log_input(
                mlflow.data.from_pandas(
                    part[dataset.features].assign(label=part["label"].astype(float)),
                    name=f"{spec.name}-{context}",
                    targets="label",
                ),
                context=context,
            )
        mlflow.log_metrics(flat_metrics(overall, by_stage))
        for name, values in comparison.items():
            mlflow.log_metrics(flat_metrics(values, {}, prefix=f"compare.{name}."))
        if "bgnbd" in comparison:
            mlflow.log_params({f"bgnbd_{k}": round(v, 5) for k, v in vars(fitted).items()})
        design = "one_model_with_stage"
        if is_better(comparison["per_stage"], overall):
            design = "one_model_per_stage"
        mlflow.set_tags(
            {
                "kundresa.task": spec.name,
                "kundresa.better_design": design,
                "kundresa.beats_bgnbd": str(
                    "bgnbd" not in comparison or is_better(overall, comparison["bgnbd"])
                ).lower(),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plot_scores = {chosen: scores[chosen]}
            if "bgnbd" in scores:
                plot_scores["bgnbd"] = scores["bgnbd"]
            for path in save_plots(y_eval, plot_scores, importance, folder / "plots", spec.name):
                mlflow.log_artifact(str(path), artifact_path="plots")
            if not importance.empty:
                mlflow.log_dict(importance.round(6).to_dict(), "feature_importance.json")
            mlflow.log_dict(by_stage, "metrics_by_stage.json")
            rows = X_eval.assign(label=y_eval)
            rows.to_parquet(folder / "rows.parquet")
            mlflow.log_artifact(str(folder / "rows.parquet"), artifact_path="evaluation")

        train_scores = model.predict_proba(X_train)[:, 1]
        metadata = {
            META_TASK: spec.name,
            META_FEATURES: list(dataset.features),
            META_RISK_BANDS: risk_bands(train_scores, X_train["stage"]),
            META_REFERENCE: reference_row(X_train, dataset.categorical),
            "horizon_days": params["horizon_days"],
            "evaluation_cutoff": params["evaluation_cutoff"],
            "estimator": chosen,
        }
        example = X_train.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            registered_model_name=spec.model_name if register else None,
            metadata=metadata,
            serialization_format="skops",
            skops_trusted_types=_skops_trusted_types(model),
            pip_requirements=_pip_requirements(),
            pyfunc_predict_fn="predict_proba",
        )
        run_id = run.info.run_id
        if register:
            version = str(info.registered_model_version)
            client = MlflowClient()
            for key, value in {
                "estimator": chosen,
                "evaluation_cutoff": params["evaluation_cutoff"],
                f"evaluation_{PRIMARY_METRIC}": f"{overall[PRIMARY_METRIC]:.4f}",
                "run_id": run_id,
            }.items():
                client.set_model_version_tag(spec.model_name, version, key, value)

    result = TrainResult(
        task=spec.name,
        model_name=spec.model_name,
        version=version,
        run_id=run_id,
        estimator=chosen,
        metrics=overall,
        comparison=comparison,
        train_rows=len(X_train),
        evaluation_rows=len(X_eval),
        evaluation_cutoff=dataset.evaluation_cutoff,
        stage_metrics=by_stage,
    )
    if register and _champion(MlflowClient(), spec.model_name) is None:
        _move_champion(MlflowClient(), spec.model_name, version, "first model of this task")
        result.promoted = True
    return result


def _per_stage_scores(
    dataset: Dataset, fallback: np.ndarray, estimator: str, seed: int, max_iter: int
) -> np.ndarray:
    """Evaluation scores from one model per stage; stages too small keep the one-model score."""
    scores = fallback.copy()
    train_stage = dataset.train["stage"]
    eval_stage = dataset.evaluation["stage"].to_numpy()
    for stage in np.unique(eval_stage):
        rows = dataset.train[train_stage == stage]
        if len(rows) < MIN_ROWS_PER_STAGE_MODEL or rows["label"].nunique() < 2:
            continue
        # Uncalibrated: HistGradientBoosting's log-loss scores are close to calibrated, and
        # this comparison should not cost three more fits per stage.
        model = make_classifier_pipeline(
            _informative(rows, dataset.numeric), dataset.categorical, estimator, seed, max_iter
        )
        model.fit(rows[dataset.features], rows["label"].to_numpy())
        mask = eval_stage == stage
        scores[mask] = model.predict_proba(dataset.evaluation.loc[mask, dataset.features])[:, 1]
    return scores


def _informative(rows: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Numeric columns with at least one value: HistGradientBoosting cannot bin an all-missing
    column (a shop without surveys has no CSAT at all; a stage can lack checkout times)."""
    return [c for c in numeric if rows[c].notna().any()]


def risk_bands(scores: np.ndarray, stages: pd.Series) -> dict[str, dict[str, float]]:
    """Thresholds per stage from training-score quantiles: the top 10 % of a stage are high
    risk, the next 20 % medium. Stages with few rows use the "default" thresholds."""

    def thresholds(values: np.ndarray) -> dict[str, float]:
        return {band: round(float(np.quantile(values, q)), 4) for band, q in BAND_QUANTILES.items()}

    bands = {"default": thresholds(scores)}
    stage_values = np.asarray(stages)
    for stage in pd.unique(stage_values):
        mask = stage_values == stage
        if mask.sum() >= 50:
            bands[str(stage)] = thresholds(scores[mask])
    return bands


def reference_row(frame: pd.DataFrame, categorical: list[str]) -> dict[str, object]:
    """A typical row: the median of each numeric feature, the most common category."""
    row: dict[str, object] = {}
    for column in frame.columns:
        if column in categorical:
            row[column] = str(frame[column].mode().iloc[0]) if len(frame) else "none"
        else:
            median = frame[column].median()
            row[column] = None if pd.isna(median) else round(float(median), 4)
    return row


class _Steps:
    """Progress through the named steps of a run: a tqdm bar, or messages to ``say``."""

    def __init__(self, enabled: bool, say: Callable[[str], None] | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=None, bar_format="{desc} [{elapsed}]", disable=not enabled)
        self.say = say

    def __call__(self, message: str) -> None:
        self.bar.set_description_str(message)
        if self.say:
            self.say(message)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> _Steps:
        return self

    def __exit__(self, *_exc: object) -> None:
        # Closed on errors too, so a user error is not printed after a half-drawn bar.
        self.close()


# ---------------------------------------------------------------------------------------------
# Promotion
# ---------------------------------------------------------------------------------------------


def _champion(client: MlflowClient, model_name: str):
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def _move_champion(client: MlflowClient, model_name: str, version: str, reason: str) -> None:
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, str(version))
    client.set_model_version_tag(model_name, str(version), "promotion", reason)
    client.set_model_version_tag(
        model_name, str(version), "promoted_at", datetime.now(UTC).isoformat(timespec="seconds")
    )


def _latest_version(client: MlflowClient, model_name: str) -> str:
    versions = client.search_model_versions(f"name='{model_name}'")
    if not versions:
        raise LookupError(f"no versions of {model_name} are registered; run `kundresa train`")
    return str(max(int(v.version) for v in versions))


def promote(
    task: str,
    version: str | int | None = None,
    force: bool = False,
    tracking_uri: str | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> PromotionResult:
    """Move ``champion`` to ``version`` (default: the latest) if it scores a higher ROC-AUC than
    the current champion on the candidate's evaluation rows, or when ``force``. The reason is
    recorded in the version's tags either way. ``progress``/``say`` as for ``train``."""
    with _Steps(progress, say) as steps:
        return _promote(task, version, force, tracking_uri, steps)


def _promote(
    task: str,
    version: str | int | None,
    force: bool,
    tracking_uri: str | None,
    steps: _Steps,
) -> PromotionResult:
    spec = task_by_name(task)
    configure_mlflow(tracking_uri)
    client = MlflowClient()
    name = spec.model_name
    steps(f"finding {name}'s candidate and champion")
    version = str(version) if version is not None else _latest_version(client, name)
    candidate = client.get_model_version(name, version)
    champion = _champion(client, name)
    if champion is not None and str(champion.version) == version:
        return PromotionResult(spec.name, name, version, False, "already the champion", version)
    if champion is None:
        reason = "no champion yet"
        _move_champion(client, name, version, reason)
        return PromotionResult(spec.name, name, version, True, reason)

    steps(f"downloading the evaluation rows of version {version}")
    rows = _evaluation_rows(client, candidate.run_id)
    y = rows["label"].to_numpy()
    steps(f"scoring the candidate, version {version}, on {len(rows):,} rows")
    candidate_metrics = _score(name, version, rows, y)
    steps(f"scoring the champion, version {champion.version}, on the same rows")
    champion_metrics = _score(name, str(champion.version), rows, y)
    steps("recording the decision")
    period = client.get_run(candidate.run_id).data.params.get("evaluation_cutoff", "?")
    summary = _comparison_text(candidate_metrics, champion_metrics, champion.version, period)
    better = bool(champion_metrics) and is_better(candidate_metrics, champion_metrics)
    if not champion_metrics:
        summary = f"champion v{champion.version} cannot score these rows (other features)"
    if better or force:
        reason = ("forced: " if force and not better else "better: ") + summary
        _move_champion(client, name, version, reason)
        return PromotionResult(
            spec.name,
            name,
            version,
            True,
            reason,
            str(champion.version),
            candidate_metrics,
            champion_metrics,
        )
    reason = f"refused: {summary}"
    client.set_model_version_tag(name, version, "promotion", reason)
    return PromotionResult(
        spec.name,
        name,
        version,
        False,
        reason,
        str(champion.version),
        candidate_metrics,
        champion_metrics,
    )


def _evaluation_rows(client: MlflowClient, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=tmp
        )
        return pd.read_parquet(path)


def _score(model_name: str, version: str, rows: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Metrics of a registered version on ``rows``; empty when it needs columns they lack."""
    info = mlflow.models.get_model_info(f"models:/{model_name}/{version}")
    features = (info.metadata or {}).get(META_FEATURES) or []
    if not features or not set(features) <= set(rows.columns):
        return {}
    model = load_registered_model(model_name, version)
    return classification_metrics(y, model.predict_proba(rows[features])[:, 1])


def _comparison_text(
    candidate: dict[str, float], champion: dict[str, float], champion_version, period: str
) -> str:
    def fmt(metrics: dict[str, float]) -> str:
        auc, brier = metrics.get("roc_auc", math.nan), metrics.get("brier", math.nan)
        return f"ROC-AUC {auc:.4f}, Brier {brier:.4f}"

    return (
        f"candidate {fmt(candidate)} vs champion v{champion_version} {fmt(champion)} "
        f"on the evaluation period from {period}"
    )


# ---------------------------------------------------------------------------------------------
# Evaluation of a registered model on the latest period
# ---------------------------------------------------------------------------------------------


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
    with _Steps(progress, say) as steps:
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
    steps: _Steps,
) -> dict[str, object]:
    spec = task_by_name(task)
    uri = configure_mlflow(tracking_uri)
    client = MlflowClient()
    steps(f"looking up {spec.model_name} in the registry")
    if version is None:
        champion = _champion(client, spec.model_name)
        if champion is None:
            raise LookupError(f"{spec.model_name} has no champion; run `kundresa promote`")
        version = champion.version
    version = str(version)
    info = mlflow.models.get_model_info(f"models:/{spec.model_name}/{version}")
    metadata = info.metadata or {}
    horizon_days = horizon_days or int(metadata.get("horizon_days", 90))
    steps("reading journey events")
    frames = load_journey_frames(database_url, datetime.now(UTC))
    if spec.name == "brand_switch":
        rows, evaluation_cutoff = brand_switch_evaluation(frames, horizon_days, cutoff, steps)
        features = CUSTOMER_FEATURES
    else:
        rows, evaluation_cutoff = cart_abandonment_evaluation(frames, cutoff, progress=steps)
        features = CART_FEATURES
    y = rows["label"].to_numpy()
    features = metadata.get(META_FEATURES) or features
    steps(f"loading version {version}")
    model = load_registered_model(spec.model_name, version)
    steps(f"scoring {len(rows):,} rows")
    scores = model.predict_proba(rows[features])[:, 1]
    overall = classification_metrics(y, scores)
    by_stage = metrics_by_stage(y, scores, rows["stage"])
    steps("logging to MLflow")
    with mlflow.start_run(
        experiment_id=_experiment(spec.name, uri), run_name=f"evaluate-{spec.name}-v{version}"
    ):
        mlflow.log_params(
            {
                "task": spec.name,
                "model_version": version,
                "horizon_days": horizon_days if spec.name == "brand_switch" else 1,
                "evaluation_cutoff": f"{evaluation_cutoff:%Y-%m-%dT%H:%M:%SZ}",
                "evaluation_rows": len(rows),
            }
        )
        mlflow.log_metrics(flat_metrics(overall, by_stage))
        mlflow.log_text(json.dumps(by_stage, indent=2), "metrics_by_stage.json")
    return {
        "model_name": spec.model_name,
        "version": version,
        "evaluation_cutoff": evaluation_cutoff.to_pydatetime(),
        "horizon_days": horizon_days if spec.name == "brand_switch" else None,
        "rows": len(rows),
        "overall": overall,
        "by_stage": by_stage,
    }
