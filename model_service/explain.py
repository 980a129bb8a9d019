"""Per-prediction reasons by occlusion against the model's reference row.

The contribution of feature *j* to one prediction is ``p(x) − p(x with x_j set to the
reference value)``: how much the served probability drops when this one value is made typical.
It is computed through the WHOLE served pipeline (imputation, encoding, the estimator and its
calibration), so it is faithful to exactly the model that made the prediction, whatever
estimator the trainer chose. We did not use SHAP: shap's TreeExplainer is wrong for
HistGradientBoosting with native categorical splits, does not see through a calibration
wrapper, and recent shap no longer supports our Python; exact linear contributions only exist
for linear models. The price is one extra prediction per feature, paid in one vectorised call
per chunk of rows.

Positive contributions are reasons for risk; the largest few are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from model_service.registry import ServedModel

Predict = Callable[[pd.DataFrame], np.ndarray]
TOP_REASONS = 3
# Smaller pushes than this (0.5 percentage points) are noise, not reasons.
MIN_CONTRIBUTION = 0.005
# Rows × features per predict call: bounds memory while keeping calls few.
MAX_CELLS = 200_000


def _reference_value(served: ServedModel, column: str) -> Any:
    # A missing numeric reference (a value that usually does not exist) is NaN, as in features.
    value = served.reference_row.get(column)
    return np.nan if value is None else value


def contributions(
    served: ServedModel,
    features: pd.DataFrame,
    base: np.ndarray | None = None,
    predict: Predict | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(probabilities, rows × columns contributions, the columns with a reference value).

    Without ``base`` the probabilities are predicted in the same call as the occluded rows:
    for a single record that is one model call instead of two. ``predict`` replaces
    ``served.predict_proba`` (the online path batches calls across requests).
    """
    predict = predict or served.predict_proba
    frame = features[list(served.feature_columns)]
    columns = [c for c in served.feature_columns if c in served.reference_row]
    if frame.empty or not columns:
        probabilities = base if base is not None else predict(frame)
        return probabilities, np.zeros((len(frame), len(columns))), columns
    references = {c: _reference_value(served, c) for c in columns}
    result = np.zeros((len(frame), len(columns)))
    probabilities = np.zeros(len(frame)) if base is None else np.asarray(base, dtype=float)
    blocks = len(columns) + (base is None)
    step = max(1, MAX_CELLS // blocks)
    for start in range(0, len(frame), step):
        chunk = frame.iloc[start : start + step]
        predicted = predict(_occluded(chunk, columns, references, base is None))
        predicted = predicted.reshape(blocks, len(chunk))
        if base is None:
            probabilities[start : start + len(chunk)] = predicted[0]
            predicted = predicted[1:]
        result[start : start + len(chunk)] = (
            probabilities[start : start + len(chunk), None] - predicted.T
        )
    return probabilities, result, columns


def _occluded(
    chunk: pd.DataFrame, columns: list[str], references: dict[str, Any], with_base: bool
) -> pd.DataFrame:
    """The chunk repeated once per occluded column (after itself when ``with_base``), with that
    column set to its reference value in its block.

    Built per dtype in numpy (one tile and one fancy-indexed assignment for the numeric block,
    the same for the categorical one): a few pandas operations instead of one per feature,
    which is what a one-record request would otherwise spend its time on.
    """
    n = len(chunk)
    offset = int(with_base)
    blocks = len(columns) + offset
    kinds = {column: dtype.kind for column, dtype in chunk.dtypes.items()}
    numeric = [c for c in chunk.columns if kinds[c] == "f"]
    categorical = [c for c in chunk.columns if kinds[c] != "f"]
    parts = []
    for names, dtype in ((numeric, float), (categorical, object)):
        if not names:
            continue
        values = np.tile(chunk[names].to_numpy(dtype=dtype), (blocks, 1))
        where = {name: i for i, name in enumerate(names)}
        picked = [(j, c) for j, c in enumerate(columns) if c in where]
        if picked:
            rows = np.concatenate(
                [np.arange((j + offset) * n, (j + offset + 1) * n) for j, _ in picked]
            )
            cols = np.repeat([where[c] for _, c in picked], n)
            fill = np.empty(len(picked) * n, dtype=dtype)
            for k, (_, c) in enumerate(picked):
                fill[k * n : (k + 1) * n] = references[c]
            values[rows, cols] = fill
        parts.append(pd.DataFrame(values, columns=names))
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
    return frame[list(chunk.columns)]


def top_reasons(
    served: ServedModel,
    features: pd.DataFrame,
    base: np.ndarray | None = None,
    top: int = TOP_REASONS,
    predict: Predict | None = None,
) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """(probabilities, for each row up to ``top`` reasons ``{feature, value, reference,
    contribution}``, largest push towards risk first)."""
    probabilities, matrix, columns = contributions(served, features, base, predict)
    if not columns:
        return probabilities, [[] for _ in range(len(features))]
    values = features[columns].to_numpy(dtype=object)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :top]
    reasons: list[list[dict[str, Any]]] = []
    for row, picks in enumerate(order):
        row_reasons = []
        for j in picks:
            push = float(matrix[row, j])
            if push < MIN_CONTRIBUTION:
                break
            row_reasons.append(
                {
                    "feature": columns[j],
                    "value": _plain(values[row, j]),
                    "reference": _plain(served.reference_row.get(columns[j])),
                    "contribution": round(push, 4),
                }
            )
        reasons.append(row_reasons)
    return probabilities, reasons


def _plain(value: Any) -> Any:
    """JSON-safe: NaN (a value that does not exist) becomes None; numpy scalars Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
