"""The admin API (bearer tokens): surveys, sites' fatigue limits, responses (listed and
streamed), metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from flask import Response, stream_with_context

from shared import site_settings
from shared.auth import auth
from shared.csv_export import csv_download
from shared.errors import Conflict, Invalid, NotFound
from shared.schemas.fields import is_storable_text
from shared.schemas.metrics import MetricsQuerySchema, MetricsSchema
from shared.schemas.responses import (
    ResponseExportQuerySchema,
    ResponseListQuerySchema,
    ResponseListSchema,
)
from shared.schemas.sites import SiteFatiguePatchSchema, SiteListSchema, SiteSchema
from shared.schemas.surveys import (
    SurveyCreateSchema,
    SurveyListSchema,
    SurveyPatchSchema,
    SurveySchema,
    SurveyStatusChangeSchema,
)
from shared.web import StrictBlueprint, current_settings, refuses
from survey_service import lookups, response_queries, survey_definitions

blp = StrictBlueprint(
    "admin", __name__, url_prefix="/v1/admin", description="Surveys, responses and metrics."
)
NO_SURVEY = "No survey has this key."
NO_SITE = "No site has this name."


def _database_url() -> str:
    return current_settings().database_url


def _key_or_404(key: str) -> str:
    if len(key) > 80 or not is_storable_text(key):
        raise NotFound(NO_SURVEY)
    return key


@blp.route("/surveys", methods=["GET"])
@blp.response(200, SurveyListSchema)
@auth("support")
def list_surveys():
    """Every survey, active or not."""
    return {"items": survey_definitions.list_surveys(_database_url())}


@blp.route("/surveys", methods=["POST"])
@blp.arguments(SurveyCreateSchema())
@blp.response(201, SurveySchema)
@refuses(Conflict, "A survey with this key exists.", errors={"key": ["Already used."]})
@auth("admin")
def create_survey(data: dict):
    """Create a survey: questions, texts per locale (English required), sampling, cooldown."""
    return survey_definitions.create_survey(_database_url(), data)


@blp.route("/surveys/<key>", methods=["GET"])
@blp.response(200, SurveySchema)
@refuses(NotFound, NO_SURVEY)
@auth("support")
def get_survey(key: str):
    """One survey with all its locales."""
    return survey_definitions.get_survey(_database_url(), _key_or_404(key))


@blp.route("/surveys/<key>", methods=["PATCH"])
@blp.arguments(SurveyPatchSchema())
@blp.response(200, SurveySchema)
@refuses(NotFound, NO_SURVEY)
@refuses(Invalid, "The survey is not valid.")
@auth("admin")
def update_survey(patch: dict, key: str):
    """Change some fields; the survey as a whole must stay valid. The key never changes."""
    return survey_definitions.update_survey(_database_url(), _key_or_404(key), patch)


@blp.route("/surveys/<key>", methods=["DELETE"])
@blp.response(200, SurveySchema)
@refuses(NotFound, NO_SURVEY)
@auth("admin")
def deactivate_survey(key: str):
    """Pause a survey: no one is offered it any more; its responses are kept."""
    return survey_definitions.change_status(_database_url(), _key_or_404(key), "pause")


@blp.route("/surveys/<key>/status", methods=["POST"])
@blp.arguments(SurveyStatusChangeSchema())
@blp.response(200, SurveySchema)
@refuses(NotFound, NO_SURVEY)
@auth("admin")
def change_survey_status(data: dict, key: str):
    """Publish (offer it), pause (stop offering it) or archive it (hidden from the editor's
    list and never offered; nothing is deleted, its responses are kept)."""
    return survey_definitions.change_status(_database_url(), _key_or_404(key), data["action"])


@blp.route("/sites", methods=["GET"])
@blp.response(200, SiteListSchema)
@auth("support")
def list_sites():
    """Every site with its survey fatigue limits (never its identity secret)."""
    return {"items": site_settings.list_sites(_database_url())}


@blp.route("/sites/<name>", methods=["PATCH"])
@blp.arguments(SiteFatiguePatchSchema())
@blp.response(200, SiteSchema)
@refuses(NotFound, NO_SITE)
@refuses(Conflict, "Several sites have this name; change it with the CLI by site key.")
@auth("admin")
def update_site(changes: dict, name: str):
    """Change the site's fatigue limits across all its surveys: the cooldowns after any
    survey was shown or answered, and the cap per person per period (0 turns one off)."""
    if len(name) > 200 or not is_storable_text(name):
        raise NotFound(NO_SITE)
    record = site_settings.update_fatigue(_database_url(), name, changes)
    lookups.forget()
    return record


@blp.route("/responses", methods=["GET"])
@blp.arguments(ResponseListQuerySchema(), location="query")
@blp.response(200, ResponseListSchema)
@auth("support")
def list_responses(query: dict):
    """Responses, newest first, filtered by survey, stage, customer, visitor and time."""
    limit, offset = query.pop("limit"), query.pop("offset")
    items = response_queries.list_responses(_database_url(), query, limit, offset)
    return {"items": items, "limit": limit, "offset": offset}


CSV_COLUMNS = list(response_queries.RESPONSE_COLUMNS)


def _cell(value: Any) -> Any:
    """A response field as a CSV cell (text is defused by ``shared.csv_export``)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _csv_rows(records: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    for record in records:
        yield [_cell(record[name]) for name in CSV_COLUMNS]


def _ndjson_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, default=_json_default, ensure_ascii=False) + "\n"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@blp.route("/responses/export", methods=["GET"])
@blp.arguments(ResponseExportQuerySchema(), location="query")
@blp.doc(
    responses={
        "200": {
            "description": "Every matching response, oldest first, streamed.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        }
    }
)
@auth("support")
def export_responses(query: dict):
    """All matching responses as NDJSON (default) or CSV, streamed in batches."""
    export_format = query.pop("format")
    records = response_queries.iter_responses(_database_url(), query)
    if export_format == "csv":
        return csv_download(CSV_COLUMNS, _csv_rows(records), "responses.csv")
    response = Response(
        stream_with_context(_ndjson_lines(records)), mimetype="application/x-ndjson"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="responses.{export_format}"'
    return response


@blp.route("/metrics", methods=["GET"])
@blp.arguments(MetricsQuerySchema(), location="query")
@blp.response(200, MetricsSchema)
@auth("support")
def survey_metrics(query: dict):
    """NPS, CSAT, mean CES, response count and top abandonment reasons per survey, stage and
    period (day, week, month or all). Each score comes with its 95 % interval (``*_low``,
    ``*_high``), its number of answers (``*_n``) and ``*_few_answers`` when that is below
    ``min_answers``: such a score is a hint, not a finding."""
    period = query.pop("period")
    minimum = current_settings().min_answers
    return {
        "period": period,
        "min_answers": minimum,
        "groups": response_queries.survey_metrics(_database_url(), query, period, minimum),
    }
