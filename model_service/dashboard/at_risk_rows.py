"""What the at-risk list shows beside each score: the customer's newest answer and follow-up,
an agent's open cases, and the whole list streamed for the CSV export."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model_service.risk import DEFAULT_SORT, at_risk_query
from shared.db.tables import FollowUp, Response, RiskScore


def latest_answers(session: Session, customer_ids: list[str]) -> dict[str, dict]:
    """The newest survey answer of each listed customer (one page of the at-risk list)."""
    if not customer_ids:
        return {}
    newest = func.row_number().over(
        partition_by=Response.customer_id,
        order_by=(Response.submitted_at.desc(), Response.response_id.desc()),
    )
    ranked = (
        select(
            Response.customer_id,
            Response.survey_key,
            Response.nps,
            Response.csat,
            Response.ces,
            Response.reason,
            Response.comment,
            Response.submitted_at,
            newest.label("rank"),
        )
        .where(Response.customer_id.in_(customer_ids))
        .subquery()
    )
    rows = session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    return {row.customer_id: row._asdict() for row in rows}


def open_cases_of(session: Session, assignee: str) -> int:
    """How many cases an agent has taken and not yet resolved."""
    return int(
        session.scalar(
            select(func.count()).where(FollowUp.assignee == assignee, FollowUp.status != "resolved")
        )
        or 0
    )


def latest_follow_ups(session: Session, task: str, customer_ids: list[str]) -> dict[str, dict]:
    """The newest follow-up of each listed customer for ``task``, resolved ones included, so
    the list shows a case that was just closed as resolved rather than as never taken."""
    if not customer_ids:
        return {}
    newest = func.row_number().over(
        partition_by=FollowUp.customer_id, order_by=(FollowUp.created_at.desc(), FollowUp.id.desc())
    )
    ranked = (
        select(
            FollowUp.id,
            FollowUp.customer_id,
            FollowUp.status,
            FollowUp.assignee,
            FollowUp.updated_at,
            newest.label("rank"),
        )
        .where(FollowUp.task == task, FollowUp.customer_id.in_(customer_ids))
        .subquery()
    )
    rows = session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    return {row.customer_id: row._asdict() for row in rows}


EXPORT_CHUNK = 1000


def iter_at_risk_rows(
    session: Session,
    task: str,
    *,
    stage: str | None = None,
    segment: str | None = None,
    band: str | None = None,
    without_follow_up: bool = False,
    sort: str = DEFAULT_SORT,
    chunk: int = EXPORT_CHUNK,
    category: str | None = None,
) -> Iterator[list[RiskScore]]:
    """The whole at-risk list in chunks, in one streamed query.

    It selects exactly what ``model_service.risk.at_risk`` pages through (the same newest
    rows, filters and order; a test holds the two equal), because paging a 100,000-row export
    500 rows at a time would rank every score again for each page.
    """
    query, _score, _key = at_risk_query(
        task,
        stage=stage,
        segment=segment,
        band=band,
        without_follow_up=without_follow_up,
        sort=sort,
        category=category,
    )
    result = session.scalars(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        yield list(part)
