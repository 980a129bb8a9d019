"""Train, log, register and promote models in MLflow.

Every dataset is split in time into a training window (fit), a validation window (choose the
model family and the risk-band fallback) and a test window (reported, and used by promotion).
The chosen family is refitted on training + validation, whose labels end before the test
window begins, and compared there with simple baselines on the same rows (and, for brand
switch, BG/NBD). Each run logs the task definition, the base rates, the code version and the
test rows with their snapshot times; each registered version carries its definition, so
``promote`` refuses to swap a model for one that answers another question, and compares the
two only on test rows neither was trained on, with a paired bootstrap.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from shared.cart_features import CART_FEATURES
from shared.customer_features import CUSTOMER_FEATURES
from shared.journey_frames import JourneyFrames
from shared.journey_loader import load_journey_frames
from shared.risk_scale import cut_points
from shared.settings import Settings
from shared.tasks import (
    CHAMPION_ALIAS,
    DEFINITION_TAG,
    META_BASE_RATE,
    META_DEFINITION,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    TaskDefinition,
    default_definition,
    task_by_name,
)
from training import bgnbd
from training.datasets import (
    Dataset,
    NotEnoughData,
    brand_switch_dataset,
    brand_switch_evaluation,
    cart_abandonment_dataset,
    cart_abandonment_evaluation,
)
from training.evaluate import (
    PRIMARY_METRIC,
    brier,
    classification_metrics,
    feature_importance,
    flat_metrics,
    is_better,
    metrics_by_stage,
    paired_bootstrap,
    roc_auc,
    save_plots,
)
from training.pipelines import calibrated, make_classifier_pipeline

EVALUATION_ARTIFACT = "evaluation/rows.parquet"
MIN_ROWS_PER_STAGE_MODEL = 200
# Below this many training rows the fit is quick anyway; above it, fewer boosting rounds.
SMALL_DATA_ROWS = 20_000
# Promotion compares on at least this many rows neither version was trained on, with at
# least MIN_PER_CLASS of each class, resampled this many times.
MIN_COMPARISON_ROWS = 200
MIN_PER_CLASS = 30
BOOTSTRAP_RESAMPLES = 500
# Without a validation part from the dataset, the latest fifth of the training snapshots.
VALIDATION_SHARE = 0.2


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
    definition: TaskDefinition | None = None
    base_rates: dict[str, float] = field(default_factory=dict)  # train, validation, test
    validation: dict[str, dict[str, float]] = field(default_factory=dict)  # per family
    validation_rows: int = 0
    validation_start: datetime | None = None
    chosen_on: str = "validation"  # ValidationSplit.description
    train_data_end: datetime | None = None
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # test metrics
    code_version: str = ""
    note: str = ""  # why a first version did not become champion


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
    definition = dataset.definition or default_definition(spec.name, horizon_days)
    split = split_validation(dataset)
    fit_rows, validation, validation_start = split.fit, split.validation, split.start
    learn = pd.concat([fit_rows, validation])  # the refit: labels end before the test window
    train_data_end = _train_data_end(dataset, learn)
    test = dataset.evaluation
    features = dataset.features
    y_fit, y_val = fit_rows["label"].to_numpy(), validation["label"].to_numpy()
    y_test = test["label"].to_numpy()
    max_iter = 150 if len(learn) <= SMALL_DATA_ROWS else 100

    def fit(
        rows: pd.DataFrame,
        estimator: str,
        columns: list[str],
        categorical: list[str],
        options: dict[str, object],
    ):
        numeric = _informative(rows, [c for c in columns if c not in categorical])
        pipeline = make_classifier_pipeline(
            numeric, categorical, estimator, seed, max_iter, **options
        )
        return calibrated(pipeline).fit(rows[columns], rows["label"].to_numpy())

    # The family is chosen on the validation window; the test window is only reported on.
    validation_metrics: dict[str, dict[str, float]] = {}
    for estimator in ("hgb", "logistic"):
        steps(f"fitting {estimator} on the training window")
        model = fit(fit_rows, estimator, features, dataset.categorical, dataset.pipeline_options)
        validation_metrics[estimator] = classification_metrics(
            y_val, model.predict_proba(validation[features])[:, 1]
        )
    hgb_wins = is_better(validation_metrics["hgb"], validation_metrics["logistic"])
    chosen = "hgb" if hgb_wins else "logistic"
    steps(f"refitting {chosen} on the training and validation windows")
    model = fit(learn, chosen, features, dataset.categorical, dataset.pipeline_options)
    X_test = test[features]
    scores = {"model": model.predict_proba(X_test)[:, 1]}

    baselines: dict[str, dict[str, float]] = {}
    for name, columns in dataset.baselines.items():
        steps(f"fitting the baseline {name}")
        categorical = [c for c in columns if c in dataset.categorical]
        # Those columns alone: no task-specific steps (the rhythm step needs other columns).
        baseline = fit(learn, "logistic", list(columns), categorical, {})
        scores[f"baseline_{name}"] = baseline.predict_proba(test[list(columns)])[:, 1]
    if spec.name == "brand_switch":
        steps("fitting the BG/NBD baseline")
        bgnbd_scores, fitted = bgnbd.churn_scores(
            frames, dataset.evaluation_cutoff, X_test.index, horizon_days
        )
        scores["bgnbd"] = bgnbd_scores.to_numpy()
    comparison = {name: classification_metrics(y_test, s) for name, s in scores.items()}
    baselines = {name: m for name, m in comparison.items() if name != "model"}
    if "stage" in features:
        steps("fitting one model per stage")
        per_stage = _per_stage_scores(learn, test, dataset, scores["model"], chosen, seed, max_iter)
        comparison["per_stage"] = classification_metrics(y_test, per_stage)

    overall = comparison["model"]
    stages = test["stage"] if "stage" in test else pd.Series(["all"] * len(test))
    by_stage = metrics_by_stage(y_test, scores["model"], stages)
    steps("feature importance")
    importance = feature_importance(model, X_test, y_test, seed=seed)
    beaten = [
        name for name, m in baselines.items() if not overall["roc_auc"] > m.get("roc_auc", 0.0)
    ]
    base_rates = {
        "train": float(y_fit.mean()),
        "validation": float(y_val.mean()),
        "test": float(y_test.mean()),
    }
    code = code_version()

    steps("logging to MLflow")
    experiment_id = _experiment(spec.name, uri)
    version = None
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{spec.name}") as run:
        params = {
            "task": spec.name,
            "estimator": chosen,
            "estimator_chosen_on": split.description,
            "horizon_days": _days(definition),
            "evaluation_cutoff": _stamp(dataset.evaluation_cutoff),
            "validation_start": _stamp(validation_start),
            "train_data_end": _stamp(train_data_end),
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in dataset.train_cutoffs),
            "train_rows": len(fit_rows),
            "validation_rows": len(validation),
            "evaluation_rows": len(test),
            "dataset_fingerprint": dataset.fingerprint(),
            "max_iter": max_iter,
            "seed": seed,
            "code.package_version": code["package_version"],
            **{f"definition.{k}": v for k, v in definition.as_dict().items()},
            **{f"pipeline.{k}": v for k, v in dataset.pipeline_options.items()},
            **dataset.params,
        }
        if code["git_commit"]:
            params |= {"code.git_commit": code["git_commit"], "code.git_dirty": code["git_dirty"]}
        mlflow.log_params(params)
        mlflow.log_dict(definition.as_dict(), "task_definition.json")
        for context, part in (
            ("training", fit_rows),
            ("validation", validation),
            ("evaluation", test),
        ):
            mlflow.log_input(
                mlflow.data.from_pandas(
                    part[features].assign(label=part["label"].astype(float)),
                    name=f"{spec.name}-{context}",
                    targets="label",
                ),
                context=context,
            )
        mlflow.log_metrics(flat_metrics(overall, by_stage))
        mlflow.log_metrics({f"base_rate_{part}": rate for part, rate in base_rates.items()})
        for name, values in validation_metrics.items():
            mlflow.log_metrics(flat_metrics(values, {}, prefix=f"validation.{name}."))
        for name, values in comparison.items():
            if name != "model":
                mlflow.log_metrics(flat_metrics(values, {}, prefix=f"compare.{name}."))
        if spec.name == "brand_switch":
            mlflow.log_params({f"bgnbd_{k}": round(v, 5) for k, v in vars(fitted).items()})
        design = "one_model_with_stage"
        if "per_stage" in comparison and is_better(comparison["per_stage"], overall):
            design = "one_model_per_stage"
        tags = {
            "kundresa.task": spec.name,
            "kundresa.better_design": design,
            "kundresa.beats_baselines": str(not beaten).lower(),
            "kundresa.code_version": code["text"],
        }
        if "bgnbd" in comparison:
            tags["kundresa.beats_bgnbd"] = str("bgnbd" not in beaten).lower()
        if code["git_commit"]:
            tags["mlflow.source.git.commit"] = code["git_commit"]
        mlflow.set_tags(tags)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plot_scores = {chosen: scores["model"]}
            if "bgnbd" in scores:
                plot_scores["bgnbd"] = scores["bgnbd"]
            for path in save_plots(y_test, plot_scores, importance, folder / "plots", spec.name):
                mlflow.log_artifact(str(path), artifact_path="plots")
            if not importance.empty:
                mlflow.log_dict(importance.round(6).to_dict(), "feature_importance.json")
            mlflow.log_dict(by_stage, "metrics_by_stage.json")
            # With their snapshot times: promotion keeps only rows neither version trained on.
            rows = X_test.assign(cutoff=test["cutoff"], label=y_test)
            rows.to_parquet(folder / "rows.parquet")
            mlflow.log_artifact(str(folder / "rows.parquet"), artifact_path="evaluation")

        X_learn = learn[features]
        validation_scores = model.predict_proba(validation[features])[:, 1]
        metadata = {
            META_TASK: spec.name,
            META_DEFINITION: definition.as_dict(),
            META_BASE_RATE: round(base_rates["test"], 6),
            META_FEATURES: list(features),
            META_RISK_BANDS: risk_bands(validation_scores),
            META_REFERENCE: reference_row(X_learn, dataset.categorical),
            "horizon_days": params["horizon_days"],
            "evaluation_cutoff": params["evaluation_cutoff"],
            "train_data_end": params["train_data_end"],
            "estimator": chosen,
            "code_version": code["text"],
        }
        example = X_learn.head(5)
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
                DEFINITION_TAG: json.dumps(definition.as_dict(), sort_keys=True),
                "estimator": chosen,
                "evaluation_cutoff": params["evaluation_cutoff"],
                "test_window_start": params["evaluation_cutoff"],
                "train_data_end": params["train_data_end"],
                f"evaluation_{PRIMARY_METRIC}": f"{overall[PRIMARY_METRIC]:.4f}",
                "evaluation_brier": f"{overall['brier']:.4f}",
                "base_rate": f"{base_rates['test']:.4f}",
                "code_version": code["text"],
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
        train_rows=len(fit_rows),
        evaluation_rows=len(test),
        evaluation_cutoff=dataset.evaluation_cutoff,
        stage_metrics=by_stage,
        definition=definition,
        base_rates=base_rates,
        validation=validation_metrics,
        validation_rows=len(validation),
        validation_start=validation_start,
        chosen_on=split.description,
        train_data_end=train_data_end,
        baselines=baselines,
        code_version=code["text"],
    )
    if register and _champion(MlflowClient(), spec.model_name) is None:
        if beaten:
            result.note = "not the champion: it does not beat " + ", ".join(
                f"{name} (ROC-AUC {baselines[name]['roc_auc']:.4f} vs {overall['roc_auc']:.4f})"
                for name in beaten
            )
            MlflowClient().set_model_version_tag(spec.model_name, version, "promotion", result.note)
        else:
            reason = "first model of this task" + (
                " and better than every baseline on the test window" if baselines else ""
            )
            _move_champion(MlflowClient(), spec.model_name, version, reason)
            result.promoted = True
    return result


@dataclass(frozen=True)
class ValidationSplit:
    """The rows a trainer fits on, the later rows it chooses on, and how they were split."""

    fit: pd.DataFrame
    validation: pd.DataFrame
    start: datetime  # the first validation snapshot
    # "horizon gap": every fit label window ends before the validation starts. With too
    # little history, "overlapping": some fit labels overlap the validation snapshots in time;
    # "random": one snapshot time only, a random quarter of its rows. The test window is
    # after all of them in every case.
    how: str = "horizon gap"

    @property
    def description(self) -> str:
        if self.how == "horizon gap":
            return "validation"
        if self.how == "overlapping":
            return "validation (overlapping labels: too little history for a gap of one horizon)"
        return "validation (a random quarter of the only training snapshot)"


def split_validation(dataset: Dataset) -> ValidationSplit:
    """The fit and validation rows of ``dataset``.

    A dataset without a validation part gets one carved from the latest fifth of its training
    snapshots (by ``cutoff``); only training rows whose label window ends before it are kept,
    so the validation labels say nothing the fit has seen. When the history is too short for
    that gap, the earlier snapshots are kept all the same and the split says so."""
    if dataset.validation is not None and len(dataset.validation):
        start = dataset.validation_cutoff or dataset.validation["cutoff"].min()
        return ValidationSplit(dataset.train, dataset.validation, _as_datetime(start))
    train = dataset.train
    cutoffs = train["cutoff"].sort_values()
    start = cutoffs.iloc[int(len(cutoffs) * (1 - VALIDATION_SHARE))]
    validation = train[train["cutoff"] >= start]
    fit_rows = train[train["cutoff"] + pd.Timedelta(dataset.horizon) <= start]
    how = "horizon gap"
    if not _both_classes(fit_rows):
        fit_rows, how = train[train["cutoff"] < start], "overlapping"
    if not _both_classes(fit_rows):
        chosen = np.random.default_rng(0).random(len(train)) < VALIDATION_SHARE
        fit_rows, validation, how = train[~chosen], train[chosen], "random"
        start = train["cutoff"].min()
    for part, what in ((fit_rows, "training"), (validation, "validation")):
        if not _both_classes(part):
            raise NotEnoughData(
                f"the {what} rows before {dataset.evaluation_cutoff:%Y-%m-%d} have one class "
                "only; use more history or a later --cutoff"
            )
    return ValidationSplit(fit_rows, validation, _as_datetime(start), how)


def _both_classes(rows: pd.DataFrame) -> bool:
    return rows["label"].nunique() == 2


def _train_data_end(dataset: Dataset, learn: pd.DataFrame) -> datetime:
    if dataset.train_data_end is not None:
        return _as_datetime(dataset.train_data_end)
    return _as_datetime(learn["cutoff"].max() + pd.Timedelta(dataset.horizon))


def _as_datetime(moment) -> datetime:
    return pd.Timestamp(moment).tz_convert(UTC).to_pydatetime()


def _stamp(moment: datetime) -> str:
    return f"{pd.Timestamp(moment):%Y-%m-%dT%H:%M:%SZ}"


def _days(definition: TaskDefinition) -> int | float:
    days = definition.horizon_days
    return int(days) if float(days).is_integer() else round(days, 4)


def code_version() -> dict[str, object]:
    """The installed ``kundresa`` version, and the git commit of the source checkout (and
    whether it has uncommitted changes) when the code runs from one."""
    try:
        package = installed_version("kundresa")
    except PackageNotFoundError:
        package = "unknown"
    root = Path(__file__).resolve().parent.parent
    commit, dirty = None, None
    if (root / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout.strip()  # fmt: skip
            status = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout.strip()  # fmt: skip
            dirty = bool(status)
        except (OSError, subprocess.SubprocessError):
            commit = None
    text = f"kundresa {package}"
    if commit:
        text += f" git {commit[:12]}" + (" (uncommitted changes)" if dirty else "")
    return {"package_version": package, "git_commit": commit, "git_dirty": dirty, "text": text}


def _per_stage_scores(
    learn: pd.DataFrame,
    test: pd.DataFrame,
    dataset: Dataset,
    fallback: np.ndarray,
    estimator: str,
    seed: int,
    max_iter: int,
) -> np.ndarray:
    """Test scores from one model per stage; stages too small keep the one-model score."""
    scores = fallback.copy()
    learn_stage = learn["stage"]
    test_stage = test["stage"].to_numpy()
    for stage in np.unique(test_stage):
        rows = learn[learn_stage == stage]
        if len(rows) < MIN_ROWS_PER_STAGE_MODEL or rows["label"].nunique() < 2:
            continue
        # Uncalibrated: HistGradientBoosting's log-loss scores are close to calibrated, and
        # this comparison should not cost three more fits per stage.
        model = make_classifier_pipeline(
            _informative(rows, dataset.numeric),
            dataset.categorical,
            estimator,
            seed,
            max_iter,
            **dataset.pipeline_options,
        )
        model.fit(rows[dataset.features], rows["label"].to_numpy())
        mask = test_stage == stage
        scores[mask] = model.predict_proba(test.loc[mask, dataset.features])[:, 1]
    return scores


def _informative(rows: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Numeric columns with at least one value: HistGradientBoosting cannot bin an all-missing
    column (a shop without surveys has no CSAT at all; a stage can lack checkout times)."""
    return [c for c in numeric if rows[c].notna().any()]


def risk_bands(scores: np.ndarray) -> dict[str, dict[str, float]]:
    """The task's one scale (``shared.risk_scale``) cut on ``scores``; the model service
    replaces it with the same scale cut on the scores it serves."""
    return {"default": cut_points(scores).as_dict()}


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
    reason: str | None = None,
) -> PromotionResult:
    """Move ``champion`` to ``version`` (default: the latest) when it answers the same question
    (task definition) as the current champion and is better on rows neither was trained on:
    the lower end of the 95 % bootstrap interval of the ROC-AUC difference above 0, and a
    Brier score not clearly worse. ``force`` (which needs a ``reason``) promotes anyway. The
    decision and its figures are recorded in the version's ``promotion`` tag either way.
    ``progress``/``say`` as for ``train``."""
    if force and not (reason and reason.strip()):
        raise ValueError("a forced promotion needs a reason")
    with _Steps(progress, say) as steps:
        return _promote(task, version, force, reason, tracking_uri, steps)


def _promote(
    task: str,
    version: str | int | None,
    force: bool,
    force_reason: str | None,
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
    champion_version = str(champion.version)

    def decide(better: bool, summary: str, **figures) -> PromotionResult:
        if better:
            reason = f"better: {summary}"
        elif force:
            reason = f"forced ({force_reason.strip()}): {summary}"
        else:
            reason = f"refused: {summary}"
        if better or force:
            _move_champion(client, name, version, reason)
        else:
            client.set_model_version_tag(name, version, "promotion", reason)
        return PromotionResult(
            spec.name, name, version, better or force, reason, champion_version, **figures
        )

    # Two definitions answer two questions: their metrics are not comparable.
    mine, theirs = _definition(client, name, version), _definition(client, name, champion_version)
    if mine is None or theirs is None or mine != theirs:
        return decide(
            False,
            f"the candidate predicts {_describe(mine)}, the champion v{champion_version} "
            f"{_describe(theirs)}; scores of different definitions are not comparable",
        )

    steps(f"downloading the evaluation rows of version {version}")
    rows = _evaluation_rows(client, candidate.run_id)
    ends = [_train_end(client, name, v) for v in (version, champion_version)]
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


def version_definition(model_name: str, version: str) -> TaskDefinition | None:
    """The task definition a registered version was trained for; None when not recorded."""
    return _definition(MlflowClient(), model_name, str(version))


def _definition(client: MlflowClient, model_name: str, version: str) -> TaskDefinition | None:
    tag = client.get_model_version(model_name, version).tags.get(DEFINITION_TAG)
    if tag:
        return TaskDefinition.from_dict(json.loads(tag))
    metadata = mlflow.models.get_model_info(f"models:/{model_name}/{version}").metadata or {}
    if META_DEFINITION in metadata:
        return TaskDefinition.from_dict(metadata[META_DEFINITION])
    return None


def _describe(definition: TaskDefinition | None) -> str:
    if definition is None:
        return "an unknown definition (none recorded)"
    return f'"{definition.summary()}" (definition revision {definition.revision})'


def _train_end(client: MlflowClient, model_name: str, version: str) -> datetime | None:
    tag = client.get_model_version(model_name, version).tags.get("train_data_end")
    return _as_datetime(tag) if tag else None


def _evaluation_rows(client: MlflowClient, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=tmp
        )
        return pd.read_parquet(path)


def _scores(model_name: str, version: str, rows: pd.DataFrame) -> np.ndarray | None:
    """A registered version's scores of ``rows``; None when it needs columns they lack."""
    info = mlflow.models.get_model_info(f"models:/{model_name}/{version}")
    features = (info.metadata or {}).get(META_FEATURES) or []
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
    definition = (
        TaskDefinition.from_dict(metadata[META_DEFINITION]) if META_DEFINITION in metadata else None
    )
    horizon_days = horizon_days or int(metadata.get("horizon_days", 90))
    if definition is not None and definition.task == "brand_switch":
        # A horizon other than the model's own asks another question of the same model.
        definition = default_definition("brand_switch", horizon_days)
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
                **(
                    {f"definition.{k}": v for k, v in definition.as_dict().items()}
                    if definition
                    else {}
                ),
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
        "definition": definition,
        "base_rate": float(y.mean()) if len(y) else math.nan,
        "overall": overall,
        "by_stage": by_stage,
    }
