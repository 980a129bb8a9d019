"""Customer-satisfaction metrics as pure functions, shared by the survey API and the dashboard.

- NPS: % promoters (9–10) − % detractors (0–6) among NPS answers, from −100 to 100.
- CSAT: % of CSAT answers that are 4 or 5 (satisfied or very satisfied).
- CES: the mean customer-effort score on 1–7 (higher is easier, as our surveys ask it).

Missing answers (None, NaN) are skipped; with no answers a metric is None, never 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta

PERIODS: tuple[str, ...] = ("day", "week", "month", "all")


def _answered(scores: Iterable[float | None]) -> list[float]:
    return [float(s) for s in scores if s is not None and not math.isnan(float(s))]


def nps_category(score: int) -> str:
    """``promoter`` (9–10), ``passive`` (7–8) or ``detractor`` (0–6)."""
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


def nps(scores: Iterable[float | None]) -> float | None:
    """Net promoter score, −100..100, or None without answers."""
    answered = _answered(scores)
    if not answered:
        return None
    promoters = sum(1 for s in answered if s >= 9)
    detractors = sum(1 for s in answered if s <= 6)
    return round(100.0 * (promoters - detractors) / len(answered), 2)


def csat(scores: Iterable[float | None]) -> float | None:
    """Share of satisfied answers (4–5 on 1–5) in percent, or None without answers."""
    answered = _answered(scores)
    if not answered:
        return None
    return round(100.0 * sum(1 for s in answered if s >= 4) / len(answered), 2)


def ces(scores: Iterable[float | None]) -> float | None:
    """Mean customer-effort score (1–7), or None without answers."""
    answered = _answered(scores)
    if not answered:
        return None
    return round(sum(answered) / len(answered), 3)


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
