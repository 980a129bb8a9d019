"""Fixtures of the training tests: one synthetic shop and one trained model per session.

Training is the expensive part, so the synthetic database, the MLflow store and the trained
models are built once and shared; tests that change the registry (promotion) restore it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_sqlite_url

END = datetime(2026, 10, 1, tzinfo=UTC)
CUSTOMERS = 1200
DAYS = 365


@dataclass(frozen=True)
class Shop:
    folder: Path
    database_url: str
    mlflow_uri: str
    artifact_root: str


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A SQLite database of synthetic journeys and an empty MLflow store beside it."""
    from training.synth import generate

    folder = tmp_path_factory.mktemp("training-shop")
    database_url = make_sqlite_url(folder)
    generate(database_url, customers=CUSTOMERS, days=DAYS, seed=5, end=END, progress=False)
    return Shop(
        folder,
        database_url,
        f"sqlite:///{folder / 'mlflow.db'}",
        (folder / "mlartifacts").as_uri(),
    )


@pytest.fixture
def shop_mlflow(shop: Shop) -> Iterator[Shop]:
    """The shared store as the process default, as `kundresa` commands would see it.

    Globals as well as the environment: an earlier test in the same worker may have left
    mlflow's process-wide tracking URI on another store, and the globals win over the
    environment (see ``mlflow_store``).
    """
    with mlflow_store(shop.mlflow_uri, shop.artifact_root):
        yield shop


MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ARTIFACT_ROOT")


@contextmanager
def mlflow_store(tracking_uri: str, artifact_root: str) -> Iterator[None]:
    """Make a store the process default, as `kundresa` commands would see it, and give back
    what was there before.

    MLflow's tracking and registry URIs are process-wide: ``mlflow.set_tracking_uri`` and
    ``set_registry_uri`` (which ``training.mlflow_io.configure_mlflow`` calls) set module
    globals *and* environment variables, and MLFLOW_REGISTRY_URI then wins over everything
    else. Restoring only the environment would leave later tests talking to this store.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {key: os.environ.get(key) for key in MLFLOW_ENV}
    saved_tracking, saved_registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    # Set even if the globals already held this store: they then leave the environment alone,
    # and code that reads it (``configure_mlflow``) would fall back to var/.
    os.environ["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_REGISTRY_URI"] = tracking_uri
    os.environ["MLFLOW_ARTIFACT_ROOT"] = artifact_root
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        mlflow.set_registry_uri(saved_registry)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _train(shop: Shop, task: str):
    from training.train import train

    with mlflow_store(shop.mlflow_uri, shop.artifact_root):
        return train(shop.database_url, task, progress=False)


@pytest.fixture(scope="session")
def brand_switch_run(shop: Shop) -> Iterator:
    yield _train(shop, "brand_switch")


@pytest.fixture(scope="session")
def cart_run(shop: Shop) -> Iterator:
    yield _train(shop, "cart_abandonment")


def register_constant_model(model_name: str, run_id: str, features: list[str], folder: Path) -> str:
    """Register a model that predicts the base rate for everyone (worse than any trained one),
    logged like the trainer's, with the same evaluation rows, task definition and end of
    training data as the version trained in ``run_id``, in the current default store. Returns
    its version."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.dummy import DummyClassifier

    from shared.tasks import DEFINITION_TAG, EVALUATION_ARTIFACT, META_FEATURES, META_TASK

    rows = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=str(folder)
        )
    )
    model = DummyClassifier(strategy="prior").fit(rows[features], rows["label"])
    path = folder / "rows.parquet"
    rows.to_parquet(path)
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_param("evaluation_cutoff", "the champion's")
        mlflow.log_artifact(str(path), "evaluation")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=model_name,
            metadata={META_TASK: "brand_switch", META_FEATURES: features},
            serialization_format="skops",
            pip_requirements=["scikit-learn"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    [source] = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    for key in (DEFINITION_TAG, "train_data_end"):
        client.set_model_version_tag(model_name, version, key, source.tags[key])
    return version
