"""Training on synthetic journeys: planted effects are recovered, runs are fully logged,
and promotion only moves the champion to a better model."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from shared.tasks import (
    CHAMPION_ALIAS,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
)
from tests.training.conftest import register_constant_model
from training.registry import (
    EVALUATION_ARTIFACT,
    evaluate_version,
    load_registered_model,
    promote,
)

MODEL = "kundresa-brand-switch"


def _evaluation_rows(run_id: str) -> pd.DataFrame:
    return pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=EVALUATION_ARTIFACT)
    )


def test_brand_switch_model_ranks_later_switchers_well_above_chance(brand_switch_run):
    assert brand_switch_run.evaluation_rows > 300
    assert brand_switch_run.metrics["roc_auc"] > 0.8
    assert brand_switch_run.metrics["brier"] < 0.2
    assert brand_switch_run.metrics["lift_top_decile"] > 1.0
    assert brand_switch_run.comparison["hgb"]["roc_auc"] > 0.5
    assert brand_switch_run.comparison["logistic"]["roc_auc"] > 0.5
    assert "loyalty" in brand_switch_run.stage_metrics


def test_high_effort_and_detractor_customers_score_higher_all_else_equal(
    brand_switch_run, shop_mlflow
):
    model = load_registered_model(MODEL, brand_switch_run.version)
    rows = _evaluation_rows(brand_switch_run.run_id).drop(columns="label")
    answered = rows[rows["ces_last"].notna() & rows["nps_last"].notna()]
    assert len(answered) > 50

    def risk(**values: float) -> float:
        return float(model.predict_proba(answered.assign(**values))[:, 1].mean())

    assert risk(ces_last=2.0, ces_mean=2.0) > risk(ces_last=7.0, ces_mean=7.0)
    assert risk(nps_last=3.0, nps_mean=3.0, is_detractor=1.0) > risk(
        nps_last=9.0, nps_mean=9.0, is_detractor=0.0
    )
    assert risk(support_unresolved_90d=1.0, support_contacts_90d=1.0) > risk(
        support_unresolved_90d=0.0, support_contacts_90d=1.0
    )


def test_cart_model_recovers_abandonment_signal(cart_run):
    assert cart_run.evaluation_rows > 200
    assert cart_run.metrics["roc_auc"] > 0.75
    assert cart_run.metrics["brier"] < 0.2


def test_run_logs_metrics_per_stage_baselines_plots_and_serving_metadata(
    brand_switch_run, shop_mlflow
):
    client = MlflowClient()
    run = client.get_run(brand_switch_run.run_id)
    metrics = run.data.metrics
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"):
        assert key in metrics
        assert f"stage.loyalty.{key}" in metrics
    for baseline in ("logistic", "per_stage", "bgnbd"):
        assert f"compare.{baseline}.roc_auc" in metrics
    assert run.data.params["dataset_fingerprint"]
    assert int(run.data.params["train_rows"]) > 0
    assert run.data.tags["kundresa.better_design"] in {
        "one_model_with_stage",
        "one_model_per_stage",
    }
    assert run.data.tags["kundresa.beats_bgnbd"] in {"true", "false"}
    plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {
        "plots/roc.png",
        "plots/precision_recall.png",
        "plots/calibration.png",
        "plots/feature_importance.png",
    }

    info = mlflow.models.get_model_info(f"models:/{MODEL}/{brand_switch_run.version}")
    assert info.signature is not None
    assert info.metadata[META_TASK] == "brand_switch"
    features = info.metadata[META_FEATURES]
    assert "stage" in features and "ces_last" in features
    bands = info.metadata[META_RISK_BANDS]
    assert 0 < bands["default"]["medium"] <= bands["default"]["high"] < 1
    assert set(info.metadata[META_REFERENCE]) == set(features)
    champion = client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS)
    assert str(champion.version) == brand_switch_run.version  # the first model is champion


def test_promotion_refuses_a_worse_model_and_records_why(brand_switch_run, shop_mlflow, tmp_path):
    client = MlflowClient()
    features = mlflow.models.get_model_info(f"models:/{MODEL}/{brand_switch_run.version}").metadata[
        META_FEATURES
    ]
    worse = register_constant_model(MODEL, brand_switch_run.run_id, features, tmp_path)
    try:
        refused = promote("brand_switch", version=worse)
        assert not refused.promoted
        assert refused.previous_champion == brand_switch_run.version
        assert refused.candidate_metrics["roc_auc"] < refused.champion_metrics["roc_auc"]
        assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == (
            brand_switch_run.version
        )
        assert client.get_model_version(MODEL, worse).tags["promotion"].startswith("refused")

        forced = promote("brand_switch", version=worse, force=True)
        assert forced.promoted and forced.reason.startswith("forced")
        assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == worse

        better = promote("brand_switch", version=brand_switch_run.version)
        assert better.promoted and better.reason.startswith("better")
        tags = client.get_model_version(MODEL, brand_switch_run.version).tags
        assert "ROC-AUC" in tags["promotion"] and tags["promoted_at"]
    finally:
        client.set_registered_model_alias(MODEL, CHAMPION_ALIAS, brand_switch_run.version)
        client.delete_model_version(MODEL, worse)


def test_evaluate_scores_the_champion_on_the_latest_period_per_stage(brand_switch_run, shop_mlflow):
    result = evaluate_version(shop_mlflow.database_url, "brand_switch")
    assert result["version"] == brand_switch_run.version
    assert result["overall"]["roc_auc"] == np.float64(brand_switch_run.metrics["roc_auc"])
    assert "loyalty" in result["by_stage"]
