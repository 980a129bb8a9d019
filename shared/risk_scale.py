"""One risk scale per task, and how a probability is written for people.

A band says where a score stands among the scores being served, not what a fixed threshold
thinks a probability means: ``high`` is the top ``HIGH_SHARE`` of a scoring, ``medium`` the
next ``MEDIUM_SHARE``, ``low`` the rest. The cut points are probabilities, so the band is
monotone in the probability by construction, and one set of cut points serves the list, the
customer page, the histogram and the online predictions alike.

The trainer writes the same scale on its validation scores (``cut_points``) into the model's
metadata; the model service uses it until the first batch of that version exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.tasks import BANDS

HIGH_SHARE = 0.10
MEDIUM_SHARE = 0.20
# Below and above these a whole percent would claim a precision the model does not have
# (and "0 %" or "100 %" a certainty it never has).
FLOOR_PERCENT = 1
CEILING_PERCENT = 99


@dataclass(frozen=True)
class CutPoints:
    """A score is ``high`` when its probability is at least ``high``, else ``medium`` when at
    least ``medium``, else ``low``: ties go to the higher band."""

    medium: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"medium": self.medium, "high": self.high}


def cut_points(
    probabilities: Sequence[float] | np.ndarray,
    high_share: float = HIGH_SHARE,
    medium_share: float = MEDIUM_SHARE,
) -> CutPoints | None:
    """The scale of a set of scores: the top ``high_share`` is high, the next ``medium_share``
    medium. None for no scores. At least one score is high (the top one)."""
    values = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    if values.size == 0:
        return None
    n = values.size
    medium_rank, high_rank = cut_ranks(n, high_share, medium_share)
    return CutPoints(medium=float(values[medium_rank - 1]), high=float(values[high_rank - 1]))


def cut_ranks(
    n: int, high_share: float = HIGH_SHARE, medium_share: float = MEDIUM_SHARE
) -> tuple[int, int]:
    """(medium, high): the 1-based ranks, highest probability first, of the cut points of
    ``n`` scores (engines that cannot sort in memory find the values at these ranks)."""
    high_rank = max(1, _ceil(high_share * n))
    medium_rank = max(high_rank, _ceil((high_share + medium_share) * n))
    return min(medium_rank, n), high_rank


def _ceil(count: float) -> int:
    # 0.1 + 0.2 is 0.30000000000000004: without rounding, 30 % of 1000 would be 301 rows.
    return math.ceil(round(count, 6))


def bands_for(probabilities: Sequence[float] | np.ndarray, cuts: CutPoints) -> list[str]:
    """The band of every probability on the scale ``cuts``."""
    values = np.asarray(probabilities, dtype=float)
    index = (values >= cuts.medium).astype(int) + (values >= cuts.high).astype(int)
    return [BANDS[i] for i in index]


def from_metadata(risk_bands: Mapping[str, Any] | None) -> CutPoints | None:
    """The ``default`` scale of a model's ``risk_bands`` metadata (older models also carry a
    scale per stage: those are ignored); None when it has none."""
    if not isinstance(risk_bands, Mapping) or not isinstance(risk_bands.get("default"), Mapping):
        return None
    default = risk_bands["default"]
    try:
        return CutPoints(medium=float(default["medium"]), high=float(default["high"]))
    except (KeyError, TypeError, ValueError):
        return None


def percentiles(probabilities: np.ndarray, sorted_batch: np.ndarray) -> np.ndarray:
    """Per probability, the percent of the batch (sorted ascending) scored at or below it:
    100 for the riskiest."""
    if sorted_batch.size == 0:
        return np.full(len(probabilities), np.nan)
    at_or_below = np.searchsorted(sorted_batch, np.asarray(probabilities, dtype=float), "right")
    return 100.0 * at_or_below / sorted_batch.size


def shown_percent(probability: float) -> tuple[str, int]:
    """How a probability is written: (comparison, whole percent) — ("<", 1) under 1 %,
    (">", 99) over 99 %, else ("", the rounded percent). Never 0 % or 100 %."""
    percent = 100.0 * float(probability)
    if percent < FLOOR_PERCENT:
        return "<", FLOOR_PERCENT
    if percent > CEILING_PERCENT:
        return ">", CEILING_PERCENT
    return "", min(CEILING_PERCENT, max(FLOOR_PERCENT, math.floor(percent + 0.5)))


def probability_text(probability: float | None, locale: str = "en") -> str:
    """A probability in words of ``locale``: "37 %", "< 1 %", "> 99 %" (never "100 %");
    "—" when there is none."""
    from babel.numbers import format_percent

    if probability is None or probability != probability:
        return "—"
    comparison, percent = shown_percent(probability)
    text = format_percent(percent / 100, format="#,##0 %", locale=locale)
    return f"{comparison} {text}" if comparison else text
