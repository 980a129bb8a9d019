"""The choices of the dashboard's filters: periods, segments and product categories."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.cache import TimedCache
from shared.db.tables import Customer, JourneyEvent, RiskScore

PERIODS: dict[str, int | None] = {"30d": 30, "90d": 90, "365d": 365, "all": None}
CHOICES_CACHE = TimedCache(seconds=300)


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
