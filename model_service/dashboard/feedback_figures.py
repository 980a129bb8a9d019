"""Feedback figures: NPS, CSAT and CES per survey over time and per stage (with intervals),
the reasons given for leaving a cart by stage, segment and product category, and the comment
search, aggregated in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from model_service.dashboard.filters import PERIODS
from shared.cursors import BadCursor, CursorCodec
from shared.db.tables import Customer, JourneyEvent, Response
from shared.journey import STAGES
from shared.metrics import MIN_ANSWERS, SatisfactionCounts, satisfaction_counts

COMMENTS_PAGE = 15
CURSORS = CursorCodec("kundresa.dashboard.comments")


@dataclass(frozen=True)
class FeedbackFilter:
    survey: str | None = None
    stage: str | None = None
    period: str = "365d"


def _bucket(session: Session, column, grain: str):
    """The first day of the week or month a time falls in, as an ISO date string."""
    if session.get_bind().dialect.name == "sqlite":
        if grain == "month":
            return func.strftime("%Y-%m-01", column)
        return func.strftime("%Y-%m-%d", column, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc(grain, column), "YYYY-MM-DD")


def _response_until(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Response.submitted_at)))


def feedback_over_time(session: Session, flt: FeedbackFilter) -> tuple[str, dict[str, list]]:
    """NPS, CSAT and CES per survey per week (month for a year or more), oldest first."""
    until = _response_until(session)
    days = PERIODS.get(flt.period, PERIODS["365d"])
    grain = "week" if days is not None and days <= 120 else "month"
    bucket = _bucket(session, Response.submitted_at, grain).label("bucket")
    counts = satisfaction_counts(Response.nps, Response.csat, Response.ces)
    query = select(Response.survey_key, bucket, *counts).group_by(Response.survey_key, bucket)
    if until is not None and days is not None:
        query = query.where(Response.submitted_at >= until - timedelta(days=days))
    if flt.survey:
        query = query.where(Response.survey_key == flt.survey)
    if flt.stage:
        query = query.where(Response.stage == flt.stage)
    series: dict[str, list] = {}
    for row in session.execute(query.order_by(bucket)).all():
        if row.bucket is None:
            continue
        series.setdefault(row.survey_key, []).append(
            (date.fromisoformat(str(row.bucket)[:10]), SatisfactionCounts.of_row(row).figures())
        )
    return grain, series


def feedback_by_stage(
    session: Session, flt: FeedbackFilter, min_answers: int = MIN_ANSWERS
) -> list[dict]:
    """NPS, CSAT and CES per survey and stage over the period, each also as a ``Score`` with
    its interval (``nps_score``...), few answers below ``min_answers``."""
    until = _response_until(session)
    days = PERIODS.get(flt.period, PERIODS["365d"])
    counts = satisfaction_counts(Response.nps, Response.csat, Response.ces)
    query = select(Response.survey_key, Response.stage, *counts).group_by(
        Response.survey_key, Response.stage
    )
    if until is not None and days is not None:
        query = query.where(Response.submitted_at >= until - timedelta(days=days))
    if flt.survey:
        query = query.where(Response.survey_key == flt.survey)
    if flt.stage:
        query = query.where(Response.stage == flt.stage)
    rows = session.execute(query).all()
    order = {stage: i for i, stage in enumerate(STAGES)}
    found = [
        {
            "survey": r.survey_key,
            "stage": r.stage,
            **SatisfactionCounts.of_row(r).figures(min_answers),
        }
        for r in rows
    ]
    return sorted(found, key=lambda r: (r["survey"], order.get(r["stage"], 99)))


# What the reasons for leaving a cart are broken down by.
REASON_DIMENSIONS = ("stage", "segment", "product_category")


@dataclass(frozen=True)
class ReasonBreakdown:
    """How often each reason was given, in total and per value of each dimension."""

    totals: dict[str, int]  # reason → answers, most given first
    # dimension → (its values in order, {(reason, value): answers})
    by: dict[str, tuple[list[str | None], dict[tuple[str, str | None], int]]]


def _reason_scope(query: Select, flt: FeedbackFilter, since: datetime | None) -> Select:
    query = query.where(Response.reason.is_not(None), Response.reason != "")
    if since is not None:
        query = query.where(Response.submitted_at >= since)
    if flt.survey:
        query = query.where(Response.survey_key == flt.survey)
    if flt.stage:
        query = query.where(Response.stage == flt.stage)
    return query


def reason_breakdown(session: Session, flt: FeedbackFilter) -> ReasonBreakdown:
    """The reasons customers chose for leaving a cart, counted by the stage they answered at,
    their segment and the product category of the cart (from its events). An answer without
    a customer or a cart category counts under None ("unknown")."""
    until = _response_until(session)
    days = PERIODS.get(flt.period, PERIODS["365d"])
    since = until - timedelta(days=days) if until is not None and days is not None else None
    # The cart's category is on its events; one per cart (they agree in practice).
    category = (
        select(func.max(JourneyEvent.product_category))
        .where(JourneyEvent.cart_id == Response.cart_id)
        .correlate(Response)
        .scalar_subquery()
    )
    answers = _reason_scope(
        select(
            Response.reason.label("reason"),
            Response.stage.label("stage"),
            Customer.segment.label("segment"),
            category.label("product_category"),
        ).outerjoin(Customer, Customer.id == Response.customer_id),
        flt,
        since,
    ).subquery()
    totals: dict[str, int] = {}
    by: dict[str, tuple[list[str | None], dict[tuple[str, str | None], int]]] = {}
    for dimension in REASON_DIMENSIONS:
        column = answers.c[dimension]
        rows = session.execute(
            select(answers.c.reason, column, func.count()).group_by(answers.c.reason, column)
        ).all()
        counts = {(reason, value): int(n) for reason, value, n in rows}
        by[dimension] = (_dimension_order(dimension, {value for _r, value in counts}), counts)
        if dimension == REASON_DIMENSIONS[0]:
            for (reason, _value), n in counts.items():
                totals[reason] = totals.get(reason, 0) + n
    ranked = dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))
    return ReasonBreakdown(ranked, by)


def _dimension_order(dimension: str, values: set[str | None]) -> list[str | None]:
    """Stages in journey order, other values alphabetically; unknown (None) last."""
    order = {stage: i for i, stage in enumerate(STAGES)} if dimension == "stage" else {}
    known = sorted((v for v in values if v is not None), key=lambda v: (order.get(v, 99), v))
    return known + ([None] if None in values else [])


def survey_keys(session: Session) -> list[str]:
    return list(session.scalars(select(Response.survey_key).distinct().order_by("survey_key")))


@dataclass(frozen=True)
class CommentPage:
    rows: list
    next_cursor: str | None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_comments(
    session: Session,
    text: str | None,
    flt: FeedbackFilter,
    cursor: str | None = None,
    limit: int = COMMENTS_PAGE,
) -> CommentPage:
    """The newest free-text comments, optionally containing ``text`` (case-insensitive),
    paged by (time, id) so page 40 costs what page 1 does. A cursor this list did not make
    shows the first page."""
    query = select(
        Response.response_id,
        Response.customer_id,
        Response.survey_key,
        Response.stage,
        Response.nps,
        Response.csat,
        Response.ces,
        Response.reason,
        Response.comment,
        Response.submitted_at,
    ).where(Response.comment.is_not(None), Response.comment != "")
    if text:
        query = query.where(Response.comment.ilike(_like_pattern(text), escape="\\"))
    if flt.survey:
        query = query.where(Response.survey_key == flt.survey)
    if flt.stage:
        query = query.where(Response.stage == flt.stage)
    after = _after(cursor)
    if after is not None:
        at, response_id = after
        query = query.where(
            or_(
                Response.submitted_at < at,
                and_(Response.submitted_at == at, Response.response_id < response_id),
            )
        )
    query = query.order_by(Response.submitted_at.desc(), Response.response_id.desc())
    rows = session.execute(query.limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = CURSORS.encode(
            last.submitted_at.astimezone(UTC).isoformat(), last.response_id
        )
    return CommentPage(rows, next_cursor)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, response id) a cursor of this list holds; None for no or a bad cursor."""
    if not cursor:
        return None
    try:
        return CURSORS.decode(cursor, _cursor_values)
    except BadCursor:
        return None


def _cursor_values(values) -> tuple[datetime, str]:  # noqa: ANN001 - a cursor's list
    at, response_id = values
    parsed = datetime.fromisoformat(at)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed, str(response_id)
