"""Per-prediction reasons by occlusion against the model's reference row.

The contribution of feature *j* to one prediction is ``p(x) − p(x with x_j set to the
reference value)``: how much the served probability drops when this one value is made typical.
It is computed through the WHOLE served pipeline (imputation, encoding, the estimator and its
calibration), so it is faithful to exactly the model that made the prediction, whatever
estimator the trainer chose. We did not use SHAP: shap's TreeExplainer is wrong for
HistGradientBoosting with native categorical splits, does not see through a calibration
wrapper, and recent shap no longer supports our Python; exact linear contributions only exist
for linear models. The price is one extra prediction per feature, paid in one vectorised call
per chunk of rows; the rows are numpy columns (``columns.py``), so building them costs little
next to the call.

Which reasons are reported is decided on the log-odds scale: near 0 or 1 the calibrated
probability saturates (at p = 0.9998 making one value typical moves it by hundredths of a
percentage point), so a threshold in probability left the riskiest rows with no reasons at all.
In log-odds the same push weighs the same at every probability. Pushes towards risk come
first, strongest first; when fewer than ``top`` values raise the risk, the strongest that lower
it follow, so every prediction has its reasons whatever its probability, each with its sign.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from model_service.champions import ServedModel
from model_service.columns import Columns, row_count, take

Predict = Callable[[Columns], np.ndarray]
TOP_REASONS = 3
# Smaller pushes than this in log-odds (0.5 percentage points at p = 0.5) are noise, not reasons.
MIN_LOG_ODDS = 0.02
# Probabilities are clipped this far from 0 and 1 before taking log-odds.
_EPSILON = 1e-9
# Rows × features per predict call: bounds memory while keeping calls few.
MAX_CELLS = 200_000


def _reference_value(served: ServedModel, column: str) -> Any:
    # A missing numeric reference (a value that usually does not exist) is NaN, as in features.
    value = served.reference_row.get(column)
    return np.nan if value is None else value


def contributions(
    served: ServedModel,
    features: Columns,
    base: np.ndarray | None = None,
    predict: Predict | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(probabilities, rows × columns contributions, the columns with a reference value).

    Without ``base`` the probabilities are predicted in the same call as the occluded rows:
    for a single record that is one model call instead of two. ``predict`` replaces
    ``served.predict_proba`` (the online path batches calls across requests).
    """
    predict = predict or served.predict_proba
    rows = row_count(features)
    columns = [c for c in served.feature_columns if c in served.reference_row]
    if rows == 0 or not columns:
        probabilities = base if base is not None else predict(features)
        return probabilities, np.zeros((rows, len(columns))), columns
    references = {c: _reference_value(served, c) for c in columns}
    result = np.zeros((rows, len(columns)))
    probabilities = np.zeros(rows) if base is None else np.asarray(base, dtype=float)
    blocks = len(columns) + (base is None)
    step = max(1, MAX_CELLS // blocks)
    names = served.feature_columns
    for start in range(0, rows, step):
        chunk = take({c: features[c] for c in names}, slice(start, start + step))
        count = row_count(chunk)
        predicted = predict(_occluded(chunk, columns, references, base is None))
        predicted = predicted.reshape(blocks, count)
        if base is None:
            probabilities[start : start + count] = predicted[0]
            predicted = predicted[1:]
        result[start : start + count] = probabilities[start : start + count, None] - predicted.T
    return probabilities, result, columns


def _occluded(
    chunk: Columns, columns: list[str], references: dict[str, Any], with_base: bool
) -> dict[str, np.ndarray]:
    """The chunk repeated once per occluded column (after itself when ``with_base``), with that
    column set to its reference value in its block: one tile and one slice assignment per
    column, whatever the chunk's size."""
    n = row_count(chunk)
    offset = int(with_base)
    blocks = len(columns) + offset
    occluded = {name: np.tile(values, blocks) for name, values in chunk.items()}
    for j, name in enumerate(columns):
        start = (j + offset) * n
        occluded[name][start : start + n] = references[name]
    return occluded


def top_reasons(
    served: ServedModel,
    features: Columns,
    base: np.ndarray | None = None,
    top: int = TOP_REASONS,
    predict: Predict | None = None,
) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """(probabilities, for each row up to ``top`` reasons ``{feature, value, reference,
    contribution}``: pushes towards risk first, then against it, strongest first)."""
    probabilities, matrix, columns = contributions(served, features, base, predict)
    if not columns:
        return probabilities, [[] for _ in range(row_count(features))]
    weights = log_odds_pushes(probabilities, matrix)
    # Sort key: the pushes up (positive) before the pushes down, each by strength.
    key = np.where(weights > 0, -weights - 1e3, -np.abs(weights))
    order = np.argsort(key, axis=1, kind="stable")
    reasons: list[list[dict[str, Any]]] = []
    for row, picks in enumerate(order):
        row_reasons: list[dict[str, Any]] = []
        for j in picks:
            if len(row_reasons) == top:
                break
            if abs(weights[row, j]) < MIN_LOG_ODDS:
                continue
            push = float(matrix[row, j])
            row_reasons.append(
                {
                    "feature": columns[j],
                    "value": _plain(features[columns[j]][row]),
                    "reference": _plain(served.reference_row.get(columns[j])),
                    # Four significant digits: near p = 1 a push is millionths; its sign counts.
                    "contribution": float(f"{push:.4g}"),
                }
            )
        reasons.append(row_reasons)
    return probabilities, reasons


def log_odds_pushes(probabilities: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Each contribution as logit(p) − logit(p with the value made typical)."""
    p = np.clip(np.asarray(probabilities, dtype=float), _EPSILON, 1 - _EPSILON)[:, None]
    occluded = np.clip(p - matrix, _EPSILON, 1 - _EPSILON)
    return _logit(p) - _logit(occluded)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _plain(value: Any) -> Any:
    """JSON-safe: NaN (a value that does not exist) becomes None; numpy scalars Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
