"""Training on synthetic journeys: planted effects are recovered, the family is chosen on a
validation window and reported on a later test window, runs are fully logged with their task
definition, and promotion only moves the champion to a model clearly better on the same rows."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from shared.tasks import (
    CHAMPION_ALIAS,
    DEFINITION_TAG,
    EVALUATION_ARTIFACT,
    META_BASE_RATE,
    META_DEFINITION,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    TaskDefinition,
    brand_switch_definition,
)
from tests.training.conftest import register_constant_model
from training.mlflow_io import load_registered_model
from training.promotion import promote
from training.version_evaluation import evaluate_version

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
    assert brand_switch_run.validation["hgb"]["roc_auc"] > 0.5
    assert brand_switch_run.validation["logistic"]["roc_auc"] > 0.5
    assert brand_switch_run.comparison["model"] == brand_switch_run.metrics
    assert brand_switch_run.definition == brand_switch_definition(90)
    assert 0 < brand_switch_run.base_rates["test"] < 1


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
    for stage in brand_switch_run.stage_metrics:
        assert f"stage.{stage}.roc_auc" in metrics
    for baseline in ("per_stage", "bgnbd"):
        assert f"compare.{baseline}.roc_auc" in metrics
    for family in ("hgb", "logistic"):
        assert f"validation.{family}.roc_auc" in metrics
    for part in ("train", "validation", "test"):
        assert 0 < metrics[f"base_rate_{part}"] < 1
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
        "plots/score_histogram.png",
        "plots/feature_importance.png",
    }

    info = mlflow.models.get_model_info(f"models:/{MODEL}/{brand_switch_run.version}")
    assert info.signature is not None
    assert info.metadata[META_TASK] == "brand_switch"
    features = info.metadata[META_FEATURES]
    assert "stage" in features and "ces_last" in features
    bands = info.metadata[META_RISK_BANDS]
    assert set(bands) == {"default"}  # one scale per task
    assert 0 < bands["default"]["medium"] <= bands["default"]["high"] < 1
    assert info.metadata[META_BASE_RATE] == pytest.approx(brand_switch_run.base_rates["test"])
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
        assert refused.comparison["roc_auc_difference_high"] < 0
        assert refused.comparison["rows"] == brand_switch_run.evaluation_rows
        assert "95 % interval" in refused.reason
        assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == (
            brand_switch_run.version
        )
        assert client.get_model_version(MODEL, worse).tags["promotion"].startswith("refused")

        with pytest.raises(ValueError, match="needs a reason"):
            promote("brand_switch", version=worse, force=True)
        forced = promote("brand_switch", version=worse, force=True, reason="trying it out")
        assert forced.promoted and forced.reason.startswith("forced (trying it out)")
        assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == worse

        better = promote("brand_switch", version=brand_switch_run.version)
        assert better.promoted and better.reason.startswith("better")
        assert better.comparison["roc_auc_difference_low"] > 0
        tags = client.get_model_version(MODEL, brand_switch_run.version).tags
        assert "ROC-AUC" in tags["promotion"] and tags["promoted_at"]
        recorded = json.loads(tags["promotion.comparison"])
        assert recorded["roc_auc_difference_low"] > 0
        assert recorded["brier_candidate"] < recorded["brier_champion"]
    finally:
        client.set_registered_model_alias(MODEL, CHAMPION_ALIAS, brand_switch_run.version)
        client.delete_model_version(MODEL, worse)


def test_evaluate_scores_the_champion_on_the_latest_period_per_stage(brand_switch_run, shop_mlflow):
    result = evaluate_version(shop_mlflow.database_url, "brand_switch")
    assert result["version"] == brand_switch_run.version
    assert result["overall"]["roc_auc"] == np.float64(brand_switch_run.metrics["roc_auc"])
    assert result["definition"] == brand_switch_run.definition
    assert result["by_stage"] == brand_switch_run.stage_metrics


def test_the_task_definition_is_on_the_registered_version_as_tag_and_metadata(
    brand_switch_run, cart_run, shop_mlflow
):
    client = MlflowClient()
    for run in (brand_switch_run, cart_run):
        version = client.get_model_version(run.model_name, run.version)
        assert TaskDefinition.from_dict(json.loads(version.tags[DEFINITION_TAG])) == run.definition
        metadata = mlflow.models.get_model_info(f"models:/{run.model_name}/{run.version}").metadata
        assert TaskDefinition.from_dict(metadata[META_DEFINITION]) == run.definition
        params = client.get_run(run.run_id).data.params
        assert params["definition.horizon_hours"] == str(run.definition.horizon_hours)
        logged = mlflow.artifacts.load_dict(f"runs:/{run.run_id}/task_definition.json")
        assert TaskDefinition.from_dict(logged) == run.definition
    assert cart_run.definition.summary() == "cart not bought within 24 hours"


def test_family_is_chosen_on_validation_rows_and_test_rows_come_after_all_training_data(
    brand_switch_run, cart_run, shop_mlflow
):
    client = MlflowClient()
    for run in (brand_switch_run, cart_run):
        params = client.get_run(run.run_id).data.params
        assert params["estimator_chosen_on"] == "validation"
        chosen = max(run.validation, key=lambda family: run.validation[family]["roc_auc"])
        assert run.estimator == chosen
        assert int(params["validation_rows"]) == run.validation_rows > 0
        assert run.validation[chosen]["rows"] == run.validation_rows
        # Validation after the fit rows, test after every label window of both.
        assert run.validation_start < run.train_data_end <= run.evaluation_cutoff
        rows = _evaluation_rows(run.run_id)
        assert len(rows) == run.evaluation_rows
        assert rows["cutoff"].min() >= pd.Timestamp(run.train_data_end)
        tags = client.get_model_version(run.model_name, run.version).tags
        assert tags["train_data_end"] == params["train_data_end"]
        assert tags["test_window_start"] == params["evaluation_cutoff"]


def test_first_version_became_champion_by_beating_every_baseline_on_the_test_rows(brand_switch_run):
    assert brand_switch_run.promoted
    for name, metrics in brand_switch_run.baselines.items():
        assert brand_switch_run.metrics["roc_auc"] > metrics["roc_auc"], name


def test_the_code_version_is_logged_with_the_run(brand_switch_run, shop_mlflow):
    run = MlflowClient().get_run(brand_switch_run.run_id)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == commit
    package = run.data.params["code.package_version"]
    assert run.data.tags["kundresa.code_version"].startswith(
        f"kundresa {package} git {commit[:12]}"
    )
    assert brand_switch_run.code_version == run.data.tags["kundresa.code_version"]


def test_no_artifact_of_a_run_names_a_customer_visitor_or_cart(brand_switch_run, cart_run, shop):
    """Erasure cannot reach into an artifact store, so runs keep no ids at all: the evaluation
    rows, the input example and every other file of both runs are searched for every id."""
    from sqlalchemy import create_engine, text

    engine = create_engine(shop.database_url)
    with engine.connect() as conn:
        ids = {
            value
            for query in (
                "SELECT id FROM customers",
                "SELECT DISTINCT visitor_id FROM journey_events",
                "SELECT DISTINCT cart_id FROM journey_events WHERE cart_id IS NOT NULL",
            )
            for (value,) in conn.execute(text(query))
            if value
        }
    engine.dispose()
    assert len(ids) > 100
    pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    client = MlflowClient(tracking_uri=shop.mlflow_uri)
    for run_id in (brand_switch_run.run_id, cart_run.run_id):
        root = Path(urlparse(client.get_run(run_id).info.artifact_uri).path)
        files = [f for f in root.rglob("*") if f.is_file()]
        assert any(f.name == "rows.parquet" for f in files)
        for file in files:
            if file.suffix == ".parquet":
                frame = pd.read_parquet(file)
                cells = " ".join(map(str, frame.index)) + " " + frame.astype(str).to_csv()
            elif (
                file.suffix in {".json", ".yaml", ".txt", ".MLmodel", ""} or file.name == "MLmodel"
            ):
                cells = file.read_text(errors="ignore")
            else:
                continue  # images, pickles of estimators: no rows in them
            found = pattern.search(cells)
            assert found is None, f"{file.relative_to(root)} holds the id {found.group(0)!r}"
