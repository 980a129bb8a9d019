"""The public API a web shop's pages call: surveys, eligibility, responses, events, identify.

Every route needs a site key (``X-Site-Key`` or ``?site_key=``) and, from a browser, an
allowed origin. Bodies are JSON sent as ``application/json`` or as ``text/plain`` (what
``navigator.sendBeacon`` can send cross-origin without a preflight); both parse the same.
"""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort

from shared.schemas.events import EventBatchSchema, EventReceiptSchema
from shared.schemas.fields import is_storable_text
from shared.schemas.identify import IdentifySchema, IdentityReceiptSchema
from shared.schemas.responses import ResponseInSchema, ResponseReceiptSchema
from shared.schemas.surveys import (
    EligibilityQuerySchema,
    EligibilitySchema,
    PublicSurveySchema,
    SurveyQuerySchema,
)
from survey_service import access, eligibility, errors, event_ingest, identity, lookups, responses
from survey_service.parsing import PublicBlueprint
from survey_service.questions import localize

blp = PublicBlueprint(
    "public",
    __name__,
    url_prefix="/v1",
    description="For web shops: identified by a publishable site key and their allowed origins.",
)
blp.before_request(access.limit_rate)
blp.before_request(access.authorise_site)
blp.after_request(access.add_cors_headers)

SITE_KEY = [{"site_key": []}]


def _settings():  # noqa: ANN202
    return current_app.config["KUNDRESA"]


def _survey_or_404(survey_key: str) -> lookups.SurveyInfo:
    survey = None
    if len(survey_key) <= 80 and is_storable_text(survey_key):
        survey = lookups.survey(_settings().database_url, survey_key)
    if survey is None:
        abort(404, message="No survey has this key.")
    return survey


@blp.route("/surveys/<survey_key>", methods=["GET"])
@blp.arguments(SurveyQuerySchema(), location="query", as_kwargs=True)
@blp.response(200, PublicSurveySchema)
@blp.alt_response(404, description="No survey has this key.")
@blp.doc(security=SITE_KEY)
def get_survey(survey_key: str, locale: str | None = None, **_: object):
    """The survey with its texts in ``locale`` (sv, da, nb, en …), falling back to English."""
    survey = _survey_or_404(survey_key)
    return localize(survey.key, survey.kind, survey.questions, survey.texts, locale)


@blp.route("/surveys/<survey_key>/eligibility", methods=["GET"])
@blp.arguments(EligibilityQuerySchema(), location="query", as_kwargs=True)
@blp.response(200, EligibilitySchema)
@blp.alt_response(404, description="No survey has this key.")
@blp.doc(security=SITE_KEY)
def get_eligibility(survey_key: str, visitor_id: str, **context: object):
    """May this visitor be asked now? ``reason`` says why not, checked in this order:
    inactive, trigger (the survey's trigger does not hold for this moment: send ``event``,
    ``page_url``, ``stage``, ``cart_items`` as the page knows them), sampled_out (fixed per
    visitor), cooldown (this survey offered recently), global_cooldown (any survey offered
    or answered recently, on any of the person's devices), global_cap, priority (a survey
    with a higher priority is due now). An offer starts every cooldown."""
    survey = _survey_or_404(survey_key)
    moment = eligibility.Moment(**{k: context.get(k) for k in eligibility.MOMENT_FIELDS})
    eligible, reason = eligibility.check_eligibility(
        _settings().database_url, g.site, survey, visitor_id, moment
    )
    return {"eligible": eligible, "reason": reason}


@blp.route("/responses", methods=["POST"])
@blp.arguments(ResponseInSchema())
@blp.response(201, ResponseReceiptSchema)
@blp.alt_response(200, schema=ResponseReceiptSchema, description="Already stored (a retry).")
@blp.alt_response(409, description="This response_id was stored with another body.")
@blp.doc(security=SITE_KEY)
def post_response(data: dict):
    """Store a survey response once: 201 stored, 200 a retry of the same body, 409 the same
    id with another body. Answers are checked against the survey's questions."""
    settings = _settings()
    try:
        receipt = responses.add_response(
            settings.database_url, g.site.id, data, settings.max_text_length
        )
    except errors.Invalid as invalid:
        abort(422, message="The answers are not valid.", errors=invalid.errors)
    except errors.Conflict:
        abort(
            409,
            message="This response_id was already used for another response.",
            errors={"response_id": ["Already used with a different body."]},
        )
    body = {"response_id": receipt.response_id, "duplicate": receipt.duplicate}
    return (body, 200) if receipt.duplicate else body


@blp.route("/events", methods=["POST"])
@blp.arguments(EventBatchSchema())
@blp.response(202, EventReceiptSchema)
@blp.doc(security=SITE_KEY)
def post_events(data: dict):
    """Store up to 500 journey events; all or nothing. Known ``event_id`` s are counted as
    duplicates and skipped, so a retried batch is never stored twice."""
    settings = _settings()
    events = data["events"]
    if len(events) > settings.max_events_per_call:
        abort(
            422,
            message="Too many events in one call.",
            errors={"events": [f"At most {settings.max_events_per_call} per call."]},
        )
    accepted, duplicates = event_ingest.ingest_events(settings.database_url, g.site.id, events)
    return {"accepted": accepted, "duplicates": duplicates}


@blp.route("/identify", methods=["POST"])
@blp.arguments(IdentifySchema())
@blp.response(200, IdentityReceiptSchema)
@blp.doc(security=SITE_KEY)
def post_identify(data: dict):
    """Link an anonymous visitor id to a customer id (a customer on two devices is one
    customer); the customer is created when new."""
    is_new = identity.identify(_settings().database_url, data["visitor_id"], data["customer_id"])
    return {**data, "new_customer": is_new}
