"""Webhook endpoints and deliveries in the admin API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.outbox import EVENTS
from shared.schemas.fields import MAX_INT, CleanString
from shared.schemas.surveys import StrictSchema
from shared.webhooks.addresses import MAX_URL_LENGTH
from shared.webhooks.deliveries import STATUSES

URL = validate.Length(min=1, max=MAX_URL_LENGTH)


def _events(required: bool) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        required=required,
        validate=validate.Length(min=1, max=len(EVENTS)),
        metadata={"description": "The events to send: " + ", ".join(EVENTS) + "."},
    )


class EndpointCreateSchema(StrictSchema):
    url = CleanString(
        required=True,
        validate=URL,
        metadata={"description": "http(s) URL; private and loopback addresses are refused."},
    )
    events = _events(required=True)
    description = CleanString(validate=validate.Length(max=200), allow_none=True)
    active = fields.Boolean(load_default=True)


class EndpointPatchSchema(StrictSchema):
    url = CleanString(validate=URL)
    events = _events(required=False)
    description = CleanString(validate=validate.Length(max=200), allow_none=True)
    active = fields.Boolean()
    rotate_secret = fields.Boolean(
        metadata={"description": "true: make a new secret, returned once in this answer."}
    )


class EndpointSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    secret_hint = fields.String(metadata={"description": "The secret's first characters."})
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(
        allow_none=True,
        metadata={"description": "The signing secret: shown here once, never again."},
    )


class EndpointListSchema(Schema):
    items = fields.List(fields.Nested(EndpointSchema))


class DeliveryQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    endpoint_id = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class DeliverySchema(Schema):
    id = fields.Integer()
    outbox_event_id = fields.Integer()
    endpoint_id = fields.Integer()
    event = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    retry_until = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    response_excerpt = fields.String(
        allow_none=True, metadata={"description": "The receiver's answer, as text (escape it)."}
    )
    created_at = fields.DateTime()


class DeliveryListSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
