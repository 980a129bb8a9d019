"""The surveys for the admin API: the shared use cases (``shared.survey_definitions``), and
after each change this process forgets its cached surveys so the change is served at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared import survey_definitions as definitions
from survey_service import lookups

list_surveys = definitions.list_surveys
get_survey = definitions.get_survey


def create_survey(database_url: str, data: Mapping[str, Any]) -> dict[str, Any]:
    record = definitions.create_survey(database_url, data)
    lookups.forget()
    return record


def update_survey(database_url: str, key: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    record = definitions.update_survey(database_url, key, patch)
    lookups.forget()
    return record


def change_status(database_url: str, key: str, action: str) -> dict[str, Any]:
    record = definitions.change_status(database_url, key, action)
    lookups.forget()
    return record
