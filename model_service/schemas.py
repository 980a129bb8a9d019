"""Marshmallow schemas of the model service: the validation and the OpenAPI document in one.

The record schemas are made from the shared feature builder's column lists, so a record sent
to the API has exactly the columns the models were trained on: every feature is required,
categorical features are strings, numeric ones numbers (null when the value does not exist,
e.g. the recency of a customer who never bought), and unknown fields are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from model_service.critical_journeys import period_days
from model_service.follow_up_queue import MAX_PAGE as QUEUE_MAX_PAGE
from model_service.follow_up_queue import UNRESOLVED
from model_service.followups import NOTE_MAX_LENGTH, STATUSES
from model_service.risk import DEFAULT_SORT, MAX_PAGE, SORTS
from shared import attribution
from shared.cart_features import CART_CATEGORICAL, CART_FEATURES
from shared.customer_features import CUSTOMER_CATEGORICAL, CUSTOMER_FEATURES
from shared.journey import STAGES
from shared.schemas.fields import CleanString, Identifier, UtcDateTime
from shared.schemas.surveys import StrictSchema
from shared.tasks import BANDS, DEFAULT_TASK, TASK_NAMES

MAX_ITEMS = 1000
PROBABILITY_TEXT = 'The probability as people read it: whole percent, "< 1 %" and "> 99 %".'
PERCENTILE = "Percent of the scores of the same batch at or below this one (100: riskiest)."
BAND = "high: top 10 % of the batch's scores, medium: the next 20 %, low: the rest."
DEFINITION = 'What the probability is of, e.g. "no purchase within 90 days"; null: unknown.'
BASE_RATE = "Share of positives among the rows the model was tested on; null: unknown."


def _exactly_one_of(sources: tuple[str, ...]) -> dict[str, Any]:
    """OpenAPI for ``_OneSource``'s rules (``Meta.openapi``): one source, given as a list;
    ``as_of`` not with records."""
    branches = []
    for source in sources:
        branch: dict[str, Any] = {"required": [source], "properties": {source: {"type": "array"}}}
        if source == "records":
            branch["not"] = {"required": ["as_of"], "properties": {"as_of": {"type": "string"}}}
        branches.append(branch)
    return {"oneOf": branches}


def _record_schema(name: str, columns: list[str], categorical: list[str]) -> type[Schema]:
    field_map: dict[str, fields.Field] = {
        "id": Identifier(
            load_default=None,
            metadata={"description": "Your id for this record, echoed in the answer."},
        )
    }
    for column in columns:
        if column == "stage":
            field_map[column] = fields.String(required=True, validate=validate.OneOf(STAGES))
        elif column in categorical:
            field_map[column] = CleanString(required=True, validate=validate.Length(max=80))
        else:
            field_map[column] = fields.Float(required=True, allow_none=True, allow_nan=False)
    return type(name, (StrictSchema,), dict(field_map))


CustomerRecordSchema = _record_schema(
    "CustomerRecordSchema", CUSTOMER_FEATURES, CUSTOMER_CATEGORICAL
)
CartRecordSchema = _record_schema("CartRecordSchema", CART_FEATURES, CART_CATEGORICAL)


def _ids(description: str) -> fields.List:
    return fields.List(
        Identifier(),
        validate=validate.Length(min=1, max=MAX_ITEMS),
        metadata={"description": description},
    )


def _records(schema: type[Schema]) -> fields.List:
    return fields.List(
        fields.Nested(schema),
        validate=validate.Length(min=1, max=MAX_ITEMS),
        metadata={"description": "Feature values sent directly (e.g. a live cart)."},
    )


class _OneSource(StrictSchema):
    as_of = UtcDateTime(
        load_default=None,
        metadata={
            "description": "With ids: build the features from data before this moment "
            "(default now), e.g. to see what the model said on a past date."
        },
    )
    SOURCES: tuple[str, ...] = ()

    @validates_schema
    def exactly_one_source(self, data: dict, **kwargs: object) -> None:
        given = [name for name in self.SOURCES if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationError(
                f"Send exactly one of {', '.join(self.SOURCES)}.", field_name="_schema"
            )
        if data.get("as_of") is not None and given == ["records"]:
            raise ValidationError(
                "as_of only applies to ids; records carry their features.", field_name="as_of"
            )


_CUSTOMER_SOURCES = ("customer_ids", "records")
_CART_SOURCES = ("cart_ids", "customer_ids", "visitor_ids", "records")


class BrandSwitchRequestSchema(_OneSource):
    SOURCES = _CUSTOMER_SOURCES

    class Meta(StrictSchema.Meta):
        openapi = _exactly_one_of(_CUSTOMER_SOURCES)

    customer_ids = _ids("Customers to score from their journey data (features built here).")
    records = _records(CustomerRecordSchema)


class CartAbandonmentRequestSchema(_OneSource):
    SOURCES = _CART_SOURCES

    class Meta(StrictSchema.Meta):
        openapi = _exactly_one_of(_CART_SOURCES)

    cart_ids = _ids("Open carts to score from their journey data.")
    customer_ids = _ids("Score the open carts of these customers.")
    visitor_ids = _ids(
        "Score the open carts of these visitors (anonymous ones too, before they identify)."
    )
    records = _records(CartRecordSchema)


class ReasonSchema(Schema):
    feature = fields.String()
    value = fields.Raw(allow_none=True)
    reference = fields.Raw(allow_none=True, metadata={"description": "The typical value."})
    contribution = fields.Float(
        metadata={
            "description": "How much this value raises (or, negative, lowers) the probability."
        }
    )
    text = fields.String()
    direction = fields.String(
        metadata={"description": "up: this value raises the risk; down: it lowers it."}
    )
    effect = fields.String(metadata={"description": "The direction in words."})
    action = fields.String(
        allow_none=True,
        metadata={"description": "A suggested action for support (none for a reason down)."},
    )


class PredictionSchema(Schema):
    id = fields.String(allow_none=True, metadata={"description": "The record's id, if sent."})
    customer_id = fields.String(allow_none=True)
    visitor_id = fields.String(
        allow_none=True, metadata={"description": "The cart's visitor (carts only)."}
    )
    cart_id = fields.String(allow_none=True)
    probability = fields.Float()
    probability_text = fields.String(metadata={"description": PROBABILITY_TEXT})
    percentile = fields.Float(allow_none=True, metadata={"description": PERCENTILE})
    band = fields.String(metadata={"enum": list(BANDS), "description": BAND})
    stage = fields.String(allow_none=True)
    reasons = fields.List(fields.Nested(ReasonSchema))
    model_name = fields.String()
    model_version = fields.String()


class RiskScaleSchema(Schema):
    medium = fields.Float(metadata={"description": "Lowest probability of the medium band."})
    high = fields.Float(metadata={"description": "Lowest probability of the high band."})
    scored_as_of = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "The batch the cut points come from; null: the model's own scale "
            "(no batch scored with this version yet)."
        },
    )


class PredictResponseSchema(Schema):
    task = fields.String()
    model_name = fields.String()
    model_version = fields.String()
    definition = fields.String(allow_none=True, metadata={"description": DEFINITION})
    base_rate = fields.Float(allow_none=True, metadata={"description": BASE_RATE})
    risk_scale = fields.Nested(RiskScaleSchema)
    predictions = fields.List(fields.Nested(PredictionSchema))


class ModelStatusSchema(Schema):
    model_name = fields.String()
    alias = fields.String()
    loaded = fields.Dict(allow_none=True)
    alias_version = fields.String(allow_none=True)
    checked_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    refused = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True)


class ModelsSchema(Schema):
    models = fields.Dict(keys=fields.String(), values=fields.Nested(ModelStatusSchema))


class AtRiskQuerySchema(StrictSchema):
    task = fields.String(load_default=DEFAULT_TASK.name, validate=validate.OneOf(TASK_NAMES))
    stage = fields.String(validate=validate.OneOf(STAGES))
    segment = CleanString(validate=validate.Length(max=40))
    band = fields.String(validate=validate.OneOf(BANDS))
    min_probability = fields.Float(validate=validate.Range(0, 1), allow_nan=False)
    without_follow_up = fields.Boolean(load_default=False)
    sort = fields.String(
        load_default=DEFAULT_SORT,
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "value_at_risk (default): probability × value (365-day value of "
            "a customer, value of a cart); risk: probability."
        },
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    cursor = CleanString(validate=validate.Length(max=500))


class FollowUpRefSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    assignee = fields.String()


class AtRiskItemSchema(Schema):
    score_id = fields.Integer()
    customer_id = fields.String()
    cart_id = fields.String(allow_none=True)
    task = fields.String()
    probability = fields.Float()
    probability_text = fields.String(metadata={"description": PROBABILITY_TEXT})
    percentile = fields.Float(allow_none=True, metadata={"description": PERCENTILE})
    band = fields.String(metadata={"enum": list(BANDS), "description": BAND})
    stage = fields.String(allow_none=True)
    segment = fields.String(allow_none=True)
    product_category = fields.String(allow_none=True)
    value = fields.Float(allow_none=True)
    value_at_risk = fields.Float(metadata={"description": "probability × value."})
    reasons = fields.List(fields.Nested(ReasonSchema))
    model_name = fields.String()
    model_version = fields.String()
    as_of = fields.DateTime()
    scored_at = fields.DateTime()
    follow_up = fields.Nested(FollowUpRefSchema, allow_none=True)


class StaleSchema(Schema):
    scored_with = fields.String(metadata={"description": "The version the scores come from."})
    champion = fields.String(metadata={"description": "The version serving now."})
    command = fields.String(metadata={"description": "The command that refreshes the scores."})
    message = fields.String()


class AtRiskPageSchema(Schema):
    task = fields.String()
    definition = fields.String(allow_none=True, metadata={"description": DEFINITION})
    base_rate = fields.Float(allow_none=True, metadata={"description": BASE_RATE})
    stale = fields.Nested(
        StaleSchema,
        allow_none=True,
        metadata={
            "description": "Set when the scores come from another version than the champion."
        },
    )
    items = fields.List(fields.Nested(AtRiskItemSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass as cursor for the next page."}
    )


class TimelineEntrySchema(Schema):
    kind = fields.String(metadata={"enum": ["event", "survey_answer"]})
    at = fields.DateTime()
    type = fields.String()
    stage = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    product_category = fields.String(allow_none=True)
    value = fields.Float(allow_none=True)
    cart_id = fields.String(allow_none=True)
    order_id = fields.String(allow_none=True)
    device = fields.String(allow_none=True)
    nps = fields.Integer(allow_none=True)
    csat = fields.Integer(allow_none=True)
    ces = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)


class RiskHistoryEntrySchema(Schema):
    score_id = fields.Integer()
    task = fields.String()
    cart_id = fields.String(allow_none=True)
    probability = fields.Float()
    band = fields.String()
    stage = fields.String(allow_none=True)
    reasons = fields.List(fields.Nested(ReasonSchema))
    model_name = fields.String()
    model_version = fields.String()
    as_of = fields.DateTime()
    scored_at = fields.DateTime()


class FollowUpNoteSchema(Schema):
    author = fields.String()
    status = fields.String()
    note = fields.String(allow_none=True)
    assigned_to = fields.String(
        allow_none=True, metadata={"description": "Set when this change handed the case on."}
    )
    at = fields.DateTime()


class FollowUpSchema(Schema):
    id = fields.Integer()
    customer_id = fields.String()
    task = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    assignee = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    due_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "When the case should be resolved (working days from taken)."},
    )
    overdue = fields.Boolean(metadata={"description": "Past due_at and not resolved."})
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    risk_before = fields.Float(allow_none=True, metadata={"description": "Risk when taken."})
    risk_after = fields.Float(
        allow_none=True, metadata={"description": "First risk scored after it was resolved."}
    )
    risk_change = fields.Float(
        allow_none=True, metadata={"description": "risk_after − risk_before; negative is good."}
    )
    notes = fields.List(fields.Nested(FollowUpNoteSchema))


class CustomerProfileSchema(Schema):
    id = fields.String()
    segment = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    consent = fields.Boolean()
    created_at = fields.DateTime()
    contact = fields.Nested(
        lambda: ContactSchema(), metadata={"description": "Who the customer is."}
    )
    has_linked_devices = fields.Boolean()
    stage = fields.String()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    risk_history = fields.List(fields.Nested(RiskHistoryEntrySchema))
    follow_ups = fields.List(fields.Nested(FollowUpSchema))


def _period_in_range(period: str) -> None:
    # "0d" matches the pattern but is no period: refused here, not as a 500 in the query.
    try:
        period_days(period)
    except ValueError as exc:
        raise ValidationError("Must be 1d to 366d.") from exc


class CriticalQuerySchema(StrictSchema):
    task = fields.String(load_default=DEFAULT_TASK.name, validate=validate.OneOf(TASK_NAMES))
    period = fields.String(
        load_default="30d",
        validate=[
            validate.Regexp(r"^\d{1,3}d$", error="Must look like 30d (days)."),
            _period_in_range,
        ],
        metadata={"description": "Days to look back, 1d to 366d."},
    )
    end = UtcDateTime(metadata={"description": "End of the period (default: now)."})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 500))


class ReasonCountSchema(Schema):
    reason = fields.String()
    count = fields.Integer()


class ScoreIntervalSchema(Schema):
    value = fields.Float(allow_none=True)
    low = fields.Float(allow_none=True, metadata={"description": "95 % interval, low end"})
    high = fields.Float(allow_none=True, metadata={"description": "95 % interval, high end"})
    n = fields.Integer(metadata={"description": "answers the score rests on"})
    few_answers = fields.Boolean(
        metadata={"description": "fewer answers than the minimum (KUNDRESA_MIN_ANSWERS)"}
    )


class CellScoresSchema(Schema):
    nps = fields.Nested(ScoreIntervalSchema)
    csat = fields.Nested(ScoreIntervalSchema)
    ces = fields.Nested(ScoreIntervalSchema)


class CellChangesSchema(Schema):
    nps = fields.Boolean()
    csat = fields.Boolean()
    ces = fields.Boolean()


class CriticalCellSchema(Schema):
    stage = fields.String()
    segment = fields.String()
    product_category = fields.String()
    customers = fields.Integer()
    mean_risk = fields.Float()
    revenue_at_risk = fields.Float()
    drop_off = fields.Float(allow_none=True)
    next_stage = fields.String(allow_none=True)
    nps = fields.Float(allow_none=True)
    csat = fields.Float(allow_none=True)
    ces = fields.Float(allow_none=True)
    responses = fields.Integer()
    top_reasons = fields.List(fields.Nested(ReasonCountSchema))
    # The same figures one period earlier (scores as of the period's start, events and answers
    # of the period before it), and now minus then; None where either side has no value.
    previous_mean_risk = fields.Float(allow_none=True)
    previous_revenue_at_risk = fields.Float(allow_none=True)
    previous_drop_off = fields.Float(allow_none=True)
    previous_nps = fields.Float(allow_none=True)
    previous_csat = fields.Float(allow_none=True)
    previous_ces = fields.Float(allow_none=True)
    mean_risk_change = fields.Float(allow_none=True)
    revenue_at_risk_change = fields.Float(allow_none=True)
    drop_off_change = fields.Float(allow_none=True)
    nps_change = fields.Float(allow_none=True)
    csat_change = fields.Float(allow_none=True)
    ces_change = fields.Float(allow_none=True)
    flagged = fields.Boolean()
    first_period = fields.Boolean(
        metadata={"description": "no scoring as old as the period's start: nothing to compare"}
    )
    new_journey = fields.Boolean(
        metadata={"description": "scored before, but nobody was in this cell then"}
    )
    scores = fields.Nested(CellScoresSchema, metadata={"description": "with 95 % intervals"})
    scores_before = fields.Nested(CellScoresSchema)
    changed = fields.Nested(
        CellChangesSchema,
        metadata={"description": "moved beyond the noise: the two 95 % intervals do not overlap"},
    )


class CriticalJourneysSchema(Schema):
    task = fields.String()
    period = fields.String()
    end = fields.DateTime()
    flag_threshold = fields.Float()
    min_answers = fields.Integer()
    journeys = fields.List(fields.Nested(CriticalCellSchema))


class FollowUpCreateSchema(StrictSchema):
    customer_id = Identifier(required=True)
    task = fields.String(load_default=DEFAULT_TASK.name, validate=validate.OneOf(TASK_NAMES))
    note = CleanString(validate=validate.Length(max=NOTE_MAX_LENGTH), load_default=None)


class FollowUpUpdateSchema(StrictSchema):
    class Meta(StrictSchema.Meta):
        # The use case refuses a call that changes nothing: no status and no (or an empty) note.
        openapi = {
            "anyOf": [
                {"required": ["status"]},
                {"required": ["assignee"]},
                {"required": ["note"], "properties": {"note": {"minLength": 1}}},
            ]
        }

    status = fields.String(validate=validate.OneOf(STATUSES))
    note = CleanString(validate=validate.Length(max=NOTE_MAX_LENGTH))
    assignee = CleanString(
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Hand the case to this active dashboard user (their e-mail)."},
    )


# --- Attribution (issue 17) ------------------------------------------------------------------

MAX_ATTRIBUTION_DAYS = 366
DEFAULT_ATTRIBUTION_DAYS = 30


class AttributionQuerySchema(StrictSchema):
    model = fields.String(
        validate=validate.OneOf(attribution.MODELS),
        metadata={"description": "One model; absent: every model side by side."},
    )
    since = UtcDateTime(metadata={"description": "Start of the period (default: until − 30 days)."})
    until = UtcDateTime(
        metadata={"description": "End of the period (default: now); nothing later is read."}
    )
    lookback_days = fields.Integer(
        load_default=attribution.DEFAULT_LOOKBACK_DAYS,
        validate=validate.Range(1, 90),
        metadata={"description": "Touchpoints this many days before a conversion count."},
    )
    half_life_days = fields.Float(
        load_default=attribution.DEFAULT_HALF_LIFE_DAYS,
        allow_nan=False,
        validate=validate.Range(0.1, 90),
        metadata={"description": "Time decay: a touch this many days older counts half."},
    )
    kind = fields.String(
        load_default="purchase",
        validate=validate.OneOf(attribution.KINDS),
        metadata={"description": "purchase, or recovered_cart: a cart bought after it was left."},
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **_kwargs: Any) -> None:
        until = data.get("until") or datetime.now(UTC)
        since = data.get("since")
        if since is not None:
            if since >= until:
                raise ValidationError("Must be before until (default: now).", field_name="since")
            if (until - since).days > MAX_ATTRIBUTION_DAYS:
                raise ValidationError(
                    f"At most {MAX_ATTRIBUTION_DAYS} days before until.", field_name="since"
                )

    @post_load
    def _defaults(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data.setdefault("until", datetime.now(UTC))
        data.setdefault("since", data["until"] - timedelta(days=DEFAULT_ATTRIBUTION_DAYS))
        return data


class ChannelCreditSchema(Schema):
    channel = fields.String(metadata={"description": "A channel, or other for an unknown one."})
    revenue = fields.Float(metadata={"description": "Converted revenue credited to it."})
    conversions = fields.Float(metadata={"description": "Conversions credited (fractions)."})
    low = fields.Float(allow_none=True, metadata={"description": "Markov: 2.5th percentile."})
    high = fields.Float(allow_none=True, metadata={"description": "Markov: 97.5th percentile."})


class ModelAttributionSchema(Schema):
    model = fields.String(metadata={"enum": list(attribution.MODELS)})
    channels = fields.List(fields.Nested(ChannelCreditSchema))
    attributed_revenue = fields.Float(
        metadata={"description": "Revenue of conversions with a touchpoint: the channels' sum."}
    )
    conversions = fields.Integer()
    unattributed_revenue = fields.Float(
        metadata={"description": "Revenue of conversions without a touchpoint in the lookback."}
    )
    unattributed_conversions = fields.Integer()
    other_touches = fields.Integer(
        metadata={"description": "Touchpoints with an unknown channel, credited as other."}
    )
    interval_note = fields.String(
        allow_none=True, metadata={"description": "Why the Markov model shows no interval."}
    )


class AttributionSchema(Schema):
    since = fields.DateTime()
    until = fields.DateTime()
    kind = fields.String()
    lookback_days = fields.Integer()
    half_life_days = fields.Float()
    models = fields.List(fields.Nested(ModelAttributionSchema))


# --- the support queue (GET /v1/follow-ups) ---------------------------------------------------

AGE_PATTERN = r"^[1-9]\d{0,3}[hd]$"


def parse_age(text: str) -> timedelta:
    """``36h`` or ``2d`` as a timedelta."""
    amount = int(text[:-1])
    return timedelta(hours=amount) if text.endswith("h") else timedelta(days=amount)


class FollowUpQuerySchema(StrictSchema):
    status = fields.String(
        validate=validate.OneOf((*STATUSES, UNRESOLVED)),
        metadata={"description": "unresolved: open or contacted."},
    )
    assignee = CleanString(
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Cases of this user (e-mail); me: the caller's."},
    )
    task = fields.String(validate=validate.OneOf(TASK_NAMES))
    older_than = fields.String(
        validate=validate.Regexp(AGE_PATTERN, error="Must look like 36h or 2d (1 to 9999)."),
        metadata={"description": "Taken longer ago than this: hours (36h) or days (2d)."},
    )
    overdue = fields.Boolean(
        metadata={"description": "true: past due and not resolved; false: the others."}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, QUEUE_MAX_PAGE))
    cursor = CleanString(validate=validate.Length(max=500))


class ContactSchema(Schema):
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    external_url = fields.String(
        allow_none=True, metadata={"description": "The customer's page in the shop's admin."}
    )


class FollowUpQueueItemSchema(Schema):
    id = fields.Integer()
    customer_id = fields.String()
    task = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    assignee = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean()
    resolved_at = fields.DateTime(allow_none=True)
    risk_before = fields.Float(allow_none=True, metadata={"description": "Risk when taken."})
    risk_now = fields.Float(allow_none=True, metadata={"description": "Newest risk, same task."})
    band_now = fields.String(allow_none=True, metadata={"enum": list(BANDS)})
    customer = fields.Nested(
        ContactSchema, allow_none=True, metadata={"description": "Who the customer is."}
    )


class FollowUpQueuePageSchema(Schema):
    items = fields.List(fields.Nested(FollowUpQueueItemSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass as cursor for the next page."}
    )
