"""Population stability: how far today's feature values and scores have moved from training's.

Training records a *reference* per column (``drift_reference``): quantile bin edges and the
share of rows in each bin for a numeric column, the share of each category for a categorical
one, with missing values as a bin of their own. Scoring puts today's rows into the same bins
(``current_shares``) and ``psi`` compares the two sets of shares. Everything here is a pure
function of frames and dicts, so training (which writes the reference) and the model service
(which reads it) agree on the bins by construction.

The population stability index is ``sum((actual - expected) * ln(actual / expected))`` over the
bins; the usual reading is below 0.1 stable, 0.1-0.2 moving, above 0.2 shifted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

QUANTILE_BINS = 10
# A bin empty on one side would make the logarithm infinite: shares are floored at this.
SHARE_FLOOR = 1e-4
MISSING = "__missing__"
OTHER = "__other__"
SCORE = "score"  # the name the model's probability goes by in a reference
DEFAULT_THRESHOLD = 0.2
REFERENCE_VERSION = 1
# Where a training run keeps its reference among its MLflow artifacts.
REFERENCE_ARTIFACT = "drift_reference.json"
# Which rows a logged reference was made from (``made_from``); references logged before it was
# recorded were made from the training rows.
TEST_ROWS = "test rows"
TRAINING_ROWS = "training rows"


def numeric_reference(values: pd.Series, bins: int = QUANTILE_BINS) -> dict[str, Any]:
    """Inner quantile edges of ``values`` and the share of rows in each bin (and missing)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    present = numbers.dropna()
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    edges = sorted(set(np.quantile(present, quantiles).round(10).tolist())) if len(present) else []
    return {"kind": "numeric", "edges": edges, "shares": _numeric_shares(numbers, edges)}


def categorical_reference(values: pd.Series) -> dict[str, Any]:
    """The share of each category (missing values as their own)."""
    labels = values.astype(object).where(values.notna(), MISSING).astype(str)
    shares = labels.value_counts(normalize=True).sort_index()
    return {"kind": "categorical", "shares": {k: float(v) for k, v in shares.items()}}


def drift_reference(
    features: pd.DataFrame,
    categorical: Iterable[str],
    scores: np.ndarray | None = None,
    bins: int = QUANTILE_BINS,
    rows: str | None = None,
) -> dict[str, Any]:
    """The reference of every column of ``features`` (and of ``scores`` as ``score``)."""
    categorical = set(categorical)
    columns: dict[str, Any] = {}
    for column in features.columns:
        if column in categorical:
            columns[column] = categorical_reference(features[column])
        else:
            columns[column] = numeric_reference(features[column], bins)
    if scores is not None:
        columns[SCORE] = numeric_reference(pd.Series(scores), bins)
    reference = {"version": REFERENCE_VERSION, "rows": int(len(features)), "columns": columns}
    if rows:
        reference["made_from"] = rows
    return reference


def current_shares(reference: Mapping[str, Any], values: pd.Series) -> dict[str, float]:
    """Today's shares of ``values`` in the bins of one column's ``reference``."""
    if reference["kind"] == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        return _numeric_shares(numbers, reference["edges"])
    labels = values.astype(object).where(values.notna(), MISSING).astype(str)
    known = set(reference["shares"]) | {MISSING}
    labels = labels.where(labels.isin(known), OTHER)
    return {k: float(v) for k, v in labels.value_counts(normalize=True).items()}


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """The population stability index of two sets of bin shares (0 when they are equal)."""
    total = 0.0
    for key in set(expected) | set(actual):
        e = max(float(expected.get(key, 0.0)), SHARE_FLOOR)
        a = max(float(actual.get(key, 0.0)), SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def column_psi(reference: Mapping[str, Any], values: pd.Series) -> float:
    return psi(reference["shares"], current_shares(reference, values))


def drift_by_column(
    reference: Mapping[str, Any], features: pd.DataFrame, scores: np.ndarray | None = None
) -> dict[str, float]:
    """PSI per column present both in the reference and today (``score`` for the scores),
    worst first."""
    columns = reference["columns"]
    found = {
        column: column_psi(columns[column], features[column])
        for column in features.columns
        if column in columns
    }
    if scores is not None and SCORE in columns:
        found[SCORE] = column_psi(columns[SCORE], pd.Series(scores))
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def _numeric_shares(numbers: pd.Series, edges: list[float]) -> dict[str, float]:
    """Shares per bin, keyed "0".."n" (bin i holds values in (edges[i-1], edges[i]]) and
    MISSING."""
    total = len(numbers)
    if not total:
        return {}
    missing = numbers.isna()
    shares: dict[str, float] = {}
    if missing.any():
        shares[MISSING] = float(missing.sum() / total)
    present = numbers[~missing].to_numpy()
    if len(present):
        index = np.searchsorted(np.asarray(edges, dtype=float), present, side="left")
        counts = np.bincount(index, minlength=len(edges) + 1)
        for position, count in enumerate(counts):
            if count:
                shares[str(position)] = float(count / total)
    return shares
