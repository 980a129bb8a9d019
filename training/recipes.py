"""How each task is trained: its dataset, its test rows, its pipeline and its extra baselines.

``shared.tasks.Task`` holds what trainer and server agree on; what only training needs is
here, keyed by the task (``shared`` may not import ``training``). Code asks the recipe of a
task rather than comparing the task's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV

from shared.journey_frames import JourneyFrames
from shared.tasks import BRAND_SWITCH, CART_ABANDONMENT, Task, task_by_name
from training import bgnbd
from training.datasets import (
    Dataset,
    brand_switch_dataset,
    brand_switch_evaluation,
    cart_abandonment_dataset,
    cart_abandonment_evaluation,
)
from training.pipelines import make_brand_switch_pipeline, make_cart_abandonment_pipeline

Progress = Callable[[str], None] | None
# (frames, horizon_days, cutoff, seed, progress) -> the task's training, validation, test rows
DatasetFactory = Callable[[JourneyFrames, int, datetime | None, int, Progress], Dataset]
# (frames, horizon_days, cutoff, progress) -> the test rows alone, and where they start
EvaluationFactory = Callable[
    [JourneyFrames, int, datetime | None, Progress], tuple[pd.DataFrame, pd.Timestamp]
]
# (estimator, random_state, max_iter) -> the calibrated pipeline over the task's features
PipelineFactory = Callable[..., CalibratedClassifierCV]


@dataclass(frozen=True)
class Baseline:
    """A baseline that is not a fit on feature columns: scored from the events themselves.

    ``score(frames, evaluation_cutoff, index, horizon_days)`` returns the scores of the test
    rows in ``index`` and the fitted parameters to log (as ``<name>_<parameter>``).
    """

    name: str
    score: Callable[[JourneyFrames, datetime, pd.Index, int], tuple[np.ndarray, dict[str, float]]]


@dataclass(frozen=True)
class Recipe:
    """What training needs of one task beyond the ``Task`` itself."""

    task: Task
    dataset: DatasetFactory
    evaluation_rows: EvaluationFactory
    pipeline: PipelineFactory
    extra_baselines: tuple[Baseline, ...] = ()


def _brand_switch_dataset(frames, horizon_days, cutoff, seed, progress) -> Dataset:
    return brand_switch_dataset(
        frames, horizon_days=horizon_days, cutoff=cutoff, seed=seed, progress=progress
    )


def _brand_switch_evaluation(frames, horizon_days, cutoff, progress):
    return brand_switch_evaluation(frames, horizon_days, cutoff, progress)


def _bgnbd_scores(frames, evaluation_cutoff, index, horizon_days):
    scores, fitted = bgnbd.churn_scores(frames, evaluation_cutoff, index, horizon_days)
    return scores.to_numpy(), {k: round(v, 5) for k, v in vars(fitted).items()}


# The cart horizon is the task's own (not configurable): the factories take and ignore it so
# every recipe is called alike.
def _cart_abandonment_dataset(frames, horizon_days, cutoff, seed, progress) -> Dataset:
    return cart_abandonment_dataset(frames, cutoff=cutoff, seed=seed, progress=progress)


def _cart_abandonment_evaluation(frames, horizon_days, cutoff, progress):
    return cart_abandonment_evaluation(frames, cutoff, progress=progress)


def _brand_switch_pipeline(estimator="hgb", random_state=0, max_iter=150):
    return make_brand_switch_pipeline(estimator, random_state, max_iter)


RECIPES: dict[str, Recipe] = {
    recipe.task.name: recipe
    for recipe in (
        Recipe(
            task=BRAND_SWITCH,
            dataset=_brand_switch_dataset,
            evaluation_rows=_brand_switch_evaluation,
            pipeline=_brand_switch_pipeline,
            extra_baselines=(Baseline("bgnbd", _bgnbd_scores),),
        ),
        Recipe(
            task=CART_ABANDONMENT,
            dataset=_cart_abandonment_dataset,
            evaluation_rows=_cart_abandonment_evaluation,
            pipeline=make_cart_abandonment_pipeline,
        ),
    )
}


def recipe_for(task: str | Task) -> Recipe:
    """The recipe of a task or task name; KeyError when unknown."""
    return RECIPES[task_by_name(task).name]
