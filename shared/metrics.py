"""Customer-satisfaction metrics: the one definition of NPS, CSAT and CES, in Python and in SQL.

- NPS: % promoters (9–10) − % detractors (0–6) among NPS answers, from −100 to 100.
- CSAT: % of CSAT answers that are 4 or 5 (satisfied or very satisfied).
- CES: the mean customer-effort score on 1–7 (higher is easier, as our surveys ask it).

Missing answers (None, NaN) are skipped; with no answers a metric is None, never 0.

Every figure is made from counts (``*_from_counts``): the survey API counts answers in Python,
the dashboard and the critical journeys count them in SQL (``satisfaction_counts``), and the
same functions turn either into the figure, with the same rounding.

A figure is shown with its uncertainty (``Score``): its 95 % interval and how many answers it
rests on, ``few`` below a minimum count (``Settings.min_answers``, env
``KUNDRESA_MIN_ANSWERS``, default 30). NPS takes the standard error of the difference of the
promoter and detractor shares, CSAT and other top-box shares a Wilson interval, CES a
t interval. Two periods' figures ``differ`` only when their intervals do not overlap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func

PERIODS: tuple[str, ...] = ("day", "week", "month", "all")

PROMOTER_MIN = 9  # NPS 9–10
DETRACTOR_MAX = 6  # NPS 0–6
SATISFIED_MIN = 4  # CSAT 4–5 on 1–5
# A CSAT answer this low or a CES answer this hard marks an unhappy customer (dashboard advice).
DISSATISFIED_MAX = 2  # CSAT 1–2
HARD_EFFORT_MAX = 3  # CES 1–3 on 1–7
# Below this many answers a figure is shown greyed as "few answers" (Settings.min_answers).
MIN_ANSWERS = 30
CONFIDENCE = 0.95
Z_95 = 1.959963984540054  # the two-sided 95 % quantile of the standard normal


def _answered(scores: Iterable[float | None]) -> list[float]:
    return [float(s) for s in scores if s is not None and not math.isnan(float(s))]


def is_promoter(score: float) -> bool:
    return score >= PROMOTER_MIN


def is_detractor(score: float) -> bool:
    return score <= DETRACTOR_MAX


def is_satisfied(csat_score: float) -> bool:
    return csat_score >= SATISFIED_MIN


def nps_category(score: int) -> str:
    """``promoter`` (9–10), ``passive`` (7–8) or ``detractor`` (0–6)."""
    if is_promoter(score):
        return "promoter"
    return "detractor" if is_detractor(score) else "passive"


def nps_from_counts(promoters: int, detractors: int, answered: int) -> float | None:
    """Net promoter score, −100..100, from counts; None without answers."""
    if not answered:
        return None
    return round(100.0 * (promoters - detractors) / answered, 2)


def csat_from_counts(satisfied: int, answered: int) -> float | None:
    """Share of satisfied answers in percent, from counts; None without answers."""
    if not answered:
        return None
    return round(100.0 * satisfied / answered, 2)


def ces_from_sum(total: float, answered: int) -> float | None:
    """Mean customer-effort score from the sum of the answers; None without answers."""
    if not answered:
        return None
    return round(total / answered, 3)


def nps(scores: Iterable[float | None]) -> float | None:
    """Net promoter score, −100..100, or None without answers."""
    answered = _answered(scores)
    promoters = sum(1 for s in answered if is_promoter(s))
    detractors = sum(1 for s in answered if is_detractor(s))
    return nps_from_counts(promoters, detractors, len(answered))


def csat(scores: Iterable[float | None]) -> float | None:
    """Share of satisfied answers (4–5 on 1–5) in percent, or None without answers."""
    answered = _answered(scores)
    return csat_from_counts(sum(1 for s in answered if is_satisfied(s)), len(answered))


def ces(scores: Iterable[float | None]) -> float | None:
    """Mean customer-effort score (1–7), or None without answers."""
    answered = _answered(scores)
    return ces_from_sum(sum(answered), len(answered))


# --- with their uncertainty -------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A figure with its 95 % interval and the number of answers it rests on; ``few`` when
    that is below the minimum count, so that it is shown as a hint, not a fact."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    few: bool

    @property
    def few_answers(self) -> bool:
        return self.few

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "few_answers": self.few,
        }


def _score(
    value: float | None,
    low: float,
    high: float,
    n: int,
    minimum: int,
    lo: float,
    hi: float,
    digits: int,
) -> Score:
    """Clip the interval to the scale [lo, hi] and round it as the figure is rounded."""
    return Score(
        value,
        round(max(lo, low), digits),
        round(min(hi, high), digits),
        n,
        n < minimum,
    )


def _no_answers() -> Score:
    return Score(None, None, None, 0, True)


def nps_score(promoters: int, detractors: int, answered: int, minimum: int = MIN_ANSWERS) -> Score:
    """NPS with the 95 % interval of the difference of the promoter and detractor shares:
    se = sqrt((p+ + p− − (p+ − p−)²) / n), times 100."""
    if not answered:
        return _no_answers()
    plus, minus = promoters / answered, detractors / answered
    se = math.sqrt(max(0.0, plus + minus - (plus - minus) ** 2) / answered)
    centre = plus - minus
    value = nps_from_counts(promoters, detractors, answered)
    return _score(
        value,
        100 * (centre - Z_95 * se),
        100 * (centre + Z_95 * se),
        answered,
        minimum,
        -100.0,
        100.0,
        2,
    )


def wilson_interval(hits: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a share (0–1): unlike the normal one it stays inside
    0–1 and is not zero-wide at 0 % or 100 % from a few answers."""
    if not n:
        raise ValueError("a share of no answers has no interval")
    share = hits / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return centre - half, centre + half


def share_score(hits: int, answered: int, minimum: int = MIN_ANSWERS) -> Score:
    """A top-box share in percent (CSAT 4–5, say) with its Wilson 95 % interval."""
    if not answered:
        return _no_answers()
    low, high = wilson_interval(hits, answered)
    value = csat_from_counts(hits, answered)
    return _score(value, 100 * low, 100 * high, answered, minimum, 0.0, 100.0, 2)


def csat_score(satisfied: int, answered: int, minimum: int = MIN_ANSWERS) -> Score:
    """CSAT (% answering 4–5) with its Wilson 95 % interval."""
    return share_score(satisfied, answered, minimum)


def ces_score(total: float, squares: float, answered: int, minimum: int = MIN_ANSWERS) -> Score:
    """Mean CES with its 95 % t interval, from the sum and the sum of squares of the answers
    (what SQL can add up). One answer has no spread: its interval is the whole scale."""
    if not answered:
        return _no_answers()
    mean = total / answered
    value = ces_from_sum(total, answered)
    if answered < 2:
        return Score(value, 1.0, 7.0, answered, answered < minimum)
    # Imported here: scipy.stats takes about half a second to load, which the survey service
    # should not pay at start for one quantile per metrics request.
    from scipy.stats import t as student_t

    variance = max(0.0, (squares - answered * mean * mean) / (answered - 1))
    half = student_t.ppf(0.5 + CONFIDENCE / 2, answered - 1) * math.sqrt(variance / answered)
    return _score(value, mean - half, mean + half, answered, minimum, 1.0, 7.0, 3)


def nps_with_interval(scores: Iterable[float | None], minimum: int = MIN_ANSWERS) -> Score:
    answered = _answered(scores)
    promoters = sum(1 for s in answered if is_promoter(s))
    detractors = sum(1 for s in answered if is_detractor(s))
    return nps_score(promoters, detractors, len(answered), minimum)


def csat_with_interval(scores: Iterable[float | None], minimum: int = MIN_ANSWERS) -> Score:
    answered = _answered(scores)
    return csat_score(sum(1 for s in answered if is_satisfied(s)), len(answered), minimum)


def ces_with_interval(scores: Iterable[float | None], minimum: int = MIN_ANSWERS) -> Score:
    answered = _answered(scores)
    return ces_score(sum(answered), sum(s * s for s in answered), len(answered), minimum)


def differ(now: Score | None, before: Score | None) -> bool:
    """Whether two periods' figures differ: only when both have an interval and the
    intervals do not overlap (a move inside the noise is not a change)."""
    if now is None or before is None:
        return False
    if None in (now.low, now.high, before.low, before.high):
        return False
    return now.low > before.high or now.high < before.low  # type: ignore[operator]


# --- in SQL -----------------------------------------------------------------------------------


def promoters_sql(nps_column: Any) -> ColumnElement:
    """How many NPS answers in the group are promoters (an aggregate expression)."""
    return func.sum(case((nps_column >= PROMOTER_MIN, 1), else_=0))


def detractors_sql(nps_column: Any) -> ColumnElement:
    """How many NPS answers in the group are detractors (an aggregate expression)."""
    return func.sum(case((nps_column <= DETRACTOR_MAX, 1), else_=0))


def satisfied_sql(csat_column: Any) -> ColumnElement:
    """How many CSAT answers in the group are satisfied (an aggregate expression)."""
    return func.sum(case((csat_column >= SATISFIED_MIN, 1), else_=0))


# The labels of ``satisfaction_counts``, in its order.
COUNT_LABELS: tuple[str, ...] = (
    "responses",
    "nps_answers",
    "promoters",
    "detractors",
    "csat_answers",
    "satisfied",
    "ces_answers",
    "ces_total",
    "ces_squares",
)
# The sums of answers (floats); the other labels are counts.
SUM_LABELS: tuple[str, ...] = ("ces_total", "ces_squares")


def satisfaction_counts(nps_column: Any, csat_column: Any, ces_column: Any) -> list[ColumnElement]:
    """Aggregate expressions, labelled as ``COUNT_LABELS``, from which ``SatisfactionCounts``
    makes NPS, CSAT and CES: what a GROUP BY over survey answers selects."""
    expressions = (
        func.count(),
        func.count(nps_column),
        promoters_sql(nps_column),
        detractors_sql(nps_column),
        func.count(csat_column),
        satisfied_sql(csat_column),
        func.count(ces_column),
        func.sum(ces_column),
        func.sum(ces_column * ces_column),
    )
    return [
        expression.label(name) for expression, name in zip(expressions, COUNT_LABELS, strict=True)
    ]


@dataclass
class SatisfactionCounts:
    """Answer counts of one group, as ``satisfaction_counts`` selects them; groups add up."""

    responses: int = 0
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_answers: int = 0
    satisfied: int = 0
    ces_answers: int = 0
    ces_total: float = 0.0
    ces_squares: float = 0.0

    @classmethod
    def of_row(cls, row: Any) -> SatisfactionCounts:
        """The counts of a result row that selected ``satisfaction_counts`` (NULL sums are 0)."""
        counts = cls()
        counts.add(row)
        return counts

    def add(self, row: Any) -> None:
        """Add the counts of a result row that selected ``satisfaction_counts``."""
        for name in COUNT_LABELS:
            number = getattr(row, name) or 0
            added = float(number) if name in SUM_LABELS else int(number)
            setattr(self, name, getattr(self, name) + added)

    def figures(self, minimum: int = MIN_ANSWERS) -> dict[str, Any]:
        """NPS, CSAT and CES with how many responses and NPS answers they are made of, and
        each as a ``Score`` (``nps_score``, ``csat_score``, ``ces_score``)."""
        return {
            "responses": self.responses,
            "nps": self.nps,
            "csat": self.csat,
            "ces": self.ces,
            "nps_answers": self.nps_answers,
            **self.scores(minimum),
        }

    def scores(self, minimum: int = MIN_ANSWERS) -> dict[str, Score]:
        """NPS, CSAT and CES with their intervals, as ``nps_score``, ``csat_score``, ``ces_score``."""
        return {
            "nps_score": nps_score(self.promoters, self.detractors, self.nps_answers, minimum),
            "csat_score": csat_score(self.satisfied, self.csat_answers, minimum),
            "ces_score": ces_score(self.ces_total, self.ces_squares, self.ces_answers, minimum),
        }

    @property
    def nps(self) -> float | None:
        return nps_from_counts(self.promoters, self.detractors, self.nps_answers)

    @property
    def csat(self) -> float | None:
        return csat_from_counts(self.satisfied, self.csat_answers)

    @property
    def ces(self) -> float | None:
        return ces_from_sum(self.ces_total, self.ces_answers)


def top_reasons(reasons: Iterable[str | None], n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most common abandonment reasons with their counts, most common first."""
    # Missing reasons arrive as None or NaN (pandas); only real reason codes count.
    counts = Counter(r for r in reasons if isinstance(r, str) and r)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def period_start(moment: datetime, period: str) -> date | None:
    """The first day of the period holding ``moment`` (weeks start on Monday); None for all."""
    day = moment.date()
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "all":
        return None
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")
