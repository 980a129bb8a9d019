"""At-risk customers: the newest score per customer, filtered, sorted by expected value at risk
(probability × value) or by risk, page by page.

Scores are history (one row per scoring), so "at risk now" is the newest row per customer and
task. Pages use a keyset cursor (the last row's sort key and customer id) rather than an
offset, so a page stays cheap and stable however deep the list goes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from model_service.served_scale import batch_percentiles
from model_service.sessions import Database, use_session
from shared.db.tables import FollowUp, RiskScore
from shared.errors import Invalid

SORTS: tuple[str, ...] = ("risk", "value_at_risk")
# Support acts first where most is expected to be lost: a 40 % risk on 9,000 a year before a
# 90 % risk on 50.
DEFAULT_SORT = "value_at_risk"
OPEN_FOLLOW_UP_STATUSES: tuple[str, ...] = ("open", "contacted")
MAX_PAGE = 500


def next_newer_score(column):  # noqa: ANN001, ANN201 - a SQL expression in, one out
    """``column`` of the next newer score of the same customer and cart (NULL for the newest),
    newer meaning a later ``as_of``, then a higher id. Windowed in the order of
    ix_risk_scores_newest (task, customer, cart, as_of, then the id that SQLite keeps in every
    index), so over one task SQLite reads that index alone, without sorting."""
    return func.lead(column).over(
        partition_by=(RiskScore.customer_id, RiskScore.cart_id),
        order_by=(RiskScore.as_of, RiskScore.id),
    )


class BadCursor(Invalid):
    """A cursor that this list did not hand out."""

    field = "cursor"


@dataclass(frozen=True)
class AtRiskItem:
    score_id: int
    customer_id: str
    cart_id: str | None
    task: str
    probability: float
    band: str
    stage: str | None
    segment: str | None
    product_category: str | None
    value: float | None
    value_at_risk: float
    reasons: list[dict[str, Any]]
    model_name: str
    model_version: str
    as_of: datetime
    scored_at: datetime
    follow_up: dict[str, Any] | None
    percentile: float | None = None  # within the score's own batch; 100 is the riskiest


@dataclass(frozen=True)
class AtRiskPage:
    items: list[AtRiskItem]
    next_cursor: str | None


def latest_scores(task: str) -> Any:
    """A subquery of the newest score row per known customer for ``task`` (``newest_rank`` is
    1).

    The newest is the latest ``as_of``, then the highest probability, then the highest id: a
    row is kept when no row of the same customer beats it. Each check is a probe of the
    (customer, task, as_of) index; ranking every row with a window function instead took
    twice as long at 100,000 customers on SQLite.
    """
    newer = aliased(RiskScore)
    beaten = exists().where(
        newer.customer_id == RiskScore.customer_id,
        newer.task == RiskScore.task,
        or_(
            newer.as_of > RiskScore.as_of,
            and_(
                newer.as_of == RiskScore.as_of,
                or_(
                    newer.probability > RiskScore.probability,
                    and_(newer.probability == RiskScore.probability, newer.id > RiskScore.id),
                ),
            ),
        ),
    )
    # An anonymous visitor's cart is scored (a cart-recovery flow can act on it) but is no
    # customer support can call: the list is of customers.
    return (
        select(RiskScore, literal(1).label("newest_rank"))
        .where(RiskScore.task == task, RiskScore.customer_id.is_not(None), ~beaten)
        .subquery()
    )


def _encode_cursor(key: float, customer_id: str) -> str:
    raw = json.dumps([key, customer_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, customer_id = json.loads(raw)
        return float(key), str(customer_id)
    except (binascii.Error, ValueError, TypeError):
        raise BadCursor("This cursor was not made by this list; start again without it.") from None


def at_risk_query(
    task: str,
    *,
    stage: str | None = None,
    segment: str | None = None,
    band: str | None = None,
    min_probability: float | None = None,
    without_follow_up: bool = False,
    sort: str = DEFAULT_SORT,
) -> tuple[Select, Any, Any]:
    """The newest score per customer of ``task``, filtered and in list order: the one query
    behind the paged list and the CSV export. Returns (query, score alias, sort key)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    ranked = latest_scores(task)
    score = aliased(RiskScore, ranked)
    value_at_risk = score.probability * func.coalesce(score.value, 0.0)
    key = score.probability if sort == "risk" else value_at_risk
    query: Select = select(score).where(ranked.c.newest_rank == 1)
    if stage:
        query = query.where(score.stage == stage)
    if segment:
        query = query.where(score.segment == segment)
    if band:
        query = query.where(score.band == band)
    if min_probability is not None:
        query = query.where(score.probability >= min_probability)
    if without_follow_up:
        query = query.where(
            ~exists().where(
                FollowUp.customer_id == score.customer_id,
                FollowUp.task == task,
                FollowUp.status.in_(OPEN_FOLLOW_UP_STATUSES),
            )
        )
    return query.order_by(key.desc(), score.customer_id.asc()), score, key


def at_risk(
    db: Database,
    task: str,
    *,
    stage: str | None = None,
    segment: str | None = None,
    band: str | None = None,
    min_probability: float | None = None,
    without_follow_up: bool = False,
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    cursor: str | None = None,
) -> AtRiskPage:
    """One page of the newest scores of ``task``, the largest expected value at risk first
    (or the riskiest first), each with its percentile within its batch.

    ``without_follow_up`` leaves out customers a support agent already has an open or
    contacted follow-up for. Raises BadCursor for a cursor this list did not make.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query, score, key = at_risk_query(
        task,
        stage=stage,
        segment=segment,
        band=band,
        min_probability=min_probability,
        without_follow_up=without_follow_up,
        sort=sort,
    )
    if cursor:
        last_key, last_customer = _decode_cursor(cursor)
        query = query.where(
            or_(key < last_key, and_(key == last_key, score.customer_id > last_customer))
        )
    query = query.limit(limit + 1)
    with use_session(db) as session:
        rows = list(session.scalars(query))
        follow_ups = _open_follow_ups(session, task, [row.customer_id for row in rows[:limit]])
        shown = batch_percentiles(
            session, task, [(r.probability, r.as_of, r.model_version) for r in rows[:limit]]
        )
    items = [
        _item(row, follow_ups.get(row.customer_id), percentile)
        for row, percentile in zip(rows[:limit], shown, strict=True)
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode_cursor(
            last.probability if sort == "risk" else last.value_at_risk, last.customer_id
        )
    return AtRiskPage(items=items, next_cursor=next_cursor)


def _open_follow_ups(session: Any, task: str, customer_ids: list[str]) -> dict[str, dict]:
    if not customer_ids:
        return {}
    rows = session.scalars(
        select(FollowUp)
        .where(
            FollowUp.customer_id.in_(customer_ids),
            FollowUp.task == task,
            FollowUp.status.in_(OPEN_FOLLOW_UP_STATUSES),
        )
        .order_by(FollowUp.created_at)
    )
    return {
        row.customer_id: {"id": row.id, "status": row.status, "assignee": row.assignee}
        for row in rows
    }


def _item(
    row: RiskScore, follow_up: dict[str, Any] | None, percentile: float | None = None
) -> AtRiskItem:
    return AtRiskItem(
        score_id=row.id,
        customer_id=row.customer_id,
        cart_id=row.cart_id,
        task=row.task,
        probability=row.probability,
        band=row.band,
        stage=row.stage,
        segment=row.segment,
        product_category=row.product_category,
        value=row.value,
        value_at_risk=row.probability * (row.value or 0.0),
        reasons=list(row.reasons or []),
        model_name=row.model_name,
        model_version=row.model_version,
        as_of=row.as_of,
        scored_at=row.scored_at,
        follow_up=follow_up,
        percentile=percentile,
    )


def risk_history(db: Database, customer_id: str, task: str | None = None) -> list[dict[str, Any]]:
    """Every score of one customer, oldest first, for a chart and the follow-up outcome."""
    query = select(RiskScore).where(RiskScore.customer_id == customer_id)
    if task:
        query = query.where(RiskScore.task == task)
    query = query.order_by(RiskScore.as_of, RiskScore.id)
    with use_session(db) as session:
        return [
            {
                "score_id": row.id,
                "task": row.task,
                "cart_id": row.cart_id,
                "probability": row.probability,
                "band": row.band,
                "stage": row.stage,
                "reasons": list(row.reasons or []),
                "model_name": row.model_name,
                "model_version": row.model_version,
                "as_of": row.as_of,
                "scored_at": row.scored_at,
            }
            for row in session.scalars(query)
        ]
