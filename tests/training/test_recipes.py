"""Every task has one recipe, found by the task or its name, and its pipeline takes its columns."""

from __future__ import annotations

import pytest

from shared.tasks import TASKS
from training.pipelines import make_task_pipeline
from training.recipes import recipe_for


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_a_recipe_is_found_by_the_task_or_its_name(task):
    recipe = recipe_for(task)
    assert recipe.task is task
    assert recipe_for(task.name) is recipe
    assert recipe_for(task.name.replace("_", "-")) is recipe


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_the_task_pipeline_takes_the_task_columns(task):
    pipeline = make_task_pipeline(task, estimator="logistic").estimator
    preprocessor = pipeline.named_steps["features"]
    columns = {c for _, _, cols in preprocessor.transformers for c in cols}
    assert columns == set(task.features)


def test_an_unknown_task_has_no_recipe():
    with pytest.raises(KeyError):
        recipe_for("no_such_task")
