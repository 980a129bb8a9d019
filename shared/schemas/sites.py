"""A site's survey fatigue settings: how often one person may be offered any of its surveys."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.schemas.surveys import MAX_DAYS, StrictSchema

FATIGUE_FIELDS: tuple[str, ...] = (
    "global_cooldown_shown_days",
    "global_cooldown_answered_days",
    "max_surveys_per_period",
    "period_days",
)


def _days(description: str) -> fields.Integer:
    return fields.Integer(
        validate=validate.Range(min=0, max=MAX_DAYS), metadata={"description": description}
    )


class SiteFatiguePatchSchema(StrictSchema):
    """Every field optional; 0 turns that limit off."""

    global_cooldown_shown_days = _days("Days after any survey was shown before another is.")
    global_cooldown_answered_days = _days("Days after any survey was answered before another.")
    max_surveys_per_period = fields.Integer(
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "At most this many surveys per person per period."},
    )
    period_days = _days("The period of max_surveys_per_period, in days.")


class SiteSchema(Schema):
    name = fields.String()
    site_key = fields.String()
    allowed_origins = fields.List(fields.String())
    active = fields.Boolean()
    require_identity_signature = fields.Boolean()
    global_cooldown_shown_days = fields.Integer()
    global_cooldown_answered_days = fields.Integer()
    max_surveys_per_period = fields.Integer()
    period_days = fields.Integer()


class SiteListSchema(Schema):
    items = fields.List(fields.Nested(SiteSchema))
