"""Survey responses: what a website sends, the receipt, and the admin's list and filters."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.journey import STAGES
from shared.schemas.fields import CleanString, Identifier, UtcDateTime
from shared.schemas.surveys import StrictSchema, someone_named

MAX_ANSWERS = 50


class ResponseInSchema(StrictSchema):
    class Meta(StrictSchema.Meta):
        openapi = someone_named()

    response_id = fields.UUID(required=True)
    survey_key = CleanString(required=True, validate=validate.Length(min=1, max=80))
    visitor_id = Identifier(allow_none=True)
    customer_id = Identifier(allow_none=True)
    stage = fields.String(validate=validate.OneOf(STAGES), allow_none=True)
    cart_id = Identifier(allow_none=True)
    order_id = Identifier(allow_none=True)
    locale = CleanString(validate=validate.Length(min=1, max=8), allow_none=True)
    answers = fields.Dict(
        keys=CleanString(validate=validate.Length(min=1, max=64)),
        values=fields.Raw(allow_none=True),
        required=True,
        validate=validate.Length(max=MAX_ANSWERS),
    )
    # A honeypot: hidden from people, filled in by bots. Non-empty means "drop silently".
    website = CleanString(validate=validate.Length(max=500), allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _someone_answered(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("visitor_id") and not data.get("customer_id"):
            raise ValidationError("Send visitor_id, customer_id or both.", "visitor_id")


class ResponseReceiptSchema(Schema):
    response_id = fields.String()
    duplicate = fields.Boolean(metadata={"description": "True when this id was already stored."})


class ResponseFilterSchema(StrictSchema):
    survey_key = CleanString(validate=validate.Length(min=1, max=80))
    stage = fields.String(validate=validate.OneOf(STAGES))
    customer_id = Identifier()
    visitor_id = Identifier()
    since = UtcDateTime(metadata={"description": "Submitted at or after (ISO 8601)."})
    until = UtcDateTime(metadata={"description": "Submitted before (ISO 8601)."})


class ResponseListQuerySchema(ResponseFilterSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class ResponseExportQuerySchema(ResponseFilterSchema):
    format = fields.String(load_default="ndjson", validate=validate.OneOf(("ndjson", "csv")))


class ResponseSchema(Schema):
    response_id = fields.String()
    survey_key = fields.String()
    customer_id = fields.String(allow_none=True)
    visitor_id = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    cart_id = fields.String(allow_none=True)
    order_id = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    answers = fields.Dict()
    nps = fields.Integer(allow_none=True)
    csat = fields.Integer(allow_none=True)
    ces = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    submitted_at = fields.DateTime()
    received_at = fields.DateTime()


class ResponseListSchema(Schema):
    items = fields.List(fields.Nested(ResponseSchema))
    limit = fields.Integer()
    offset = fields.Integer()
