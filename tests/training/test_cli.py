"""`kundresa train | evaluate | promote` as a data scientist runs them: through the real
entry point, against the session's synthetic shop and an MLflow store of this module's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from mlflow import MlflowClient
from mlflow.models import get_model_info

from kundresa.cli import main
from shared.journey_loader import load_journey_frames
from shared.tasks import CHAMPION_ALIAS, META_FEATURES
from tests.training.conftest import Shop, mlflow_store, register_constant_model
from training.cli import NOT_PROMOTED_EXIT_CODE
from training.datasets import latest_cutoff

MODEL = "kundresa-brand-switch"
TRAINED = re.compile(r"Trained kundresa-brand-switch version (\d+) \((hgb|logistic)\) in ")


@dataclass(frozen=True)
class Store:
    shop: Shop
    tracking_uri: str
    first: Result  # `kundresa train --task brand_switch` with no options, into the empty store


def kundresa(shop: Shop, *args: str) -> Result:
    """Run a command as the user would, with the shop's database as DATABASE_URL."""
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": shop.database_url})


@pytest.fixture(scope="module")
def store(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("cli-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with mlflow_store(uri, (folder / "mlartifacts").as_uri()):
        first = kundresa(shop, "train", "--task", "brand_switch")
        yield Store(shop, uri, first)


def _run_params(version: str) -> dict[str, str]:
    client = MlflowClient()
    run_id = client.get_model_version(MODEL, version).run_id
    return client.get_run(run_id).data.params


def test_train_picks_the_latest_cutoff_shows_its_steps_and_prints_a_summary(store):
    result = store.first
    assert result.exit_code == 0, result.output
    frames = load_journey_frames(store.shop.database_url, datetime.now(UTC))
    latest = latest_cutoff(frames, timedelta(days=90))
    assert TRAINED.search(result.stdout), result.stdout
    assert "evaluated on" in result.stdout and f"rows from {latest:%Y-%m-%d}." in result.stdout
    chosen = TRAINED.search(result.stdout).group(2)
    for name in ("validation hgb", "validation logistic", chosen, "per_stage", "bgnbd"):
        assert re.search(rf"^  {name} +roc_auc=0\.\d{{3}} .*brier=", result.stdout, re.M), name
    assert "  Predicts: no purchase within 90 days (customers with" in result.stdout
    assert re.search(r"^  Base rate: \d+\.\d% on the test rows \(training", result.stdout, re.M)
    assert re.search(r"^  Family chosen on [\d,]+ validation rows from ", result.stdout, re.M)
    assert re.search(r"^  Code: kundresa \S+ git [0-9a-f]{12}", result.stdout, re.M)
    assert "beats every baseline: it is now the champion" in result.stdout
    for step in ("reading journey events", "fitting hgb", "logging to MLflow"):
        assert step in result.stderr
    params = _run_params(TRAINED.search(result.stdout).group(1))
    assert params["horizon_days"] == "90"
    assert params["evaluation_cutoff"] == f"{latest:%Y-%m-%dT%H:%M:%SZ}"


def test_train_with_a_cutoff_and_horizon_trains_before_them_and_leaves_the_champion(store):
    result = kundresa(
        store.shop,
        "train", "--task", "brand-switch", "--cutoff", "2026-05-01", "--horizon-days", "60",
        "--tracking-uri", store.tracking_uri, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rows from 2026-05-01." in result.stdout
    assert "Run `kundresa promote --task brand_switch`" in result.stdout
    assert "fitting" not in result.stderr  # --quiet: MLflow's own notes only
    params = _run_params(TRAINED.search(result.stdout).group(1))
    assert params["horizon_days"] == "60"
    assert params["evaluation_cutoff"] == "2026-05-01T00:00:00Z"
    # Rolling cutoffs 14 days apart, the latest two horizons before the evaluation cutoff (the
    # validation window lies between), the earliest 60 days after the data starts.
    assert params["train_cutoffs"] == "2025-12-04,2025-12-18,2026-01-01"
    assert _champion_version() == TRAINED.search(store.first.stdout).group(1)


def test_evaluate_scores_the_champion_on_the_latest_period_or_the_one_asked_for(store):
    champion = TRAINED.search(store.first.stdout).group(1)
    latest = re.search(r"rows from (\d{4}-\d\d-\d\d)\.", store.first.stdout).group(1)
    result = kundresa(store.shop, "evaluate", "--task", "brand_switch")
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"^{MODEL} version {champion} on [\d,]+ rows from {latest}, 90-day horizon:$",
        result.stdout,
        re.M,
    ), result.stdout
    assert re.search(r"^  overall +roc_auc=0\.\d{3} ", result.stdout, re.M)
    assert "  Predicts: no purchase within 90 days." in result.stdout
    for step in ("reading journey events", "features at", "scoring", "logging to MLflow"):
        assert step in result.stderr, step

    asked = kundresa(
        store.shop,
        "evaluate", "--task", "brand_switch", "--version", champion, "--cutoff", "2026-06-01",
        "--horizon-days", "30", "--quiet",
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert f"version {champion} on " in asked.stdout
    assert "rows from 2026-06-01, 30-day horizon:" in asked.stdout
    assert "  Predicts: no purchase within 30 days." in asked.stdout
    assert "scoring" not in asked.stderr


def _champion_version() -> str:
    return str(MlflowClient().get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version)


def test_promote_refuses_a_worse_model_and_force_overrides(store, tmp_path):
    client = MlflowClient()
    champion = _champion_version()
    run_id = client.get_model_version(MODEL, champion).run_id
    features = get_model_info(f"models:/{MODEL}/{champion}").metadata[META_FEATURES]
    worse = register_constant_model(MODEL, run_id, features, tmp_path)
    try:
        same = kundresa(store.shop, "promote", "--task", "brand_switch", "--version", champion)
        assert same.exit_code == 0, same.output
        assert "already the champion" in same.stdout and "--force" not in same.stdout

        refused = kundresa(store.shop, "promote", "--task", "brand_switch")  # the latest
        assert refused.exit_code == NOT_PROMOTED_EXIT_CODE, refused.output
        assert f"{MODEL} version {worse}: not promoted." in refused.stdout
        assert "refused: candidate ROC-AUC 0.5000" in refused.stdout
        assert re.search(
            r"ROC-AUC difference -0\.\d{4} \(95 % interval -0\.\d{4} to -0\.\d{4}\)", refused.stdout
        )
        assert f"The champion stays version {champion}; use --force --reason" in refused.stdout
        assert "scoring the champion" in refused.stderr
        assert _champion_version() == champion

        forced = kundresa(
            store.shop, "promote", "--task", "brand_switch", "--version", worse,
            "--force", "--reason", "a baseline for a week",
        )  # fmt: skip
        assert forced.exit_code == 0, forced.output
        assert f"{MODEL} version {worse}: promoted to champion." in forced.stdout
        assert "forced (a baseline for a week): candidate ROC-AUC 0.5000" in forced.stdout
        assert "refresh them with `kundresa score --task brand_switch`" in forced.stdout
        assert _champion_version() == worse
    finally:
        client.set_registered_model_alias(MODEL, CHAMPION_ALIAS, champion)
        client.delete_model_version(MODEL, worse)


def test_mistakes_a_user_can_fix_are_messages_not_tracebacks(store):
    not_a_date = kundresa(store.shop, "train", "--task", "brand_switch", "--cutoff", "May 1")
    assert not_a_date.exit_code == 2
    assert "'May 1' is not a date like 2026-06-30" in not_a_date.output

    too_late = kundresa(store.shop, "train", "--task", "brand_switch", "--cutoff", "2026-09-01")
    assert too_late.exit_code == 1
    # On a line of its own: the progress line was closed first.
    assert "\nError: cutoff 2026-09-01 + 90 days is past the latest event" in too_late.stderr
    assert "Traceback" not in too_late.output


def _scored_by(shop: Shop, version: str) -> int:
    from sqlalchemy import create_engine, text

    query = "SELECT count(*) FROM risk_scores WHERE task = 'brand_switch' AND model_version = :v"
    with create_engine(shop.database_url).connect() as connection:
        return connection.execute(text(query), {"v": version}).scalar_one()


def test_promote_refuses_a_candidate_with_another_horizon_whatever_its_metric(store, tmp_path):
    client = MlflowClient()
    champion = _champion_version()
    trained = kundresa(store.shop, "train", "--task", "brand_switch", "--horizon-days", "30")
    assert trained.exit_code == 0, trained.output
    assert "Predicts: no purchase within 30 days" in trained.stdout
    candidate = TRAINED.search(trained.stdout).group(1)
    # Even a candidate that claims a far better metric: the definitions are compared first.
    client.set_model_version_tag(MODEL, candidate, "evaluation_roc_auc", "0.9999")
    try:
        refused = kundresa(store.shop, "promote", "--task", "brand_switch", "--quiet")
        assert refused.exit_code == NOT_PROMOTED_EXIT_CODE, refused.output
        assert (
            'refused: the candidate predicts "no purchase within 30 days" (definition revision 2), '
            f'the champion v{champion} "no purchase within 90 days"'
        ) in refused.stdout
        assert "ROC-AUC" not in refused.stdout  # no metric was weighed against the definition
        assert _champion_version() == champion
        assert client.get_model_version(MODEL, candidate).tags["promotion"].startswith("refused")

        no_reason = kundresa(store.shop, "promote", "--task", "brand_switch", "--force")
        assert no_reason.exit_code == 2
        assert "--force needs --reason TEXT" in no_reason.output
        assert _champion_version() == champion

        forced = CliRunner().invoke(
            main,
            [
                "promote", "--task", "brand_switch", "--force",
                "--reason", "support asked for a 30-day horizon", "--rescore", "--quiet",
            ],
            env={"DATABASE_URL": store.shop.database_url, "KUNDRESA_VAR_DIR": str(tmp_path)},
        )  # fmt: skip
        assert forced.exit_code == 0, forced.output
        assert f"{MODEL} version {candidate}: promoted to champion." in forced.stdout
        # --rescore: everyone is scored again, by the new champion, right away.
        assert "Re-scoring with the new champion (`kundresa score --task brand_switch`)" in (
            forced.stdout
        )
        assert re.search(r"^Scored [\d,]+ rows for brand_switch", forced.stdout, re.M)
        assert _scored_by(store.shop, candidate) > 0
        assert _champion_version() == candidate
        recorded = client.get_model_version(MODEL, candidate).tags["promotion"]
        assert recorded.startswith("forced (support asked for a 30-day horizon): the candidate")
    finally:
        client.set_registered_model_alias(MODEL, CHAMPION_ALIAS, champion)
        client.delete_model_version(MODEL, candidate)
