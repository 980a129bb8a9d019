"""The compiled model (numpy arithmetic of the fitted pipeline) gives the pipeline's own
probabilities, or is not used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_service.champions import load_champion
from model_service.columns import as_columns, to_frame
from model_service.compiled import TOLERANCE, UNSEEN, compile_model, probe_columns
from training.pipelines import make_task_pipeline

TASKS = ("brand_switch", "cart_abandonment")


def _rows(dataset) -> pd.DataFrame:
    return pd.concat([dataset.train, dataset.evaluation])[dataset.features]


@pytest.mark.parametrize("task", TASKS)
def test_the_served_champion_is_compiled_and_equals_its_pipeline_on_every_row(
    trained, tmp_path, task: str
) -> None:
    served = load_champion(trained.settings(tmp_path), task)
    assert served.compiled is not None
    rows = _rows(trained.datasets[task])
    expected = served.model.predict_proba(rows)[:, 1]
    got = served.compiled.predict_proba(as_columns(rows, served.feature_columns))
    assert got is not None
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    assert np.array_equal(served.predict_proba(rows), got)


@pytest.mark.parametrize("task", TASKS)
def test_unseen_categories_and_missing_or_extreme_numbers_give_the_pipelines_answer(
    trained, tmp_path, task: str
) -> None:
    served = load_champion(trained.settings(tmp_path), task)
    dataset = trained.datasets[task]
    rows = _rows(dataset).sample(300, random_state=3, replace=True).reset_index(drop=True)
    rng = np.random.default_rng(4)
    for column in dataset.categorical:
        rows.loc[rng.random(len(rows)) < 0.2, column] = "a-category-never-seen"
    for column in dataset.numeric:
        rows.loc[rng.random(len(rows)) < 0.1, column] = np.nan
        rows.loc[rng.random(len(rows)) < 0.05, column] = 1e12
    expected = served.model.predict_proba(rows)[:, 1]
    got = served.predict_proba(as_columns(rows, served.feature_columns))
    assert np.max(np.abs(got - expected)) <= TOLERANCE


def test_a_categorical_value_that_is_not_a_string_goes_through_the_pipeline(
    trained, tmp_path
) -> None:
    served = load_champion(trained.settings(tmp_path), "brand_switch")
    rows = _rows(trained.datasets["brand_switch"]).head(20)
    columns = as_columns(rows, served.feature_columns)
    columns["segment"] = columns["segment"].copy()
    columns["segment"][3] = None
    assert served.compiled.predict_proba(columns) is None
    expected = served.model.predict_proba(to_frame(columns, served.feature_columns))[:, 1]
    assert np.array_equal(served.predict_proba(columns), expected)


def test_probe_rows_cover_every_category_and_an_unseen_one(trained, tmp_path) -> None:
    served = load_champion(trained.settings(tmp_path), "brand_switch")
    probe = probe_columns(served.compiled, served.feature_columns, served.reference_row)
    for block in served.compiled.blocks:
        assert set(probe[block.column]) == {*block.codes, UNSEEN}


def test_a_model_of_another_shape_is_not_compiled(trained) -> None:
    dataset = trained.datasets["brand_switch"]
    logistic = make_task_pipeline("brand_switch", estimator="logistic").fit(
        dataset.train[dataset.features], dataset.train["label"].to_numpy()
    )
    uncalibrated = logistic.calibrated_classifiers_[0].estimator
    for model in (logistic, uncalibrated):
        assert compile_model(model, dataset.features, {}) is None


def test_a_champion_that_cannot_be_compiled_is_served_through_its_pipeline(
    trained, tmp_path, make_app
) -> None:
    import json

    from shared.auth import create_token
    from tests.model_service.conftest import auth, register_model, set_champion

    dataset = trained.datasets["brand_switch"]
    logistic = make_task_pipeline("brand_switch", estimator="logistic").fit(
        dataset.train[dataset.features], dataset.train["label"].to_numpy()
    )
    version = register_model(
        trained.mlflow_uri, "brand_switch", logistic, dataset.features, dataset.train
    )
    set_champion(trained.mlflow_uri, "brand_switch", version)
    try:
        app = make_app(trained.settings(tmp_path))
    finally:
        set_champion(trained.mlflow_uri, "brand_switch", trained.versions["brand_switch"])
    headers = auth(create_token(trained.database_url, "agent", "support"))
    client = app.test_client()
    loaded = client.get("/v1/models", headers=headers).get_json()["models"]["brand_switch"]
    assert loaded["loaded"]["version"] == version and loaded["loaded"]["compiled"] is False
    rows = dataset.evaluation[dataset.features].head(10)
    records = json.loads(rows.to_json(orient="records"))
    answer = client.post("/v1/predict/brand-switch", json={"records": records}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    got = [p["probability"] for p in answer.get_json()["predictions"]]
    expected = logistic.predict_proba(pd.DataFrame(records))[:, 1]
    assert np.max(np.abs(np.array(got) - expected)) <= TOLERANCE
