"""Critical journeys: which stage × segment × product-category cells to fix first.

A cell holds the customers whose newest score (as of the end of the period) puts them in that
stage, segment and main product category. For each cell: how many customers, their mean risk,
the revenue at risk (Σ probability × value: what the cell loses if the scores come true), the
drop-off to the next stage during the period, mean CSAT/CES/NPS and the most common
abandonment reasons given in the period, and the change since the previous period: the same
figures for the same cell one period earlier (scores as of the period's start, events and
answers of the period before it). The list is sorted by revenue at risk.

When no score of the task is as old as the period's start there is nothing to compare with:
every row says ``first_period`` (not that every journey is new). NPS, CSAT and CES come with
their 95 % intervals and counts (``scores``, ``scores_before``); a move counts as a change
(``changed``) only when the two intervals do not overlap. Abandonment reasons are answers about
carts: only the cart task's cells list them (a loyal customer's cell has no cart reasons).

Every figure is aggregated per cell in the database, in one statement for both periods; only
per-cell rows come back to Python, whatever the number of customers. A customer with several
scored carts is in the cell of each (for the cart task), and their answers count in each.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from model_service.risk import next_newer_score
from model_service.sessions import Database, use_session
from shared.db.tables import JourneyEvent, Response, RiskScore
from shared.journey import STAGE_INDEX, STAGE_OF_EVENT, STAGES
from shared.metrics import (
    COUNT_LABELS,
    MIN_ANSWERS,
    SatisfactionCounts,
    Score,
    differ,
    satisfaction_counts,
)
from shared.tasks import CART_ABANDONMENT, DEFAULT_TASK

CELL = ("stage", "segment", "product_category")
PERIOD_PATTERN = re.compile(r"^(\d{1,3})d$")
# Views and purchases after a customer's first purchase mean they came back: loyalty.
RETURN_TYPES = ("page_view", "touchpoint", "product_view", "purchase")
TOP_REASONS = 3
CURRENT, PREVIOUS = "current", "previous"
# A cell key column without a value (a score with no stage, say) is shown as this.
NO_VALUE = "none"
# The tasks whose cells list abandonment reasons: the reason answers are about carts.
TASKS_WITH_REASONS = frozenset({CART_ABANDONMENT.name})
SCORED = ("nps", "csat", "ces")

Cell = tuple[str, str, str]


def period_days(period: str) -> int:
    """``"30d"`` → 30; ValueError for anything else (1–366 days)."""
    match = PERIOD_PATTERN.match(period.strip())
    if not match or not 1 <= int(match.group(1)) <= 366:
        raise ValueError("period must look like 30d (1 to 366 days)")
    return int(match.group(1))


@dataclass(frozen=True)
class Period:
    name: str  # CURRENT or PREVIOUS
    start: datetime
    end: datetime  # scores as of this moment; events and answers in [start, end)


@dataclass
class Answers:
    """A cell's survey answers in one period: counts summed in the database, and the reasons."""

    counts: SatisfactionCounts = field(default_factory=SatisfactionCounts)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        return self.counts.responses

    @property
    def nps(self) -> float | None:
        return self.counts.nps

    @property
    def csat(self) -> float | None:
        return self.counts.csat

    @property
    def ces(self) -> float | None:
        return self.counts.ces

    def add(self, reason: str | None, numbers: list) -> None:
        """Add one (cell, reason) row of counts, in the order of ``satisfaction_counts``."""
        row = SimpleNamespace(**dict(zip(COUNT_LABELS, numbers, strict=True)))
        self.counts.add(row)
        if reason:  # None and "" are no reason (as in shared.metrics.top_reasons)
            self.reasons[reason] = self.reasons.get(reason, 0) + int(row.responses or 0)

    def top_reasons(self) -> list[dict[str, Any]]:
        # Most common first, ties by name: the order of shared.metrics.top_reasons.
        ranked = sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))
        return [{"reason": reason, "count": count} for reason, count in ranked[:TOP_REASONS]]


def critical_journeys(
    db: Database,
    task: str = DEFAULT_TASK.name,
    *,
    period: str = "30d",
    end: datetime | None = None,
    limit: int = 20,
    flag_threshold: float = 0.0,
    min_answers: int = MIN_ANSWERS,
) -> list[dict[str, Any]]:
    """The cells of ``task`` sorted by revenue at risk; ``flagged`` when it is above
    ``flag_threshold``. ``end`` defaults to now; the previous period is the same length
    before it. An anonymous visitor's cart counts in its cell's risk and revenue at risk, but
    not among the customers, their drop-off or their answers (there is nobody to match).
    A score below ``min_answers`` answers is marked ``few_answers``."""
    length = timedelta(days=period_days(period))
    end = (end or datetime.now(UTC)).astimezone(UTC)
    periods = (
        Period(CURRENT, end - length, end),
        Period(PREVIOUS, end - 2 * length, end - length),
    )
    with use_session(db) as session:
        figures = _figures(session, task, periods)
        first_period = not _scored_by(session, task, periods[1].end)
    current = [cell for period, cell in figures.risk if period == CURRENT]
    risk = figures.risk
    current.sort(key=lambda cell: (-risk[CURRENT, cell][1], -risk[CURRENT, cell][0], cell))
    return [
        _row(cell, figures, flag_threshold, min_answers, first_period)
        for cell in current[: max(1, limit)]
    ]


def _scored_by(session: Session, task: str, moment: datetime) -> bool:
    """Whether ``task`` had been scored by ``moment``: a previous period to compare with."""
    query = select(RiskScore.id).where(RiskScore.task == task, RiskScore.as_of <= moment)
    return session.scalar(query.limit(1)) is not None


@dataclass
class Figures:
    """Per-cell figures of both periods, as the database aggregated them."""

    # (period, cell) → (customers, revenue at risk, mean risk)
    risk: dict[tuple[str, Cell], tuple[int, float, float]] = field(default_factory=dict)
    # (period, segment, category) → customers by the furthest stage index they reached
    furthest: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    answers: dict[tuple[str, Cell], Answers] = field(default_factory=dict)

    def drop_off(self, period: str, cell: Cell) -> float | None:
        """Of the cell's segment × category customers who reached the cell's stage in the
        period, the share who did not reach the next one."""
        stage, segment, category = cell
        counts = self.furthest.get((period, segment, category))
        index = STAGE_INDEX.get(stage)
        if counts is None or index is None or index + 1 >= len(STAGES):
            return None
        here, onward = sum(counts[index:]), sum(counts[index + 1 :])
        return 1.0 - onward / here if here else None


def _figures(session: Session, task: str, periods: tuple[Period, ...]) -> Figures:
    """Everything in one statement, so that the newest scores (the costly part: a window
    over every score) are ranked once for both periods and shared by every aggregate."""
    newest = _newest_scores(task, periods)
    parts = [_risk_rows(newest)]
    for period in periods:
        parts += [
            _furthest_rows(newest, period),
            _answer_rows(newest, period, task in TASKS_WITH_REASONS),
        ]
    figures = Figures()
    for row in session.execute(union_all(*parts)):
        kind, name, stage, segment, category, reason, reached, *numbers = row
        if kind == "risk":
            customers, revenue, mean = numbers[:3]
            figures.risk[name, (stage, segment, category)] = (
                int(customers),
                float(revenue or 0.0),
                float(mean),
            )
        elif kind == "furthest":
            if reached is not None and reached >= 0:
                counts = figures.furthest.setdefault((name, segment, category), [0] * len(STAGES))
                counts[int(reached)] += int(numbers[0])
        else:
            cell = (stage, segment, category)
            figures.answers.setdefault((name, cell), Answers()).add(reason, numbers)
    return figures


# Every part of the statement has these columns; a part leaves out what it does not fill.
LABELS = ("kind", "period", *CELL, "reason", "reached")
NUMBERS = len(COUNT_LABELS)


def _part(
    kind: str, period: ColumnElement | str, numbers: list[ColumnElement], **labels: ColumnElement
) -> list[ColumnElement]:
    """The columns of one part of the statement: its kind, the period, the labels it fills
    (typed NULL for the others, so that the parts line up on PostgreSQL) and its numbers."""
    period_column = literal(period) if isinstance(period, str) else period
    columns = [literal(kind).label("kind"), period_column.label("period")]
    for name in LABELS[2:]:
        empty = cast(null(), Integer() if name == "reached" else String())
        columns.append(labels.get(name, empty).label(name))
    numbers = numbers + [cast(null(), Float())] * (NUMBERS - len(numbers))
    return columns + [number.label(f"n{i}") for i, number in enumerate(numbers)]


def _newest_scores(task: str, periods: tuple[Period, ...]) -> CTE:
    """The newest score per customer and cart as of each period's end: rows ``(period,
    customer_id, stage, segment, product_category, value, probability)``."""
    current, previous = periods
    # as_of is filtered after the window, not before it: before, SQLite would choose the
    # as_of index and sort whole rows instead of reading one index in order
    # (next_newer_score); only the picked scores are read, by id (measured: 767 -> 353 ms at
    # 100,000 customers).
    ranked = (
        select(
            RiskScore.id,
            RiskScore.as_of,
            # The as-of time of the next newer score: a score is the newest as of a moment
            # when it is at or before the moment and the next newer one (if any) is after it.
            next_newer_score(RiskScore.as_of).label("newer_as_of"),
        )
        .where(RiskScore.task == task)
        .cte("ranked")
    )
    picked = union_all(
        *(
            select(literal(period.name).label("period"), ranked.c.id).where(
                ranked.c.as_of <= period.end,
                or_(ranked.c.newer_as_of.is_(None), ranked.c.newer_as_of > period.end),
            )
            for period in (current, previous)
        )
    ).cte("picked")
    return (
        select(
            picked.c.period,
            RiskScore.customer_id,
            *(func.coalesce(getattr(RiskScore, column), NO_VALUE).label(column) for column in CELL),
            func.coalesce(RiskScore.value, 0.0).label("value"),
            RiskScore.probability,
        )
        .join(RiskScore, RiskScore.id == picked.c.id)
        .cte("newest")
    )


def _risk_rows(newest: CTE) -> Select:
    key = [newest.c.period, *(newest.c[column] for column in CELL)]
    numbers = [
        func.count(newest.c.customer_id.distinct()),
        func.sum(newest.c.probability * newest.c.value),
        func.avg(newest.c.probability),
    ]
    labels = {column: newest.c[column] for column in CELL}
    return select(*_part("risk", newest.c.period, numbers, **labels)).group_by(*key)


def _event_stage_code() -> ColumnElement[int]:
    """The stage index an event shows its customer reached: an explicit stage wins, else the
    rules of shared.journey; -1 for an event that says nothing about the stage."""
    explicit = [(JourneyEvent.stage == stage, index) for stage, index in STAGE_INDEX.items()]
    by_type: dict[int, list[str]] = defaultdict(list)
    for event_type, stage in STAGE_OF_EVENT.items():
        by_type[STAGE_INDEX[stage]].append(event_type)
    implied = [(JourneyEvent.type.in_(types), index) for index, types in sorted(by_type.items())]
    return case(*explicit, *implied, else_=-1)


def _furthest_rows(newest: CTE, period: Period) -> Select:
    """Customers per segment × category and furthest stage reached by events in the period.
    A customer in several cells of one segment × category counts once there."""
    per_customer = (
        select(
            newest.c.customer_id,
            newest.c.segment,
            newest.c.product_category,
            func.max(_event_stage_code()).label("code"),
            func.max(case((JourneyEvent.type.in_(RETURN_TYPES), JourneyEvent.occurred_at))).label(
                "last_return"
            ),
        )
        .join(JourneyEvent, JourneyEvent.customer_id == newest.c.customer_id)
        .where(
            newest.c.period == period.name,
            JourneyEvent.occurred_at >= period.start,
            JourneyEvent.occurred_at < period.end,
        )
        .group_by(newest.c.customer_id, newest.c.segment, newest.c.product_category)
        .subquery()
    )
    # A return after the customer's first purchase (at any time before it) is loyalty.
    purchase = aliased(JourneyEvent)
    bought_before = exists().where(
        purchase.customer_id == per_customer.c.customer_id,
        purchase.type == "purchase",
        purchase.occurred_at < per_customer.c.last_return,
    )
    loyalty = STAGE_INDEX["loyalty"]
    reached = case(
        (per_customer.c.code >= loyalty, per_customer.c.code),
        (and_(per_customer.c.last_return.is_not(None), bought_before), loyalty),
        else_=per_customer.c.code,
    )
    # Grouped in an outer query: PostgreSQL would not see the expression (with its bound
    # parameters) in SELECT and GROUP BY as the same.
    furthest = select(
        per_customer.c.segment, per_customer.c.product_category, reached.label("reached")
    ).subquery()
    key = (furthest.c.segment, furthest.c.product_category, furthest.c.reached)
    labels = {"segment": key[0], "product_category": key[1], "reached": key[2]}
    return select(*_part("furthest", period.name, [func.count()], **labels)).group_by(*key)


def _answer_rows(newest: CTE, period: Period, with_reasons: bool) -> Select:
    """Per cell (and reason, ``with_reasons``), counts of the survey answers the cell's
    customers gave in the period; a customer in several cells counts in each."""
    people = (
        select(newest.c.customer_id, *(newest.c[column] for column in CELL))
        .where(newest.c.period == period.name)
        .distinct()
        .subquery()
    )
    key = [*(people.c[column] for column in CELL)]
    labels = {column: people.c[column] for column in CELL}
    if with_reasons:
        key.append(Response.reason)
        labels["reason"] = Response.reason
    numbers = satisfaction_counts(Response.nps, Response.csat, Response.ces)
    return (
        select(*_part("answers", period.name, numbers, **labels))
        .select_from(people)
        .join(Response, Response.customer_id == people.c.customer_id)
        .where(Response.submitted_at >= period.start, Response.submitted_at < period.end)
        .group_by(*key)
    )


def _change(now: float | None, before: float | None) -> float | None:
    return now - before if now is not None and before is not None else None


def _scores(answers: Answers, min_answers: int) -> dict[str, Score]:
    found = answers.counts.scores(min_answers)
    return {name: found[f"{name}_score"] for name in SCORED}


def _row(
    cell: Cell, figures: Figures, flag_threshold: float, min_answers: int, first_period: bool
) -> dict[str, Any]:
    stage, segment, category = cell
    customers, revenue, mean_risk = figures.risk[CURRENT, cell]
    was_there = (PREVIOUS, cell) in figures.risk
    _customers, revenue_before, mean_before = figures.risk.get((PREVIOUS, cell), (0, None, None))
    now = figures.answers.get((CURRENT, cell), Answers())
    before = figures.answers.get((PREVIOUS, cell), Answers())
    drop_now = figures.drop_off(CURRENT, cell)
    # Drop-off is a figure of the segment × category funnel; a cell that was empty then has
    # no previous figures at all, like its risk.
    drop_before = figures.drop_off(PREVIOUS, cell) if was_there else None
    index = STAGE_INDEX.get(stage)
    scores, scores_before = _scores(now, min_answers), _scores(before, min_answers)
    return {
        "stage": stage,
        "segment": segment,
        "product_category": category,
        "customers": customers,
        "mean_risk": mean_risk,
        "revenue_at_risk": revenue,
        "drop_off": drop_now,
        "next_stage": STAGES[index + 1] if index is not None and index + 1 < len(STAGES) else None,
        "nps": now.nps,
        "csat": now.csat,
        "ces": now.ces,
        "responses": now.responses,
        "top_reasons": now.top_reasons(),
        "previous_mean_risk": mean_before,
        "previous_revenue_at_risk": revenue_before,
        "previous_drop_off": drop_before,
        "previous_nps": before.nps,
        "previous_csat": before.csat,
        "previous_ces": before.ces,
        "mean_risk_change": _change(mean_risk, mean_before),
        "revenue_at_risk_change": _change(revenue, revenue_before),
        "drop_off_change": _change(drop_now, drop_before),
        "nps_change": _change(now.nps, before.nps),
        "csat_change": _change(now.csat, before.csat),
        "ces_change": _change(now.ces, before.ces),
        "flagged": revenue > flag_threshold,
        # No scoring as old as the period's start: nothing to compare with, for any row.
        "first_period": first_period,
        # Scored then, but not in this cell: a journey new since the previous period.
        "new_journey": not first_period and not was_there,
        "scores": {name: score.as_dict() for name, score in scores.items()},
        "scores_before": {name: score.as_dict() for name, score in scores_before.items()},
        # A change only when the two 95 % intervals do not overlap.
        "changed": {name: differ(scores[name], scores_before[name]) for name in SCORED},
    }
