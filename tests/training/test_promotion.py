"""The pieces of an honest comparison, on small made-up data: the paired bootstrap of a metric
difference, per-stage metrics only where a stage has enough of both classes, and the
validation window a trainer carves when a dataset brings none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.datasets import Dataset, NotEnoughData
from training.evaluate import brier, metrics_by_stage, paired_bootstrap, roc_auc
from training.train import split_validation


def _two_scorers(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a sharp scorer and a blunt one: both see the same signal, the blunt one more
    noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=rows)
    signal = y + rng.normal(0, 1.0, size=rows)
    return y, signal + rng.normal(0, 0.3, size=rows), signal + rng.normal(0, 1.5, size=rows)


def test_paired_bootstrap_interval_contains_the_true_difference():
    # The "true" difference: the two scorers' ROC-AUC on a very large sample.
    y_all, sharp_all, blunt_all = _two_scorers(400_000, seed=1)
    truth = roc_auc_score(y_all, sharp_all) - roc_auc_score(y_all, blunt_all)
    y, sharp, blunt = _two_scorers(800, seed=2)

    diff, low, high = paired_bootstrap(y, sharp, blunt, roc_auc, n=500, seed=0)

    assert low < truth < high
    assert low < diff < high
    assert low > 0  # a real lead is seen as one
    assert paired_bootstrap(y, sharp, blunt, roc_auc, n=500, seed=0) == (diff, low, high)


def test_fast_roc_auc_and_brier_agree_with_scikit_learn_ties_included():
    y, sharp, _ = _two_scorers(500, seed=6)
    coarse = np.round(1 / (1 + np.exp(-sharp)), 1)  # many ties
    assert roc_auc(y, coarse) == pytest.approx(roc_auc_score(y, coarse))
    assert brier(y, coarse) == pytest.approx(brier_score_loss(y, coarse))
    assert np.isnan(roc_auc(np.ones(5), coarse[:5]))


def test_paired_bootstrap_of_a_scorer_against_itself_is_exactly_zero():
    y, sharp, _ = _two_scorers(300, seed=3)
    probabilities = 1 / (1 + np.exp(-sharp))
    assert paired_bootstrap(y, probabilities, probabilities, brier, n=50) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_of_equal_scorers_has_an_interval_around_zero():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=600)
    signal = y + rng.normal(0, 1.0, size=len(y))
    one, other = (signal + rng.normal(0, 0.5, size=len(y)) for _ in range(2))
    _, low, high = paired_bootstrap(y, one, other, roc_auc, n=300, seed=0)
    assert low < 0 < high


def test_per_stage_metrics_skip_stages_with_fewer_than_30_of_either_class():
    rng = np.random.default_rng(0)
    stages = ["loyalty"] * 200 + ["desire"] * 200 + ["advocacy"] * 20
    y = np.r_[
        rng.permutation([1] * 60 + [0] * 140),  # 60 / 140: kept
        rng.permutation([1] * 29 + [0] * 171),  # one positive short of 30: left out
        rng.permutation([1] * 10 + [0] * 10),  # too few rows at all: left out
    ]
    scores = np.clip(y * 0.3 + rng.uniform(0, 0.7, size=len(y)), 0, 1)

    by_stage = metrics_by_stage(y, scores, pd.Series(stages))

    assert set(by_stage) == {"loyalty"}
    assert by_stage["loyalty"]["rows"] == 200
    assert by_stage["loyalty"]["positive_rate"] == pytest.approx(0.3)


def _dataset(train: pd.DataFrame, horizon: timedelta) -> Dataset:
    return Dataset(
        task="brand_switch",
        features=["x"],
        categorical=[],
        train=train,
        evaluation=train.head(0),
        evaluation_cutoff=datetime(2026, 7, 1, tzinfo=UTC),
        train_cutoffs=[],
        horizon=horizon,
    )


def _rows_at(cutoffs: list[str], per_cutoff: int = 10) -> pd.DataFrame:
    times = pd.to_datetime(np.repeat(cutoffs, per_cutoff), utc=True)
    labels = np.tile([0, 1], len(times) // 2)
    return pd.DataFrame({"x": np.arange(len(times)), "label": labels, "cutoff": times})


def test_validation_carved_from_training_is_its_latest_snapshots_after_a_horizon_gap():
    train = _rows_at(["2026-01-01", "2026-01-31", "2026-03-02", "2026-04-01"])

    split = split_validation(_dataset(train, timedelta(days=60)))

    assert split.start == datetime(2026, 4, 1, tzinfo=UTC)
    assert (split.validation["cutoff"] == pd.Timestamp(split.start)).all()
    assert len(split.validation) == 10
    # Label windows [cutoff, cutoff + 60 days) of the fit rows end by the validation start:
    # 2026-03-02 + 60 days is past it, so those rows are in neither part.
    fit_days = sorted(split.fit["cutoff"].dt.strftime("%Y-%m-%d").unique())
    assert fit_days == ["2026-01-01", "2026-01-31"]
    assert split.how == "horizon gap" and split.description == "validation"


def test_too_short_a_history_for_the_gap_keeps_earlier_snapshots_and_says_so():
    train = _rows_at(["2026-03-02", "2026-04-01"])

    split = split_validation(_dataset(train, timedelta(days=90)))

    assert (split.fit["cutoff"] == pd.Timestamp("2026-03-02", tz="UTC")).all()
    assert split.how == "overlapping"
    assert "overlapping labels" in split.description


def test_a_dataset_s_own_validation_part_is_used_as_it_is():
    train = _rows_at(["2026-01-01", "2026-02-01"])
    validation = _rows_at(["2026-04-01"])
    dataset = _dataset(train, timedelta(days=30))
    dataset.validation = validation
    dataset.validation_cutoff = datetime(2026, 4, 1, tzinfo=UTC)

    split = split_validation(dataset)

    assert split.fit is train and split.validation is validation
    assert split.start == datetime(2026, 4, 1, tzinfo=UTC) and split.how == "horizon gap"


def test_one_training_snapshot_is_split_at_random_and_says_so():
    train = _rows_at(["2026-04-01"], per_cutoff=200)

    split = split_validation(_dataset(train, timedelta(days=90)))

    assert split.how == "random" and "random quarter" in split.description
    assert len(split.fit) + len(split.validation) == 200
    assert not set(split.fit.index) & set(split.validation.index)
    assert 20 < len(split.validation) < 80


def test_no_validation_without_both_classes():
    train = _rows_at(["2026-04-01"], per_cutoff=40).assign(label=0)
    with pytest.raises(NotEnoughData, match="one class only"):
        split_validation(_dataset(train, timedelta(days=7)))
