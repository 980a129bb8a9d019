"""Fixtures of the model-service tests.

``trained`` is the expensive one, built once per session: a SQLite database of synthetic
journeys, a small model per task fitted on the training code's time-split datasets and
pipelines and registered as ``@champion`` in a real MLflow store with the metadata the
trainer writes, and every customer and open cart scored as of the end of the data.
(``training.train.train_task`` also fits baselines, per-stage models and plots: a minute
we cannot spend here; the demo end-to-end test runs it with this service.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from model_service.app import create_app
from shared.auth import create_token
from shared.db.session import dispose_engines
from shared.settings import Settings
from shared.tasks import (
    CHAMPION_ALIAS,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    TASKS,
)
from tests.conftest import make_settings, make_sqlite_url

SYNTH_END = datetime(2026, 10, 1, tzinfo=UTC)
SYNTH_CUSTOMERS = 700
SYNTH_DAYS = 300


def register_model(
    tracking_uri: str, task: str, model, features: list[str], train, metadata: dict | None = None
) -> str:
    """Log ``model`` as the trainer does (skops, signature, our metadata) and register it;
    returns the new version. ``metadata`` overrides keys (to make a broken model)."""
    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    from shared.cart_features import CART_CATEGORICAL
    from shared.customer_features import CUSTOMER_CATEGORICAL
    from shared.risk_scale import cut_points
    from training.mlflow_io import task_experiment as _experiment
    from training.train import reference_row

    spec = TASKS[task]
    sample = train[features]
    meta = {
        META_TASK: task,
        META_FEATURES: list(features),
        META_RISK_BANDS: {"default": cut_points(model.predict_proba(sample)[:, 1]).as_dict()},
        META_REFERENCE: reference_row(
            sample, CUSTOMER_CATEGORICAL if task == "brand_switch" else CART_CATEGORICAL
        ),
    }
    meta.update(metadata or {})
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    # The trainer's experiment, whose artifacts go to MLFLOW_ARTIFACT_ROOT (the default
    # experiment would put them in ./mlruns of the checkout).
    with mlflow.start_run(experiment_id=_experiment(task, tracking_uri)):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(sample.head(5), model.predict_proba(sample.head(5))),
            registered_model_name=spec.model_name,
            metadata=meta,
            serialization_format="skops",
            skops_trusted_types=sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model))),
            pip_requirements=["scikit-learn"],
            pyfunc_predict_fn="predict_proba",
        )
    return str(info.registered_model_version)


def set_champion(tracking_uri: str, task: str, version: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(TASKS[task].model_name, CHAMPION_ALIAS, version)


@dataclass(frozen=True)
class Trained:
    folder: Path
    database_url: str
    mlflow_uri: str
    artifact_root: str
    end: datetime
    versions: dict[str, str]
    datasets: dict

    def settings(self, tmp_path: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "mlflow_tracking_uri": self.mlflow_uri,
            "mlflow_artifact_root": self.artifact_root,
        }
        values.update(overrides)
        return make_settings(tmp_path, str(values.pop("database_url", self.database_url)), **values)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    from model_service.scoring import score_all
    from shared.journey_loader import load_journey_frames
    from training.datasets import brand_switch_dataset, cart_abandonment_dataset
    from training.pipelines import make_task_pipeline
    from training.synth import generate

    folder = tmp_path_factory.mktemp("trained")
    database_url = make_sqlite_url(folder)
    mlflow_uri = f"sqlite:///{folder / 'mlflow.db'}"
    artifact_root = (folder / "mlartifacts").as_uri()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
    os.environ["MLFLOW_ARTIFACT_ROOT"] = artifact_root
    try:
        generate(
            database_url,
            customers=SYNTH_CUSTOMERS,
            days=SYNTH_DAYS,
            seed=11,
            end=SYNTH_END,
            progress=False,
        )
        frames = load_journey_frames(database_url, SYNTH_END)
        datasets = {
            "brand_switch": brand_switch_dataset(frames),
            "cart_abandonment": cart_abandonment_dataset(frames),
        }
        versions = {}
        for task, dataset in datasets.items():
            model = make_task_pipeline(task, max_iter=30).fit(
                dataset.train[dataset.features], dataset.train["label"].to_numpy()
            )
            versions[task] = register_model(
                mlflow_uri, task, model, dataset.features, dataset.train
            )
            set_champion(mlflow_uri, task, versions[task])
        settings = make_settings(
            folder,
            database_url,
            mlflow_tracking_uri=mlflow_uri,
            mlflow_artifact_root=artifact_root,
        )
        for task in versions:
            score_all(settings, task, as_of=SYNTH_END, progress=False)
        yield Trained(
            folder, database_url, mlflow_uri, artifact_root, SYNTH_END, versions, datasets
        )
    finally:
        import mlflow

        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # register_model pointed MLflow's process-wide URIs here; give them back.
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(saved["MLFLOW_TRACKING_URI"])
        dispose_engines()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_app():
    """Build model-service apps; their pollers are stopped when the test ends."""
    apps: list[Flask] = []

    def build(settings: Settings, start_polling: bool = False) -> Flask:
        app = create_app(settings, start_polling=start_polling)
        app.testing = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["kundresa_models"].stop_polling()


@pytest.fixture
def support_token():
    def make(database_url: str) -> str:
        return create_token(database_url, name="agent@shop.example", role="support")

    return make


# The model service on the trained store, and a support agent's token for it.


@pytest.fixture
def app(trained, tmp_path: Path, make_app):
    return make_app(trained.settings(tmp_path))


@pytest.fixture
def headers(trained) -> dict[str, str]:
    return auth(create_token(trained.database_url, "agent", "support"))
