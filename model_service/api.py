"""The support API: models, at-risk customers, customer profiles, critical journeys and
follow-ups. Views only translate HTTP to a ``service`` call and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request

from model_service import service
from model_service.predict import EXTENSION, with_texts
from model_service.schemas import (
    AtRiskPageSchema,
    AtRiskQuerySchema,
    CriticalJourneysSchema,
    CriticalQuerySchema,
    CustomerProfileSchema,
    FollowUpCreateSchema,
    FollowUpSchema,
    FollowUpUpdateSchema,
    ModelsSchema,
)
from model_service.served_scale import staleness
from shared.auth import auth
from shared.errors import Conflict, NotFound
from shared.i18n import best_locale
from shared.risk_scale import probability_text
from shared.schemas.fields import MAX_INT, is_storable_text
from shared.web import StrictBlueprint, current_settings, db_session, refuses

blp = StrictBlueprint(
    "support",
    __name__,
    url_prefix="/v1",
    description="Models, at-risk customers, critical journeys and follow-ups.",
)


def _locale() -> str:
    return best_locale(request.accept_languages)


@blp.route("/models", methods=["GET"])
@blp.response(200, ModelsSchema)
@auth("support")
def models():
    """Which model version serves each task, since when, and any refused version or error."""
    return {"models": current_app.extensions[EXTENSION].status(_locale())}


@blp.route("/at-risk", methods=["GET"])
@blp.arguments(AtRiskQuerySchema, location="query")
@blp.response(200, AtRiskPageSchema)
@auth("support")
def at_risk(query: dict[str, Any]):
    """The newest score per customer, the largest expected value at risk (probability × value)
    first, a page at a time (pass next_cursor), with what the probability is of, the base
    rate, and a notice when the scores come from another version than the champion."""
    task = query.pop("task")
    session = db_session()
    page = service.at_risk(session, task, **query)
    locale = _locale()
    served = current_app.extensions[EXTENSION].get(task)
    stale = staleness(session, task, served)
    items = []
    for item in page.items:
        entry = vars(item).copy()
        entry["reasons"] = with_texts(item.reasons, locale)
        entry["probability_text"] = probability_text(item.probability, locale)
        items.append(entry)
    return {
        "task": task,
        "definition": served.definition_text(locale) if served else None,
        "base_rate": served.base_rate if served else None,
        "stale": stale.as_dict(locale) if stale else None,
        "items": items,
        "next_cursor": page.next_cursor,
    }


@blp.route("/customers/<customer_id>", methods=["GET"])
@blp.response(200, CustomerProfileSchema)
@refuses(NotFound, "No customer has this id.")
@auth("support")
def customer(customer_id: str):
    """A customer's profile, journey timeline, risk history and follow-ups."""
    profile = None
    if len(customer_id) <= 64 and is_storable_text(customer_id):
        profile = service.customer_profile(db_session(), customer_id)
    if profile is None:
        raise NotFound("No customer has this id.")
    locale = _locale()
    for score in profile["risk_history"]:
        score["reasons"] = with_texts(score["reasons"], locale)
    return profile


@blp.route("/journeys/critical", methods=["GET"])
@blp.arguments(CriticalQuerySchema, location="query")
@blp.response(200, CriticalJourneysSchema)
@auth("support")
def critical(query: dict[str, Any]):
    """Stage × segment × category cells sorted by revenue at risk: the journeys to fix first."""
    settings = current_settings()
    end = query.get("end") or datetime.now(UTC)
    cells = service.critical_journeys(
        db_session(),
        query["task"],
        period=query["period"],
        end=end,
        limit=query["limit"],
        flag_threshold=settings.critical_flag_threshold,
        min_answers=settings.min_answers,
    )
    return {
        "task": query["task"],
        "period": query["period"],
        "end": end,
        "flag_threshold": settings.critical_flag_threshold,
        "min_answers": settings.min_answers,
        "journeys": cells,
    }


@blp.route("/follow-ups", methods=["POST"])
@blp.arguments(FollowUpCreateSchema)
@blp.response(201, FollowUpSchema)
@refuses(Conflict, "Someone already follows this up.")
@refuses(NotFound, "No customer has this id.")
@auth("support")
def take_follow_up(body: dict[str, Any]):
    """Take an at-risk customer: opens a follow-up assigned to the caller."""
    return service.take_follow_up(
        db_session(), body["customer_id"], body["task"], assignee=g.principal, note=body.get("note")
    )


@blp.route(f"/follow-ups/<int(max={MAX_INT}):follow_up_id>", methods=["PATCH"])
@blp.arguments(FollowUpUpdateSchema)
@blp.response(200, FollowUpSchema)
@refuses(NotFound, "No follow-up has this id.")
@auth("support")
def update_follow_up(body: dict[str, Any], follow_up_id: int):
    """Move a follow-up forward (open → contacted → resolved) and/or add a note."""
    return service.update_follow_up(
        db_session(),
        follow_up_id,
        author=g.principal,
        status=body.get("status"),
        note=body.get("note"),
    )
