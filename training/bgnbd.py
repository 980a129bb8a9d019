"""The BG/NBD buy-till-you-die baseline (Fader, Hardie & Lee 2005), in scipy.

Why our own forty lines and not a library: ``lifetimes`` is archived and breaks on current
pandas/numpy, and ``pymc-marketing`` pulls in PyMC and a compiler toolchain for one
four-parameter maximum-likelihood fit. The model is small and its likelihood is closed-form:

- while alive, a customer buys at rate λ ~ Gamma(r, α);
- after each purchase they leave with probability p ~ Beta(a, b).

For a customer with ``x`` repeat purchases, the last at ``t_x``, observed for ``T`` (time since
the first purchase), P(alive) = 1 / (1 + [x > 0] · a / (b + x − 1) · ((α + T) / (α + t_x))^(r+x)).
The baseline's brand-switch score is P(no purchase in the next h) =
1 − P(alive) · (1 − ((α + T) / (α + T + h))^(r+x)): a customer can only leave right after a
purchase, so one who makes none in h either left already or was alive and did not buy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from shared.journey_frames import JourneyFrames, as_utc

TIME_UNIT_DAYS = 7.0  # fit in weeks: parameters stay in a well-conditioned range


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters: purchase rate ~ Gamma(r, alpha), drop-out ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability that each customer has not left yet."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        log_ratio = (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        with np.errstate(divide="ignore"):
            log_term = np.log(self.a) - np.log(np.maximum(self.b + x - 1, 1e-12)) + log_ratio
        odds = np.where(x > 0, np.exp(np.minimum(log_term, 700)), 0.0)
        return 1.0 / (1.0 + odds)

    def p_no_purchase(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        """Probability of no purchase within ``horizon`` (same unit as T): the churn score."""
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        quiet_if_alive = ((self.alpha + T) / (self.alpha + T + horizon)) ** (self.r + x)
        return 1.0 - self.p_alive(x, t_x, T) * (1.0 - quiet_if_alive)


def negative_log_likelihood(params: np.ndarray, x, t_x, T) -> float:
    """Minus the BG/NBD log-likelihood of all customers, for log-parameters (r, alpha, a, b)."""
    r, alpha, a, b = np.exp(params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    first = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    second = np.where(
        x > 0,
        betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return -float(np.sum(common + np.logaddexp(first, second)))


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
    """Maximum-likelihood parameters for repeat counts, last-purchase times and ages."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    result = minimize(
        negative_log_likelihood,
        x0=np.log([1.0, 1.0, 1.0, 1.0]),
        args=(x, t_x, T),
        method="L-BFGS-B",
        bounds=[(-8, 8)] * 4,
    )
    return BGNBD(*np.exp(result.x))


def from_features(
    frequency: np.ndarray, recency_days: np.ndarray, first_purchase_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (x, t_x, T) in weeks from customer feature columns.

    x is the number of repeat purchases, t_x the time from the first to the last purchase and T
    the time since the first purchase. Unlike ``rfm_summary`` two orders on one day count twice:
    the features count orders, and the model only needs the same rule in fit and in scoring.
    Customers who never bought (NaN) are taken as first-time buyers of today; negative values
    (which the feature builder never makes) as zero.
    """
    frequency, recency, first = (
        np.maximum(np.nan_to_num(np.asarray(v, dtype=float), nan=0.0), 0.0)
        for v in (frequency, recency_days, first_purchase_days)
    )
    first = np.maximum(first, recency)
    x = np.maximum(frequency - 1.0, 0.0)
    return x, (first - recency) / TIME_UNIT_DAYS, first / TIME_UNIT_DAYS


def rfm_summary(frames: JourneyFrames, cutoff) -> pd.DataFrame:
    """Per customer who bought before ``cutoff``: x (repeat purchases), t_x and T in weeks."""
    cutoff_ts = as_utc(cutoff)
    events = frames.events
    purchases = events[
        (events["type"].astype(str) == "purchase") & (events["occurred_at"] < cutoff_ts)
    ]
    # BG/NBD counts purchase days: two orders on one day are one transaction.
    days = purchases["occurred_at"].dt.floor("D")
    grouped = days.groupby(purchases["customer_id"])
    first, last, count = grouped.min(), grouped.max(), grouped.nunique()
    unit = pd.Timedelta(days=TIME_UNIT_DAYS)
    return pd.DataFrame(
        {
            "x": (count - 1).astype(float),
            "t_x": (last - first) / unit,
            "T": (cutoff_ts.floor("D") - first) / unit,
        }
    )


def churn_scores(
    frames: JourneyFrames, cutoff, customers: pd.Index, horizon_days: float
) -> tuple[pd.Series, BGNBD]:
    """Fit on every buyer's history before ``cutoff`` (no labels needed) and score ``customers``."""
    summary = rfm_summary(frames, cutoff)
    model = fit(summary["x"], summary["t_x"], summary["T"])
    rows = summary.reindex(customers)
    scores = model.p_no_purchase(
        rows["x"].to_numpy(),
        rows["t_x"].to_numpy(),
        rows["T"].to_numpy(),
        horizon_days / TIME_UNIT_DAYS,
    )
    return pd.Series(scores, index=customers, name="bgnbd"), model
