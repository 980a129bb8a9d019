"""The support queue: follow-ups filtered by status, assignee, task, age and overdue, the
soonest due first, a page at a time with a signed keyset cursor (``shared.cursors``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from model_service.customer_contacts import contacts
from model_service.followups import is_overdue
from shared.cursors import CursorCodec
from shared.db.tables import FollowUp, RiskScore

MAX_PAGE = 200
# A status filter meaning "open or contacted": every case somebody still has to act on.
UNRESOLVED = "unresolved"
CURSORS = CursorCodec("kundresa.follow-ups")


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    assignee: str | None = None
    task: str | None = None
    older_than: timedelta | None = None
    overdue: bool | None = None


@dataclass(frozen=True)
class QueuePage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _due_key():  # noqa: ANN202 - a SQL expression
    # Cases written before due times existed (or by hand) sort by when they were taken.
    return func.coalesce(FollowUp.due_at, FollowUp.created_at)


def queue_query(flt: QueueFilter, now: datetime):  # noqa: ANN201 - a Select
    query = select(FollowUp)
    if flt.status == UNRESOLVED:
        query = query.where(FollowUp.status != "resolved")
    elif flt.status:
        query = query.where(FollowUp.status == flt.status)
    if flt.assignee:
        query = query.where(FollowUp.assignee == flt.assignee)
    if flt.task:
        query = query.where(FollowUp.task == flt.task)
    if flt.older_than is not None:
        query = query.where(FollowUp.created_at < now - flt.older_than)
    late = and_(FollowUp.status != "resolved", FollowUp.due_at.is_not(None), FollowUp.due_at < now)
    if flt.overdue is True:
        query = query.where(late)
    elif flt.overdue is False:
        query = query.where(~late)
    return query


def follow_up_queue(
    session: Session,
    flt: QueueFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue, the soonest due first (overdue ones lead), then by id.

    Raises ``shared.cursors.BadCursor`` for a cursor this list did not hand out.
    """
    now = now or datetime.now(UTC)
    limit = max(1, min(limit, MAX_PAGE))
    key = _due_key()
    query = queue_query(flt, now)
    if cursor:
        last_due, last_id = CURSORS.decode(cursor, _cursor_values)
        query = query.where(or_(key > last_due, and_(key == last_due, FollowUp.id > last_id)))
    rows = list(session.scalars(query.order_by(key, FollowUp.id).limit(limit + 1)))
    shown = rows[:limit]
    items = queue_items(session, shown, now)
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1]
        next_cursor = CURSORS.encode((last.due_at or last.created_at).isoformat(), last.id)
    return QueuePage(items=items, next_cursor=next_cursor)


def _cursor_values(values) -> tuple[datetime, int]:  # noqa: ANN001 - a cursor's list
    due, follow_up_id = values
    moment = datetime.fromisoformat(str(due))
    if moment.tzinfo is None:
        raise ValueError("a cursor's time has a zone")
    return moment, int(follow_up_id)


def queue_items(session: Session, rows: list[FollowUp], now: datetime) -> list[dict[str, Any]]:
    """The rows as the queue shows them: the case, who the customer is, the risk when taken
    and the newest risk of the same task."""
    people = contacts(session, [row.customer_id for row in rows])
    before = _probabilities(session, [row.risk_score_id for row in rows if row.risk_score_id])
    newest = newest_scores_of(session, [(row.customer_id, row.task) for row in rows])
    items = []
    for row in rows:
        person = people.get(row.customer_id)
        latest = newest.get((row.customer_id, row.task))
        items.append(
            {
                "id": row.id,
                "customer_id": row.customer_id,
                "task": row.task,
                "status": row.status,
                "assignee": row.assignee,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "due_at": row.due_at,
                "overdue": is_overdue(row, now),
                "resolved_at": row.resolved_at,
                "risk_before": before.get(row.risk_score_id),
                "risk_now": latest.probability if latest else None,
                "band_now": latest.band if latest else None,
                "customer": person.as_dict() if person else None,
            }
        )
    return items


def _probabilities(session: Session, score_ids: list[int]) -> dict[int, float]:
    if not score_ids:
        return {}
    rows = session.execute(
        select(RiskScore.id, RiskScore.probability).where(RiskScore.id.in_(sorted(set(score_ids))))
    ).all()
    return dict(rows)


def newest_scores_of(
    session: Session, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], RiskScore]:
    """The newest score (latest as_of, then highest id) of each (customer, task) pair."""
    customers = sorted({customer for customer, _task in pairs})
    if not customers:
        return {}
    ranked = (
        select(
            RiskScore.id,
            func.row_number()
            .over(
                partition_by=(RiskScore.customer_id, RiskScore.task),
                order_by=(RiskScore.as_of.desc(), RiskScore.id.desc()),
            )
            .label("rank"),
        )
        .where(RiskScore.customer_id.in_(customers))
        .subquery()
    )
    rows = session.scalars(
        select(RiskScore).where(RiskScore.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
    )
    wanted = set(pairs)
    return {(r.customer_id, r.task): r for r in rows if (r.customer_id, r.task) in wanted}
