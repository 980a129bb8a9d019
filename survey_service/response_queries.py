"""Reading stored responses: lists, a streamed export and the metrics per period."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Select, select

from shared import metrics
from shared.db.session import session_factory, session_scope
from shared.db.tables import Response

# Rows fetched per round trip when streaming exports and metrics.
STREAM_BATCH = 1000

RESPONSE_COLUMNS = (
    "response_id",
    "survey_key",
    "customer_id",
    "visitor_id",
    "stage",
    "cart_id",
    "order_id",
    "locale",
    "answers",
    "nps",
    "csat",
    "ces",
    "reason",
    "comment",
    "submitted_at",
    "received_at",
)


def response_record(row: Response) -> dict[str, Any]:
    return {name: getattr(row, name) for name in RESPONSE_COLUMNS}


def _filtered(statement: Select, filters: Mapping[str, Any]) -> Select:
    for name in ("survey_key", "stage", "customer_id", "visitor_id"):
        if filters.get(name) is not None:
            statement = statement.where(getattr(Response, name) == filters[name])
    if filters.get("since") is not None:
        statement = statement.where(Response.submitted_at >= filters["since"])
    if filters.get("until") is not None:
        statement = statement.where(Response.submitted_at < filters["until"])
    return statement


def list_responses(
    database_url: str, filters: Mapping[str, Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    statement = _filtered(select(Response), filters).order_by(
        Response.submitted_at.desc(), Response.response_id
    )
    with session_scope(database_url) as session:
        rows = session.scalars(statement.limit(limit).offset(offset))
        return [response_record(row) for row in rows]


def iter_responses(database_url: str, filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every matching response, oldest first, fetched in batches (never the whole table)."""
    statement = _filtered(select(Response), filters).order_by(
        Response.submitted_at, Response.response_id
    )
    session = session_factory(database_url)()
    try:
        for row in session.scalars(statement.execution_options(yield_per=STREAM_BATCH)):
            yield response_record(row)
    finally:
        session.close()


def survey_metrics(
    database_url: str,
    filters: Mapping[str, Any],
    period: str,
    minimum: int = metrics.MIN_ANSWERS,
) -> list[dict[str, Any]]:
    """NPS, CSAT, CES, count and top reasons per survey, stage and period, each score with
    its 95 % interval, its number of answers and whether that is below ``minimum``."""
    statement = _filtered(
        select(
            Response.survey_key,
            Response.stage,
            Response.submitted_at,
            Response.nps,
            Response.csat,
            Response.ces,
            Response.reason,
        ),
        filters,
    )
    groups: dict[tuple, dict[str, list]] = {}
    with session_scope(database_url) as session:
        for row in session.execute(statement.execution_options(yield_per=STREAM_BATCH)):
            key = (row.survey_key, row.stage, metrics.period_start(row.submitted_at, period))
            group = groups.setdefault(key, {"nps": [], "csat": [], "ces": [], "reason": []})
            for name in ("nps", "csat", "ces", "reason"):
                group[name].append(getattr(row, name))
    return [
        {
            "survey_key": survey_key,
            "stage": stage,
            "period_start": start,
            "responses": len(values["nps"]),
            "nps": metrics.nps(values["nps"]),
            "csat": metrics.csat(values["csat"]),
            "ces": metrics.ces(values["ces"]),
            **_with_intervals("nps", metrics.nps_with_interval(values["nps"], minimum)),
            **_with_intervals("csat", metrics.csat_with_interval(values["csat"], minimum)),
            **_with_intervals("ces", metrics.ces_with_interval(values["ces"], minimum)),
            "top_reasons": [
                {"reason": reason, "count": count}
                for reason, count in metrics.top_reasons(values["reason"])
            ],
        }
        for (survey_key, stage, start), values in sorted(
            groups.items(), key=lambda item: tuple("" if v is None else str(v) for v in item[0])
        )
    ]


def _with_intervals(name: str, score: metrics.Score) -> dict[str, Any]:
    """A score's interval, count and few-answers flag as the metrics API names them."""
    return {
        f"{name}_low": score.low,
        f"{name}_high": score.high,
        f"{name}_n": score.n,
        f"{name}_few_answers": score.few,
    }
