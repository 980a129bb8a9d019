"""The "started" step of the survey funnel: shown (an impression) → started → answered."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from shared.db.session import session_scope
from shared.db.tables import SurveyImpression


def mark_started(database_url: str, survey_key: str, visitor_id: str) -> bool:
    """Record when the visitor began answering their latest offer of this survey; a repeat
    keeps the first time (the widget tells it once, a retry or a second tab changes nothing)."""
    with session_scope(database_url) as session:
        latest = (
            select(func.max(SurveyImpression.id))
            .where(
                SurveyImpression.visitor_id == visitor_id,
                SurveyImpression.survey_key == survey_key,
            )
            .scalar_subquery()
        )
        changed = session.execute(
            update(SurveyImpression)
            .where(SurveyImpression.id == latest, SurveyImpression.started_at.is_(None))
            .values(started_at=datetime.now(UTC))
        ).rowcount
    return changed == 1
