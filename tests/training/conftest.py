"""Fixtures of the training tests: one synthetic shop and one trained model per session.

Training is the expensive part, so the synthetic database, the MLflow store and the trained
models are built once and shared; tests that change the registry (promotion) restore it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
def shop_mlflow(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Shop:
    """The shared store as the process default, as `kundresa` commands would see it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shop.mlflow_uri)
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", shop.artifact_root)
    return shop


def _train(shop: Shop, task: str):
    from training.registry import train

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = shop.mlflow_uri
    os.environ["MLFLOW_ARTIFACT_ROOT"] = shop.artifact_root
    try:
        return train(shop.database_url, task, progress=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def brand_switch_run(shop: Shop) -> Iterator:
    yield _train(shop, "brand_switch")


@pytest.fixture(scope="session")
def cart_run(shop: Shop) -> Iterator:
    yield _train(shop, "cart_abandonment")
