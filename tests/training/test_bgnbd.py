"""The BG/NBD baseline: a correct likelihood recovers the parameters it was simulated with."""

from __future__ import annotations

import numpy as np

from training.bgnbd import BGNBD, fit, from_features


def _simulate(model: BGNBD, customers: int, T: float, seed: int):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(model.r, 1.0 / model.alpha, size=customers)
    drop = rng.beta(model.a, model.b, size=customers)
    x = np.zeros(customers)
    t_x = np.zeros(customers)
    for i in range(customers):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / rates[i])
            if t > T:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < drop[i]:
                break
    return x, t_x, np.full(customers, T)


def test_fit_recovers_simulated_parameters():
    truth = BGNBD(r=0.8, alpha=4.0, a=0.6, b=2.5)
    x, t_x, T = _simulate(truth, 4000, T=40.0, seed=1)
    fitted = fit(x, t_x, T)
    assert abs(fitted.r - truth.r) / truth.r < 0.25
    assert abs(fitted.alpha - truth.alpha) / truth.alpha < 0.35
    # The mean drop-out probability a / (a + b) is what the data pins down best.
    assert abs(fitted.a / (fitted.a + fitted.b) - 0.6 / 3.1) < 0.05


def test_a_customer_silent_for_long_is_less_likely_alive():
    model = BGNBD(r=0.8, alpha=4.0, a=0.6, b=2.5)
    recent, silent = model.p_alive(
        np.array([5.0, 5.0]), np.array([39.0, 10.0]), np.array([40.0, 40.0])
    )
    assert recent > silent
    assert model.p_alive(np.array([0.0]), np.array([0.0]), np.array([40.0]))[0] == 1.0
    quiet = model.p_no_purchase(
        np.array([5.0, 5.0]), np.array([39.0, 10.0]), np.array([40.0, 40.0]), 12.0
    )
    assert quiet[1] > quiet[0]


def test_feature_columns_become_repeat_count_last_purchase_time_and_age_in_weeks():
    x, t_x, T = from_features(
        np.array([3.0, 1.0, np.nan]), np.array([14.0, 21.0, np.nan]), np.array([70.0, 21.0, np.nan])
    )
    np.testing.assert_allclose(x, [2.0, 0.0, 0.0])
    np.testing.assert_allclose(t_x, [8.0, 0.0, 0.0])  # first to last purchase
    np.testing.assert_allclose(T, [10.0, 3.0, 0.0])  # since the first purchase
