"""The support API: models, at-risk customers, customer profiles, critical journeys and
follow-ups. Views only translate HTTP to a ``service`` call and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request

from model_service import attribution, service
from model_service.follow_up_queue import QueueFilter, follow_up_queue
from model_service.predict import EXTENSION, with_texts
from model_service.schemas import (
    AtRiskPageSchema,
    AtRiskQuerySchema,
    AttributionQuerySchema,
    AttributionSchema,
    CriticalJourneysSchema,
    CriticalQuerySchema,
    CustomerProfileSchema,
    FollowUpCreateSchema,
    FollowUpQuerySchema,
    FollowUpQueuePageSchema,
    FollowUpSchema,
    FollowUpUpdateSchema,
    ModelsSchema,
    parse_age,
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
        db_session(),
        body["customer_id"],
        body["task"],
        assignee=g.principal,
        note=body.get("note"),
        due_working_days=current_settings().follow_up_due_working_days,
    )


@blp.route(f"/follow-ups/<int(max={MAX_INT}):follow_up_id>", methods=["PATCH"])
@blp.arguments(FollowUpUpdateSchema)
@blp.response(200, FollowUpSchema)
@refuses(NotFound, "No follow-up has this id.")
@auth("support")
def update_follow_up(body: dict[str, Any], follow_up_id: int):
    """Move a follow-up forward (open → contacted → resolved), hand it to another active
    dashboard user (assignee) and/or add a note."""
    return service.update_follow_up(
        db_session(),
        follow_up_id,
        author=g.principal,
        status=body.get("status"),
        note=body.get("note"),
        assignee=body.get("assignee"),
    )


@blp.route("/attribution", methods=["GET"])
@blp.arguments(AttributionQuerySchema, location="query")
@blp.response(200, AttributionSchema)
@auth("support")
def attribution_by_channel(query: dict[str, Any]):
    """Converted revenue per channel, per attribution model, for the purchases (or recovered
    carts) of a period: last click, first click, linear, position-based, time decay and the
    Markov removal effect with a bootstrap interval. Each model's channels add up to the
    attributed revenue."""
    since, until = query["since"], query["until"]
    models = (query["model"],) if query.get("model") else attribution.MODELS
    results = attribution.attribution_report(
        current_settings().database_url,
        since=since,
        until=until,
        models=models,
        kind=query["kind"],
        lookback_days=query["lookback_days"],
        half_life_days=query["half_life_days"],
    )
    return {
        "since": since,
        "until": until,
        "kind": query["kind"],
        "lookback_days": query["lookback_days"],
        "half_life_days": query["half_life_days"],
        "models": [attribution.as_dict(result) for result in results.values()],
    }


@blp.route("/follow-ups", methods=["GET"])
@blp.arguments(FollowUpQuerySchema, location="query")
@blp.response(200, FollowUpQueuePageSchema)
@auth("support")
def follow_ups(query: dict[str, Any]):
    """The support queue: follow-ups by status, assignee (``me`` for the caller), task, age
    (taken longer ago than ``older_than``) and overdue (past due and not resolved), the soonest
    due first, a page at a time (pass next_cursor). Each case says who the customer is."""
    assignee = query.get("assignee")
    flt = QueueFilter(
        status=query.get("status"),
        assignee=g.principal if assignee == "me" else assignee,
        task=query.get("task"),
        older_than=parse_age(query["older_than"]) if query.get("older_than") else None,
        overdue=query.get("overdue"),
    )
    page = follow_up_queue(db_session(), flt, limit=query["limit"], cursor=query.get("cursor"))
    return {"items": page.items, "next_cursor": page.next_cursor}
