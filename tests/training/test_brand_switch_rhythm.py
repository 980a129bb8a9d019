"""Brand switch with the customer's purchase rhythm: the BG/NBD step travels with the model
(skops), behaves as buy-till-you-die says, and on the synthetic shop the model separates
switchers from stayers and recovers the planted effects."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import skops.io

from shared.customer_features import CUSTOMER_FEATURES
from shared.journey_loader import load_journey_frames
from training.datasets import Dataset, brand_switch_dataset
from training.evaluate import classification_metrics
from training.pipelines import calibrated, make_classifier_pipeline
from training.rhythm import RHYTHM_FEATURES, PurchaseRhythm

HORIZON_DAYS = 90


def _customers(frequency, recency_days, first_purchase_days) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": np.asarray(frequency, dtype=float),
            "recency_days": np.asarray(recency_days, dtype=float),
            "first_purchase_days": np.asarray(first_purchase_days, dtype=float),
        }
    )


def _simulated_buyers(customers: int = 2000, seed: int = 3) -> pd.DataFrame:
    """Buyers who purchase every ~30 days and may leave after each order, seen for a year."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(customers):
        first = rng.uniform(1, 365)
        t, last, count = first, first, 1
        while rng.random() > 0.15:
            t -= rng.exponential(30)
            if t <= 0:
                break
            last, count = t, count + 1
        rows.append((count, last, first))
    return _customers(*zip(*rows, strict=True))


def test_p_alive_falls_as_a_repeat_buyer_stays_silent_past_their_rhythm():
    rhythm = PurchaseRhythm(HORIZON_DAYS).fit(_simulated_buyers())
    # Five orders over 200 days, the last 10, 60, 120 or 190 days ago.
    silent = _customers([5, 5, 5, 5], [10, 60, 120, 190], [200, 200, 200, 200])
    out = rhythm.transform(silent)
    assert list(out.columns) == [*silent.columns, *RHYTHM_FEATURES]
    alive = out["p_alive"].to_numpy()
    assert ((alive >= 0) & (alive <= 1)).all()
    assert (np.diff(alive) < 0).all()
    assert (np.diff(out["expected_purchases"].to_numpy()) < 0).all()
    assert (np.diff(out["p_no_purchase_bgnbd"].to_numpy()) > 0).all()
    # A one-time buyer cannot have left yet in BG/NBD (one leaves only after a repeat order).
    assert rhythm.transform(_customers([1], [30], [30]))["p_alive"].iloc[0] == 1.0


def test_the_rhythm_step_round_trips_through_skops_with_the_trainers_trusted_types():
    from training.mlflow_io import skops_trusted_types as _skops_trusted_types

    rows = _simulated_buyers(500)
    rhythm = PurchaseRhythm(HORIZON_DAYS).fit(rows)
    trusted = _skops_trusted_types(rhythm)
    assert trusted == ["training.rhythm.PurchaseRhythm"]
    loaded = skops.io.loads(skops.io.dumps(rhythm), trusted=trusted)
    pd.testing.assert_frame_equal(loaded.transform(rows), rhythm.transform(rows))


@pytest.fixture(scope="module")
def dataset(shop) -> Dataset:
    frames = load_journey_frames(shop.database_url, datetime.now(UTC))
    return brand_switch_dataset(frames, horizon_days=HORIZON_DAYS)


@pytest.fixture(scope="module")
def model(dataset: Dataset):
    """Fitted as the trainer refits: on train + validation, with the dataset's options."""
    rows = pd.concat([dataset.train, dataset.validation])
    numeric = [c for c in dataset.numeric if rows[c].notna().any()]
    pipeline = make_classifier_pipeline(
        numeric, dataset.categorical, "hgb", **dataset.pipeline_options
    )
    return calibrated(pipeline).fit(rows[dataset.features], rows["label"].to_numpy())


def test_the_whole_model_with_its_rhythm_step_round_trips_and_the_model_service_trusts_it(
    model, dataset
):
    from model_service.champions import TRUSTED_MODULES
    from training.mlflow_io import skops_trusted_types as _skops_trusted_types

    trusted = _skops_trusted_types(model)
    assert "training.rhythm.PurchaseRhythm" in trusted
    assert all(name.startswith(TRUSTED_MODULES) for name in trusted)
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    X = dataset.evaluation[CUSTOMER_FEATURES]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_model_separates_switchers_and_does_not_saturate(model, dataset):
    test = dataset.evaluation
    y = test["label"].to_numpy()
    scores = model.predict_proba(test[dataset.features])[:, 1]
    order = np.argsort(scores)
    decile = len(scores) // 10
    bottom, top = y[order[:decile]].mean(), y[order[-decile:]].mean()
    assert top - bottom > 0.5, (top, bottom)
    assert (scores >= 0.95).mean() < 0.75
    assert scores.min() < 0.5
    metrics = classification_metrics(y, scores)
    assert metrics["roc_auc"] > 0.85
    recency_alone = classification_metrics(y, test["recency_days"].to_numpy())
    assert metrics["roc_auc"] > recency_alone["roc_auc"]


def _risk(model, rows: pd.DataFrame, **values: float) -> float:
    return float(model.predict_proba(rows.assign(**values))[:, 1].mean())


def test_planted_effects_raise_the_predicted_risk(model, dataset):
    rows = dataset.evaluation[dataset.features]
    assert _risk(model, rows, csat_last=1.0, csat_mean=1.5) > _risk(
        model, rows, csat_last=5.0, csat_mean=5.0
    )
    assert _risk(model, rows, refunds_total=1.0, refunds_365d=1.0) > _risk(
        model, rows, refunds_total=0.0, refunds_365d=0.0
    )
    assert _risk(model, rows, support_unresolved_90d=1.0, support_contacts_90d=1.0) > _risk(
        model, rows, support_unresolved_90d=0.0, support_contacts_90d=1.0
    )


def test_repeat_buyers_overdue_against_their_own_rhythm_rank_higher(model, dataset):
    repeat = dataset.evaluation[dataset.evaluation["frequency"] > 1]
    scores = pd.Series(model.predict_proba(repeat[dataset.features])[:, 1], index=repeat.index)
    # Silent for up to one usual gap, up to two, up to five, longer.
    overdue = pd.cut(repeat["recency_ratio"], [0, 1, 2, 5, np.inf], include_lowest=True)
    by_overdue = pd.DataFrame({"risk": scores, "switched": repeat["label"]}).groupby(
        overdue, observed=True
    )
    assert (by_overdue.size() >= 30).all()
    risk = by_overdue["risk"].mean().to_numpy()
    assert (np.diff(risk) > 0).all(), risk
    # ... and the ranking is earned: each group's mean risk is near its switch rate.
    assert np.abs(risk - by_overdue["switched"].mean().to_numpy()).max() < 0.1


def test_the_model_service_loads_compiles_explains_and_serves_the_rhythm_model(
    model, dataset, tmp_path
):
    from model_service.champions import load_version
    from model_service.columns import as_columns
    from model_service.explain import top_reasons
    from shared.tasks import task_by_name
    from tests.model_service.conftest import register_model
    from tests.training.conftest import mlflow_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_store(uri, (tmp_path / "artifacts").as_uri()):
        version = register_model(uri, "brand_switch", model, dataset.features, dataset.train)
        name = task_by_name("brand_switch").model_name
        served = load_version(uri, "brand_switch", name, version, CUSTOMER_FEATURES)
    # Served through the compiled path (no per-call pipeline overhead), with the same result.
    assert served.compiled is not None and served.compiled.added is not None
    rows = dataset.evaluation[CUSTOMER_FEATURES].head(20)
    np.testing.assert_allclose(served.predict_proba(rows), model.predict_proba(rows)[:, 1])
    # Reasons are over the input columns, through the whole pipeline and its rhythm step.
    probabilities, reasons = top_reasons(served, as_columns(rows, CUSTOMER_FEATURES))
    np.testing.assert_allclose(probabilities, model.predict_proba(rows)[:, 1])
    named = {reason["feature"] for row in reasons for reason in row}
    assert named and named <= set(CUSTOMER_FEATURES)
