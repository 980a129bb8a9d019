"""The surveys themselves: list, get, create and update (the admin API)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.db.session import session_scope
from shared.db.tables import Survey
from shared.schemas.surveys import SurveyCreateSchema
from shared.surveys import default_priority
from survey_service import lookups
from survey_service.errors import Conflict, Invalid, NotFound

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


def survey_record(row: Survey) -> dict[str, Any]:
    return {
        "key": row.key,
        **{name: getattr(row, name) for name in SURVEY_FIELDS},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def list_surveys(database_url: str) -> list[dict[str, Any]]:
    with session_scope(database_url) as session:
        return [survey_record(s) for s in session.scalars(select(Survey).order_by(Survey.key))]


def get_survey(database_url: str, key: str) -> dict[str, Any]:
    with session_scope(database_url) as session:
        row = session.scalars(select(Survey).where(Survey.key == key)).first()
        if row is None:
            raise NotFound(key)
        return survey_record(row)


def create_survey(database_url: str, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        with session_scope(database_url) as session:
            if session.scalar(select(Survey.id).where(Survey.key == data["key"])) is not None:
                raise Conflict(data["key"])
            row = Survey(**{"priority": default_priority(data.get("kind")), **data})
            session.add(row)
            session.flush()
            record = survey_record(row)
    except IntegrityError as exc:  # the same key created at the same moment elsewhere
        raise Conflict(data["key"]) from exc
    lookups.forget()
    return record


def update_survey(database_url: str, key: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial change; the merged survey must be valid as a whole."""
    with session_scope(database_url) as session:
        row = session.scalars(select(Survey).where(Survey.key == key)).first()
        if row is None:
            raise NotFound(key)
        merged = {"key": row.key, **{n: getattr(row, n) for n in SURVEY_FIELDS}, **patch}
        # A trigger saved before triggers were checked may hold keys no longer known: it is
        # checked only when the change sets it, so such a survey can still be deactivated.
        if "trigger" not in patch:
            del merged["trigger"]
        errors = SurveyCreateSchema().validate(merged)
        if errors:
            raise Invalid(errors)
        for name, value in SurveyCreateSchema().load(merged).items():
            if name != "key":
                setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        session.flush()
        record = survey_record(row)
    lookups.forget()
    return record
