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
    nps_low = fields.Float(allow_none=True, metadata={"description": "NPS 95 % interval, low"})
    nps_high = fields.Float(allow_none=True, metadata={"description": "NPS 95 % interval, high"})
    nps_n = fields.Integer(metadata={"description": "NPS answers"})
    nps_few_answers = fields.Boolean(
        metadata={"description": "fewer NPS answers than the minimum (KUNDRESA_MIN_ANSWERS)"}
    )
    csat_low = fields.Float(allow_none=True, metadata={"description": "CSAT Wilson 95 %, low"})
    csat_high = fields.Float(allow_none=True, metadata={"description": "CSAT Wilson 95 %, high"})
    csat_n = fields.Integer(metadata={"description": "CSAT answers"})
    csat_few_answers = fields.Boolean(
        metadata={"description": "fewer CSAT answers than the minimum (KUNDRESA_MIN_ANSWERS)"}
    )
    ces_low = fields.Float(allow_none=True, metadata={"description": "CES t 95 % interval, low"})
    ces_high = fields.Float(allow_none=True, metadata={"description": "CES t 95 % interval, high"})
    ces_n = fields.Integer(metadata={"description": "CES answers"})
    ces_few_answers = fields.Boolean(
        metadata={"description": "fewer CES answers than the minimum (KUNDRESA_MIN_ANSWERS)"}
    )


class MetricsSchema(Schema):
    period = fields.String()
    min_answers = fields.Integer(
        metadata={"description": "below this many answers a score is marked few_answers"}
    )
    groups = fields.List(fields.Nested(MetricsGroupSchema))
