"""Training a task: build its dataset, fit and compare the models, log the run, register the best.

Every dataset is split in time into a training window (fit), a validation window (choose the
model family and the risk-band fallback) and a test window (reported, and used by promotion).
The chosen family is refitted on training + validation, whose labels end before the test
window begins, and compared there with simple baselines on the same rows (and with the
recipe's extra baselines, such as BG/NBD for brand switch). Each run logs the task
definition, the base rates, the code version and the test rows with their snapshot times;
each registered version carries its definition, so ``training.promotion`` can refuse to swap
a model for one that answers another question.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from shared.drift import REFERENCE_ARTIFACT, TEST_ROWS, drift_reference
from shared.journey_frames import JourneyFrames
from shared.journey_loader import load_journey_frames
from shared.risk_scale import cut_points
from shared.tasks import (
    DEFINITION_TAG,
    META_BASE_RATE,
    META_DEFINITION,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    TaskDefinition,
    task_by_name,
)
from training.datasets import Dataset, NotEnoughData, as_utc_datetime
from training.evaluate import (
    PRIMARY_METRIC,
    classification_metrics,
    feature_importance,
    flat_metrics,
    is_better,
    metrics_by_stage,
    save_plots,
)
from training.mlflow_io import (
    champion_version,
    code_version,
    configure_mlflow,
    log_evaluation_rows,
    pip_requirements,
    skops_trusted_types,
    tag_version,
    task_experiment,
)
from training.pipelines import calibrated, make_classifier_pipeline
from training.progress import Steps
from training.promotion import move_champion
from training.recipes import recipe_for

MIN_ROWS_PER_STAGE_MODEL = 200
# Below this many training rows the fit is quick anyway; above it, fewer boosting rounds.
SMALL_DATA_ROWS = 20_000
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
    with Steps(progress, say) as steps:
        result = _train(
            database_url, task, tracking_uri, cutoff, horizon_days, seed, register, frames, steps
        )
    result.seconds = time.perf_counter() - started
    return result


def train_built(
    build: Callable[[Steps], Dataset],
    tracking_uri: str | None = None,
    horizon_days: int = 90,
    progress: bool = False,
    seed: int = 0,
    register: bool = True,
    say: Callable[[str], None] | None = None,
    run_params: dict[str, object] | None = None,
) -> TrainResult:
    """``train`` on a dataset another engine builds (``build(steps)``, e.g. on Spark): the same
    fit, evaluation, logging and registration, with ``run_params`` logged beside the run's."""
    started = time.perf_counter()
    with Steps(progress, say) as steps:
        uri = configure_mlflow(tracking_uri)
        dataset = build(steps)
        spec = task_by_name(dataset.task)
        result = fit_evaluate_log(
            dataset,
            uri,
            spec.horizon_days(horizon_days),
            seed,
            register,
            steps,
            frames=None,
            run_params=run_params if run_params is not None else {},
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
    steps: Steps,
) -> TrainResult:
    spec = task_by_name(task)
    recipe = recipe_for(spec)
    horizon_days = spec.horizon_days(horizon_days)
    uri = configure_mlflow(tracking_uri)

    if frames is None:
        steps("reading journey events")
        frames = load_journey_frames(database_url, datetime.now(UTC))
    dataset = recipe.dataset(frames, horizon_days, cutoff, seed, steps)
    return fit_evaluate_log(
        dataset,
        uri,
        horizon_days,
        seed,
        register,
        steps,
        frames=frames,
        run_params={"engine": "local"},
    )


def fit_evaluate_log(
    dataset: Dataset,
    uri: str,
    horizon_days: int,
    seed: int,
    register: bool,
    steps: Steps,
    *,
    frames: JourneyFrames | None,
    run_params: dict[str, object],
) -> TrainResult:
    """Fit, compare, log and register on a built ``dataset``: the one step both engines share.

    ``frames`` are the events in memory for the recipe's extra baselines (BG/NBD); without them
    (the Spark engine) those baselines are left out and ``extra_baselines_skipped`` says so.
    ``run_params`` are logged beside the run's own (the engine and its sample)."""
    spec = task_by_name(dataset.task)
    recipe = recipe_for(spec)
    definition = dataset.definition or spec.definition(horizon_days)
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
    extra_params: dict[str, object] = {}
    extras = recipe.extra_baselines if frames is not None else ()
    if len(extras) < len(recipe.extra_baselines):
        extra_params["extra_baselines_skipped"] = ",".join(
            extra.name for extra in recipe.extra_baselines
        )
    for extra in extras:
        steps(f"fitting the {extra.name} baseline")
        scores[extra.name], fitted = extra.score(
            frames, dataset.evaluation_cutoff, X_test.index, horizon_days
        )
        extra_params |= {f"{extra.name}_{k}": v for k, v in fitted.items()}
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
    experiment_id = task_experiment(spec.name, uri)
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
            **run_params,
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
        if extra_params:
            mlflow.log_params(extra_params)
        design = "one_model_with_stage"
        if "per_stage" in comparison and is_better(comparison["per_stage"], overall):
            design = "one_model_per_stage"
        tags = {
            "kundresa.task": spec.name,
            "kundresa.better_design": design,
            "kundresa.beats_baselines": str(not beaten).lower(),
            "kundresa.code_version": code["text"],
        }
        for extra in extras:
            tags[f"kundresa.beats_{extra.name}"] = str(extra.name not in beaten).lower()
        if code["git_commit"]:
            tags["mlflow.source.git.commit"] = code["git_commit"]
        mlflow.set_tags(tags)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plot_scores = {chosen: scores["model"]}
            plot_scores |= {extra.name: scores[extra.name] for extra in extras}
            for path in save_plots(y_test, plot_scores, importance, folder / "plots", spec.name):
                mlflow.log_artifact(str(path), artifact_path="plots")
            if not importance.empty:
                mlflow.log_dict(importance.round(6).to_dict(), "feature_importance.json")
            mlflow.log_dict(by_stage, "metrics_by_stage.json")
        # With their snapshot times: promotion keeps only rows neither version trained on.
        rows = X_test.assign(cutoff=test["cutoff"], label=y_test)
        log_evaluation_rows(rows, spec.evaluation_artifact)

        X_learn = learn[features]
        validation_scores = model.predict_proba(validation[features])[:, 1]
        # What the worker's drift check compares each scoring with: the bins and shares of
        # every feature and of the model's score on the test window (no ids). Those rows are
        # the newest the run had and their scores are out of sample, like a scoring's; the
        # rows it learned from span every snapshot of the history and carry in-sample scores,
        # so against them nearly every scoring looked drifted.
        mlflow.log_dict(
            drift_reference(X_test, dataset.categorical, scores["model"], rows=TEST_ROWS),
            REFERENCE_ARTIFACT,
        )
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
        example = X_learn.head(5).reset_index(drop=True)  # an example, not whose it is
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            registered_model_name=spec.model_name if register else None,
            metadata=metadata,
            serialization_format="skops",
            skops_trusted_types=skops_trusted_types(model),
            pip_requirements=pip_requirements(),
            pyfunc_predict_fn="predict_proba",
        )
        run_id = run.info.run_id
        if register:
            version = str(info.registered_model_version)
            tag_version(
                spec.model_name,
                version,
                {
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
                },
            )

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
    if register and champion_version(spec) is None:
        if beaten:
            result.note = "not the champion: it does not beat " + ", ".join(
                f"{name} (ROC-AUC {baselines[name]['roc_auc']:.4f} vs {overall['roc_auc']:.4f})"
                for name in beaten
            )
            tag_version(spec.model_name, version, {"promotion": result.note})
        else:
            reason = "first model of this task" + (
                " and better than every baseline on the test window" if baselines else ""
            )
            move_champion(MlflowClient(), spec, version, reason)
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
        return ValidationSplit(dataset.train, dataset.validation, as_utc_datetime(start))
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
    return ValidationSplit(fit_rows, validation, as_utc_datetime(start), how)


def _both_classes(rows: pd.DataFrame) -> bool:
    return rows["label"].nunique() == 2


def _train_data_end(dataset: Dataset, learn: pd.DataFrame) -> datetime:
    if dataset.train_data_end is not None:
        return as_utc_datetime(dataset.train_data_end)
    return as_utc_datetime(learn["cutoff"].max() + pd.Timedelta(dataset.horizon))


def _stamp(moment: datetime) -> str:
    return f"{pd.Timestamp(moment):%Y-%m-%dT%H:%M:%SZ}"


def _days(definition: TaskDefinition) -> int | float:
    days = definition.horizon_days
    return int(days) if float(days).is_integer() else round(days, 4)


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
