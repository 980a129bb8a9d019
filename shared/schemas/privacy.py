"""What a customer's export and erasure answer."""

from __future__ import annotations

from marshmallow import Schema, fields


class CustomerExportSchema(Schema):
    customer_id = fields.String()
    exported_at = fields.DateTime()
    # Every visitor id ever linked to the customer or seen on their rows.
    visitor_ids = fields.List(fields.String())
    customer = fields.Dict(allow_none=True)
    identities = fields.List(fields.Dict())
    identity_links = fields.List(fields.Dict())
    events = fields.List(fields.Dict())
    responses = fields.List(fields.Dict())
    survey_impressions = fields.List(fields.Dict())
    risk_scores = fields.List(fields.Dict())
    follow_ups = fields.List(fields.Dict())
    privacy_requests = fields.List(fields.Dict())
    models = fields.String()
    outbox_events = fields.List(
        fields.Dict(), metadata={"description": "Webhook events that name the customer."}
    )


class ErasureSchema(Schema):
    customer_id = fields.String()
    events = fields.Integer()
    responses_anonymised = fields.Integer()
    identities = fields.Integer()
    identity_links = fields.Integer()
    # The erased customer's devices, unlinked from the other customers they were linked to since.
    links_of_other_customers = fields.Integer()
    # Other customers' events, responses and scores that keep everything but such a device's id.
    rows_of_other_customers_detached = fields.Integer()
    survey_impressions = fields.Integer()
    follow_ups = fields.Integer()
    risk_scores = fields.Integer()
    customer = fields.Integer()
    outbox_events = fields.Integer(
        metadata={"description": "Webhook events whose customer id was taken out."}
    )
