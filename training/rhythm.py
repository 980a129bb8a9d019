"""The customer's purchase rhythm as model inputs: BG/NBD fitted inside the served Pipeline.

``PurchaseRhythm`` fits the BG/NBD model (``training.bgnbd``) on the training rows' order
count, recency and age (``frequency``, ``recency_days``, ``first_purchase_days``) and appends
what it says about each customer: the probability they are still a customer, the purchases to
expect in the horizon, and the chance of none. Being a Pipeline step, the same four fitted
numbers are used when the model service scores, so what is trained is served. The step holds
only Python floats, so skops can save and load it once its type is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from training import bgnbd

# The columns PurchaseRhythm reads, and those it appends (in this order).
RHYTHM_INPUTS: tuple[str, ...] = ("frequency", "recency_days", "first_purchase_days")
RHYTHM_FEATURES: tuple[str, ...] = ("p_alive", "expected_purchases", "p_no_purchase_bgnbd")


class PurchaseRhythm(TransformerMixin, BaseEstimator):
    """Append BG/NBD's P(alive), expected purchases and P(no purchase) in ``horizon_days``.

    ``expected_purchases`` is P(alive) times the customer's posterior purchase rate times the
    horizon: it leaves out drop-out within the horizon (the exact expectation needs a
    hypergeometric function that is unstable for the fitted parameters of small shops), which
    only matters for ranking through P(alive), already a column of its own.
    """

    def __init__(self, horizon_days: int = 90) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: object = None) -> PurchaseRhythm:
        """Fit BG/NBD on the buyers among the rows (labels are not used)."""
        x, t_x, T = self._summary(X)
        bought = T > 0
        fitted = bgnbd.fit(x[bought], t_x[bought], T[bought])
        self.r_, self.alpha_, self.a_, self.b_ = (
            float(v) for v in (fitted.r, fitted.alpha, fitted.a, fitted.b)
        )
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The rows with ``RHYTHM_FEATURES`` appended."""
        out = X.copy()
        for name, values in self.rhythm_columns(X).items():
            out[name] = values
        return out

    def rhythm_columns(self, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``RHYTHM_FEATURES`` for rows given as a DataFrame or as numpy columns (the model
        service's compiled path calls this with the same arithmetic as ``transform``)."""
        model = bgnbd.BGNBD(self.r_, self.alpha_, self.a_, self.b_)
        x, t_x, T = self._summary(columns)
        horizon = self.horizon_days / bgnbd.TIME_UNIT_DAYS
        alive = model.p_alive(x, t_x, T)
        rate = (model.r + x) / (model.alpha + T)
        return {
            "p_alive": alive,
            "expected_purchases": alive * rate * horizon,
            "p_no_purchase_bgnbd": model.p_no_purchase(x, t_x, T, horizon),
        }

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The input columns followed by ``RHYTHM_FEATURES``."""
        names = list(input_features) if input_features is not None else []
        return np.asarray([*names, *RHYTHM_FEATURES], dtype=object)

    @staticmethod
    def _summary(columns: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return bgnbd.from_features(*(np.asarray(columns[c], dtype=float) for c in RHYTHM_INPUTS))
