"""Critical journeys: which stage × segment × product-category cells to fix first.

A cell holds the customers whose newest score (as of the end of the period) puts them in that
stage, segment and main product category. For each cell: how many customers, their mean risk,
the revenue at risk (Σ probability × value: what the cell loses if the scores come true), the
drop-off to the next stage during the period, mean CSAT/CES/NPS and the most common
abandonment reasons given in the period, and the change of risk since the previous period (the
same cells scored as of the period's start). The list is sorted by revenue at risk.

Everything is a few set-based queries and pandas group-bys: no query per customer or cell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model_service.sessions import Database, use_session
from shared import metrics
from shared.db.tables import JourneyEvent, Response, RiskScore
from shared.journey import STAGE_INDEX, STAGE_OF_EVENT, STAGES

CELL = ["stage", "segment", "product_category"]
PERIOD_PATTERN = re.compile(r"^(\d{1,3})d$")
# Views and purchases after a customer's first purchase mean they came back: loyalty.
RETURN_TYPES = ("page_view", "touchpoint", "product_view", "purchase")
TOP_REASONS = 3


def period_days(period: str) -> int:
    """``"30d"`` → 30; ValueError for anything else (1–366 days)."""
    match = PERIOD_PATTERN.match(period.strip())
    if not match or not 1 <= int(match.group(1)) <= 366:
        raise ValueError("period must look like 30d (1 to 366 days)")
    return int(match.group(1))


def critical_journeys(
    db: Database,
    task: str = "brand_switch",
    *,
    period: str = "30d",
    end: datetime | None = None,
    limit: int = 20,
    flag_threshold: float = 0.0,
) -> list[dict[str, Any]]:
    """The cells of ``task`` sorted by revenue at risk; ``flagged`` when it is above
    ``flag_threshold``. ``end`` defaults to now; the previous period is the same length
    before it."""
    days = period_days(period)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=days)
    with use_session(db) as session:
        current = _newest_scores(session, task, end)
        if current.empty:
            return []
        previous = _newest_scores(session, task, start)
        customers = current["customer_id"].unique().tolist()
        reached = _stage_reached(session, customers, start, end)
        answers = _answers(session, customers, start, end)
    cells = _cells(current)
    before = _cells(previous)[["mean_risk", "revenue_at_risk"]]
    cells = cells.join(before.add_suffix("_previous"))
    cells = cells.join(_drop_off(current, reached))
    cells = cells.join(_satisfaction(current, answers))
    cells = cells.sort_values(
        ["revenue_at_risk", "customers"], ascending=[False, False], kind="stable"
    ).head(max(1, limit))
    return [_row(index, row, flag_threshold) for index, row in cells.iterrows()]


def _newest_scores(session: Session, task: str, moment: datetime) -> pd.DataFrame:
    """Newest score per customer (per cart for carts) with as_of at or before ``moment``."""
    newest = func.row_number().over(
        partition_by=(RiskScore.customer_id, RiskScore.cart_id),
        order_by=(RiskScore.as_of.desc(), RiskScore.id.desc()),
    )
    ranked = (
        select(
            RiskScore.customer_id,
            RiskScore.stage,
            RiskScore.segment,
            RiskScore.product_category,
            RiskScore.value,
            RiskScore.probability,
            newest.label("rank"),
        )
        .where(RiskScore.task == task, RiskScore.as_of <= moment)
        .subquery()
    )
    rows = session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    frame = pd.DataFrame(rows, columns=["customer_id", *CELL, "value", "probability", "rank"]).drop(
        columns="rank"
    )
    for column in CELL:
        frame[column] = frame[column].fillna("none").astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").fillna(0.0)
    frame["probability"] = frame["probability"].astype(float)
    return frame


def _cells(scores: pd.DataFrame) -> pd.DataFrame:
    if scores.empty:
        return pd.DataFrame(
            columns=["customers", "mean_risk", "revenue_at_risk"],
            index=pd.MultiIndex.from_arrays([[], [], []], names=CELL),
        )
    grouped = scores.assign(at_risk=scores["probability"] * scores["value"]).groupby(CELL)
    return pd.DataFrame(
        {
            "customers": grouped["customer_id"].nunique(),
            "mean_risk": grouped["probability"].mean(),
            "revenue_at_risk": grouped["at_risk"].sum(),
        }
    )


def _stage_reached(
    session: Session, customers: list[str], start: datetime, end: datetime
) -> pd.Series:
    """Furthest stage code each customer reached by events in [start, end)."""
    events = pd.DataFrame(
        session.execute(
            select(
                JourneyEvent.customer_id,
                JourneyEvent.type,
                JourneyEvent.stage,
                JourneyEvent.occurred_at,
            ).where(
                JourneyEvent.occurred_at >= start,
                JourneyEvent.occurred_at < end,
                JourneyEvent.customer_id.is_not(None),
            )
        ).all(),
        columns=["customer_id", "type", "stage", "occurred_at"],
    )
    events = events[events["customer_id"].isin(set(customers))]
    if events.empty:
        return pd.Series(dtype=float, name="reached")
    first_purchase = pd.Series(
        dict(
            session.execute(
                select(JourneyEvent.customer_id, func.min(JourneyEvent.occurred_at))
                .where(JourneyEvent.type == "purchase", JourneyEvent.occurred_at < end)
                .group_by(JourneyEvent.customer_id)
            ).all()
        ),
        dtype=object,
    )
    by_rule = events["type"].map({k: STAGE_INDEX[v] for k, v in STAGE_OF_EVENT.items()})
    explicit = events["stage"].map(STAGE_INDEX)
    code = explicit.fillna(by_rule).fillna(-1)
    bought_before = pd.to_datetime(
        events["customer_id"].map(first_purchase), utc=True
    ) < pd.to_datetime(events["occurred_at"], utc=True)
    returned = events["type"].isin(RETURN_TYPES) & bought_before.fillna(False)
    code = np.where(returned, np.maximum(code, STAGE_INDEX["loyalty"]), code)
    return (
        pd.Series(code, index=events.index).groupby(events["customer_id"]).max().rename("reached")
    )


def _drop_off(current: pd.DataFrame, reached: pd.Series) -> pd.DataFrame:
    """Per cell: of the segment × category's customers who reached the cell's stage in the
    period, the share who did not reach the next one."""
    people = current.drop_duplicates("customer_id").set_index("customer_id")
    people = people.join(reached).dropna(subset=["reached"])
    rows = []
    for (segment, category), group in people.groupby(["segment", "product_category"]):
        codes = group["reached"].to_numpy()
        for stage in STAGES[:-1]:
            here = int((codes >= STAGE_INDEX[stage]).sum())
            onward = int((codes >= STAGE_INDEX[stage] + 1).sum())
            rows.append((stage, segment, category, 1.0 - onward / here if here else None, here))
    frame = pd.DataFrame(rows, columns=[*CELL, "drop_off", "reached_stage"])
    return frame.set_index(CELL)


def _answers(
    session: Session, customers: list[str], start: datetime, end: datetime
) -> pd.DataFrame:
    rows = session.execute(
        select(
            Response.customer_id, Response.nps, Response.csat, Response.ces, Response.reason
        ).where(
            Response.submitted_at >= start,
            Response.submitted_at < end,
            Response.customer_id.is_not(None),
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["customer_id", "nps", "csat", "ces", "reason"])
    return frame[frame["customer_id"].isin(set(customers))]


def _satisfaction(current: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """Per cell: NPS, CSAT (% satisfied), mean CES and top reasons from the period's answers."""
    if answers.empty:
        return pd.DataFrame(
            columns=["nps", "csat", "ces", "top_reasons", "responses"],
            index=pd.MultiIndex.from_arrays([[], [], []], names=CELL),
        )
    cell_of = current.drop_duplicates("customer_id").set_index("customer_id")[CELL]
    joined = answers.join(cell_of, on="customer_id", how="inner")
    rows = []
    for cell, group in joined.groupby(CELL):
        rows.append(
            (
                *cell,
                metrics.nps(group["nps"].tolist()),
                metrics.csat(group["csat"].tolist()),
                metrics.ces(group["ces"].tolist()),
                [
                    {"reason": reason, "count": count}
                    for reason, count in metrics.top_reasons(
                        [r for r in group["reason"] if isinstance(r, str)], TOP_REASONS
                    )
                ],
                len(group),
            )
        )
    frame = pd.DataFrame(rows, columns=[*CELL, "nps", "csat", "ces", "top_reasons", "responses"])
    return frame.set_index(CELL)


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


def _row(index: tuple[str, str, str], row: pd.Series, flag_threshold: float) -> dict[str, Any]:
    stage, segment, category = index
    revenue = float(row["revenue_at_risk"])
    before = _number(row.get("revenue_at_risk_previous"))
    mean_before = _number(row.get("mean_risk_previous"))
    reasons = row.get("top_reasons")
    return {
        "stage": stage,
        "segment": segment,
        "product_category": category,
        "customers": int(row["customers"]),
        "mean_risk": float(row["mean_risk"]),
        "revenue_at_risk": revenue,
        "drop_off": _number(row.get("drop_off")),
        "next_stage": STAGES[STAGE_INDEX[stage] + 1]
        if stage in STAGE_INDEX and STAGE_INDEX[stage] + 1 < len(STAGES)
        else None,
        "nps": _number(row.get("nps")),
        "csat": _number(row.get("csat")),
        "ces": _number(row.get("ces")),
        "responses": int(row["responses"]) if _number(row.get("responses")) else 0,
        "top_reasons": reasons if isinstance(reasons, list) else [],
        "previous_mean_risk": mean_before,
        "previous_revenue_at_risk": before,
        "mean_risk_change": float(row["mean_risk"]) - mean_before
        if mean_before is not None
        else None,
        "revenue_at_risk_change": revenue - before if before is not None else None,
        "flagged": revenue > flag_threshold,
    }
