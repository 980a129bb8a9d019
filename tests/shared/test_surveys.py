"""The built-in surveys: complete in four languages, valid, and added once."""

from __future__ import annotations

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Survey
from shared.schemas.surveys import SurveyCreateSchema
from shared.surveys import ABANDONMENT_REASONS, LOCALES, builtin_surveys, ensure_builtin_surveys


def test_every_builtin_survey_is_valid_and_translated_everywhere() -> None:
    for survey in builtin_surveys():
        assert SurveyCreateSchema().validate(survey) == {}, survey["key"]
        for locale in LOCALES:
            texts = survey["texts"][locale]
            assert all(texts[name] for name in ("title", "intro", "submit", "thanks", "close"))
            for question in survey["questions"]:
                labels = texts["questions"][question["id"]]
                assert labels["label"]
                assert set(labels.get("options", {})) == set(question.get("options", []))
    cart = next(s for s in builtin_surveys() if s["key"] == "cart_abandonment")
    assert cart["questions"][0]["options"] == list(ABANDONMENT_REASONS)


def test_builtin_surveys_are_added_once_and_edits_are_kept(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        session.scalars(
            select(Survey).where(Survey.key == "relationship_nps")
        ).one().cooldown_days = 5
    assert ensure_builtin_surveys(sqlite_url) == 0
    with session_scope(sqlite_url) as session:
        keys = {s.key: s.cooldown_days for s in session.scalars(select(Survey))}
    assert keys == {"post_purchase": 30, "cart_abandonment": 7, "relationship_nps": 5}
