"""The one risk scale per task and how a probability is written."""

from __future__ import annotations

import numpy as np
import pytest

from shared.risk_scale import (
    HIGH_SHARE,
    MEDIUM_SHARE,
    CutPoints,
    bands_for,
    cut_points,
    from_metadata,
    percentiles,
    probability_text,
    shown_percent,
)
from shared.tasks import BANDS


def test_top_tenth_is_high_next_fifth_medium_and_bands_rise_with_the_probability():
    probabilities = np.random.default_rng(3).beta(2, 5, size=1000)
    cuts = cut_points(probabilities)
    bands = bands_for(probabilities, cuts)
    assert bands.count("high") == 1000 * HIGH_SHARE
    assert bands.count("medium") == 1000 * MEDIUM_SHARE
    order = np.argsort(probabilities)
    ranks = [BANDS.index(bands[i]) for i in order]
    assert ranks == sorted(ranks)


def test_ties_at_a_cut_point_all_go_to_the_higher_band():
    probabilities = [0.9] * 5 + [0.1] * 15
    bands = bands_for(probabilities, cut_points(probabilities))
    assert bands[:5] == ["high"] * 5  # 25 %, not 10 %: no two equal scores differ in band
    # The 70th-percentile score is 0.1, so every 0.1 is medium rather than some of them low.
    assert set(bands[5:]) == {"medium"}


def test_a_scale_needs_scores_and_keeps_at_least_the_top_score_high():
    assert cut_points([]) is None
    assert bands_for([0.3], cut_points([0.3])) == ["high"]


def test_old_metadata_with_a_scale_per_stage_loads_its_default_scale():
    old = {"default": {"medium": 0.3, "high": 0.6}, "loyalty": {"medium": 0.5, "high": 0.9}}
    assert from_metadata(old) == CutPoints(medium=0.3, high=0.6)
    assert from_metadata({"loyalty": {"medium": 0.5, "high": 0.9}}) is None
    assert from_metadata(None) is None


def test_percentile_is_the_share_of_the_batch_at_or_below():
    batch = np.sort(np.array([0.1, 0.2, 0.3, 0.4]))
    assert percentiles(np.array([0.4, 0.1, 0.25]), batch).tolist() == [100.0, 25.0, 50.0]


@pytest.mark.parametrize(
    ("probability", "shown"),
    [
        (1.0, (">", 99)),
        (0.9999, (">", 99)),
        (0.995, (">", 99)),
        (0.991, (">", 99)),
        (0.99, ("", 99)),
        (0.37, ("", 37)),
        (0.015, ("", 2)),
        (0.01, ("", 1)),
        (0.0099, ("<", 1)),
        (0.0, ("<", 1)),
    ],
)
def test_a_probability_is_shown_in_whole_percent_never_as_0_or_100(probability, shown):
    assert shown_percent(probability) == shown


def test_probability_text_in_english_and_swedish_never_says_100_percent():
    assert probability_text(0.9999, "en") == "> 99 %"
    assert probability_text(0.00001, "en") == "< 1 %"
    assert probability_text(0.37, "en") == "37 %"
    assert probability_text(0.9999, "sv").replace("\xa0", " ") == "> 99 %"
    assert probability_text(None) == "—"
    for p in np.linspace(0, 1, 2001):
        assert "100" not in probability_text(p) and probability_text(p) != "0 %"
