"""Survey definitions (admin), the localized survey a website shows, and eligibility."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.journey import EVENT_TYPES, STAGES
from shared.schemas.fields import CleanString, Identifier
from shared.surveys import QUESTION_TYPES, SURVEY_KINDS

QUESTION_ID = validate.Regexp(
    r"^[a-z][a-z0-9_]{0,39}$", error="Use 1–40 lowercase letters, digits or _, from a letter."
)
SURVEY_KEY = validate.Regexp(
    r"^[a-z0-9][a-z0-9_-]{0,79}$", error="Use 1–80 lowercase letters, digits, _ or -."
)
LOCALE = validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$", error="Use a locale such as sv or sv-SE.")
CHOICE_TYPES = {"single_choice", "multi_choice"}
SURVEY_STATUSES: tuple[str, ...] = ("draft", "published", "paused", "archived")
SURVEY_ACTIONS: tuple[str, ...] = ("publish", "pause", "archive")
DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet")
MAX_TEXT_LENGTH = 2000
PAGE_URL_PATTERN_MAX_LENGTH = 500
PAGE_URL_MAX_LENGTH = 2000
MAX_DAYS = 3650
PRIORITY = validate.Range(min=0, max=1000)
# Why a visitor may not be offered a survey, in the order they are checked.
ELIGIBILITY_REASONS: tuple[str, ...] = (
    "ok",
    "inactive",
    "trigger",
    "sampled_out",
    "cooldown",
    "global_cooldown",
    "global_cap",
    "priority",
)


def _label(required: bool = False) -> CleanString:
    return CleanString(required=required, validate=validate.Length(min=1, max=500))


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def someone_named() -> dict[str, Any]:
    """OpenAPI for "send visitor_id, customer_id or both" (``Meta.openapi``)."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"type": "string"}}}
            for name in ("visitor_id", "customer_id")
        ]
    }


def _by_question_type() -> dict[str, Any]:
    """OpenAPI for ``QuestionSchema._options_match_type`` (``Meta.openapi``)."""
    choices = [kind for kind in QUESTION_TYPES if kind in CHOICE_TYPES]
    others = [kind for kind in QUESTION_TYPES if kind not in CHOICE_TYPES and kind != "text"]
    return {
        "oneOf": [
            {
                "properties": {"type": {"enum": choices}},
                "required": ["options"],
                "not": {"required": ["max_length"]},
            },
            {"properties": {"type": {"enum": ["text"]}}, "not": {"required": ["options"]}},
            {
                "properties": {"type": {"enum": others}},
                "not": {"anyOf": [{"required": ["options"]}, {"required": ["max_length"]}]},
            },
        ]
    }


class QuestionSchema(StrictSchema):
    class Meta(StrictSchema.Meta):
        openapi = _by_question_type()

    id = CleanString(required=True, validate=QUESTION_ID)
    type = fields.String(required=True, validate=validate.OneOf(QUESTION_TYPES))
    required = fields.Boolean(load_default=False)
    options = fields.List(
        CleanString(validate=QUESTION_ID),
        validate=validate.Length(min=1, max=30),
        metadata={"uniqueItems": True},
    )
    max_length = fields.Integer(validate=validate.Range(min=1, max=MAX_TEXT_LENGTH))

    @validates_schema
    def _options_match_type(self, data: dict[str, Any], **_: Any) -> None:
        is_choice = data.get("type") in CHOICE_TYPES
        if is_choice and not data.get("options"):
            raise ValidationError("A choice question needs options.", "options")
        if not is_choice and "options" in data:
            raise ValidationError("Only choice questions have options.", "options")
        if "options" in data and len(set(data["options"])) != len(data["options"]):
            raise ValidationError("Options must be unique.", "options")
        if "max_length" in data and data.get("type") != "text":
            raise ValidationError("Only text questions have max_length.", "max_length")


class QuestionTextsSchema(StrictSchema):
    label = _label(required=True)
    min_label = _label()
    max_label = _label()
    options = fields.Dict(keys=CleanString(validate=QUESTION_ID), values=_label())


class LocaleTextsSchema(StrictSchema):
    title = _label(required=True)
    intro = _label()
    submit = _label()
    thanks = _label()
    close = _label()
    questions = fields.Dict(
        keys=CleanString(validate=QUESTION_ID),
        values=fields.Nested(QuestionTextsSchema),
        load_default=dict,
    )


def _page_url_pattern_compiles(pattern: str) -> None:
    try:
        re.compile(fnmatch.translate(pattern))
    except re.error as exc:
        raise ValidationError(f"Not a usable pattern: {exc}.") from exc


class DaysSinceLastOrderSchema(StrictSchema):
    min = fields.Integer(
        validate=validate.Range(min=0, max=MAX_DAYS),
        metadata={"description": "At least this many days since the person's last purchase."},
    )
    max = fields.Integer(
        validate=validate.Range(min=0, max=MAX_DAYS),
        metadata={"description": "At most this many days since the person's last purchase."},
    )

    @validates_schema
    def _a_sensible_range(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give min, max or both.")
        if data.get("min", 0) > data.get("max", MAX_DAYS):
            raise ValidationError("min must not exceed max.", "min")


class TriggerSchema(StrictSchema):
    """When a survey may be offered. Every condition given must hold (the eligibility check
    enforces each); a key not listed here is refused, so a typo never silently widens a
    survey's audience."""

    event = fields.String(
        validate=validate.OneOf(EVENT_TYPES),
        metadata={
            "description": "The moment the page asks at, sent as ?event= with the eligibility "
            "request (the widget sends purchase with an order, exit_intent for a cart left "
            "behind, else page_view)."
        },
    )
    requires_cart = fields.Boolean(
        metadata={"description": "Only with a non-empty cart (?cart_items= at least 1)."}
    )
    min_purchases = fields.Integer(
        validate=validate.Range(min=0, max=100000),
        metadata={"description": "At least this many purchases by the person (all their ids)."},
    )
    stage = fields.String(
        validate=validate.OneOf(STAGES),
        metadata={"description": "Only when the page says the visitor is at this stage."},
    )
    page_url = CleanString(
        validate=[
            validate.Length(min=1, max=PAGE_URL_PATTERN_MAX_LENGTH),
            _page_url_pattern_compiles,
        ],
        metadata={
            "description": "A glob the whole page URL (?page_url=; the widget sends it without "
            "query or fragment) must match, case-sensitive: * is any run of characters, ? one "
            "character, [abc] one of a set. For example https://shop.example/order/*/thanks."
        },
    )
    days_since_last_order = fields.Nested(
        DaysSinceLastOrderSchema,
        metadata={"description": "Days since the person's last purchase; none: never met."},
    )


def _trigger_field() -> fields.Nested:
    return fields.Nested(TriggerSchema, allow_none=True)


class SurveyFieldsSchema(StrictSchema):
    """What an admin may set; ``SurveyCreateSchema`` adds the immutable key."""

    kind = fields.String(validate=validate.OneOf(SURVEY_KINDS), load_default="custom")
    name = CleanString(validate=validate.Length(min=1, max=200))
    questions = fields.List(
        fields.Nested(QuestionSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    texts = fields.Dict(
        keys=CleanString(validate=LOCALE),
        values=fields.Nested(LocaleTextsSchema),
        required=True,
        validate=validate.Length(min=1, max=30),
    )
    trigger = _trigger_field()
    sampling_rate = fields.Float(
        validate=validate.Range(min=0, max=1), load_default=1.0, allow_nan=False
    )
    priority = fields.Integer(
        validate=PRIORITY,
        metadata={"description": "Wins over lower ones due at the same moment; default by kind."},
    )
    cooldown_days = fields.Integer(validate=validate.Range(min=0, max=3650), load_default=30)
    active = fields.Boolean(load_default=True)

    @validates_schema
    def _texts_cover_questions(self, data: dict[str, Any], **_: Any) -> None:
        questions, texts = data.get("questions"), data.get("texts")
        if not questions or not texts:
            return
        ids = [q["id"] for q in questions]
        if len(set(ids)) != len(ids):
            raise ValidationError("Question ids must be unique.", "questions")
        english = texts.get("en")
        if english is None:
            raise ValidationError(
                "English texts (en) are required: they are the fallback.", "texts"
            )
        errors: dict[str, list[str]] = {}
        for question in questions:
            qid = question["id"]
            english_question = english["questions"].get(qid)
            if english_question is None:
                errors[f"en.questions.{qid}"] = ["Every question needs an English label."]
                continue
            missing = set(question.get("options", ())) - set(english_question.get("options", {}))
            if missing:
                errors[f"en.questions.{qid}.options"] = [
                    f"Missing labels for: {', '.join(sorted(missing))}."
                ]
        for locale, locale_texts in texts.items():
            for qid in set(locale_texts["questions"]) - set(ids):
                errors[f"{locale}.questions.{qid}"] = ["No question has this id."]
        if errors:
            raise ValidationError({"texts": errors})


class SurveyCreateSchema(SurveyFieldsSchema):
    key = CleanString(required=True, validate=SURVEY_KEY)
    name = CleanString(required=True, validate=validate.Length(min=1, max=200))


class SurveyPatchSchema(StrictSchema):
    """Every field optional; the merged survey is validated as a whole."""

    kind = fields.String(validate=validate.OneOf(SURVEY_KINDS))
    name = CleanString(validate=validate.Length(min=1, max=200))
    questions = fields.List(fields.Raw(), validate=validate.Length(min=1, max=20))
    texts = fields.Dict(keys=CleanString(), values=fields.Raw())
    trigger = _trigger_field()
    sampling_rate = fields.Float(validate=validate.Range(min=0, max=1), allow_nan=False)
    priority = fields.Integer(validate=PRIORITY)
    cooldown_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    active = fields.Boolean()


class SurveyStatusChangeSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(SURVEY_ACTIONS))


class SurveySchema(Schema):
    key = fields.String()
    status = fields.String(
        validate=validate.OneOf(SURVEY_STATUSES),
        metadata={"description": "draft, published (offered), paused, or archived (hidden)."},
    )
    published_at = fields.DateTime(allow_none=True)
    archived_at = fields.DateTime(allow_none=True)
    kind = fields.String()
    name = fields.String()
    questions = fields.List(fields.Dict())
    texts = fields.Dict()
    trigger = fields.Dict(allow_none=True)
    sampling_rate = fields.Float()
    cooldown_days = fields.Integer()
    priority = fields.Integer()
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SurveyListSchema(Schema):
    items = fields.List(fields.Nested(SurveySchema))


class SiteKeyQuerySchema(StrictSchema):
    """``site_key`` may come in the query instead of the X-Site-Key header (sendBeacon)."""

    site_key = CleanString(validate=validate.Length(min=1, max=64))


class SurveyQuerySchema(SiteKeyQuerySchema):
    locale = CleanString(validate=validate.Length(min=1, max=35))


class OptionSchema(Schema):
    value = fields.String()
    label = fields.String()


class PublicQuestionSchema(Schema):
    id = fields.String()
    type = fields.String()
    label = fields.String()
    required = fields.Boolean()
    min_label = fields.String()
    max_label = fields.String()
    options = fields.List(fields.Nested(OptionSchema))
    max_length = fields.Integer()


class PublicSurveySchema(Schema):
    key = fields.String()
    kind = fields.String()
    locale = fields.String()
    title = fields.String()
    intro = fields.String()
    submit = fields.String()
    thanks = fields.String()
    close = fields.String()
    questions = fields.List(fields.Nested(PublicQuestionSchema))


class EligibilityQuerySchema(SiteKeyQuerySchema):
    """Who asks, and what the page knows about the moment: a survey's trigger is checked
    against it (what is not sent does not meet a condition that needs it)."""

    visitor_id = Identifier(required=True)
    event = fields.String(
        validate=validate.OneOf(EVENT_TYPES),
        metadata={"description": "The moment: purchase, exit_intent, page_view …"},
    )
    page_url = CleanString(
        validate=validate.Length(min=1, max=PAGE_URL_MAX_LENGTH),
        metadata={"description": "The page's URL, matched against the trigger's page_url."},
    )
    stage = fields.String(validate=validate.OneOf(STAGES))
    cart_items = fields.Integer(
        validate=validate.Range(min=0, max=100000),
        metadata={"description": "Items in the visitor's cart, for requires_cart."},
    )
    device = fields.String(
        validate=validate.OneOf(DEVICES),
        metadata={"description": "Kept with the offer for the survey funnel; no condition."},
    )


class EligibilitySchema(Schema):
    eligible = fields.Boolean()
    reason = fields.String(validate=validate.OneOf(ELIGIBILITY_REASONS))


class SurveyStartedSchema(StrictSchema):
    visitor_id = Identifier(required=True)
