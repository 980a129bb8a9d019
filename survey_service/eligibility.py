"""Whether a visitor may be offered a survey now, and if not, why.

The checks run in this order and the first that fails is the answer: ``inactive``, ``trigger``
(the survey's trigger does not hold for this moment and person), ``sampled_out``, ``cooldown``
(this survey was offered to the person recently), ``global_cooldown`` (any survey was offered or
answered recently), ``global_cap`` (enough surveys this period), ``priority`` (another survey
with a higher priority is due at this same moment). An offer is recorded as an impression,
which starts every cooldown.

A person is every visitor id linked to the same customer, so fatigue follows them from their
laptop to their phone. The limits across surveys are the site's (``lookups.Fatigue``).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import Identity, JourneyEvent, Response, SurveyImpression
from survey_service import lookups

PURCHASE = "purchase"


@dataclass(frozen=True)
class Moment:
    """What the page knows when it asks: each is None when the page did not say."""

    event: str | None = None
    page_url: str | None = None
    stage: str | None = None
    cart_items: int | None = None
    # Not a trigger condition: kept with the impression for the survey funnel.
    device: str | None = None


MOMENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Moment))


@dataclass(frozen=True)
class Person:
    visitor_ids: frozenset[str]
    customer_id: str | None


@dataclass(frozen=True)
class Purchases:
    count: int
    last_at: datetime | None


def sampling_bucket(survey_key: str, visitor_id: str) -> float:
    """A number in [0, 1) fixed for one visitor and survey, so sampling never flip-flops."""
    digest = hashlib.sha256(f"{survey_key}\x1f{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _person(session: Session, visitor_id: str) -> Person:
    customer_id = session.scalar(
        select(Identity.customer_id).where(Identity.visitor_id == visitor_id)
    )
    visitors = {visitor_id}
    if customer_id is not None:
        visitors |= set(
            session.scalars(select(Identity.visitor_id).where(Identity.customer_id == customer_id))
        )
    return Person(frozenset(visitors), customer_id)


def _of_person(person: Person, visitor_column, customer_column):
    """Rows of any of the person's visitor ids or, once known, of the customer."""
    if person.customer_id is None:
        return visitor_column.in_(person.visitor_ids)
    return or_(visitor_column.in_(person.visitor_ids), customer_column == person.customer_id)


def _purchases(session: Session, person: Person) -> Purchases:
    count, last_at = session.execute(
        select(func.count(), func.max(JourneyEvent.occurred_at)).where(
            JourneyEvent.type == PURCHASE,
            _of_person(person, JourneyEvent.visitor_id, JourneyEvent.customer_id),
        )
    ).one()
    return Purchases(count, last_at)


def _needs_purchases(trigger: dict | None) -> bool:
    return bool(trigger) and ("min_purchases" in trigger or "days_since_last_order" in trigger)


def trigger_holds(
    survey: lookups.SurveyInfo, moment: Moment, purchases: Purchases | None, now: datetime
) -> bool:
    """Does every condition of the survey's trigger hold? A condition on something the page
    did not say does not hold. ``purchases`` is needed only when ``_needs_purchases``."""
    if not survey.trigger_readable:
        return False
    trigger = survey.trigger or {}
    if "event" in trigger and moment.event != trigger["event"]:
        return False
    if trigger.get("requires_cart") and not (moment.cart_items or 0) > 0:
        return False
    if "stage" in trigger and moment.stage != trigger["stage"]:
        return False
    if "page_url" in trigger and not (
        moment.page_url and fnmatch.fnmatchcase(moment.page_url, trigger["page_url"])
    ):
        return False
    if "min_purchases" in trigger and purchases.count < trigger["min_purchases"]:
        return False
    if "days_since_last_order" in trigger:
        if purchases.last_at is None:
            return False
        days = (now - purchases.last_at) / timedelta(days=1)
        window = trigger["days_since_last_order"]
        if days < window.get("min", 0) or ("max" in window and days > window["max"]):
            return False
    return True


def _last_shown(session: Session, person: Person) -> dict[str, datetime]:
    """When each survey was last offered to the person."""
    rows = session.execute(
        select(SurveyImpression.survey_key, func.max(SurveyImpression.shown_at))
        .where(SurveyImpression.visitor_id.in_(person.visitor_ids))
        .group_by(SurveyImpression.survey_key)
    )
    return {key: shown_at for key, shown_at in rows}


def _in_own_cooldown(survey: lookups.SurveyInfo, last_shown: dict, now: datetime) -> bool:
    shown_at = last_shown.get(survey.key)
    return (
        survey.cooldown_days > 0
        and shown_at is not None
        and shown_at > now - timedelta(days=survey.cooldown_days)
    )


def _in_global_cooldown(
    session: Session, person: Person, fatigue: lookups.Fatigue, last_shown: dict, now: datetime
) -> bool:
    shown_since = now - timedelta(days=fatigue.cooldown_shown_days)
    if fatigue.cooldown_shown_days > 0 and any(t > shown_since for t in last_shown.values()):
        return True
    if fatigue.cooldown_answered_days <= 0:
        return False
    answered = session.scalar(
        select(Response.response_id)
        .where(
            _of_person(person, Response.visitor_id, Response.customer_id),
            Response.submitted_at > now - timedelta(days=fatigue.cooldown_answered_days),
        )
        .limit(1)
    )
    return answered is not None


def _at_global_cap(
    session: Session, person: Person, fatigue: lookups.Fatigue, now: datetime
) -> bool:
    if fatigue.max_surveys_per_period <= 0 or fatigue.period_days <= 0:
        return False
    offered = session.scalar(
        select(func.count())
        .select_from(SurveyImpression)
        .where(
            SurveyImpression.visitor_id.in_(person.visitor_ids),
            SurveyImpression.shown_at > now - timedelta(days=fatigue.period_days),
        )
    )
    return offered >= fatigue.max_surveys_per_period


def _outranked(
    survey: lookups.SurveyInfo,
    others: Iterable[lookups.SurveyInfo],
    visitor_id: str,
    moment: Moment,
    purchases: Purchases | None,
    last_shown: dict,
    now: datetime,
) -> bool:
    """Is a survey of higher priority due at this moment? Only surveys whose trigger names
    this moment's event compete: one the shop merely may call for is not due until it does."""
    for other in others:
        if (
            other.key != survey.key
            and other.priority > survey.priority
            and moment.event is not None
            and (other.trigger or {}).get("event") == moment.event
            and trigger_holds(other, moment, purchases, now)
            and sampling_bucket(other.key, visitor_id) < other.sampling_rate
            and not _in_own_cooldown(other, last_shown, now)
        ):
            return True
    return False


def check_eligibility(
    database_url: str,
    site: lookups.SiteInfo,
    survey: lookups.SurveyInfo,
    visitor_id: str,
    moment: Moment | None = None,
    now: datetime | None = None,
) -> tuple[bool, str]:
    """May this visitor be offered this survey now, and if not, why? An offer is recorded."""
    if not survey.active:
        return False, "inactive"
    moment = moment or Moment()
    now = now or datetime.now(UTC)
    others = lookups.active_surveys(database_url)
    with session_scope(database_url) as session:
        person = _person(session, visitor_id)
        needs_purchases = _needs_purchases(survey.trigger) or any(
            _needs_purchases(o.trigger) for o in others if o.priority > survey.priority
        )
        purchases = _purchases(session, person) if needs_purchases else None
        if not trigger_holds(survey, moment, purchases, now):
            return False, "trigger"
        if sampling_bucket(survey.key, visitor_id) >= survey.sampling_rate:
            return False, "sampled_out"
        last_shown = _last_shown(session, person)
        if _in_own_cooldown(survey, last_shown, now):
            return False, "cooldown"
        if _in_global_cooldown(session, person, site.fatigue, last_shown, now):
            return False, "global_cooldown"
        if _at_global_cap(session, person, site.fatigue, now):
            return False, "global_cap"
        if _outranked(survey, others, visitor_id, moment, purchases, last_shown, now):
            return False, "priority"
        session.add(
            SurveyImpression(
                survey_key=survey.key,
                visitor_id=visitor_id,
                shown_at=now,
                stage=moment.stage,
                device=moment.device,
            )
        )
    return True, "ok"
