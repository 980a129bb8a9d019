"""Figures of the newest scores: when each task was last scored, how its scores spread over
probability and band, and the tiles above the at-risk list.

Every figure is taken over ``model_service.risk.newest_scores``, the rows the at-risk list
pages through, and aggregated in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from model_service.risk import OPEN_FOLLOW_UP_STATUSES, newest_scores
from shared.cache import TimedCache
from shared.db.tables import FollowUp, RiskScore
from shared.tasks import TASKS

# Figures over every newest score may be half a minute old; the lists below them are live.
SUMMARY_CACHE = TimedCache(seconds=30)


def latest_as_of(session: Session, task: str) -> datetime | None:
    """The as-of time of the newest scoring of ``task``: one index seek on (task, as_of)."""
    return session.scalar(select(func.max(RiskScore.as_of)).where(RiskScore.task == task))


def last_scored(session: Session) -> dict[str, dict]:
    """Per task: the newest scoring (its as-of time), when it was written, and how many
    customers or carts it scored. Each figure is an index seek on (task, as_of)."""
    found = {}
    for task in TASKS:
        as_of = latest_as_of(session, task)
        if as_of is None:
            continue
        row = session.execute(
            select(func.max(RiskScore.scored_at), func.count()).where(
                RiskScore.task == task, RiskScore.as_of == as_of
            )
        ).one()
        found[task] = {"scored_at": row[0], "as_of": as_of, "count": int(row[1] or 0)}
    return found


@dataclass(frozen=True)
class RiskDistribution:
    """The newest scores of a task per tenth of probability and band, and where the bands
    begin among them (the lowest probability stored with each band)."""

    counts: list[dict[str, int]]  # per tenth of probability: band -> how many
    starts: dict[str, float]  # band -> its lowest probability ("medium", "high")

    @property
    def total(self) -> int:
        return sum(sum(bucket.values()) for bucket in self.counts)


def risk_distribution(session: Session, task: str, bins: int = 10) -> RiskDistribution:
    """How many customers (or carts) have their latest score in each tenth of probability,
    split by the band they were given, and the probabilities where the bands begin."""
    latest = newest_scores(task)
    # A ladder of comparisons, not floor(): SQLite may lack it and PostgreSQL's cast rounds.
    bucket = case(
        *[(latest.c.probability < (i + 1) / bins, i) for i in range(bins - 1)], else_=bins - 1
    ).label("bucket")
    rows = session.execute(
        select(bucket, latest.c.band, func.count(), func.min(latest.c.probability))
        .select_from(latest)
        .group_by(bucket, latest.c.band)
    ).all()
    counts: list[dict[str, int]] = [{} for _ in range(bins)]
    starts: dict[str, float] = {}
    for b, band, n, lowest in rows:
        if b is None:
            continue
        counts[int(b)][band] = int(n)
        if band != "low":
            starts[band] = min(float(lowest), starts.get(band, 1.0))
    return RiskDistribution(counts, starts)


def risk_summary(session: Session, task: str) -> dict[str, float | int]:
    """Across the newest scores of ``task`` that the at-risk list shows (known customers):
    customers per band, value at risk in the high band, and how many high-band customers
    nobody has taken yet."""
    ranked = newest_scores(task, customers_only=True)
    taken = (
        select(FollowUp.customer_id)
        .where(FollowUp.task == task, FollowUp.status.in_(OPEN_FOLLOW_UP_STATUSES))
        .scalar_subquery()
    )
    is_high = ranked.c.band == "high"
    row = session.execute(
        select(
            func.count().label("scored"),
            func.sum(case((is_high, 1), else_=0)).label("high"),
            func.sum(case((ranked.c.band == "medium", 1), else_=0)).label("medium"),
            func.sum(
                case((is_high, ranked.c.probability * func.coalesce(ranked.c.value, 0.0)), else_=0)
            ).label("high_value_at_risk"),
            func.sum(case((and_(is_high, ranked.c.customer_id.not_in(taken)), 1), else_=0)).label(
                "high_untaken"
            ),
        )
    ).one()
    return {
        "scored": int(row.scored or 0),
        "high": int(row.high or 0),
        "medium": int(row.medium or 0),
        "high_value_at_risk": float(row.high_value_at_risk or 0.0),
        "high_untaken": int(row.high_untaken or 0),
    }
