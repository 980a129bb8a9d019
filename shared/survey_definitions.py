"""Survey definitions: list, get, create, update, and the lifecycle, for both services.

The admin API (survey_service) and the dashboard's editor (model_service) save surveys through
these functions only, so a survey is validated one way (``SurveyCreateSchema``, with its
``TriggerSchema``) wherever it is written.

A survey's status follows from three columns: ``archived`` when ``archived_at`` is set (hidden,
never offered, its answers kept), ``published`` while ``active``, ``paused`` when it was
published once and is not active now, else ``draft``. Nothing here deletes a survey.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import Survey
from shared.errors import Conflict, Invalid, NotFound
from shared.schemas.surveys import SURVEY_ACTIONS, SurveyCreateSchema
from shared.surveys import default_priority

SURVEY_FIELDS = (
    "kind",
    "name",
    "questions",
    "texts",
    "trigger",
    "sampling_rate",
    "cooldown_days",
    "priority",
    "active",
)


def status_of(row: Survey) -> str:
    if row.archived_at is not None:
        return "archived"
    if row.active:
        return "published"
    return "paused" if row.published_at is not None else "draft"


def survey_record(row: Survey) -> dict[str, Any]:
    return {
        "key": row.key,
        **{name: getattr(row, name) for name in SURVEY_FIELDS},
        "status": status_of(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "published_at": row.published_at,
        "archived_at": row.archived_at,
    }


def validation_errors(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What is wrong with a whole survey (marshmallow's nested errors), or nothing."""
    return SurveyCreateSchema().validate(definition)


def _row(session: Session, key: str) -> Survey:
    row = session.scalars(select(Survey).where(Survey.key == key)).first()
    if row is None:
        raise NotFound()  # the view words it for its caller
    return row


def list_surveys(database_url: str, include_archived: bool = True) -> list[dict[str, Any]]:
    query = select(Survey).order_by(Survey.key)
    if not include_archived:
        query = query.where(Survey.archived_at.is_(None))
    with session_scope(database_url) as session:
        return [survey_record(s) for s in session.scalars(query)]


def get_survey(database_url: str, key: str) -> dict[str, Any]:
    with session_scope(database_url) as session:
        return survey_record(_row(session, key))


def create_survey(database_url: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store a new survey; an active one is published at once."""
    errors = validation_errors(data)
    if errors:
        raise Invalid(errors=errors)
    data = SurveyCreateSchema().load(data)
    try:
        with session_scope(database_url) as session:
            if session.scalar(select(Survey.id).where(Survey.key == data["key"])) is not None:
                raise Conflict(errors={"key": ["Already used."]})
            values = {"priority": default_priority(data.get("kind")), **data}
            if values.get("active", True):
                values["published_at"] = datetime.now(UTC)
            row = Survey(**values)
            session.add(row)
            session.flush()
            return survey_record(row)
    except IntegrityError as exc:  # the same key created at the same moment elsewhere
        raise Conflict(errors={"key": ["Already used."]}) from exc


def update_survey(database_url: str, key: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial change; the merged survey must be valid as a whole."""
    with session_scope(database_url) as session:
        row = _row(session, key)
        merged = {"key": row.key, **{n: getattr(row, n) for n in SURVEY_FIELDS}, **patch}
        # A trigger saved before triggers were checked may hold keys no longer known: it is
        # checked only when the change sets it, so such a survey can still be deactivated.
        if "trigger" not in patch:
            del merged["trigger"]
        errors = validation_errors(merged)
        if errors:
            raise Invalid(errors=errors)
        now = datetime.now(UTC)
        for name, value in SurveyCreateSchema().load(merged).items():
            if name != "key":
                setattr(row, name, value)
        if row.active:
            row.archived_at = None
            row.published_at = row.published_at or now
        row.updated_at = now
        session.flush()
        return survey_record(row)


def change_status(database_url: str, key: str, action: str) -> dict[str, Any]:
    """Publish (offer it), pause (stop offering it) or archive (hide it; answers are kept)."""
    if action not in SURVEY_ACTIONS:
        raise Invalid(f"Use one of: {', '.join(SURVEY_ACTIONS)}.", field="action")
    with session_scope(database_url) as session:
        row = _row(session, key)
        now = datetime.now(UTC)
        row.active = action == "publish"
        if action == "publish":
            row.published_at = row.published_at or now
            row.archived_at = None
        elif action == "archive":
            row.archived_at = row.archived_at or now
        row.updated_at = now
        session.flush()
        return survey_record(row)
