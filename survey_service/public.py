"""The public API a web shop's pages call: surveys, eligibility, responses, events, identify.

Every route needs a site key (``X-Site-Key`` or ``?site_key=``), and either an allowed origin
(a browser) or an ingest token (the shop's back office); see ``survey_service.access``. What a
browser may send is limited by ``survey_service.browser_claims``. Bodies are JSON sent as
``application/json`` or as ``text/plain`` (what ``navigator.sendBeacon`` can send cross-origin
without a preflight); both parse the same.
"""

from __future__ import annotations

from flask import g
from flask_smorest import abort

from shared.identity_signature import SIGNATURE_HEADER
from shared.schemas.events import EventBatchSchema, EventReceiptSchema
from shared.schemas.fields import is_storable_text
from shared.schemas.identify import IdentifySchema, IdentityReceiptSchema
from shared.schemas.responses import ResponseInSchema, ResponseReceiptSchema
from shared.schemas.surveys import (
    EligibilityQuerySchema,
    EligibilitySchema,
    PublicSurveySchema,
    SurveyQuerySchema,
    SurveyStartedSchema,
)
from shared.survey_texts import localize
from shared.web import current_settings, refuses
from survey_service import (
    access,
    browser_claims,
    eligibility,
    errors,
    event_ingest,
    identity,
    impressions,
    lookups,
    responses,
)
from survey_service.parsing import PublicBlueprint

blp = PublicBlueprint(
    "public",
    __name__,
    url_prefix="/v1",
    description="For web shops: identified by a publishable site key and their allowed origins.",
)
blp.before_request(access.limit_rate)
blp.before_request(access.authorise_site)
blp.after_request(access.add_cors_headers)

# A browser presents the site key alone, the shop's back office the site key and a token.
SITE_KEY = [{"site_key": []}, {"site_key": [], "bearer": []}]
# Documented so that a shop's developer finds the header in the API reference, not only in prose.
SIGNATURE_PARAMETER = {
    "in": "header",
    "name": SIGNATURE_HEADER,
    "required": False,
    "schema": {"type": "string"},
    "description": "hex(HMAC-SHA256(site identity secret, customer_id)), made by the shop's "
    "server for its signed-in customer. Needed from a browser for a customer id where the site "
    "requires it; ignored for back-office calls with a token.",
}
BROWSER_REFUSED = (
    "From a browser: a back-office event type, another visitor's events, or a customer id "
    "without a valid X-Identity-Signature."
)


def _survey_or_404(survey_key: str) -> lookups.SurveyInfo:
    survey = None
    if len(survey_key) <= 80 and is_storable_text(survey_key):
        survey = lookups.survey(current_settings().database_url, survey_key)
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
        current_settings().database_url, g.site, survey, visitor_id, moment
    )
    return {"eligible": eligible, "reason": reason}


@blp.route("/surveys/<survey_key>/started", methods=["POST"])
@blp.arguments(SurveyStartedSchema())
@blp.response(204)
@blp.doc(security=SITE_KEY)
def post_started(data: dict, survey_key: str):
    """The visitor began answering this survey, offered to them by the latest eligibility
    check: counted as "started" in the survey funnel, once per offer (a repeat changes
    nothing)."""
    survey = _survey_or_404(survey_key)
    impressions.mark_started(current_settings().database_url, survey.key, data["visitor_id"])


@blp.route("/responses", methods=["POST"])
@blp.arguments(ResponseInSchema())
@blp.response(201, ResponseReceiptSchema)
@blp.alt_response(200, schema=ResponseReceiptSchema, description="Already stored (a retry).")
@refuses(
    errors.Conflict,
    "This response_id was already used for another response.",
    errors={"response_id": ["Already used with a different body."]},
)
@refuses(errors.Invalid, "The answers are not valid.")
@blp.alt_response(403, description=BROWSER_REFUSED)
@blp.doc(security=SITE_KEY, parameters=[SIGNATURE_PARAMETER])
def post_response(data: dict):
    """Store a survey response once: 201 stored, 200 a retry of the same body, 409 the same
    id with another body. Answers are checked against the survey's questions. From a browser,
    a ``customer_id`` needs the shop's ``X-Identity-Signature``."""
    if not access.is_back_office():
        browser_claims.check_response(g.site, data)
    settings = current_settings()
    receipt = responses.add_response(
        settings.database_url, g.site.id, data, settings.max_text_length
    )
    body = {"response_id": receipt.response_id, "duplicate": receipt.duplicate}
    return (body, 200) if receipt.duplicate else body


@blp.route("/events", methods=["POST"])
@blp.arguments(EventBatchSchema())
@blp.response(202, EventReceiptSchema)
@blp.alt_response(403, description=BROWSER_REFUSED)
@blp.doc(security=SITE_KEY, parameters=[SIGNATURE_PARAMETER])
def post_events(data: dict):
    """Store up to 500 journey events; all or nothing. Known ``event_id`` s are counted as
    duplicates and skipped, so a retried batch is never stored twice. A browser sends only
    its own visitor's events, no purchases, refunds, abandoned carts or support contacts
    (those need an ingest token), and a ``customer_id`` only with its signature."""
    settings = current_settings()
    events = data["events"]
    if len(events) > settings.max_events_per_call:
        abort(
            422,
            message="Too many events in one call.",
            errors={"events": [f"At most {settings.max_events_per_call} per call."]},
        )
    if not access.is_back_office():
        browser_claims.check_events(g.site, events)
    accepted, duplicates = event_ingest.ingest_events(settings.database_url, g.site.id, events)
    return {"accepted": accepted, "duplicates": duplicates}


@blp.route("/identify", methods=["POST"])
@blp.arguments(IdentifySchema())
@blp.response(200, IdentityReceiptSchema)
@blp.alt_response(
    403,
    description="From a browser: no valid X-Identity-Signature where the site requires one, "
    "or a visitor linked to another customer.",
)
@blp.doc(security=SITE_KEY, parameters=[SIGNATURE_PARAMETER])
def post_identify(data: dict):
    """Link an anonymous visitor id to a customer id (a customer on two devices is one
    customer); the customer is created when new. From a browser, the customer id needs the
    shop's ``X-Identity-Signature`` when the site requires it, and always to move a visitor
    linked to another customer."""
    visitor_id, customer_id = data["visitor_id"], data["customer_id"]
    may_relink = access.is_back_office() or browser_claims.customer_is_signed(
        g.site, customer_id, "customer_id"
    )
    try:
        is_new = identity.identify(
            current_settings().database_url, visitor_id, customer_id, may_relink
        )
    except identity.RelinkRefused:
        abort(
            403,
            message="This visitor is linked to another customer; moving it needs the shop's "
            "identity signature.",
            errors={SIGNATURE_HEADER: ["Missing or not valid for customer_id."]},
        )
    return {**data, "new_customer": is_new}
