"""The survey rules without I/O: locale choice, answer validation, score columns, sampling."""

from __future__ import annotations

from shared.surveys import builtin_surveys
from survey_service.eligibility import sampling_bucket
from survey_service.questions import localize, resolve_locale, score_columns, validate_answers
from survey_service.responses import body_hash

POST_PURCHASE = next(s for s in builtin_surveys() if s["key"] == "post_purchase")


def test_locale_resolution_prefers_exact_then_language_then_english() -> None:
    available = ["en", "sv", "da", "nb"]
    assert resolve_locale("sv", available) == "sv"
    assert resolve_locale("sv_SE", available) == "sv"
    assert resolve_locale("NO", available) == "nb"
    assert resolve_locale("nn-NO", available) == "nb"
    assert resolve_locale("de-DE", available) == "en"
    assert resolve_locale(None, available) == "en"


def test_missing_translations_fall_back_to_english_per_string() -> None:
    texts = {
        "en": {"title": "Hi", "submit": "Send", "questions": {"q": {"label": "Why?"}}},
        "sv": {"title": "Hej", "questions": {}},
    }
    survey = localize("k", "custom", [{"id": "q", "type": "text"}], texts, "sv")
    assert (survey["title"], survey["submit"], survey["intro"]) == ("Hej", "Send", "")
    assert survey["questions"] == [{"id": "q", "type": "text", "label": "Why?", "required": False}]


def test_valid_answers_are_cleaned_and_copied_to_score_columns() -> None:
    questions = POST_PURCHASE["questions"]
    cleaned, errors = validate_answers(
        questions, {"csat": 5, "ces": 7.0, "nps": None, "comment": "  Fin  "}, 2000
    )
    assert errors == {}
    assert cleaned == {"csat": 5, "ces": 7, "comment": "Fin"}
    assert score_columns(questions, cleaned) == {
        "nps": None,
        "csat": 5,
        "ces": 7,
        "reason": None,
        "comment": "Fin",
    }


def test_each_bad_answer_is_named_by_its_question() -> None:
    questions = [
        {"id": "score", "type": "nps", "required": True},
        {"id": "pick", "type": "single_choice", "options": ["a", "b"]},
        {"id": "many", "type": "multi_choice", "options": ["a", "b"]},
        {"id": "note", "type": "text", "max_length": 5},
    ]
    _, errors = validate_answers(
        questions, {"score": 7.5, "pick": ["a"], "many": ["a", "c"], "note": "toolong"}, 2000
    )
    assert set(errors) == {"answers.score", "answers.pick", "answers.many", "answers.note"}
    _, missing = validate_answers(questions, {}, 2000)
    assert missing == {"answers.score": ["An answer is required."]}


def test_sampling_buckets_are_stable_and_spread() -> None:
    buckets = [sampling_bucket("s", f"v{i}") for i in range(2000)]
    assert buckets == [sampling_bucket("s", f"v{i}") for i in range(2000)]
    assert 0.45 < sum(b < 0.5 for b in buckets) / len(buckets) < 0.55
    assert sampling_bucket("s", "v1") != sampling_bucket("t", "v1")


def test_a_body_hash_ignores_key_order() -> None:
    assert body_hash({"a": 1, "b": {"c": 2, "d": 3}}) == body_hash({"b": {"d": 3, "c": 2}, "a": 1})
    assert body_hash({"a": 1}) != body_hash({"a": 2})
