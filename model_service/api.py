"""The support API: models, at-risk customers, customer profiles, critical journeys and
follow-ups. Views only translate HTTP to a ``service`` call and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request
from flask_smorest import abort

from model_service import service
from model_service.followups import FollowUpError
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
from shared import reasons as reason_texts
from shared.auth import require_role
from shared.cursors import BadCursor
from shared.db.session import session_scope
from shared.risk_scale import probability_text
from shared.schemas.fields import is_storable_text
from shared.settings import Settings
from shared.web import StrictBlueprint

blp = StrictBlueprint(
    "support",
    __name__,
    url_prefix="/v1",
    description="Models, at-risk customers, critical journeys and follow-ups.",
)
BEARER = [{"bearer": []}]


def _settings() -> Settings:
    return current_app.config["KUNDRESA"]


def _documented(*extra: tuple[int, str]):  # noqa: ANN202
    def decorate(view):  # noqa: ANN001, ANN202
        for code, description in (
            (401, "No or an unknown token."),
            (403, "The token's role may not do this."),
            *extra,
        ):
            view = blp.alt_response(code, description=description)(view)
        return blp.doc(security=BEARER)(view)

    return decorate


def _locale() -> str:
    return request.accept_languages.best_match(reason_texts.LOCALES) or reason_texts.DEFAULT_LOCALE


def _abort_follow_up(error: FollowUpError) -> None:
    abort(error.status_code, message=str(error), errors={error.field: [str(error)]})


@blp.route("/models", methods=["GET"])
@blp.response(200, ModelsSchema)
@_documented()
@require_role("support")
def models():
    """Which model version serves each task, since when, and any refused version or error."""
    return {"models": current_app.extensions[EXTENSION].status(_locale())}


@blp.route("/at-risk", methods=["GET"])
@blp.arguments(AtRiskQuerySchema, location="query")
@blp.response(200, AtRiskPageSchema)
@_documented()
@require_role("support")
def at_risk(query: dict[str, Any]):
    """The newest score per customer, the largest expected value at risk (probability × value)
    first, a page at a time (pass next_cursor), with what the probability is of, the base
    rate, and a notice when the scores come from another version than the champion."""
    task = query.pop("task")
    database_url = _settings().database_url
    try:
        page = service.at_risk(database_url, task, **query)
    except BadCursor as exc:
        abort(422, message=str(exc), errors={"cursor": [str(exc)]})
    locale = _locale()
    served = current_app.extensions[EXTENSION].get(task)
    with session_scope(database_url) as session:
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
@_documented((404, "No customer has this id."))
@require_role("support")
def customer(customer_id: str):
    """A customer's profile, journey timeline, risk history and follow-ups."""
    if len(customer_id) > 64 or not is_storable_text(customer_id):
        abort(404, message="No customer has this id.")
    profile = service.customer_profile(_settings().database_url, customer_id)
    if profile is None:
        abort(404, message="No customer has this id.")
    locale = _locale()
    for score in profile["risk_history"]:
        score["reasons"] = with_texts(score["reasons"], locale)
    return profile


@blp.route("/journeys/critical", methods=["GET"])
@blp.arguments(CriticalQuerySchema, location="query")
@blp.response(200, CriticalJourneysSchema)
@_documented()
@require_role("support")
def critical(query: dict[str, Any]):
    """Stage × segment × category cells sorted by revenue at risk: the journeys to fix first."""
    settings = _settings()
    end = query.get("end") or datetime.now(UTC)
    cells = service.critical_journeys(
        settings.database_url,
        query["task"],
        period=query["period"],
        end=end,
        limit=query["limit"],
        flag_threshold=settings.critical_flag_threshold,
    )
    return {
        "task": query["task"],
        "period": query["period"],
        "end": end,
        "flag_threshold": settings.critical_flag_threshold,
        "journeys": cells,
    }


@blp.route("/follow-ups", methods=["POST"])
@blp.arguments(FollowUpCreateSchema)
@blp.response(201, FollowUpSchema)
@_documented((404, "No customer has this id."), (409, "Someone already follows this up."))
@require_role("support")
def take_follow_up(body: dict[str, Any]):
    """Take an at-risk customer: opens a follow-up assigned to the caller."""
    try:
        return service.take_follow_up(
            _settings().database_url,
            body["customer_id"],
            body["task"],
            assignee=g.principal,
            note=body.get("note"),
        )
    except FollowUpError as exc:
        _abort_follow_up(exc)


@blp.route("/follow-ups/<int:follow_up_id>", methods=["PATCH"])
@blp.arguments(FollowUpUpdateSchema)
@blp.response(200, FollowUpSchema)
@_documented((404, "No follow-up has this id."))
@require_role("support")
def update_follow_up(body: dict[str, Any], follow_up_id: int):
    """Move a follow-up forward (open → contacted → resolved) and/or add a note."""
    try:
        return service.update_follow_up(
            _settings().database_url,
            follow_up_id,
            author=g.principal,
            status=body.get("status"),
            note=body.get("note"),
        )
    except FollowUpError as exc:
        _abort_follow_up(exc)
