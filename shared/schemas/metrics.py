"""Survey metrics per survey, stage and period."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.metrics import PERIODS
from shared.schemas.responses import ResponseFilterSchema


class MetricsQuerySchema(ResponseFilterSchema):
    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))


class ReasonCountSchema(Schema):
    reason = fields.String()
    count = fields.Integer()


class MetricsGroupSchema(Schema):
    survey_key = fields.String()
    stage = fields.String(allow_none=True)
    period_start = fields.Date(allow_none=True)
    responses = fields.Integer()
    nps = fields.Float(allow_none=True, metadata={"description": "% promoters − % detractors"})
    csat = fields.Float(allow_none=True, metadata={"description": "% of CSAT answers 4–5"})
    ces = fields.Float(allow_none=True, metadata={"description": "mean CES (1–7)"})
    top_reasons = fields.List(fields.Nested(ReasonCountSchema))


class MetricsSchema(Schema):
    period = fields.String()
    groups = fields.List(fields.Nested(MetricsGroupSchema))
