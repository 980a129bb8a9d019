"""Survey rules without I/O: which texts a visitor sees, and whether their answers are valid.

A survey arrives here as plain data (the ``questions`` and ``texts`` JSON of the table), so
these rules run in tests without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.schemas.fields import is_storable_text
from shared.survey_texts import LOCALE_ALIASES, localize, resolve_locale  # noqa: F401
from shared.surveys import SCALES

# The response columns filled from answers, for metrics and features without a JSON walk.
SCORE_COLUMNS = ("nps", "csat", "ces")


def _is_integer(value: Any) -> bool:
    # JSON true is a Python bool, which is an int: it is not a score.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check(question: Mapping[str, Any], value: Any, max_text_length: int) -> tuple[Any, str | None]:
    """(cleaned value, error); a cleaned value of None means "not answered"."""
    kind = question["type"]
    if kind in SCALES:
        low, high = SCALES[kind]
        if not _is_integer(value) or not low <= value <= high:
            return None, f"Must be a whole number from {low} to {high}."
        return int(value), None
    options = question.get("options", [])
    if kind == "single_choice":
        if not isinstance(value, str) or value not in options:
            return None, f"Must be one of: {', '.join(options)}."
        return value, None
    if kind == "multi_choice":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "Must be a list of option values."
        unknown = [v for v in value if v not in options]
        if unknown:
            return None, f"Must only hold: {', '.join(options)}."
        if len(set(value)) != len(value):
            return None, "Must not repeat an option."
        return (list(value) or None), None
    if not isinstance(value, str):
        return None, "Must be text."
    limit = min(int(question.get("max_length") or max_text_length), max_text_length)
    if len(value) > limit:
        return None, f"Must be at most {limit} characters."
    if not is_storable_text(value):
        return None, "Contains characters that cannot be stored."
    return (value.strip() or None), None


def validate_answers(
    questions: Sequence[Mapping[str, Any]], answers: Mapping[str, Any], max_text_length: int
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check answers against the survey's questions.

    Returns (cleaned answers, errors keyed ``answers.<question id>``). Unknown question ids
    are refused; a required question needs an answer; an empty text is no answer.
    """
    by_id = {q["id"]: q for q in questions}
    errors: dict[str, list[str]] = {
        f"answers.{qid}": ["No such question in this survey."]
        for qid in answers
        if qid not in by_id
    }
    cleaned: dict[str, Any] = {}
    for qid, question in by_id.items():
        value = answers.get(qid)
        if value is not None:
            value, error = _check(question, value, max_text_length)
            if error:
                errors[f"answers.{qid}"] = [error]
                continue
        if value is None:
            if question.get("required"):
                errors[f"answers.{qid}"] = ["An answer is required."]
            continue
        cleaned[qid] = value
    return cleaned, errors


def score_columns(questions: Sequence[Mapping[str, Any]], cleaned: Mapping[str, Any]) -> dict:
    """The nps/csat/ces/reason/comment column values of a response.

    Scales go by question type (the first of each type); ``reason`` is the single-choice
    question with id ``reason``; ``comment`` is the text question with id ``comment``, else the
    first text question.
    """
    columns: dict[str, Any] = {name: None for name in (*SCORE_COLUMNS, "reason", "comment")}
    texts = []
    for question in questions:
        qid, kind = question["id"], question["type"]
        if kind in SCORE_COLUMNS and columns[kind] is None:
            columns[kind] = cleaned.get(qid)
        elif kind == "single_choice" and qid == "reason":
            columns["reason"] = cleaned.get(qid)
        elif kind == "text":
            texts.append(qid)
    comment_id = "comment" if "comment" in texts else (texts[0] if texts else None)
    if comment_id is not None:
        columns["comment"] = cleaned.get(comment_id)
    return columns
