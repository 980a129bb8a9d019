"""The survey editor's form, as pure functions: a stored survey → the form's values, the
posted form → a survey definition, and the definition's validation errors → the form fields
they belong to.

The form's field names are the definition's paths (``trigger.min_purchases``,
``texts.sv.title``), except that a question is named by its row (``questions.0.id``,
``texts.sv.q0.label``) because its id may be what is being edited. Validation is the one of the
admin API (``shared.survey_definitions``), so a bad trigger or an over-long text is refused
with the same rule in both places, here next to the field that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.journey import EVENT_TYPES, STAGES
from shared.schemas.surveys import CHOICE_TYPES
from shared.surveys import DEFAULT_LOCALE, LOCALES, QUESTION_TYPES, SCALES, SURVEY_KINDS
from shared.web import flatten_errors

LOCALE_FIELDS: tuple[str, ...] = ("title", "intro", "submit", "thanks", "close")
CHROME_FIELDS: tuple[str, ...] = ("submit", "thanks", "close")
QUESTION_TEXT_FIELDS: tuple[str, ...] = ("label", "min_label", "max_label")
TRIGGER_FIELDS: tuple[str, ...] = (
    "event",
    "requires_cart",
    "min_purchases",
    "stage",
    "page_url",
    "days_since_last_order.min",
    "days_since_last_order.max",
)
SETTINGS_FIELDS: tuple[str, ...] = ("name", "kind", "sampling_rate", "cooldown_days", "priority")
# Empty rows offered below the questions, to add one without any script.
SPARE_ROWS = 2
MAX_ROWS = 20
CHOICES = {
    "kind": SURVEY_KINDS,
    "type": QUESTION_TYPES,
    "trigger.event": EVENT_TYPES,
    "trigger.stage": STAGES,
}


@dataclass
class EditorForm:
    """What the editor page draws: each field's value by its form name, the question rows,
    and each field's errors (``""`` holds errors that belong to no single field)."""

    values: dict[str, str] = field(default_factory=dict)
    rows: int = SPARE_ROWS
    errors: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def fallback(self, locale: str, name: str) -> str | None:
        """The English text shown in place of a missing one, or None when it is not missing."""
        if locale == DEFAULT_LOCALE or self.value(f"texts.{locale}.{name}"):
            return None
        return self.value(f"texts.{DEFAULT_LOCALE}.{name}") or None

    def row_type(self, row: int) -> str:
        return self.value(f"questions.{row}.type")

    def has_texts(self, locale: str) -> bool:
        """Has this locale a translation (more than the buttons every survey starts with)?"""
        prefix = f"texts.{locale}."
        return any(
            value
            for name, value in self.values.items()
            if name.startswith(prefix) and name[len(prefix) :] not in CHROME_FIELDS
        )

    def locales_with_errors(self) -> set[str]:
        return {name.split(".")[1] for name in self.errors if name.startswith("texts.")}


def _text(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    return str(value)


def _option_lines(labels: Mapping[str, str]) -> str:
    return "\n".join(f"{value} = {label}" for value, label in labels.items())


def form_from_survey(survey: Mapping[str, Any]) -> EditorForm:
    """The editor's values for a stored survey."""
    values = {name: _text(survey.get(name)) for name in ("key", *SETTINGS_FIELDS)}
    trigger = survey.get("trigger") or {}
    for name in TRIGGER_FIELDS:
        head, _, tail = name.partition(".")
        raw = trigger.get(head)
        values[f"trigger.{name}"] = _text(raw.get(tail) if tail and raw else raw)
    questions = survey.get("questions") or []
    texts = survey.get("texts") or {}
    for row, question in enumerate(questions):
        values[f"questions.{row}.id"] = question["id"]
        values[f"questions.{row}.type"] = question["type"]
        values[f"questions.{row}.required"] = _text(bool(question.get("required")))
        values[f"questions.{row}.options"] = ", ".join(question.get("options", ()))
        values[f"questions.{row}.max_length"] = _text(question.get("max_length"))
        for locale in LOCALES:
            own = texts.get(locale, {}).get("questions", {}).get(question["id"], {})
            for name in QUESTION_TEXT_FIELDS:
                values[f"texts.{locale}.q{row}.{name}"] = own.get(name, "")
            values[f"texts.{locale}.q{row}.options"] = _option_lines(own.get("options", {}))
    for locale in LOCALES:
        for name in LOCALE_FIELDS:
            values[f"texts.{locale}.{name}"] = texts.get(locale, {}).get(name, "")
    return EditorForm(values=values, rows=min(len(questions) + SPARE_ROWS, MAX_ROWS))


def _posted_rows(form: Mapping[str, str]) -> int:
    rows = 0
    for name in form:
        parts = name.split(".")
        if parts[0] == "questions" and len(parts) == 3 and parts[1].isdigit():
            rows = max(rows, int(parts[1]) + 1)
    return min(rows, MAX_ROWS)


def _parse_option_lines(text: str) -> tuple[dict[str, str], list[str]]:
    labels: dict[str, str] = {}
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, sep, label = line.partition("=")
        if not sep or not value.strip():
            bad.append(line.strip())
            continue
        labels[value.strip()] = label.strip()
    return labels, bad


@dataclass
class ParsedForm:
    """A posted form as a survey definition (not yet validated), its values to draw again,
    where each definition path is drawn (path → form name) and what could not be read."""

    definition: dict[str, Any]
    form: EditorForm
    paths: dict[str, str]


def definition_from_form(
    form: Mapping[str, str], stored_texts: Mapping[str, Any] | None = None
) -> ParsedForm:
    """Read the posted editor form. Empty fields are left out (a missing text falls back to
    English; an empty trigger is no trigger); numbers stay text for the schema to judge, so
    its message says what is wrong. Locales the editor does not show are kept as stored."""
    values = {name: str(value).strip() for name, value in form.items() if name != "csrf_token"}
    rows = _posted_rows(values)
    errors: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    definition: dict[str, Any] = {}
    for name in ("key", *SETTINGS_FIELDS):
        if values.get(name):
            definition[name] = values[name]
            paths[name] = name

    trigger: dict[str, Any] = {}
    for name in TRIGGER_FIELDS:
        raw = values.get(f"trigger.{name}", "")
        if not raw:
            continue
        head, _, tail = name.partition(".")
        paths[f"trigger.{head}" + (f".{tail}" if tail else "")] = f"trigger.{name}"
        if tail:
            trigger.setdefault(head, {})[tail] = raw
            paths.setdefault(f"trigger.{head}", f"trigger.{name}")
        else:
            trigger[head] = raw
    definition["trigger"] = trigger or None

    questions: list[dict[str, Any]] = []
    ids_by_row: dict[int, str] = {}
    for row in range(rows):
        get = lambda n, r=row: values.get(f"questions.{r}.{n}", "")  # noqa: E731
        if not get("id") and not get("options") and not get("max_length"):
            continue  # an unused row (its type select always sends a value)
        index = len(questions)
        question: dict[str, Any] = {"id": get("id"), "type": get("type") or "text"}
        if get("required"):
            question["required"] = True
        if get("options"):
            question["options"] = [o.strip() for o in get("options").split(",") if o.strip()]
        if get("max_length"):
            question["max_length"] = get("max_length")
        for name in ("id", "type", "required", "options", "max_length"):
            paths[f"questions.{index}.{name}"] = f"questions.{row}.{name}"
        paths[f"questions.{index}"] = f"questions.{row}.id"
        questions.append(question)
        ids_by_row[row] = question["id"]
    definition["questions"] = questions

    texts: dict[str, Any] = {
        locale: value for locale, value in (stored_texts or {}).items() if locale not in LOCALES
    }
    for locale in LOCALES:
        own: dict[str, Any] = {}
        for name in LOCALE_FIELDS:
            if values.get(f"texts.{locale}.{name}"):
                own[name] = values[f"texts.{locale}.{name}"]
            paths[f"texts.{locale}.{name}"] = f"texts.{locale}.{name}"
        by_question: dict[str, Any] = {}
        for row, qid in ids_by_row.items():
            prefix = f"texts.{locale}.q{row}"
            item = {
                n: values[f"{prefix}.{n}"]
                for n in QUESTION_TEXT_FIELDS
                if values.get(f"{prefix}.{n}")
            }
            labels, bad = _parse_option_lines(values.get(f"{prefix}.options", ""))
            if bad:
                errors[f"{prefix}.options"] = [
                    f"Write one option per line as value = label: {bad[0]}"
                ]
            if labels:
                item["options"] = labels
            for n in (*QUESTION_TEXT_FIELDS, "options"):
                paths[f"texts.{locale}.questions.{qid}.{n}"] = f"{prefix}.{n}"
            paths[f"texts.{locale}.questions.{qid}"] = f"{prefix}.label"
            paths[f"texts.{locale}.{qid}"] = f"{prefix}.label"
            if item:
                by_question[qid] = item
        # Buttons and thanks alone (a new survey starts with them) are no translation yet.
        translated = set(own) - set(CHROME_FIELDS) if locale != DEFAULT_LOCALE else own
        if by_question or translated:
            texts[locale] = {**own, "questions": by_question}
        paths[f"texts.{locale}"] = f"texts.{locale}.title"
    definition["texts"] = texts
    paths["texts"] = f"texts.{DEFAULT_LOCALE}.title"
    rows = min(max(rows, len(questions) + 1), MAX_ROWS)
    return ParsedForm(definition, EditorForm(values=values, rows=rows, errors=errors), paths)


def _without_dict_values(path: str) -> str:
    """Marshmallow puts a dict's value errors under ``value``: ``texts.sv.value.title``."""
    parts = path.split(".")
    if parts[0] == "texts":
        parts = [p for i, p in enumerate(parts) if not (p == "value" and i in (2, 5))]
    return ".".join(parts)


def _form_name(path: str, paths: Mapping[str, str]) -> str:
    """The form field a definition path is drawn in: the longest known prefix, else none."""
    parts = _without_dict_values(path).split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in paths:
            return paths[candidate]
    return ""


def errors_by_field(errors: Mapping[str, Any], paths: Mapping[str, str]) -> dict[str, list[str]]:
    """Marshmallow's nested errors, keyed by the form field that holds the culprit."""
    placed: dict[str, list[str]] = {}
    for path, messages in flatten_errors(errors).items():
        name = _form_name(path, paths)
        prefix = "" if name else f"{_without_dict_values(path)}: "
        placed.setdefault(name, []).extend(prefix + m for m in messages)
    return placed


def is_choice(question_type: str) -> bool:
    return question_type in CHOICE_TYPES


def is_scale(question_type: str) -> bool:
    return question_type in SCALES
