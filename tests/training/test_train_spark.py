"""``kundresa train --engine spark``: both tasks' snapshots built on Spark equal the in-process
ones, and the run fitted on their sample says so in its params.

The synthetic shop of the training tests (SQLite, so Spark reads it through a Parquet export)
is built into a dataset both ways, with a sample large enough to keep every row: the same rows
in each part, the same labels and cutoffs, every feature within 1e-9 (order-independent); for
brand switch over JDBC from a PostgreSQL copy too. Then ``kundresa train --engine spark``
registers a version of each task in a fresh MLflow store, on a sample smaller than the data.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from shared.spark.session import java_executable
from shared.tasks import task_by_name
from tests.conftest import journey_tables_on_postgres
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


def _spark():
    """This worker's session, with the JDBC driver on its classpath when the machine has it
    (as `kundresa train` makes it: the first session of a process is the one it keeps)."""
    from shared.spark.session import DEFAULT_JDBC_JAR, spark_session

    jars = [DEFAULT_JDBC_JAR] if DEFAULT_JDBC_JAR.is_file() else []
    return spark_session(MASTER, app_name="kundresa test train", jars=jars)


def _both_ways(local_url: str, spark_url: str, scratch, task: str = "brand_switch"):
    """The in-process dataset of ``task`` read from ``local_url`` and the Spark one read from
    ``spark_url``, every row kept."""
    from shared.journey_loader import load_journey_frames
    from shared.spark.sources import read_tables
    from training.datasets import brand_switch_dataset, cart_abandonment_dataset
    from training.spark_train import spark_brand_switch_dataset, spark_cart_dataset

    now = datetime.now(UTC)
    frames = load_journey_frames(local_url, now)
    tables = read_tables(_spark(), spark_url, None, scratch, now)
    if task == "cart_abandonment":
        expected = cart_abandonment_dataset(frames, max_train_rows=None, max_eval_rows=None)
        return expected, spark_cart_dataset(tables, now, sample_rows=10**7, seed=0)
    expected = brand_switch_dataset(frames, horizon_days=90, max_train_rows=None, seed=0)
    got = spark_brand_switch_dataset(tables, horizon_days=90, sample_rows=10**7, seed=0)
    return expected, got


def _assert_same_dataset(expected, got) -> None:
    assert got.train_cutoffs == expected.train_cutoffs
    assert got.validation_cutoff == expected.validation_cutoff
    assert got.evaluation_cutoff == expected.evaluation_cutoff
    assert got.features == expected.features
    for what in ("train", "validation", "evaluation"):
        _same_part(getattr(expected, what), getattr(got, what), got.features, got.categorical, what)


@needs_java
def test_the_spark_dataset_equals_the_in_process_dataset(shop, tmp_path):
    expected, got = _both_ways(shop.database_url, shop.database_url, tmp_path / "export")

    _assert_same_dataset(expected, got)
    total = len(expected.train) + len(expected.validation) + len(expected.evaluation)
    assert got.params["rows_total"] == got.params["rows_sampled"] == total
    assert got.params["sample_fraction"] == 1.0
    assert "test window kept whole" in got.params["sampling"]


@needs_java
def test_the_spark_cart_dataset_equals_the_in_process_dataset(shop, tmp_path):
    """Every cart at every decision moment of each window, with its visitor, owner, moment,
    label and features: the same whether one process or Spark's groups of people built it."""
    expected, got = _both_ways(
        shop.database_url, shop.database_url, tmp_path / "x", "cart_abandonment"
    )

    _assert_same_dataset(expected, got)
    assert got.train_data_end == expected.train_data_end
    for what in ("train", "validation", "evaluation"):
        left, right = getattr(expected, what), getattr(got, what)
        assert list(right.columns) == list(left.columns), what
        right = right.loc[left.index]
        for column in ("moment", "visitor_id", "customer_id"):
            assert list(right[column]) == list(left[column]), (what, column)
    total = len(expected.train) + len(expected.validation) + len(expected.evaluation)
    assert got.params["rows_total"] == got.params["rows_sampled"] == total
    assert {k: got.params[k] for k in expected.params} == expected.params


@needs_java
def test_the_spark_dataset_read_over_jdbc_equals_the_in_process_dataset(
    shop, tmp_path, postgres_template
):
    """The shop copied into PostgreSQL and read by Spark over JDBC (the path of a production
    database) gives the dataset one process reads from the SQLite original."""
    from shared.spark.session import DEFAULT_JDBC_JAR

    if not DEFAULT_JDBC_JAR.is_file():  # scripts/ensure-jdbc-driver installs it where it may
        pytest.skip("no PostgreSQL JDBC driver: apt-get install libpostgresql-jdbc-java")
    with journey_tables_on_postgres(shop.database_url, postgres_template) as url:
        expected, got = _both_ways(shop.database_url, url, tmp_path / "scratch")
    _assert_same_dataset(expected, got)


def _train(shop, tmp_path, task: str, *extra: str) -> dict[str, str]:
    """``kundresa train --engine spark`` of ``task`` into a fresh store; its run's params."""
    from training.cli import train

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_store(uri, (tmp_path / "artifacts").as_uri()):
        result = CliRunner().invoke(
            train,
            [
                "--task",
                task,
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
        name = task_by_name(task).model_name
        versions = client.search_model_versions(f"name='{name}'")
        assert len(versions) == 1, result.output
        params = client.get_run(versions[0].run_id).data.params
    return params


@needs_java
def test_train_on_spark_registers_a_version_whose_params_say_so_and_its_sample(shop, tmp_path):
    # One run on a sample smaller than the data (the whole-data sample is the dataset test's):
    # each Spark run of this shop costs about a minute.
    params = _train(shop, tmp_path, "brand_switch", "--sample-rows", "3000")
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
def test_train_carts_on_spark_registers_a_version_whose_params_say_so(shop, tmp_path):
    params = _train(shop, tmp_path, "cart_abandonment", "--sample-rows", "4000")
    assert params["engine"] == "spark"
    assert params["task"] == "cart_abandonment"
    assert "uniform" in params["sampling"]
    assert int(params["rows_sampled"]) <= 4000 < int(params["rows_total"])
    assert float(params["sample_fraction"]) < 1.0


@needs_java
def test_a_group_of_people_without_a_cart_gives_spark_no_rows():
    """A group whose people never filled a cart (common with many groups) yields an empty
    frame typed as the schema says: Arrow refuses untyped empty columns."""
    from shared.spark import features as spark_features
    from training.datasets import cart_windows
    from training.spark_train import _cart_schema, cart_rows_of_group

    columns = [
        *spark_features._EVENT_COLUMNS,
        *spark_features._RESPONSE_COLUMNS,
        *spark_features._CUSTOMER_COLUMNS,
    ]
    blank = dict.fromkeys(columns)
    at = pd.Timestamp("2026-03-01", tz="UTC")
    group = pd.DataFrame(
        [
            {
                **blank,
                "_t": "e",
                "customer_id": "c1",
                "type": "page_view",
                "stage": "interest",
                "occurred_at": at,
            },
            {**blank, "_t": "u", "customer_id": "c1", "segment": "regular", "locale": "en"},
        ]  # fmt: skip
    )
    windows = cart_windows(
        pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")
    )
    rows = cart_rows_of_group(group, windows, datetime(2026, 7, 1, tzinfo=UTC))
    assert rows.empty
    assert list(rows.columns) == _cart_schema().fieldNames()

    groups = _spark().createDataFrame(pd.DataFrame({"_bucket": [0, 1]}))
    built = groups.groupBy("_bucket").applyInPandas(lambda _: rows, schema=_cart_schema())
    assert built.count() == 0
