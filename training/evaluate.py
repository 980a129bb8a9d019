"""Metrics and plots on the evaluation period, overall and per journey stage.

``mlflow.models.evaluate`` logs plots but no Brier score and no per-stage slices, so the few
metrics we need are computed here with scikit-learn and logged by ``training.train``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402
from sklearn.inspection import permutation_importance  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    PrecisionRecallDisplay,
    RocCurveDisplay,
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
# Which direction is better, for comparing two models.
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
    "log_loss": False,
    "lift_top_decile": True,
}
PRIMARY_METRIC = "roc_auc"
# A stage's ROC-AUC from a handful of positives is noise: metrics per stage need at least this
# many rows of EACH class.
MIN_PER_CLASS_PER_STAGE = 30


def lift_top_decile(y: np.ndarray, scores: np.ndarray) -> float:
    """Positive rate among the 10 % highest scores divided by the overall positive rate."""
    y = np.asarray(y)
    base = y.mean()
    if base == 0 or len(y) < 10:
        return math.nan
    top = np.argsort(-np.asarray(scores), kind="stable")[: max(1, len(y) // 10)]
    return float(y[top].mean() / base)


def classification_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss and top-decile lift; AUCs are NaN with one class."""
    y = np.asarray(y).astype(int)
    scores = np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, scores)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, scores)) if both else math.nan,
        "brier": float(brier_score_loss(y, scores)),
        "log_loss": float(log_loss(y, scores, labels=[0, 1])),
        "lift_top_decile": lift_top_decile(y, scores),
        "positive_rate": float(y.mean()) if len(y) else math.nan,
        "rows": float(len(y)),
    }


def metrics_by_stage(
    y: np.ndarray, scores: np.ndarray, stages: pd.Series
) -> dict[str, dict[str, float]]:
    """The same metrics within each journey stage that has at least
    ``MIN_PER_CLASS_PER_STAGE`` rows of each class; other stages are left out."""
    out = {}
    y = np.asarray(y).astype(int)
    stages = pd.Series(np.asarray(stages))
    for stage, index in stages.groupby(stages).groups.items():
        rows = np.asarray(index)
        positives = int(y[rows].sum())
        if min(positives, len(rows) - positives) < MIN_PER_CLASS_PER_STAGE:
            continue
        out[str(stage)] = classification_metrics(y[rows], np.asarray(scores)[rows])
    return out


def brier(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean squared difference between the probability and the outcome (lower is better)."""
    return float(np.mean((np.asarray(scores, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half), the same value as
    scikit-learn's without its input checks, which dominate a bootstrap's time; NaN when ``y``
    holds one class only."""
    positive = np.asarray(y).astype(bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def paired_bootstrap(
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    n: int = 500,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``metric(y, a) - metric(y, b)`` on the rows given, and the 95 % percentile interval of
    that difference over ``n`` resamples of the rows (the same resample for both scorers, so
    what the two share cancels out). Resamples where the metric is undefined are skipped."""
    y, a, b = np.asarray(y), np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = metric(y, a) - metric(y, b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        rows = rng.integers(0, len(y), size=len(y))
        value = metric(y[rows], a[rows]) - metric(y[rows], b[rows])
        if not math.isnan(value):
            diffs.append(value)
    if not diffs:
        return float(diff), math.nan, math.nan
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(diff), float(low), float(high)


def flat_metrics(
    overall: dict[str, float], by_stage: dict[str, dict[str, float]], prefix: str = ""
) -> dict[str, float]:
    """``{prefix}roc_auc`` and ``{prefix}stage.loyalty.roc_auc`` style keys, NaN left out."""
    flat = {f"{prefix}{k}": v for k, v in overall.items() if not math.isnan(v)}
    for stage, values in by_stage.items():
        for key, value in values.items():
            if not math.isnan(value):
                flat[f"{prefix}stage.{stage}.{key}"] = value
    return flat


def is_better(candidate: dict[str, float], incumbent: dict[str, float]) -> bool:
    """Higher primary metric (ROC-AUC) wins; on a tie (< 0.001), the lower Brier score."""
    a, b = candidate.get(PRIMARY_METRIC, math.nan), incumbent.get(PRIMARY_METRIC, math.nan)
    if math.isnan(b):
        return not math.isnan(a)
    if math.isnan(a):
        return False
    if abs(a - b) >= 0.001:
        return a > b
    return candidate.get("brier", math.inf) < incumbent.get("brier", math.inf)


def save_plots(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    importance: pd.Series | None,
    folder: Path,
    title: str,
) -> list[Path]:
    """ROC, precision-recall and calibration curves and the score histogram (with the base
    rate) for each named scorer, and importances."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) == 2:
        for name, display in (
            ("roc", RocCurveDisplay),
            ("precision_recall", PrecisionRecallDisplay),
        ):
            fig, ax = plt.subplots(figsize=(5, 4.5))
            for label, values in scores.items():
                display.from_predictions(y, values, name=label, ax=ax)
            ax.set_title(f"{title}: {name.replace('_', '-')}")
            paths.append(_save(fig, folder / f"{name}.png"))
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, values in scores.items():
        CalibrationDisplay.from_predictions(
            y, values, n_bins=10, strategy="quantile", name=label, ax=ax
        )
    ax.set_title(f"{title}: calibration")
    paths.append(_save(fig, folder / "calibration.png"))
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, values in scores.items():
        ax.hist(values, bins=40, range=(0, 1), alpha=0.5, label=label)
    if len(y):
        ax.axvline(y.mean(), color="black", linestyle="--", label=f"base rate {y.mean():.1%}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("rows")
    ax.legend()
    ax.set_title(f"{title}: scores")
    paths.append(_save(fig, folder / "score_histogram.png"))
    if importance is not None and not importance.empty:
        top = importance.sort_values().tail(20)
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(top) + 1.2))
        ax.barh(top.index, top.to_numpy())
        ax.set_xlabel("drop in ROC-AUC when shuffled")
        ax.set_title(f"{title}: feature importance")
        paths.append(_save(fig, folder / "feature_importance.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def feature_importance(
    model, X: pd.DataFrame, y: np.ndarray, max_rows: int = 1000, seed: int = 0
) -> pd.Series:
    """Permutation importance of each input column on (a sample of) the evaluation rows."""
    if len(np.unique(y)) < 2:
        return pd.Series(dtype=float)
    if len(X) > max_rows:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[rows], np.asarray(y)[rows]
    result = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=2, random_state=seed, n_jobs=1
    )
    return pd.Series(result.importances_mean, index=X.columns).sort_values(ascending=False)
