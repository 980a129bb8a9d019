"""Whether a visitor may be offered a survey now: activity, sampling and cooldown."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from shared.db.session import session_scope
from shared.db.tables import (
    Identity,
    SurveyImpression,
)
from survey_service import lookups


def sampling_bucket(survey_key: str, visitor_id: str) -> float:
    """A number in [0, 1) fixed for one visitor and survey, so sampling never flip-flops."""
    digest = hashlib.sha256(f"{survey_key}\x1f{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_eligibility(
    database_url: str, survey: lookups.SurveyInfo, visitor_id: str, now: datetime | None = None
) -> tuple[bool, str]:
    """May this visitor be offered this survey now? Offering starts the cooldown.

    The cooldown covers every device of a known customer: a visitor linked to a customer is
    not asked again on their phone after answering on their laptop.
    """
    if not survey.active:
        return False, "inactive"
    if sampling_bucket(survey.key, visitor_id) >= survey.sampling_rate:
        return False, "sampled_out"
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        customer_id = session.scalar(
            select(Identity.customer_id).where(Identity.visitor_id == visitor_id)
        )
        visitors = {visitor_id}
        if customer_id is not None:
            visitors |= set(
                session.scalars(
                    select(Identity.visitor_id).where(Identity.customer_id == customer_id)
                )
            )
        if survey.cooldown_days > 0:
            recent = session.scalar(
                select(func.count())
                .select_from(SurveyImpression)
                .where(
                    SurveyImpression.survey_key == survey.key,
                    SurveyImpression.visitor_id.in_(visitors),
                    SurveyImpression.shown_at > now - timedelta(days=survey.cooldown_days),
                )
            )
            if recent:
                return False, "cooldown"
        session.add(SurveyImpression(survey_key=survey.key, visitor_id=visitor_id, shown_at=now))
    return True, "ok"
