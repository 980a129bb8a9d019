"""Aggregates only the dashboard needs: the journey map per stage, feedback over time, the
comment search and when scores were last computed.

Every query aggregates in the database and returns a handful of rows, whatever the number of
customers: no page loads a whole table into memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from model_service.risk import DEFAULT_SORT, OPEN_FOLLOW_UP_STATUSES, next_newer_score
from shared.cache import TimedCache
from shared.db.tables import Customer, FollowUp, JourneyEvent, Response, RiskScore
from shared.journey import STAGE_INDEX, STAGE_OF_EVENT, STAGES
from shared.tasks import TASKS

PERIODS: dict[str, int | None] = {"30d": 30, "90d": 90, "365d": 365, "all": None}
COMMENTS_PAGE = 15


@dataclass(frozen=True)
class JourneyFilter:
    segment: str | None = None
    product_category: str | None = None
    period: str = "90d"


@dataclass(frozen=True)
class StageFigures:
    stage: str
    reached: int  # customers who got at least this far
    here: int  # customers whose furthest stage is this one
    conversion: float | None  # share of those who reached it that reached the next stage
    csat: float | None
    ces: float | None
    nps: float | None
    responses: int
    switch_risk: float | None  # mean brand-switch probability of customers scored at it
    cart_risk: float | None  # mean cart-abandonment probability of carts at it
    top_reason: str | None = None  # the reason for leaving a cart given most often here

    @property
    def drop_off(self) -> float | None:
        return None if self.conversion is None else 1 - self.conversion


@dataclass(frozen=True)
class JourneyMapFigures:
    stages: list[StageFigures]
    repeat_buyers: int  # customers who came round the loop and bought again
    since: datetime | None
    until: datetime | None


def nps_of(promoters: int, detractors: int, answered: int) -> float | None:
    """Net Promoter Score from counts: % promoters (9–10) minus % detractors (0–6) — the
    definition of ``shared.metrics.nps``, fed by counts made in SQL instead of every answer."""
    if not answered:
        return None
    return 100.0 * (promoters - detractors) / answered


def stage_criticality(
    drop_off: float | None, risk: float | None, csat: float | None
) -> float | None:
    """How critical a stage is, 0–1: the mean of the signals it has — the share who drop out,
    the mean risk, and the share not satisfied (``csat`` is % satisfied, as in shared.metrics)."""
    signals = [s for s in (drop_off, risk) if s is not None]
    if csat is not None:
        signals.append(1 - csat / 100)
    return sum(signals) / len(signals) if signals else None


def criticality_level(score: float | None) -> str:
    if score is None:
        return "none"
    if score >= 0.5:
        return "high"
    if score >= 0.3:
        return "medium"
    return "low"


def _event_rank():
    """The stage an event shows a customer reached, as its index: an explicit stage wins,
    else the rules of ``shared.journey`` (the same table that derives a customer's stage)."""
    explicit = [(JourneyEvent.stage == stage, index) for stage, index in STAGE_INDEX.items()]
    by_type = {}
    for event_type, stage in STAGE_OF_EVENT.items():
        by_type.setdefault(STAGE_INDEX[stage], []).append(event_type)
    implied = [(JourneyEvent.type.in_(types), index) for index, types in sorted(by_type.items())]
    return case(*explicit, *implied, else_=0)


def data_until(session: Session) -> datetime | None:
    """The time of the newest event: periods count back from the data, not the wall clock,
    so an imported history is shown as it is."""
    return session.scalar(select(func.max(JourneyEvent.occurred_at)))


def _since(session: Session, period: str) -> tuple[datetime | None, datetime | None]:
    until = data_until(session)
    days = PERIODS.get(period, PERIODS["90d"])
    if until is None or days is None:
        return None, until
    return until - timedelta(days=days), until


def journey_map_figures(session: Session, flt: JourneyFilter) -> JourneyMapFigures:
    """Per stage: customers who reached it and stopped there, conversion, satisfaction, risk."""
    since, until = _since(session, flt.period)
    conditions = []
    if since is not None:
        conditions.append(JourneyEvent.occurred_at >= since)
    if flt.segment:
        conditions.append(
            JourneyEvent.customer_id.in_(select(Customer.id).where(Customer.segment == flt.segment))
        )
    if flt.product_category:
        # A category is a property of known customers' journeys (anonymous visits rarely name
        # one); matching on the indexed customer id keeps the filter cheap.
        in_category = select(JourneyEvent.customer_id).where(
            JourneyEvent.product_category == flt.product_category,
            JourneyEvent.customer_id.is_not(None),
        )
        if since is not None:
            in_category = in_category.where(JourneyEvent.occurred_at >= since)
        conditions.append(JourneyEvent.customer_id.in_(in_category))
    first_purchase = func.min(
        case((JourneyEvent.type == "purchase", JourneyEvent.occurred_at), else_=None)
    )
    purchases = func.sum(case((JourneyEvent.type == "purchase", 1), else_=0))
    columns = (
        func.max(_event_rank()).label("rank"),
        first_purchase.label("first_purchase"),
        func.max(JourneyEvent.occurred_at).label("last_event"),
        purchases.label("purchases"),
    )
    # One row per person: a customer, else an anonymous visitor. Customers are grouped by the
    # plain column, so that SQLite walks ix_journey_events_customer_time in order, reading
    # the events of one customer together, instead of sorting on an expression of both ids
    # (measured: 627 -> 320 ms for 90 days at 100,000 customers).
    per_customer = union_all(
        select(*columns)
        .where(JourneyEvent.customer_id.is_not(None), *conditions)
        .group_by(JourneyEvent.customer_id),
        select(*columns)
        .where(
            JourneyEvent.customer_id.is_(None), JourneyEvent.visitor_id.is_not(None), *conditions
        )
        .group_by(JourneyEvent.visitor_id),
    ).subquery()
    # A return after the first purchase is loyalty (shared.journey.next_stage).
    loyalty = STAGE_INDEX["loyalty"]
    rank = case(
        (
            and_(
                per_customer.c.rank < loyalty,
                per_customer.c.first_purchase.is_not(None),
                per_customer.c.last_event > per_customer.c.first_purchase,
            ),
            loyalty,
        ),
        else_=per_customer.c.rank,
    ).label("stage_rank")
    # One pass over the per-customer rows gives both the stage counts and the repeat buyers.
    repeat = func.sum(case((per_customer.c.purchases >= 2, 1), else_=0))
    rows = session.execute(
        select(rank, func.count(), repeat).select_from(per_customer).group_by(rank)
    ).all()
    counts = {stage_rank: n for stage_rank, n, _repeat in rows}
    repeat_buyers = sum(int(r or 0) for _rank, _n, r in rows)
    satisfaction = _satisfaction_by_stage(session, flt, since)
    reasons = _top_reason_by_stage(session, flt, since)
    risk = _risk_by_stage(session, flt)
    here = [int(counts.get(i, 0)) for i in range(len(STAGES))]
    reached = [sum(here[i:]) for i in range(len(STAGES))]
    stages = []
    for i, stage in enumerate(STAGES):
        nxt = reached[i + 1] if i + 1 < len(STAGES) else None
        sat = satisfaction.get(stage, {})
        stages.append(
            StageFigures(
                stage=stage,
                reached=reached[i],
                here=here[i],
                conversion=(nxt / reached[i]) if nxt is not None and reached[i] else None,
                csat=sat.get("csat"),
                ces=sat.get("ces"),
                nps=sat.get("nps"),
                responses=sat.get("responses", 0),
                switch_risk=risk.get(("brand_switch", stage)),
                cart_risk=risk.get(("cart_abandonment", stage)),
                top_reason=reasons.get(stage),
            )
        )
    return JourneyMapFigures(stages, int(repeat_buyers or 0), since, until)


def _response_scope(query: Select, flt: JourneyFilter, since: datetime | None) -> Select:
    if since is not None:
        query = query.where(Response.submitted_at >= since)
    if flt.segment:
        query = query.where(
            Response.customer_id.in_(select(Customer.id).where(Customer.segment == flt.segment))
        )
    if flt.product_category:
        query = query.where(
            Response.customer_id.in_(
                select(JourneyEvent.customer_id).where(
                    JourneyEvent.product_category == flt.product_category
                )
            )
        )
    return query


def _top_reason_by_stage(
    session: Session, flt: JourneyFilter, since: datetime | None
) -> dict[str, str]:
    count = func.count().label("n")
    query = (
        select(Response.stage, Response.reason, count)
        .where(Response.reason.is_not(None), Response.stage.is_not(None))
        .group_by(Response.stage, Response.reason)
    )
    best: dict[str, tuple[int, str]] = {}
    for stage, reason, n in session.execute(_response_scope(query, flt, since)).all():
        if (n, reason) > best.get(stage, (0, "")):
            best[stage] = (n, reason)
    return {stage: reason for stage, (_n, reason) in best.items()}


def _score_columns():
    return (
        func.count().label("responses"),
        func.sum(case((Response.csat >= 4, 1), else_=0)).label("satisfied"),
        func.count(Response.csat).label("csat_answers"),
        func.avg(Response.ces).label("ces"),
        func.sum(case((Response.nps >= 9, 1), else_=0)).label("promoters"),
        func.sum(case((Response.nps <= 6, 1), else_=0)).label("detractors"),
        func.count(Response.nps).label("nps_answers"),
    )


def _scores(row) -> dict:
    return {
        "responses": int(row.responses or 0),
        "csat": 100.0 * int(row.satisfied or 0) / row.csat_answers if row.csat_answers else None,
        "ces": float(row.ces) if row.ces is not None else None,
        "nps": nps_of(int(row.promoters or 0), int(row.detractors or 0), int(row.nps_answers)),
        "nps_answers": int(row.nps_answers or 0),
    }


def _satisfaction_by_stage(
    session: Session, flt: JourneyFilter, since: datetime | None
) -> dict[str, dict]:
    query = select(Response.stage, *_score_columns()).group_by(Response.stage)
    rows = session.execute(_response_scope(query, flt, since)).all()
    return {row.stage: _scores(row) for row in rows if row.stage}


def newest_scores(task: str):
    """The newest score of each customer (each cart, for carts) of ``task``, for aggregates.

    Newest means the latest ``as_of``, then the highest id, as in the critical journeys: a
    back-test (``kundresa score --as-of`` an earlier date) appends rows with higher ids that
    must not pass for today's risk. The window (``next_newer_score``) reads one index without
    sorting; only the newest rows are then read by id (measured: 339 -> 247 ms at 100,000
    customers on SQLite, against two GROUP BYs joined on as_of).
    """
    ranked = (
        select(
            RiskScore.id,
            next_newer_score(RiskScore.id).label("newer_id"),
        )
        .where(RiskScore.task == task)
        .subquery()
    )
    newest = select(ranked.c.id).where(ranked.c.newer_id.is_(None))
    return select(RiskScore).where(RiskScore.id.in_(newest)).subquery()


def _risk_by_stage(session: Session, flt: JourneyFilter) -> dict[tuple[str, str], float]:
    """Mean probability of the newest scores per task and stage."""
    found: dict[tuple[str, str], float] = {}
    for task in TASKS:
        ranked = newest_scores(task)
        query = select(ranked.c.stage, func.avg(ranked.c.probability)).group_by(ranked.c.stage)
        if flt.segment:
            query = query.where(ranked.c.segment == flt.segment)
        if flt.product_category:
            query = query.where(ranked.c.product_category == flt.product_category)
        for stage, mean in session.execute(query).all():
            if stage is not None:
                found[(task, stage)] = float(mean)
    return found


CHOICES_CACHE = TimedCache(seconds=300)
SUMMARY_CACHE = TimedCache(seconds=30)


def cached_choices(database_url: str, session: Session) -> tuple[list[str], list[str]]:
    """The filter choices, at most five minutes old: segments and categories seldom change.
    An empty answer is not kept: the first data may arrive any moment."""
    choices = CHOICES_CACHE.get(database_url, lambda: segments_and_categories(session))
    if not any(choices):
        CHOICES_CACHE.forget(database_url)
    return choices


def segments_and_categories(session: Session) -> tuple[list[str], list[str]]:
    """The choices for the segment and product-category filters."""
    segments = session.scalars(
        select(Customer.segment)
        .where(Customer.segment.is_not(None))
        .distinct()
        .order_by(Customer.segment)
    ).all()
    categories = session.scalars(
        select(RiskScore.product_category)
        .where(RiskScore.product_category.is_not(None))
        .distinct()
        .order_by(RiskScore.product_category)
    ).all()
    if not categories:
        categories = session.scalars(
            select(JourneyEvent.product_category)
            .where(JourneyEvent.product_category.is_not(None))
            .distinct()
            .order_by(JourneyEvent.product_category)
            .limit(200)
        ).all()
    return list(segments), list(categories)


# --- feedback -----------------------------------------------------------------------------


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
    query = select(Response.survey_key, bucket, *_score_columns()).group_by(
        Response.survey_key, bucket
    )
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
            (date.fromisoformat(str(row.bucket)[:10]), _scores(row))
        )
    return grain, series


def feedback_by_stage(session: Session, flt: FeedbackFilter) -> list[dict]:
    """NPS, CSAT and CES per survey and stage over the period."""
    until = _response_until(session)
    days = PERIODS.get(flt.period, PERIODS["365d"])
    query = select(Response.survey_key, Response.stage, *_score_columns()).group_by(
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
    found = [{"survey": r.survey_key, "stage": r.stage, **_scores(r)} for r in rows]
    return sorted(found, key=lambda r: (r["survey"], order.get(r["stage"], 99)))


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
    paged by (time, id) so page 40 costs what page 1 does."""
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
    after = decode_cursor(cursor)
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
        next_cursor = encode_cursor(last.submitted_at, last.response_id)
    return CommentPage(rows, next_cursor)


def encode_cursor(at: datetime, key: str) -> str:
    return f"{at.astimezone(UTC).isoformat()}|{key}"


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A cursor made by ``encode_cursor``; anything else is treated as the first page."""
    if not cursor or "|" not in cursor:
        return None
    at, _, key = cursor.partition("|")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed, key


# --- scoring --------------------------------------------------------------------------------


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


# --- at-risk rows -----------------------------------------------------------------------------


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


def risk_summary(session: Session, task: str) -> dict[str, float | int]:
    """Across the newest scores of ``task``: customers per band, value at risk in the high
    band, and how many high-band customers nobody has taken yet."""
    ranked = newest_scores(task)
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


# --- CSV export -------------------------------------------------------------------------------

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
) -> Iterator[list[RiskScore]]:
    """The whole at-risk list in chunks, in one streamed query.

    It selects exactly what ``model_service.risk.at_risk`` pages through (the same newest
    rows, filters and order; a test holds the two equal), because paging a 100,000-row export
    500 rows at a time would rank every score again for each page.
    """
    from model_service.risk import at_risk_query

    query, _score, _key = at_risk_query(
        task,
        stage=stage,
        segment=segment,
        band=band,
        without_follow_up=without_follow_up,
        sort=sort,
    )
    result = session.scalars(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        yield list(part)
