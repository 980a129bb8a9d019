"""The survey funnel, shown → started → answered, per survey, week, stage and device.

- shown: an offer (a ``survey_impressions`` row, written by the eligibility check when the
  widget may show the survey), with the stage and device the page sent;
- started: the widget reported the visitor's first touch of an answer (``started_at``, once
  per offer: ``POST /v1/surveys/<key>/started``);
- answered: a response to that survey from that visitor received after the offer and before
  the next offer of it (each response is matched to the latest offer before it).

Offers made before these columns existed have no stage, device or start: they count as shown
(and answered when they were), under "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.tables import Response, Survey, SurveyImpression

WEEKS: tuple[int, ...] = (4, 12, 26, 52)
DEFAULT_WEEKS = 12
UNKNOWN = "unknown"


@dataclass(frozen=True)
class FunnelRow:
    group: str
    shown: int
    started: int
    answered: int

    @property
    def start_rate(self) -> float | None:
        return self.started / self.shown if self.shown else None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.shown if self.shown else None


@dataclass(frozen=True)
class Funnel:
    until: date | None
    by_survey: list[FunnelRow]
    by_stage: list[FunnelRow]
    by_device: list[FunnelRow]
    # (monday of the week, row) oldest first; only weeks with offers.
    by_week: list[tuple[date, FunnelRow]]
    total: FunnelRow


def survey_keys(session: Session) -> list[str]:
    return list(session.scalars(select(Survey.key).order_by(Survey.key)))


def _offers(session: Session, survey: str | None, weeks: int) -> pd.DataFrame:
    """Every offer of the period (ending at the latest offer), marked started and answered."""
    until = session.scalar(select(func.max(SurveyImpression.shown_at)))
    columns = ["id", "survey_key", "visitor_id", "stage", "device", "shown_at", "started_at"]
    if until is None:
        return pd.DataFrame(columns=[*columns, "answered"])
    since = until - timedelta(weeks=weeks)
    offer_filter = [SurveyImpression.shown_at > since]
    response_filter = [Response.received_at > since, Response.visitor_id.is_not(None)]
    if survey:
        offer_filter.append(SurveyImpression.survey_key == survey)
        response_filter.append(Response.survey_key == survey)
    offers = pd.DataFrame(
        session.execute(
            select(*(getattr(SurveyImpression, c) for c in columns)).where(*offer_filter)
        ).all(),
        columns=columns,
    )
    responses = pd.DataFrame(
        session.execute(
            select(Response.survey_key, Response.visitor_id, Response.received_at).where(
                *response_filter
            )
        ).all(),
        columns=["survey_key", "visitor_id", "received_at"],
    )
    offers["answered"] = False
    if offers.empty or responses.empty:
        return offers
    offers["shown_at"] = pd.to_datetime(offers["shown_at"], utc=True)
    responses["received_at"] = pd.to_datetime(responses["received_at"], utc=True)
    matched = pd.merge_asof(
        responses.sort_values("received_at"),
        offers[["id", "survey_key", "visitor_id", "shown_at"]].sort_values("shown_at"),
        left_on="received_at",
        right_on="shown_at",
        by=["survey_key", "visitor_id"],
        direction="backward",
    )
    offers["answered"] = offers["id"].isin(matched["id"].dropna().astype(int))
    return offers


def _row(group: str, frame: pd.DataFrame) -> FunnelRow:
    return FunnelRow(
        group=group,
        shown=len(frame),
        started=int(frame["started_at"].notna().sum()),
        answered=int(frame["answered"].sum()),
    )


def _grouped(frame: pd.DataFrame, column: str) -> list[FunnelRow]:
    keys = frame[column].fillna(UNKNOWN)
    rows = [_row(str(key), part) for key, part in frame.groupby(keys, sort=True)]
    return sorted(rows, key=lambda r: (-r.shown, r.group))


def survey_funnel(
    session: Session, survey: str | None = None, weeks: int = DEFAULT_WEEKS
) -> Funnel:
    offers = _offers(session, survey, weeks)
    if offers.empty:
        empty = FunnelRow("", 0, 0, 0)
        return Funnel(None, [], [], [], [], empty)
    shown = pd.to_datetime(offers["shown_at"], utc=True)
    offers["week"] = (shown - pd.to_timedelta(shown.dt.day_of_week, unit="D")).dt.date
    by_week = [(week, _row(str(week), part)) for week, part in offers.groupby("week", sort=True)]
    return Funnel(
        until=shown.max().date(),
        by_survey=_grouped(offers, "survey_key"),
        by_stage=_grouped(offers, "stage"),
        by_device=_grouped(offers, "device"),
        by_week=by_week,
        total=_row("", offers),
    )
