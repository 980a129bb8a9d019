"""The use cases of the model service, one function each, for the API views and the dashboard.

Every function takes the caller's SQLAlchemy session and returns plain values; none knows
about Flask. The list and journey queries live in their own
modules and are named here so that callers have one place to import from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from model_service.critical_journeys import critical_journeys
from model_service.customer_contacts import contacts
from model_service.followups import (
    customer_follow_ups,
    get_follow_up,
    take_follow_up,
    update_follow_up,
)
from model_service.risk import at_risk, risk_history
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.journey import derive_stage

__all__ = [
    "at_risk",
    "critical_journeys",
    "customer_profile",
    "get_follow_up",
    "take_follow_up",
    "update_follow_up",
]

TIMELINE_LIMIT = 200


def customer_profile(
    session: Session, customer_id: str, timeline_limit: int = TIMELINE_LIMIT
) -> dict[str, Any] | None:
    """One customer: profile, current stage, the newest ``timeline_limit`` events and survey
    answers in time order, the whole risk history and every follow-up; None when unknown."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    events = list(
        session.scalars(
            select(JourneyEvent)
            .where(JourneyEvent.customer_id == customer_id)
            .order_by(JourneyEvent.occurred_at.desc(), JourneyEvent.event_id.desc())
            .limit(timeline_limit)
        )
    )
    responses = list(
        session.scalars(
            select(Response)
            .where(Response.customer_id == customer_id)
            .order_by(Response.submitted_at.desc())
            .limit(timeline_limit)
        )
    )
    devices = session.scalar(
        select(Identity.visitor_id).where(Identity.customer_id == customer_id).limit(1)
    )
    events.reverse()
    history = risk_history(session, customer_id)
    # The scored stage was derived from the whole history; the timeline is only its tail.
    stage = history[-1]["stage"] if history and history[-1]["stage"] else None
    timeline = [_event_entry(e) for e in events] + [_response_entry(r) for r in responses]
    timeline.sort(key=lambda entry: entry["at"])
    return {
        "id": customer.id,
        "segment": customer.segment,
        "locale": customer.locale,
        "consent": customer.consent,
        "created_at": customer.created_at,
        "contact": contacts(session, [customer_id])[customer_id].as_dict(),
        "has_linked_devices": devices is not None,
        "stage": stage or derive_stage({"type": e.type, "stage": e.stage} for e in events),
        "timeline": timeline[-timeline_limit:],
        "risk_history": history,
        "follow_ups": customer_follow_ups(session, customer_id),
    }


def _event_entry(event: JourneyEvent) -> dict[str, Any]:
    return {
        "kind": "event",
        "at": event.occurred_at,
        "type": event.type,
        "stage": event.stage,
        "channel": event.channel,
        "product_category": event.product_category,
        "value": event.value,
        "cart_id": event.cart_id,
        "order_id": event.order_id,
        "device": event.device,
    }


def _response_entry(response: Response) -> dict[str, Any]:
    return {
        "kind": "survey_answer",
        "at": response.submitted_at,
        "type": response.survey_key,
        "stage": response.stage,
        "cart_id": response.cart_id,
        "order_id": response.order_id,
        "nps": response.nps,
        "csat": response.csat,
        "ces": response.ces,
        "reason": response.reason,
        "comment": response.comment,
    }
