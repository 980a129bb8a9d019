"""Feature rows as plain numpy columns: what online predictions and the compiled model pass on.

A one-record request used to spend more time building and slicing small DataFrames than
predicting. A mapping of column name to a 1-D array carries the same values (floats for
numeric features, Python strings in object arrays for categorical ones) at a fraction of the
cost. Rows from the feature builder become columns once; a model that must be called with a
DataFrame gets one built from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

Columns = Mapping[str, np.ndarray]


def as_columns(features: pd.DataFrame | Columns, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The ``names`` columns of a DataFrame or of columns, as numpy arrays (no copy if possible)."""
    return {name: np.asarray(features[name]) for name in names}


def to_frame(columns: Columns, names: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of the ``names`` columns, as the feature builder would make it."""
    return pd.DataFrame({name: columns[name] for name in names}, columns=list(names))


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def take(columns: Columns, rows: Any) -> dict[str, np.ndarray]:
    """The rows picked by ``rows`` (a slice, a boolean mask or positions) of every column."""
    return {name: values[rows] for name, values in columns.items()}


def concat(parts: Sequence[Columns]) -> dict[str, np.ndarray]:
    """The rows of ``parts`` one after the other (every part has the same columns)."""
    if len(parts) == 1:
        return dict(parts[0])
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
