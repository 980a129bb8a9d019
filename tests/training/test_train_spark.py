"""``kundresa train --engine spark``: brand switch's snapshots built on Spark equal the in-process
ones, and the run fitted on their sample says so in its params.

The synthetic shop of the training tests (SQLite, so Spark reads it through a Parquet export)
is built into a dataset both ways, with a sample large enough to keep every row: the same rows
in each part, the same labels and cutoffs, every feature within 1e-9 (order-independent). Then
``kundresa train --engine spark`` registers a version in a fresh MLflow store, once keeping
every row and once on a smaller sample.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from shared.spark.session import java_executable
from tests.training.conftest import mlflow_store

needs_java = pytest.mark.skipif(
    java_executable() is None,
    reason="Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)",
)

MASTER = "local[2]"


def _same_part(expected: pd.DataFrame, got: pd.DataFrame, features, categorical, what: str):
    assert len(expected), f"the in-process {what} part is empty"
    assert set(got.index) == set(expected.index), what
    assert got.index.is_unique, what
    got = got.loc[expected.index]
    assert (got["label"].to_numpy() == expected["label"].to_numpy()).all(), what
    assert (
        pd.to_datetime(got["cutoff"], utc=True).to_numpy()
        == pd.to_datetime(expected["cutoff"], utc=True).to_numpy()
    ).all(), what
    for name in features:
        if name in categorical:
            left = expected[name].astype(object).where(expected[name].notna(), None)
            right = got[name].astype(object).where(got[name].notna(), None)
            assert [str(v) for v in left] == [str(v) for v in right], (what, name)
        else:
            left = expected[name].to_numpy(dtype=float)
            right = got[name].to_numpy(dtype=float)
            assert (np.isnan(left) == np.isnan(right)).all(), (what, name)
            both = ~np.isnan(left)
            if both.any():
                assert np.max(np.abs(left[both] - right[both])) < 1e-9, (what, name)


@needs_java
def test_the_spark_dataset_equals_the_in_process_dataset(shop, tmp_path):
    from shared.journey_loader import load_journey_frames
    from shared.spark.session import spark_session
    from shared.spark.sources import read_tables
    from training.datasets import brand_switch_dataset
    from training.spark_train import spark_brand_switch_dataset

    now = datetime.now(UTC)
    frames = load_journey_frames(shop.database_url, now)
    expected = brand_switch_dataset(frames, horizon_days=90, max_train_rows=None, seed=0)
    spark = spark_session(MASTER, app_name="kundresa test train")
    tables = read_tables(spark, shop.database_url, None, tmp_path / "export", now)
    got = spark_brand_switch_dataset(tables, horizon_days=90, sample_rows=10**7, seed=0)

    assert got.train_cutoffs == expected.train_cutoffs
    assert got.validation_cutoff == expected.validation_cutoff
    assert got.evaluation_cutoff == expected.evaluation_cutoff
    assert got.features == expected.features
    for what in ("train", "validation", "evaluation"):
        _same_part(getattr(expected, what), getattr(got, what), got.features, got.categorical, what)
    total = len(expected.train) + len(expected.validation) + len(expected.evaluation)
    assert got.params["rows_total"] == got.params["rows_sampled"] == total
    assert got.params["sample_fraction"] == 1.0
    assert "test window kept whole" in got.params["sampling"]


def _train(shop, tmp_path, *extra: str) -> dict[str, str]:
    """``kundresa train --engine spark`` into a fresh store; the params of its run."""
    from training.cli import train

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_store(uri, (tmp_path / "artifacts").as_uri()):
        result = CliRunner().invoke(
            train,
            [
                "--task",
                "brand_switch",
                "--engine",
                "spark",
                "--master",
                MASTER,
                "--database-url",
                shop.database_url,
                "--tracking-uri",
                uri,
                "--quiet",
                *extra,
            ],  # fmt: skip
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        client = MlflowClient(uri, uri)
        versions = client.search_model_versions("name='kundresa-brand-switch'")
        assert len(versions) == 1, result.output
        params = client.get_run(versions[0].run_id).data.params
    return params


@needs_java
def test_train_on_spark_registers_a_version_whose_params_say_so_and_its_sample(shop, tmp_path):
    # One run on a sample smaller than the data (the whole-data sample is the dataset test's):
    # each Spark run of this shop costs about a minute.
    params = _train(shop, tmp_path, "--sample-rows", "3000")
    assert params["engine"] == "spark"
    assert params["master"] == MASTER
    assert "uniform" in params["sampling"]
    assert params["extra_baselines_skipped"] == "bgnbd"
    assert int(params["rows_sampled"]) <= 3000 < int(params["rows_total"])
    assert float(params["sample_fraction"]) < 1.0


def test_no_java_is_one_line_before_any_work(shop, tmp_path, monkeypatch):
    from training.cli import train

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(
        train,
        ["--task", "brand_switch", "--engine", "spark", "--database-url", shop.database_url,
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Spark needs a Java 17 runtime and none was found (set JAVA_HOME or install one: "
        "apt-get install openjdk-17-jre-headless)"
    ]
    assert not (tmp_path / "mlflow.db").exists()  # nothing was started


@needs_java
def test_cart_abandonment_is_refused_on_spark_in_one_line(shop, tmp_path):
    from training.cli import train

    result = CliRunner().invoke(
        train,
        ["--task", "cart_abandonment", "--engine", "spark", "--database-url", shop.database_url,
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "not trained on Spark yet" in result.output
