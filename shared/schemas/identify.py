"""Linking an anonymous visitor id to a known customer."""

from __future__ import annotations

from marshmallow import Schema, fields

from shared.schemas.fields import Identifier
from shared.schemas.surveys import StrictSchema


class IdentifySchema(StrictSchema):
    visitor_id = Identifier(required=True)
    customer_id = Identifier(required=True)


class IdentityReceiptSchema(Schema):
    visitor_id = fields.String()
    customer_id = fields.String()
    new_customer = fields.Boolean()
