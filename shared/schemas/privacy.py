"""What a customer's export and erasure answer."""

from __future__ import annotations

from marshmallow import Schema, fields


class CustomerExportSchema(Schema):
    customer_id = fields.String()
    exported_at = fields.DateTime()
    customer = fields.Dict(allow_none=True)
    identities = fields.List(fields.Dict())
    events = fields.List(fields.Dict())
    responses = fields.List(fields.Dict())
    survey_impressions = fields.List(fields.Dict())
    risk_scores = fields.List(fields.Dict())
    follow_ups = fields.List(fields.Dict())
    privacy_requests = fields.List(fields.Dict())


class ErasureSchema(Schema):
    customer_id = fields.String()
    events = fields.Integer()
    responses_anonymised = fields.Integer()
    identities = fields.Integer()
    survey_impressions = fields.Integer()
    follow_ups = fields.Integer()
    risk_scores = fields.Integer()
    customer = fields.Integer()
